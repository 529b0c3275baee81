import Digest
import Foundation

// A corpus: training and test examples (one line of text each), the manifest that says where they came from and
// how to tokenize and split them, the SHA-256 of the source bytes, and a summary of what was skipped.
//
// `Corpus.load` accepts a named corpus (corpora/<name>.json) or a path to a user's text file. Its SHA-256 is the
// `sha256sum` of the source file; for a corpus with separate train and test files it is the SHA-256 of the two-line
// text "<sha256 of train>  train\n<sha256 of test>  test\n" (both files' digests are in `summary.files` too).
//
// Examples with more tokens than the tokenizer's `maxLength` are skipped and counted, never cut. The split is
// drawn after skipping, by SplitMix64(seed) over a Fisher–Yates shuffle; both splits keep the file's order.

public struct Corpus: Sendable {
    public let name: String
    public let manifest: CorpusManifest
    public let train: [String]
    public let test: [String]
    public let sha256: String
    public let summary: CorpusSummary

    /// The tokenizer the manifest asks for.
    public func tokenizer() throws -> Tokenizer { try Tokenizer(manifest.tokenizer) }

    // MARK: - Loading

    /// Loads a named corpus or a user's file.
    /// - Parameters:
    ///   - nameOrPath: a manifest name in `corporaDirectory` (e.g. "coco"), or a path to a text file.
    ///   - sharedData: the shared data directory (`../shared/data`), or nil if there is none.
    public static func load(_ nameOrPath: String, corporaDirectory: URL, sharedData: URL?,
                            options: CorpusOptions = CorpusOptions()) throws -> Corpus {
        var manifest = try resolveManifest(nameOrPath, corporaDirectory: corporaDirectory)
        try options.apply(to: &manifest)
        let tokenizer = try Tokenizer(manifest.tokenizer)

        guard manifest.source.format != .generated else {
            throw CorpusError.generatedByModelLayer(name: manifest.name)
        }
        guard let trainLocation = manifest.source.train else {
            throw CorpusError.badManifest(path: manifest.name, reason: "source.train is missing")
        }
        let reader = TextFileReader(maxLineBytes: options.maxLineBytes)
        var summary = CorpusSummary()

        // Read (and, for fortune files, convert) the examples.
        let trainURL = try locate(trainLocation, manifest: manifest, sharedData: sharedData)
        var examples = try readExamples(trainURL, format: manifest.source.format, reader: reader, summary: &summary)
        var testExamples: [Example] = []
        if let testLocation = manifest.source.test {
            let testURL = try locate(testLocation, manifest: manifest, sharedData: sharedData)
            testExamples = try readExamples(testURL, format: manifest.source.format, reader: reader, summary: &summary)
        }

        // Skip examples over the maximum length.
        if let maxLength = manifest.tokenizer.maxLength {
            let before = examples.count + testExamples.count
            examples.removeAll { tokenizer.tokenizeAll($0.text).count > maxLength }
            testExamples.removeAll { tokenizer.tokenizeAll($0.text).count > maxLength }
            summary.overMaxLength = before - examples.count - testExamples.count
        }

        // Split.
        var train: [String]
        var test: [String]
        if manifest.source.test != nil {
            train = examples.map(\.text)
            test = testExamples.map(\.text)
        } else {
            let testIndices = Split.testIndices(groups: examples.map(\.group), rule: manifest.split)
            train = []
            test = []
            for (i, example) in examples.enumerated() {
                if testIndices.contains(i) { test.append(example.text) } else { train.append(example.text) }
            }
        }
        guard train.count >= options.minExamples else {
            throw CorpusError.tooFewExamples(path: trainURL.path, count: train.count, minimum: options.minExamples,
                                             skipped: summary.skippedDescription)
        }

        let sha256: String
        if summary.files.count == 1 {
            sha256 = summary.files[0].sha256
        } else {
            sha256 = SHA256.hex(of: "\(summary.files[0].sha256)  train\n\(summary.files[1].sha256)  test\n")
        }
        return Corpus(name: manifest.name, manifest: manifest, train: train, test: test, sha256: sha256,
                      summary: summary)
    }

    /// The manifest for a name in `corporaDirectory`, or one made up for a user's file.
    static func resolveManifest(_ nameOrPath: String, corporaDirectory: URL) throws -> CorpusManifest {
        let manifestURL = corporaDirectory.appendingPathComponent("\(nameOrPath).json")
        let looksLikeName = !nameOrPath.contains("/") && !nameOrPath.isEmpty
        if looksLikeName && FileManager.default.fileExists(atPath: manifestURL.path) {
            return try CorpusManifest.load(from: manifestURL)
        }
        if looksLikeName && !FileManager.default.fileExists(atPath: nameOrPath) && !nameOrPath.contains(".") {
            let known = (try? CorpusManifest.all(in: corporaDirectory).map(\.name)) ?? []
            throw CorpusError.unknown(name: nameOrPath, known: known, corporaDirectory: corporaDirectory.path)
        }
        let url = URL(fileURLWithPath: nameOrPath)
        return CorpusManifest(
            name: url.deletingPathExtension().lastPathComponent,
            description: "the text file \(nameOrPath)",
            source: .init(format: .lines, train: .init(root: .current, path: nameOrPath)),
            tokenizer: TokenizerConfig(),
            split: .seeded(testFraction: 0.1, seed: 0))
    }

