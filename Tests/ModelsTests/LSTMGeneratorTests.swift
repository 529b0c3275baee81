import Foundation
import Layers
@testable import Models
import NumericCore
import TestSupport
import XCTest

final class LSTMGeneratorTests: XCTestCase {
    private let tiny = LSTMGeneratorConfig(vocabularySize: 11, embeddingSize: 5, hiddenSize: 6, maxLength: 7,
                                           startToken: 1, endToken: 2, initStd: 0.5)

    private func batch() -> TokenBatch {
        TokenBatch(sequences: [[4, 5, 6, 2], [7, 2], [3, 8, 9, 10, 2]], length: 5, padToken: 0)
    }

    func testShapesOfATinyConfig() {
        var rng = SeededGenerator(seed: 1)
        let g = LSTMGenerator(tiny, using: &rng)
        XCTAssertEqual(g.parameterCount, 11 * 5 + (5 + 6 + 1) * 24 + 6 * 11 + 11)
        let lp = g.tokenLogProbabilities(batch())
        XCTAssertEqual(lp.count, 15)
        XCTAssertTrue(lp.allSatisfy { $0 < 0 && $0.isFinite })
        let samples = g.sample(count: 10, using: &rng)
        XCTAssertEqual(samples.count, 10)
        for s in samples {
            XCTAssertTrue((1...7).contains(s.count))
            XCTAssertTrue(s.allSatisfy { (0..<11).contains($0) })
            // Only the last token may be the end token.
            XCTAssertFalse(s.dropLast().contains(2))
            if s.count < 7 { XCTAssertEqual(s.last, 2) }
        }
    }

    func testLossIsMeanNLLOfRealTokens() {
        var rng = SeededGenerator(seed: 2)
        let g = LSTMGenerator(tiny, using: &rng)
        let b = batch()
        let lp = g.tokenLogProbabilities(b)
        let expected = -zip(lp, b.weights).reduce(0.0) { $0 + Double($1.0 * $1.1) } / 11
        XCTAssertEqual(Double(g.weightedNLL(b, backward: false)), expected, accuracy: 1e-5)
    }

    /// The whole model's gradient, end to end, against central differences.
    func testGradientOfTheWeightedNLL() {
        var rng = SeededGenerator(seed: 3)
        let g = LSTMGenerator(tiny, using: &rng)
        var b = batch()
        for i in 0..<b.weights.count where b.weights[i] != 0 { b.weights[i] = Float(i % 3) - 0.7 }  // reward-like
        g.zeroGrad()
        g.weightedNLL(b, normalizer: 3, backward: true)
        assertGradientsMatch(g.parameters.map { ($0, $0.grad) }) {
            Double(g.weightedNLL(b, normalizer: 3, backward: false))
        }
    }

    func testPaddingNeverContributes() {
        var rng = SeededGenerator(seed: 4)
        let g = LSTMGenerator(tiny, using: &rng)
        var a = batch(), b = batch()
        // Different pad ids: same loss and same gradients.
        for i in 0..<b.tokens.count where b.weights[i] == 0 { b.tokens[i] = 9 }
        XCTAssertNotEqual(a.tokens, b.tokens)
        g.zeroGrad()
        let la = g.weightedNLL(a, backward: true)
        let ga = g.parameters.map(\.grad)
        g.zeroGrad()
        let lb = g.weightedNLL(b, backward: true)
        XCTAssertEqual(la, lb)
        for (x, y) in zip(ga, g.parameters.map(\.grad)) { XCTAssertEqual(x, y) }
        a.weights = a.weights.map { _ in 0 }
        a.weights[0] = 1
        g.zeroGrad()
        g.weightedNLL(a, backward: true)
        // With only the first position weighted, later inputs (token 9 enters at step 3 of the third sequence)
        // cannot affect the loss: the model is causal, so that embedding row gets no gradient.
        XCTAssertEqual(Array(g.embedding.table.grad.scalars[(9 * 5)..<(10 * 5)]), [0, 0, 0, 0, 0])
    }

