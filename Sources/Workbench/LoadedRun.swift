import Digest
import Foundation
import Models
import NumericCore
import RunStore
import TextPipeline
import Training

/// A trained model rebuilt from a checkpoint alone: its run config, generator, discriminator (for algorithms that
/// train one) and vocabulary all come from the checkpoint file. Used by `sample`, `eval` and the REPL.
public struct LoadedRun {
    public let checkpoint: URL
    public let config: RunConfig
    public let generator: any SequenceGenerator
    public let discriminator: (any SequenceDiscriminator)?
    public let vocabulary: Vocabulary?
    public let tokenizer: Tokenizer?
    /// Where training was when the checkpoint was written.
    public let position: TrainingPosition

    /// The run step of the checkpoint, at which `eval` records its scores.
    public var step: Int { position.runStep }

    /// `reference` is a run id (its checkpoint under `runsDirectory/<id>/`) or a path to a checkpoint file.
    public static func load(_ reference: String, runsDirectory: URL, best: Bool = false) throws -> LoadedRun {
        let url: URL
        if let id = Int64(reference) {
            url = runsDirectory.appendingPathComponent("\(id)/\(best ? "best" : "latest").safetensors")
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw WorkbenchError("run \(id) has no \(best ? "best" : "latest") checkpoint at \(url.path)")
            }
        } else {
            url = URL(fileURLWithPath: reference)
        }
        let contents = try Checkpoint.load(from: url)
        guard let configJSON = contents.metadata["config"] else {
            throw WorkbenchError("\(url.path) holds no run config (not written by `textgan train`)")
        }
        let config = try RunConfig.decode(configJSON, source: url.path)
        guard config.algorithm != DetectAlgorithm.name else {
            throw WorkbenchError("\(url.path) is a detector's checkpoint: it has a discriminator and no generator "
                + "(use `textgan detect score`, `detect eval` or `attack`)")
        }
        var rng = SeededGenerator(seed: 0)  // the values come from the checkpoint
        let generator = config.generator.config.makeGenerator(using: &rng)
        try contents.restore(generator)
        let discriminator = config.discriminator.map { $0.config.makeDiscriminator(using: &rng) }
        if let discriminator { try contents.restore(discriminator) }
        let (vocabulary, tokenizer) = try LoadedRun.storedVocabulary(in: contents, of: url)
        return LoadedRun(checkpoint: url, config: config, generator: generator, discriminator: discriminator,
                         vocabulary: vocabulary, tokenizer: tokenizer,
                         position: try config.algorithmType.position(in: contents))
    }

    /// The vocabulary a checkpoint stores (nil for the oracle's bare ids) and its tokenizer.
    static func storedVocabulary(in contents: Training.Checkpoint.Contents, of url: URL) throws -> (Vocabulary?, Tokenizer?) {
        guard let text = contents.metadata["vocabulary"] else { return (nil, nil) }
        let vocabulary = try Vocabulary.parse(text, source: "\(url.path) (vocabulary)")
        return (vocabulary, try Tokenizer(vocabulary.config))
    }

    /// Checks a run's checkpoint file against the SHA-256 the run store recorded when training wrote it, so a file
    /// modified or replaced since is never taken for the run's model. Files the store has no hash for pass, and so
    /// does a file from a later step than the last recorded one (a crash between writing it and recording it).
    public static func verify(_ checkpoint: URL, runStep: Int, run id: Int64, in store: RunDatabase) throws {
        guard let recorded = try store.recordedCheckpoint(run: id, fileName: checkpoint.lastPathComponent),
              runStep <= recorded.step else { return }
        let actual = try SHA256.hex(ofFile: checkpoint)
        guard actual == recorded.sha256.lowercased() else {
            throw WorkbenchError("\(checkpoint.path) is not the checkpoint run \(id) wrote: its SHA-256 is "
                + "\(actual.prefix(16))…, the run store recorded \(recorded.sha256.prefix(16))… (modified or replaced since)")
        }
    }

    /// Token ids as readable text (oracle runs: the ids themselves).
    public func render(_ ids: [Int32]) -> String { renderText(ids, vocabulary: vocabulary, tokenizer: tokenizer) }

    /// Text as token ids, with the tokens the vocabulary does not know (they become <unk>).
    public func encode(_ text: String) throws -> (ids: [Int32], unknown: [String]) {
        let tokens = try self.tokens(text)
        return (tokens.map(\.id), tokens.filter { !$0.known }.map(\.text))
    }

    /// Text as tokens and their ids; a token the vocabulary does not know gets <unk>'s id and `known: false`.
    /// Oracle runs (no vocabulary) take whitespace-separated ids.
    public func tokens(_ text: String) throws -> [(text: String, id: Int32, known: Bool)] {
        guard let vocabulary, let tokenizer else {
            return try text.split(whereSeparator: \.isWhitespace).map { part in
                guard let id = Int32(part), (0..<Int32(generator.vocabularySize)).contains(id) else {
                    throw WorkbenchError("this run's tokens are ids 0..<\(generator.vocabularySize); '\(part)' is not one")
                }
                return (String(part), id, true)
            }
        }
        return tokenizer.tokenize(text).map { ($0, vocabulary.id(of: $0), vocabulary.contains($0)) }
    }

    /// How one token id reads: its vocabulary entry (<eos> and the other special tokens included), or the id itself.
    public func tokenName(_ id: Int32) -> String {
        guard let vocabulary, id >= 0, Int(id) < vocabulary.count else { return String(id) }
        return vocabulary.token(of: id)
    }

    /// How the run's models judge a token sequence: the generator's log-probability of each token, their mean NLL
    /// (nats per token), and the discriminator's probability that the sequence is real (nil without one).
    public func score(_ ids: [Int32]) throws -> (logProbabilities: [Float], meanNLL: Double, probabilityReal: Float?) {
        if let context = generator.contextLength, ids.count > context {
            throw WorkbenchError("\(ids.count) tokens are more than this \(generator.kind) generator reads at once (\(context))")
        }
        let logProbabilities = generator.tokenLogProbabilities(TokenBatch(sequences: [ids], length: ids.count))
        let nll = -logProbabilities.reduce(0.0) { $0 + Double($1) } / Double(max(ids.count, 1))
        return (logProbabilities, nll, discriminator?.probabilityReal([ids])[0])
    }
}