    static func locate(_ location: CorpusManifest.FileLocation, manifest: CorpusManifest,
                       sharedData: URL?) throws -> URL {
        let url: URL
        switch location.root {
        case .shared:
            guard let sharedData else {
                throw CorpusError.noSharedData(corpus: manifest.name, file: location.display)
            }
            url = sharedData.appendingPathComponent(location.path)
        case .absolute, .current:
            url = URL(fileURLWithPath: location.path)
        }
        // A missing file of a named corpus gets a hint; a user's file reports itself through the reader.
        if location.root != .current && !FileManager.default.fileExists(atPath: url.path) {
            throw CorpusError.missingSource(corpus: manifest.name, path: url.path, install: manifest.source.install)
        }
        return url
    }

    struct Example {
        var text: String
        /// Split unit: the line itself, or its entry (poem) in a fortune file.
        var group: Int
    }

    static func readExamples(_ url: URL, format: CorpusManifest.Source.Format, reader: TextFileReader,
                             summary: inout CorpusSummary) throws -> [Example] {
        var examples: [Example] = []
        switch format {
        case .lines:
            var blank = 0
            let file = try reader.readLines(url) { lineNumber, text in
                if text.allSatisfy(\.isWhitespace) {
                    blank += 1
                } else {
                    examples.append(Example(text: text, group: lineNumber))
                }
            }
            summary.files.append(file)
            summary.blankLines += blank
        case .fortune:
            var parser = FortuneParser()
            let file = try reader.readLines(url) { _, text in parser.feed(text) }
            parser.finish()
            summary.files.append(file)
            summary.entries += parser.entries
            summary.prefaceLines += parser.prefaceLines
            summary.blankLines += parser.blankLines
            examples = parser.examples.map { Example(text: $0.text, group: $0.entry) }
        case .generated:
            preconditionFailure("generated corpora are not read from files")
        }
        summary.overlongLines += summary.files.last!.overlongLines
        summary.examples += examples.count
        return examples
    }
}

/// How `Corpus.load` may depart from a manifest, and its limits.
public struct CorpusOptions: Sendable {
    /// Replaces the manifest's tokenizer settings.
    public var tokenizer: TokenizerConfig?
    /// A separate test file (one example per line); replaces the seeded split.
    public var testFile: String?
    public var testFraction: Double?
    public var seed: UInt64?
    /// Fewest training examples accepted (e.g. one batch).
    public var minExamples: Int
    /// Lines longer than this many bytes are skipped without being held in memory.
    public var maxLineBytes: Int

    public init(tokenizer: TokenizerConfig? = nil, testFile: String? = nil, testFraction: Double? = nil,
                seed: UInt64? = nil, minExamples: Int = 1, maxLineBytes: Int = 1 << 20) {
        self.tokenizer = tokenizer
        self.testFile = testFile
        self.testFraction = testFraction
        self.seed = seed
        self.minExamples = minExamples
        self.maxLineBytes = maxLineBytes
    }

    func apply(to manifest: inout CorpusManifest) throws {
        if let tokenizer { manifest.tokenizer = tokenizer }
        if let testFile {
            guard manifest.source.format == .lines else {
                throw CorpusError.invalidOption("a test file can only replace the split of a plain text corpus")
            }
            manifest.source.test = .init(root: .current, path: testFile)
            manifest.split = .testFile
        }
        if testFraction != nil || seed != nil {
            guard manifest.split.kind == .seeded else {
                throw CorpusError.invalidOption("corpus \(manifest.name) has a fixed test file; --test-fraction and --seed do not apply")
            }
            if let testFraction {
                guard testFraction > 0 && testFraction < 1 else {
                    throw CorpusError.invalidOption("the test fraction must be between 0 and 1 (got \(testFraction))")
                }
                manifest.split.testFraction = testFraction
                manifest.split.testCount = nil
            }
            if let seed { manifest.split.seed = seed }
        }
    }
}

/// What loading saw and skipped.
public struct CorpusSummary: Codable, Sendable, Equatable {
    /// The source files, train first.
    public var files: [TextFileSummary] = []
    /// Examples read, before skipping any over the maximum length and before splitting.
    public var examples = 0
    public var blankLines = 0
    /// Lines over the reader's byte limit.
    public var overlongLines = 0
    /// Examples with more tokens than the tokenizer's maximum length.
    public var overMaxLength = 0
    /// Fortune files: entries (poems) and prose preface lines left out.
    public var entries = 0
    public var prefaceLines = 0