    func testNearZeroTemperatureEqualsGreedy() {
        var rng = SeededGenerator(seed: 5)
        let g = LSTMGenerator(tiny, using: &rng)
        var r1 = SeededGenerator(seed: 6), r2 = SeededGenerator(seed: 7)
        let greedy = g.sample(count: 5, options: SamplingOptions(temperature: 0), using: &r1)
        let cold = g.sample(count: 5, options: SamplingOptions(temperature: 1e-4), using: &r2)
        XCTAssertEqual(greedy, cold)
        XCTAssertEqual(Set(greedy.map { $0 }).count, 1)  // greedy decoding is deterministic
    }

    func testTopKAndTopPNeverEmitExcludedTokens() {
        var rng = SeededGenerator(seed: 8)
        let config = LSTMGeneratorConfig(vocabularySize: 6, embeddingSize: 3, hiddenSize: 3, maxLength: 30, startToken: 0)
        let g = LSTMGenerator(config, using: &rng)
        // Make the next-token distribution independent of the state: zero weights, fixed biases.
        g.output.weight.value.fill(0)
        // softmax(bias) = [0.4, 0.3, 0.15, 0.1, 0.05, 0.0…] approximately
        g.output.bias!.value = Tensor(shape: [6], scalars: [0.4, 0.3, 0.15, 0.1, 0.05, 1e-6].map { logf($0) })
        let topK = g.sample(count: 200, options: SamplingOptions(topK: 2), using: &rng).joined()
        XCTAssertEqual(Set(topK), [0, 1])
        let topP = g.sample(count: 200, options: SamplingOptions(topP: 0.8), using: &rng).joined()
        XCTAssertEqual(Set(topP), [0, 1, 2])  // 0.4 + 0.3 < 0.8 ≤ 0.4 + 0.3 + 0.15
        let both = g.sample(count: 200, options: SamplingOptions(topK: 3, topP: 0.5), using: &rng).joined()
        XCTAssertEqual(Set(both), [0, 1])
        // Unfiltered sampling follows the distribution.
        let plain = g.sample(count: 400, using: &rng).joined()
        let share0 = Double(plain.filter { $0 == 0 }.count) / Double(plain.count)
        XCTAssertEqual(share0, 0.4, accuracy: 0.03)
    }

    func testPrefixIsKept() {
        var rng = SeededGenerator(seed: 9)
        let g = LSTMGenerator(tiny, using: &rng)
        for s in g.sample(count: 8, prefix: [4, 5], using: &rng) {
            XCTAssertEqual(Array(s.prefix(2)), [4, 5])
            XCTAssertGreaterThan(s.count, 2)
        }
    }

