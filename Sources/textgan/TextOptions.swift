import ArgumentParser
import Foundation
import TextPipeline

extension TokenizerMode: ExpressibleByArgument {}
extension Normalization: ExpressibleByArgument {}

/// Tokenizer settings shared by the text commands. Each one left out keeps the corpus manifest's value
/// (or the default: word mode, no lowercasing, NFC, no maximum length).
struct TokenizerOptions: ParsableArguments {
    @Option(help: "Tokenizer mode: word (ICU word segmentation), char (grapheme clusters) or space (split on whitespace).")
    var mode: TokenizerMode?

    @Flag(inversion: .prefixedNo, help: "Lowercase text (locale-independent) before tokenizing.")
    var lowercase: Bool?

    @Option(help: "Unicode normalization: nfc or none.")
    var normalization: Normalization?

    @Option(help: "Maximum tokens per example; longer corpus lines are skipped and counted.")
    var maxLength: Int?

    var overridesAnything: Bool { mode != nil || lowercase != nil || normalization != nil || maxLength != nil }

    func validate() throws {
        if let maxLength, maxLength < 1 { throw ValidationError("--max-length must be at least 1") }
    }

    func applied(to base: TokenizerConfig) -> TokenizerConfig {
        var config = base
        if let mode { config.mode = mode }
        if let lowercase { config.lowercase = lowercase }
        if let normalization { config.normalization = normalization }
        if let maxLength { config.maxLength = maxLength }
        return config
    }
}

/// How to build a vocabulary from a corpus's training split, shared by `corpus stats` and `vocab build`.
struct VocabularyOptions: ParsableArguments {
    @Option(help: "Keep tokens seen at least this many times in the training split.")
    var minCount: Int = 1

    @Option(help: "Largest vocabulary, including the four special tokens.")
    var maxSize: Int?

    func validate() throws {
        if minCount < 1 { throw ValidationError("--min-count must be at least 1") }
        if let maxSize, maxSize < Vocabulary.specialTokens.count + 1 {
            throw ValidationError("--max-size must leave room for a token besides the four special ones")
        }
    }
}

/// How to read and split a corpus, shared by `corpus stats` and `vocab build`.
struct CorpusLoadOptions: ParsableArguments {
    @OptionGroup(title: "Workspace") var workspace: WorkspaceOptions
    @OptionGroup(title: "Tokenizer") var tokenizer: TokenizerOptions

    @Option(help: "A separate test file for a user's corpus, instead of the seeded split.")
    var testFile: String?

    @Option(help: "Fraction of a seeded split's examples drawn for test (default: the manifest's, 0.1 for files).")
    var testFraction: Double?

    @Option(help: "Seed of the train/test split (default: the manifest's, 0 for files).")
    var seed: UInt64?

    @Option(help: "Fewest training examples accepted: one batch.")
    var minExamples: Int = 64

    @Option(help: "Lines longer than this many bytes are skipped and counted, never held in memory.")
    var maxLineBytes: Int = 1 << 20

    func validate() throws {
        if let testFraction, !(testFraction > 0 && testFraction < 1) {
            throw ValidationError("--test-fraction must be between 0 and 1")
        }
        if testFile != nil && (testFraction != nil || seed != nil) {
            throw ValidationError("--test-file replaces the seeded split; drop --test-fraction and --seed")
        }
        if minExamples < 1 { throw ValidationError("--min-examples must be at least 1") }
        if maxLineBytes < 1 { throw ValidationError("--max-line-bytes must be at least 1") }
    }

    func load(_ nameOrPath: String) throws -> (corpus: Corpus, root: URL) {
        let root = try workspace.packageRoot()
        let corporaDirectory = root.appendingPathComponent("corpora")
        // Tokenizer options override the manifest's settings one by one, so read the manifest's first.
        var tokenizerConfig: TokenizerConfig?
        if tokenizer.overridesAnything {
            let base = (try? CorpusManifest.load(from: corporaDirectory.appendingPathComponent("\(nameOrPath).json")))?
                .tokenizer ?? TokenizerConfig()
            tokenizerConfig = tokenizer.applied(to: base)
        }
        let options = CorpusOptions(tokenizer: tokenizerConfig, testFile: testFile, testFraction: testFraction,
                                    seed: seed, minExamples: minExamples, maxLineBytes: maxLineBytes)
        let corpus = try Corpus.load(nameOrPath, corporaDirectory: corporaDirectory,
                                     sharedData: workspace.sharedDataDirectory(root: root), options: options)
        return (corpus, root)
    }
}
