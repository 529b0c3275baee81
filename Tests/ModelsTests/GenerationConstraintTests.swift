import Layers
@testable import Models
import NumericCore
import TestSupport
import XCTest

/// Repetition penalty, no-repeat n-gram and minimum length (Hugging Face `generate`'s semantics) in the shared
/// sampler, checked against logits adjusted by hand, then through both generators' sampling paths.
final class GenerationConstraintTests: XCTestCase {
    /// The token the unconstrained sampler draws from `logits` with `uniform`.
    private func plain(_ logits: [Float], _ uniform: Double, temperature: Float = 1) -> Int32 {
        var sampler = TokenSampler(options: SamplingOptions(temperature: temperature), vocabularySize: logits.count)
        return logits.withUnsafeBufferPointer { sampler.draw($0.baseAddress!, uniform: uniform) }
    }

    private func constrained(_ logits: [Float], _ uniform: Double, _ options: SamplingOptions, history: [Int32],
                             endToken: Int32? = nil) -> Int32 {
        var sampler = TokenSampler(options: options, vocabularySize: logits.count)
        return logits.withUnsafeBufferPointer {
            sampler.draw($0.baseAddress!, uniform: uniform, history: history, endToken: endToken)
        }
    }

    private let uniforms: [Double] = (0..<64).map { (Double($0) + 0.5) / 64 }