    public var skippedDescription: String {
        var parts: [String] = []
        if blankLines > 0 { parts.append("\(blankLines) blank") }
        if overlongLines > 0 { parts.append("\(overlongLines) over the byte limit") }
        if overMaxLength > 0 { parts.append("\(overMaxLength) over the maximum length") }
        if prefaceLines > 0 { parts.append("\(prefaceLines) preface") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}

public enum CorpusError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknown(name: String, known: [String], corporaDirectory: String)
    case missingSource(corpus: String, path: String, install: String?)
    case noSharedData(corpus: String, file: String)
    case generatedByModelLayer(name: String)
    case tooFewExamples(path: String, count: Int, minimum: Int, skipped: String)
    case badManifest(path: String, reason: String)
    case invalidOption(String)

    public var description: String {
        switch self {
        case .unknown(let name, let known, let directory):
            return "no corpus named \"\(name)\" in \(directory) (named corpora: \(known.joined(separator: ", "))) "
                + "and no file \(name)"
        case .missingSource(let corpus, let path, let install):
            return "corpus \(corpus) reads \(path), which is missing" + (install.map { "; install it with: \($0)" } ?? "")
        case .noSharedData(let corpus, let file):
            return "corpus \(corpus) reads \(file), but there is no shared data directory (../shared/data beside "
                + "the package, or --shared-data)"
        case .generatedByModelLayer(let name):
            return "the \(name) corpus is generated by the model layer (the SeqGAN oracle LSTM), not read from text"
        case .tooFewExamples(let path, let count, let minimum, let skipped):
            return "\(path): \(count) training example\(count == 1 ? "" : "s") (skipped: \(skipped)), fewer than "
                + "the minimum of \(minimum) (one batch); use a larger corpus or lower the minimum (--min-examples)"
        case .badManifest(let path, let reason):
            return "\(path): bad corpus manifest: \(reason)"
        case .invalidOption(let reason):
            return reason
        }
    }
}

// MARK: - Split

enum Split {
    /// Indices of the test examples under a seeded rule: whole groups are drawn in a SplitMix64 Fisher–Yates order
    /// until the test split holds at least the target count. A group is a line, or an entry for `unit: entry`.
    static func testIndices(groups: [Int], rule: CorpusManifest.SplitRule) -> Set<Int> {
        let n = groups.count
        guard n >= 2 else { return [] }
        let byEntry = (rule.unit ?? .line) == .entry
        let keys = byEntry ? groups : Array(0..<n)
        var target = rule.testCount ?? Int((Double(n) * (rule.testFraction ?? 0.1)).rounded())
        target = min(max(target, 1), n - 1)

        var order: [Int] = []  // distinct keys in order of first appearance
        var members: [Int: [Int]] = [:]
        for (i, key) in keys.enumerated() {
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(i)
        }
        var generator = SplitMix64(seed: rule.seed ?? 0)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, generator.index(below: i + 1))
        }
        var test = Set<Int>()
        for key in order where test.count < target {
            test.formUnion(members[key]!)
        }
        return test
    }
}

// MARK: - Fortune files

/// Converts a fortune(6) file of poems into one example per line of verse. Each entry (between "%" lines) starts
/// with header lines — a title 《…》 and an author line 作者：…, coloured with ANSI escape codes — then the poem.
/// Some poems have a prose preface, separated from the poem by a blank line: everything before the entry's last
/// blank line is dropped as preface.
struct FortuneParser {
    struct Verse {
        var text: String
        var entry: Int
    }

    private(set) var examples: [Verse] = []
    private(set) var entries = 0
    private(set) var prefaceLines = 0
    private(set) var blankLines = 0
    private var body: [String] = []
    private var inHeader = true

    mutating func feed(_ rawLine: String) {
        if rawLine.trimmingCharacters(in: .whitespaces) == "%" {
            finishEntry()
            return
        }
        let hadEscape = rawLine.contains("\u{1B}")
        let line = FortuneParser.stripANSI(rawLine).trimmingCharacters(in: .whitespacesAndNewlines)
        if inHeader && (hadEscape || line.hasPrefix("《") || line.hasPrefix("作者")) {
            return
        }
        inHeader = false
        if line.isEmpty {
            if !body.isEmpty {
                prefaceLines += body.count
                body.removeAll()
            }
            blankLines += 1
            return
        }
        body.append(line)
    }

    mutating func finish() { finishEntry() }

    private mutating func finishEntry() {
        if !body.isEmpty {
            for line in body { examples.append(Verse(text: line, entry: entries)) }
            entries += 1
        }
        body.removeAll()
        inHeader = true
    }

    /// Removes ANSI control sequences (ESC [ parameters final-byte), such as the colour codes "\e[32m" and "\e[m".
    static func stripANSI(_ text: String) -> String {
        guard text.contains("\u{1B}") else { return text }
        var out = String.UnicodeScalarView()
        var scalars = text.unicodeScalars.makeIterator()
        while let s = scalars.next() {
            guard s == "\u{1B}" else {
                out.append(s)
                continue
            }
            guard let bracket = scalars.next(), bracket == "[" else { continue }
            while let p = scalars.next() {
                if (0x40...0x7E).contains(p.value) { break }  // the final byte ends the sequence
            }
        }
        return String(out)
    }
}
