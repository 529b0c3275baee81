import Foundation
import NumericCore

// The SeqGAN synthetic benchmark's oracle: an LSTM with vocabulary 5000, embedding 32, hidden 32, sequences of 20
// tokens, start token 0 and h0 = c0 = 0. Either the original weights (`../shared/data/seqgan-oracle/*.npy`) or, when
// those are absent, a stand-in of the same shapes drawn N(0, 1) from a fixed seed — never to be confused with the
// original, so it says which it is.

public struct Oracle {
    public let model: LSTMGenerator
    /// "seqgan-original" or "random-normal(seed …)": recorded with every run that uses it.
    public let origin: String

    public static let config = LSTMGeneratorConfig(
        vocabularySize: 5000, embeddingSize: 32, hiddenSize: 32, maxLength: 20, startToken: 0, endToken: nil, initStd: 1)

    /// The original SeqGAN oracle from its .npy files (wi, ui, bi … packed in our i | f | o | g gate order).
    public static func load(directory: URL) throws -> Oracle {
        func load(_ name: String) throws -> Tensor { try Npy.read(from: directory.appendingPathComponent("\(name).npy")) }
        var rng = SeededGenerator(seed: 0)
        let model = LSTMGenerator(config, using: &rng)
        let tensors: [String: Tensor] = [
            "generator.embedding.weight": try load("embedding"),
            "generator.lstm.wx": packColumns(try ["wi", "wf", "wog", "wc"].map(load)),
            "generator.lstm.wh": packColumns(try ["ui", "uf", "uog", "uc"].map(load)),
            "generator.lstm.b": packColumns(try ["bi", "bf", "bog", "bc"].map { try load($0).reshaped([1, 32]) }).reshaped([128]),
            "generator.output.weight": try load("wo"),
            "generator.output.bias": try load("bo"),
        ]
        try model.load(tensors)
        return Oracle(model: model, origin: "seqgan-original")
    }

    /// The stand-in oracle: every parameter N(0, 1) from `seed` (SeqGAN's own generator of its oracle was N(0, 1)).
    public static func random(seed: UInt64) -> Oracle {
        var rng = SeededGenerator(seed: seed)
        return Oracle(model: LSTMGenerator(config, using: &rng), origin: "random-normal(seed \(seed))")
    }

    /// The original when `directory` holds it, else the stand-in.
    public static func loadOrRandom(directory: URL?, seed: UInt64 = 2017) throws -> Oracle {
        if let directory, FileManager.default.fileExists(atPath: directory.appendingPathComponent("wo.npy").path) {
            return try load(directory: directory)
        }
        return random(seed: seed)
    }

    /// The synthetic benchmark's corpus: `count` sequences sampled from the oracle (SeqGAN: 10,000 for training).
    public func sampleCorpus(count: Int, seed: UInt64) -> [[Int32]] {
        var rng = SeededGenerator(seed: seed)
        return model.sample(count: count, batchSize: 500, using: &rng)
    }

    /// Mean per-token negative log-likelihood of fixed-length sequences under the oracle (NLL-oracle when the
    /// sequences are a generator's samples).
    public func negativeLogLikelihood(_ sequences: [[Int32]], batchSize: Int = 64) -> Double {
        // Batches are independent: each thread scores whole batches, and the sums are added in batch order, so the
        // thread count changes no bit.
        let starts = Array(stride(from: 0, to: sequences.count, by: max(batchSize, 1)))
        var sums = [(total: Double, tokens: Int)](repeating: (0, 0), count: starts.count)
        sums.withUnsafeMutableBufferPointer { sums in
            Parallel.forEachChunk(starts.count) { range in
                for k in range {
                    let chunk = Array(sequences[starts[k]..<min(starts[k] + batchSize, sequences.count)])
                    let batch = TokenBatch(sequences: chunk, length: chunk.map(\.count).max() ?? 0)
                    let n = batch.realTokenCount
                    sums[k] = (Double(model.weightedNLL(batch, backward: false)) * Double(n), n)
                }
            }
        }
        let total = sums.reduce(0.0) { $0 + $1.total }, tokens = sums.reduce(0) { $0 + $1.tokens }
        return tokens == 0 ? .nan : total / Double(tokens)
    }

    /// [r, c] matrices side by side → [r, k·c].
    static func packColumns(_ parts: [Tensor]) -> Tensor {
        let (rows, columns) = parts[0].matrixShape
        var out = Tensor(zeros: [rows, columns * parts.count])
        for (k, part) in parts.enumerated() {
            precondition(part.matrixShape == (rows, columns), "packColumns: parts differ in shape")
            for r in 0..<rows { for c in 0..<columns { out[r, k * columns + c] = part[r, c] } }
        }
        return out
    }
}