    func testRepetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
        // Tokens 0 (logit 2) and 1 (logit -1) were seen, 1 twice: with penalty 2 they become 1 and -2, once each.
        let logits: [Float] = [2, -1, 0.5, 1.5]
        let byHand: [Float] = [1, -2, 0.5, 1.5]
        let options = SamplingOptions(repetitionPenalty: 2)
        for u in uniforms {
            XCTAssertEqual(constrained(logits, u, options, history: [1, 0, 1]), plain(byHand, u), "u = \(u)")
        }
        // Greedy: the penalty moves the arg-max from token 0 to token 3; at temperature 0.5 the same logits as by hand.
        XCTAssertEqual(constrained(logits, 0, SamplingOptions(temperature: 0, repetitionPenalty: 2), history: [0]), 3)
        for u in uniforms {
            XCTAssertEqual(constrained(logits, u, SamplingOptions(temperature: 0.5, repetitionPenalty: 2), history: [1, 0]),
                           plain(byHand, u, temperature: 0.5))
        }
        // A penalty of 1 changes nothing.
        for u in uniforms { XCTAssertEqual(constrained(logits, u, SamplingOptions(repetitionPenalty: 1), history: [0, 1]), plain(logits, u)) }
    }

    func testNoRepeatNGramBansTheTokensThatWouldCompleteASeenNGram() {
        let logits: [Float] = [0, 1, 2, 3, 0.5, 0.25]
        // History 1 2 3 1 2: the trigram "1 2 3" is there, so after "1 2" token 3 is banned (only it).
        let options = SamplingOptions(noRepeatNGramSize: 3)
        var byHand = logits
        byHand[3] = -.infinity
        for u in uniforms { XCTAssertEqual(constrained(logits, u, options, history: [1, 2, 3, 1, 2]), plain(byHand, u)) }
        // Bigrams after 5: "5 3" and "5 1" seen in 5 3 5 1 5 → 3 and 1 banned; greedy takes 2.
        XCTAssertEqual(constrained(logits, 0, SamplingOptions(temperature: 0, noRepeatNGramSize: 2), history: [5, 3, 5, 1, 5]), 2)
        // Size 1 bans every token seen; a history shorter than n bans nothing.
        XCTAssertEqual(constrained(logits, 0, SamplingOptions(temperature: 0, noRepeatNGramSize: 1), history: [3, 2]), 1)
        for u in uniforms { XCTAssertEqual(constrained(logits, u, options, history: [3, 3]), plain(logits, u)) }
        // When every token would be banned, the bans are dropped for that draw rather than draw from nothing.
        for u in uniforms {
            XCTAssertEqual(constrained([1, 2], u, SamplingOptions(noRepeatNGramSize: 1), history: [0, 1]), plain([1, 2], u))
        }
    }

    func testMinimumLengthHoldsTheEndTokenBackUntilTheSequenceIsLongEnough() {
        let logits: [Float] = [0, 0, 9, 0.5]  // the end token (2) is by far the likeliest
        let options = SamplingOptions(minLength: 3)
        var byHand = logits
        byHand[2] = -.infinity
        for u in uniforms {
            XCTAssertEqual(constrained(logits, u, options, history: [0, 1], endToken: 2), plain(byHand, u))
            XCTAssertEqual(constrained(logits, u, options, history: [0, 1, 3], endToken: 2), plain(logits, u), "3 tokens: allowed")
        }
        XCTAssertEqual(constrained(logits, 0, SamplingOptions(temperature: 0, minLength: 3), history: [], endToken: 2), 3)
        // Without an end token (the oracle), there is nothing to hold back.
        for u in uniforms { XCTAssertEqual(constrained(logits, u, options, history: [], endToken: nil), plain(logits, u)) }
    }

    // MARK: - Through the generators

    private func repeatsAnNGram(_ s: [Int32], _ n: Int) -> Bool {
        guard s.count >= n else { return false }
        let grams = (0...(s.count - n)).map { Array(s[$0..<($0 + n)]) }
        return Set(grams.map { $0.map(String.init).joined(separator: " ") }).count != grams.count
    }

    func testBothGeneratorsKeepTheConstraintsOnEverySample() {
        var rng = SeededGenerator(seed: 3)
        let lstm = LSTMGenerator(LSTMGeneratorConfig(vocabularySize: 12, embeddingSize: 5, hiddenSize: 6, maxLength: 12,
                                                     startToken: 1, endToken: 2, initStd: 0.8), using: &rng)
        let transformer = TransformerGenerator(TransformerGeneratorConfig(vocabularySize: 12, maxLength: 12, startToken: 1,
                                                                          endToken: 2, layers: 1, heads: 2, width: 8,
                                                                          mlpExpansion: 2, initStd: 0.8), using: &rng)
        let generators: [any SequenceGenerator] = [lstm, transformer]
        for g in generators {
            var a = SeededGenerator(seed: 9)
            let free = g.sample(count: 200, options: SamplingOptions(), prefix: [4, 4], using: &a)
            XCTAssertTrue(free.contains { repeatsAnNGram($0, 2) }, "\(g.kind): the test needs repeats to forbid")
            XCTAssertTrue(free.contains { $0.count < 6 }, "\(g.kind): and short samples")

            var b = SeededGenerator(seed: 9)
            let options = SamplingOptions(noRepeatNGramSize: 2, minLength: 6)
            let samples = g.sample(count: 200, options: options, prefix: [4, 5], using: &b)
            for s in samples {
                XCTAssertEqual(Array(s.prefix(2)), [4, 5])
                XCTAssertFalse(repeatsAnNGram(s, 2), "\(g.kind): \(s)")
                if let end = s.firstIndex(of: 2) { XCTAssertGreaterThanOrEqual(end, 6, "\(g.kind): \(s)") }
            }
            // The same seed gives the same constrained samples.
            var c = SeededGenerator(seed: 9)
            XCTAssertEqual(g.sample(count: 200, options: options, prefix: [4, 5], using: &c), samples)
        }
        // The Transformer's cached path and its straightforward twin agree under constraints too.
        var a = SeededGenerator(seed: 5), b = SeededGenerator(seed: 5)
        let options = SamplingOptions(repetitionPenalty: 1.5, noRepeatNGramSize: 2, minLength: 4)
        let prefixes = [[Int32]](repeating: [4], count: 40)
        XCTAssertEqual(transformer.continueSequencesCached(prefixes, options: options, using: &a),
                       transformer.continueSequencesByRerunning(prefixes, options: options, using: &b))
    }
}
