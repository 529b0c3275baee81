import Foundation
import Models
import NumericCore
import Workbench

// A test-only generator kind: a unigram model (every token drawn independently from one learned distribution). It
// conforms to the generator role and nothing else, so a run of it through `textgan train`, `sample` and `eval`
// shows that the commands, the trainers and the rollouts go through the roles and the registry alone.

struct UnigramConfig: SequenceGeneratorConfig, CorpusFittedGeneratorConfig {
    static let kind = "unigram"
    var vocabularySize = 0
    var maxLength = 20
    var startToken: Int32 = 0
    var endToken: Int32? = nil
    /// Logits start N(0, initStd²).
    var initStd: Float = 0.1

    func validate(section: String) throws {
        try ConfigCheck(section).number("initStd", initStd, 0...10)
    }

    func makeGenerator(using rng: inout SeededGenerator) -> any SequenceGenerator { UnigramGenerator(self, using: &rng) }

    static let registration = GeneratorKind(UnigramConfig.self) { _ in UnigramConfig() }
}

final class UnigramGenerator: SequenceGenerator {
    let config: UnigramConfig
    /// [V]: log G(v) = logits[v] − logsumexp(logits).
    let logits: Parameter

    init(_ config: UnigramConfig, using rng: inout SeededGenerator) {
        self.config = config
        logits = Parameter("generator.unigram.logits",
                           Tensor(randomNormal: [config.vocabularySize], std: config.initStd, using: &rng))
    }

    var parameters: [Parameter] { [logits] }
    var kind: String { UnigramConfig.kind }
    var vocabularySize: Int { config.vocabularySize }
    var maxLength: Int { config.maxLength }
    var startToken: Int32 { config.startToken }
    var endToken: Int32? { config.endToken }
    var tokenEmbeddings: [Parameter] { [] }

    private var logProbabilities: [Float] { logSoftmax(logits.value.reshaped([1, vocabularySize])).scalars }

    func weightedNLL(_ batch: TokenBatch, normalizer: Float?, backward: Bool) -> Float {
        let lp = logProbabilities, norm = normalizer ?? Float(batch.realTokenCount)
        var loss: Float = 0, totalWeight: Float = 0
        var counts = [Float](repeating: 0, count: vocabularySize)
        for (token, w) in zip(batch.tokens, batch.weights) where w != 0 {
            loss -= w * lp[Int(token)]
            counts[Int(token)] += w
            totalWeight += w
        }
        if backward {
            // d/dθ_v of −Σ w·log p(y) = Σ w · (p_v − [y = v]).
            let gradient = (0..<vocabularySize).map { (totalWeight * exp(lp[$0]) - counts[$0]) / norm }
            logits.grad.add(Tensor(shape: [vocabularySize], scalars: gradient), scaledBy: 1)
        }
        return loss / norm
    }

    func tokenLogProbabilities(_ batch: TokenBatch) -> [Float] {
        let lp = logProbabilities
        return batch.tokens.map { lp[Int($0)] }
    }

    func nextTokenLogProbabilities(after prefix: [Int32]) -> [Float] { logProbabilities }

    func sample(count: Int, options: SamplingOptions, prefix: [Int32], batchSize: Int, using rng: inout SeededGenerator,
                shouldStop: () -> Bool) -> [[Int32]] {
        (0..<count).map { _ in complete(prefix, options: options, using: &rng) }
    }

    /// Draws tokens after `prefix` until the end token or the length limit.
    func complete(_ prefix: [Int32], options: SamplingOptions = SamplingOptions(), using rng: inout SeededGenerator) -> [Int32] {
        let limit = min(options.maxLength ?? maxLength, maxLength)
        let t = Double(max(options.temperature, 1e-6))
        let weights = logProbabilities.map { exp(Double($0) / t) }
        let total = weights.reduce(0, +)
        var sequence = prefix
        while sequence.count < limit && (sequence.last == nil || sequence.last != endToken) {
            var u = rng.nextDouble() * total, token = 0
            while token < vocabularySize - 1 && u >= weights[token] {
                u -= weights[token]
                token += 1
            }
            sequence.append(Int32(token))
        }
        return sequence
    }

    func prefixCompletions(of sequences: [[Int32]]) -> any PrefixCompletions { Completions(model: self, sequences: sequences) }

    struct Completions: PrefixCompletions {
        let model: UnigramGenerator
        let sequences: [[Int32]]
        func complete(rows: [Int], length: Int, times: Int, using rng: inout SeededGenerator) -> [[Int32]] {
            rows.flatMap { b in (0..<times).map { _ in model.complete(Array(sequences[b].prefix(length)), using: &rng) } }
        }
    }

    func copy() -> UnigramGenerator {
        var unused = SeededGenerator(seed: 0)
        let model = UnigramGenerator(config, using: &unused)
        model.copyValues(from: self)
        return model
    }
}
