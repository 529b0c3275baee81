import Foundation
import Layers
import NumericCore
import TestSupport
import XCTest

/// The SeqGAN oracle LSTM, built from its .npy files with our Embedding, LSTM and Linear layers, must reproduce the
/// per-token log-probabilities that numpy computed in float64 (`../shared/data/seqgan-oracle/check.json`).
final class OracleGoldenTests: XCTestCase {
    private struct Check: Decodable {
        struct Case: Decodable {
            let tokens: [Int32]
            let logprobs: [Double]
            let nll_mean: Double
        }
        let cases: [Case]
        let greedy_decode: [Int32]
        let greedy_nll_mean: Double
    }

    /// The oracle: embedding → LSTM → output projection, with the gate matrices packed in our i | f | o | g order.
    private struct Oracle {
        let embedding: Embedding
        let lstm: LSTM
        let output: Linear

        init(directory: URL) throws {
            func load(_ name: String) throws -> Tensor { try Npy.read(from: directory.appendingPathComponent("\(name).npy")) }
            var rng = SeededGenerator(seed: 0)
            embedding = Embedding("embedding", vocabularySize: 5000, embeddingSize: 32, using: &rng)
            lstm = LSTM("lstm", inputSize: 32, hiddenSize: 32, using: &rng)
            output = Linear("output", inputSize: 32, outputSize: 5000, using: &rng)
            embedding.table.value = try load("embedding")
            lstm.inputWeight.value = try Self.packColumns(["wi", "wf", "wog", "wc"].map(load))
            lstm.recurrentWeight.value = try Self.packColumns(["ui", "uf", "uog", "uc"].map(load))
            lstm.bias.value = try Self.packColumns(["bi", "bf", "bog", "bc"].map { try load($0).reshaped([1, 32]) }).reshaped([128])
            output.weight.value = try load("wo")
            output.bias!.value = try load("bo")
        }

        /// [r, c] matrices side by side → [r, 4c].
        static func packColumns(_ parts: [Tensor]) -> Tensor {
            let (rows, columns) = parts[0].matrixShape
            var out = Tensor(zeros: [rows, columns * parts.count])
            for (k, part) in parts.enumerated() {
                for r in 0..<rows { for c in 0..<columns { out[r, k * columns + c] = part[r, c] } }
            }
            return out
        }

        /// log p(token_t | tokens_<t) for each t, with token 0 as the start input and h0 = c0 = 0.
        func logProbabilities(_ tokens: [Int32]) -> [Float] {
            let inputs = [Int32(0)] + tokens.dropLast()
            let x = embedding.forward(inputs).reshaped([tokens.count, 1, 32])  // [T, B=1, E]
            let (hidden, _, _) = lstm.forward(x)
            let lp = logSoftmax(output.forward(hidden.reshaped([tokens.count, 32])))
            return tokens.enumerated().map { lp[$0.offset, Int($0.element)] }
        }
    }

    func testOracleReproducesGoldenLogProbabilities() throws {
        let directory = try sharedData("seqgan-oracle")
        let check = try JSONDecoder().decode(Check.self, from: Data(contentsOf: directory.appendingPathComponent("check.json")))
        let oracle = try Oracle(directory: directory)
        XCTAssertEqual(check.cases.count, 4)
        for (k, c) in check.cases.enumerated() {
            let lp = oracle.logProbabilities(c.tokens)
            for t in 0..<c.tokens.count {
                XCTAssertEqual(Double(lp[t]), c.logprobs[t], accuracy: 1e-4, "case \(k) step \(t)")
            }
            XCTAssertEqual(-lp.reduce(0.0) { $0 + Double($1) } / Double(lp.count), c.nll_mean, accuracy: 1e-4)
        }
    }

    func testOracleGreedyDecode() throws {
        let oracle = try Oracle(directory: try sharedData("seqgan-oracle"))
        let check = try JSONDecoder().decode(
            Check.self, from: Data(contentsOf: try sharedData("seqgan-oracle").appendingPathComponent("check.json")))
        // Step by step with the cache-free LSTM step, taking the arg-max each time.
        var state = LSTMState.zeros(batch: 1, hidden: 32)
        var token: Int32 = 0
        var decoded: [Int32] = []
        var nll = 0.0
        for _ in 0..<20 {
            state = oracle.lstm.step(oracle.embedding.forward([token]), state)
            let lp = logSoftmax(oracle.output.forward(state.h))
            let best = lp.scalars.indices.max { lp.scalars[$0] < lp.scalars[$1] }!
            token = Int32(best)
            decoded.append(token)
            nll -= Double(lp.scalars[best])
        }
        XCTAssertEqual(decoded, check.greedy_decode)
        XCTAssertEqual(nll / 20, check.greedy_nll_mean, accuracy: 1e-4)
    }
}