    /// Rows are drawn on several threads with uniforms taken in row order, so the thread count changes no token, for
    /// plain, tempered and filtered sampling alike.
    func testSamplesAreTheSameOnOneAndTwoThreads() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        var rng = SeededGenerator(seed: 12)
        let g = LSTMGenerator(tiny, using: &rng)
        for options in [SamplingOptions(), SamplingOptions(temperature: 0.7), SamplingOptions(topK: 4, topP: 0.9)] {
            func run(threads: Int) -> [[Int32]] {
                Parallel.threads = threads
                var r = SeededGenerator(seed: 13)
                return g.sample(count: 300, options: options, batchSize: 100, using: &r)
            }
            XCTAssertEqual(run(threads: 1), run(threads: 2), "\(options)")
        }
    }

    /// `continueSampling` projects and samples a block of rows at a time, skipping finished rows: it must give the
    /// tokens of the straightforward loop (all rows' logits, then one draw per unfinished row, uniforms in row order),
    /// including a last, partial block and rows that end early, on one thread and on two.
    func testBlockwiseSamplingMatchesTheStraightforwardLoop() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        let config = LSTMGeneratorConfig(vocabularySize: 300, embeddingSize: 8, hiddenSize: 12, maxLength: 9,
                                         startToken: 1, endToken: 2, initStd: 0.6)
        var rng = SeededGenerator(seed: 21)
        let g = LSTMGenerator(config, using: &rng)
        let n = 2 * LSTMGenerator.sampleBlockRows + 7
        // Rows start from different prefixes; some are already finished (at eos or at the maximum length).
        var prefixes: [[Int32]] = []
        for i in 0..<n {
            prefixes.append((0..<(i % 4)).map { j -> Int32 in Int32(3 + (j * 7 + i) % 290) })
        }
        prefixes[5] = [4, 2]
        prefixes[9] = [Int32](repeating: 6, count: config.maxLength)
        let state = LSTMState(h: Tensor(randomNormal: [n, 12], std: 0.8, using: &rng),
                              c: Tensor(randomNormal: [n, 12], std: 0.8, using: &rng))
        let next = prefixes.map { $0.last ?? config.startToken }

        func straightforward(_ options: SamplingOptions) -> [[Int32]] {
            var r = SeededGenerator(seed: 5)
            var (state, current, sequences) = (state, next, prefixes)
            var finished = sequences.map { $0.count >= config.maxLength || $0.last == config.endToken }
            while !finished.allSatisfy({ $0 }) {
                state = g.lstm.step(g.embedding.forward(current), state)
                let logits = g.output.forward(state.h).scalars
                let rows = (0..<n).filter { !finished[$0] }
                let uniforms = rows.map { _ in r.nextDouble() }
                var sampler = TokenSampler(options: options, vocabularySize: config.vocabularySize)
                for (i, b) in rows.enumerated() {
                    let token = logits.withUnsafeBufferPointer {
                        sampler.draw($0.baseAddress! + b * config.vocabularySize, uniform: uniforms[i])
                    }
                    sequences[b].append(token)
                    current[b] = token
                    if token == config.endToken || sequences[b].count >= config.maxLength { finished[b] = true }
                }
            }
            return sequences
        }
        for options in [SamplingOptions(), SamplingOptions(temperature: 0.8, topK: 50, topP: 0.95)] {
            let expected = straightforward(options)
            XCTAssertTrue(expected.contains { $0.count < config.maxLength }, "some rows should end at eos")
            for threads in [1, 2] {
                Parallel.threads = threads
                var r = SeededGenerator(seed: 5)
                let got = g.continueSampling(from: state, next: next, sequences: prefixes, options: options, using: &r)
                XCTAssertEqual(got, expected, "\(options), \(threads) threads")
            }
        }
    }

    func testSameSeedSameSamples() {
        var r1 = SeededGenerator(seed: 10), r2 = SeededGenerator(seed: 10)
        let a = LSTMGenerator(tiny, using: &r1), b = LSTMGenerator(tiny, using: &r2)
        XCTAssertEqual(a.sample(count: 20, using: &r1), b.sample(count: 20, using: &r2))
    }
}

final class OracleTests: XCTestCase {
    func testOriginalOracleScoresTheGoldenSequences() throws {
        let directory = try sharedData("seqgan-oracle")
        let oracle = try Oracle.load(directory: directory)
        XCTAssertEqual(oracle.origin, "seqgan-original")
        struct Check: Decodable {
            struct Case: Decodable { let tokens: [Int32]; let nll_mean: Double }
            let cases: [Case]
        }
        let check = try JSONDecoder().decode(Check.self, from: Data(contentsOf: directory.appendingPathComponent("check.json")))
        let nll = oracle.negativeLogLikelihood(check.cases.map(\.tokens))
        XCTAssertEqual(nll, check.cases.map(\.nll_mean).reduce(0, +) / Double(check.cases.count), accuracy: 1e-4)
    }

    func testStandInOracleIsLabelledAndDeterministic() {
        let a = Oracle.random(seed: 2017), b = Oracle.random(seed: 2017)
        XCTAssertTrue(a.origin.contains("random"))
        XCTAssertEqual(a.model.namedTensors, b.model.namedTensors)
        XCTAssertEqual(try Oracle.loadOrRandom(directory: nil).origin, a.origin)
    }
}
