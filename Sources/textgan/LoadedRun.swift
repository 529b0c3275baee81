import ArgumentParser
import Foundation
import Models
import NumericCore
import TextPipeline
import Training

/// A trained model rebuilt from a checkpoint alone: its run config, generator, discriminator (SeqGAN runs) and
/// vocabulary all come from the checkpoint file. Used by `sample`, `eval` and the REPL.
struct LoadedRun {
    let checkpoint: URL
    let config: RunConfig
    let generator: LSTMGenerator
    let discriminator: CNNDiscriminator?
    let vocabulary: Vocabulary?
    let tokenizer: Tokenizer?
    /// Where training was when the checkpoint was written, numbered as training numbers its evaluations: MLE
    /// steps, and for SeqGAN once pretraining is over, adversarial steps. `position` says which.
    let step: Int
    let position: String

    /// `reference` is a run id (its checkpoint under `runsDirectory/<id>/`) or a path to a checkpoint file.
    static func load(_ reference: String, runsDirectory: URL, best: Bool = false) throws -> LoadedRun {
        let url: URL
        if let id = Int64(reference) {
            url = runsDirectory.appendingPathComponent("\(id)/\(best ? "best" : "latest").safetensors")
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw ValidationError("run \(id) has no \(best ? "best" : "latest") checkpoint at \(url.path)")
            }
        } else {
            url = URL(fileURLWithPath: reference)
        }
        let contents = try Checkpoint.load(from: url)
        guard let configJSON = contents.metadata["config"] else {
            throw ValidationError("\(url.path) holds no run config (not written by `textgan train`)")
        }
        let config = try JSONDecoder().decode(RunConfig.self, from: Data(configJSON.utf8))
        var rng = SeededGenerator(seed: 0)  // the values come from the checkpoint
        let generator = LSTMGenerator(config.generator, using: &rng)
        try contents.restore(generator)
        var discriminator: CNNDiscriminator?
        if config.algorithm == .seqgan {
            let d = CNNDiscriminator(config.discriminator, using: &rng)
            try contents.restore(d)
            discriminator = d
        }
        var vocabulary: Vocabulary?, tokenizer: Tokenizer?
        if let text = contents.metadata["vocabulary"] {
            let v = try Vocabulary.parse(text, source: "\(url.path) (vocabulary)")
            vocabulary = v
            tokenizer = try Tokenizer(v.config)
        }
        let step: Int, position: String
        switch config.algorithm {
        case .mle:
            let state = try contents.state(MLEState.self)
            (step, position) = (state.step, "MLE step \(state.step), epoch \(state.epoch)")
        case .seqgan:
            let state = try contents.state(SeqGANState.self)
            switch state.phase {
            case .pretrainGenerator, .pretrainDiscriminator:
                (step, position) = (state.mle.step, "SeqGAN \(state.phase.rawValue), MLE step \(state.mle.step)")
            case .adversarial, .done:
                (step, position) = (state.adversarialStep, "SeqGAN adversarial step \(state.adversarialStep)")
            }
        }
        return LoadedRun(checkpoint: url, config: config, generator: generator, discriminator: discriminator,
                         vocabulary: vocabulary, tokenizer: tokenizer, step: step, position: position)
    }

    /// Token ids as readable text (oracle runs: the ids themselves).
    func render(_ ids: [Int32]) -> String {
        guard let vocabulary, let tokenizer else { return ids.map(String.init).joined(separator: " ") }
        return tokenizer.detokenize(vocabulary.decode(ids, stopAtEOS: true, skipPadAndBOS: true))
    }

    /// Text as token ids, with the tokens the vocabulary does not know (they become <unk>).
    func encode(_ text: String) throws -> (ids: [Int32], unknown: [String]) {
        let tokens = try self.tokens(text)
        return (tokens.map(\.id), tokens.filter { !$0.known }.map(\.text))
    }

    /// Text as tokens and their ids; a token the vocabulary does not know gets <unk>'s id and `known: false`.
    /// Oracle runs (no vocabulary) take whitespace-separated ids.
    func tokens(_ text: String) throws -> [(text: String, id: Int32, known: Bool)] {
        guard let vocabulary, let tokenizer else {
            return try text.split(whereSeparator: \.isWhitespace).map { part in
                guard let id = Int32(part), (0..<Int32(config.generator.vocabularySize)).contains(id) else {
                    throw ValidationError("this run's tokens are ids 0..<\(config.generator.vocabularySize); '\(part)' is not one")
                }
                return (String(part), id, true)
            }
        }
        return tokenizer.tokenize(text).map { ($0, vocabulary.id(of: $0), vocabulary.contains($0)) }
    }

    /// How one token id reads: its vocabulary entry (<eos> and the other special tokens included), or the id itself.
    func tokenName(_ id: Int32) -> String {
        guard let vocabulary, id >= 0, Int(id) < vocabulary.count else { return String(id) }
        return vocabulary.token(of: id)
    }
}
