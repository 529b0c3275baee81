import Layers
@testable import Models
import NumericCore
import TestSupport
import XCTest

final class TransformerGeneratorTests: XCTestCase {
    private let tiny = TransformerGeneratorConfig(vocabularySize: 7, maxLength: 6, startToken: 1, endToken: 2, layers: 2,
                                                  heads: 2, width: 8, mlpExpansion: 2, initStd: 0.3)

    func testShapesAndNames() {
        var rng = SeededGenerator(seed: 1)
        let g = TransformerGenerator(tiny, using: &rng)
        XCTAssertEqual(g.kind, "transformer")
        XCTAssertEqual(g.tokenEmbedding.table.shape, [7, 8])
        XCTAssertEqual(g.positionEmbedding.table.shape, [6, 8])
        XCTAssertEqual(g.blocks.count, 2)
        XCTAssertEqual(g.output.weight.shape, [8, 7])
        let names = Set(g.parameters.map(\.name))
        XCTAssertEqual(names.count, g.parameters.count, "parameter names are unique checkpoint keys")
        XCTAssertTrue(names.contains("generator.blocks.1.attention.qkv.weight"), "\(names.sorted())")
        // GPT-2's scaled residual projections start smaller than the other weights.
        let std = { (p: Parameter) in (p.value.scalars.map { $0 * $0 }.reduce(0, +) / Float(p.value.count)).squareRoot() }
        XCTAssertLessThan(std(g.blocks[0].attention.projection.weight), std(g.blocks[0].attention.qkv.weight))
    }

    /// The whole model's gradient against central differences, with padding weighted out.
    func testGradientOfTheWeightedNLL() {
        var rng = SeededGenerator(seed: 2)
        let g = TransformerGenerator(tiny, using: &rng)
        var batch = TokenBatch(sequences: [[3, 4, 5, 2], [6, 3, 2], [4, 4, 4, 4, 5, 2]], length: 6)
        batch.weights = batch.weights.enumerated().map { $0.element * (1 + Float($0.offset % 3) * 0.5) }
        g.zeroGrad()
        g.weightedNLL(batch, normalizer: 2, backward: true)
        let options = GradientCheckOptions(epsilon: 1e-2, relativeTolerance: 3e-2, absoluteTolerance: 2e-3)
        assertGradientsMatch(g.parameters.map { ($0, $0.grad) }, options: options) {
            Double(g.weightedNLL(batch, normalizer: 2, backward: false))
        }
    }

    /// A batch large enough that the layer norms' rows and the GELU's elements are split over threads: the loss and
    /// every gradient have the same bits on one, two and three threads.
    func testTheTrainingPassHasTheSameBitsOnAnyThreadCount() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        var rng = SeededGenerator(seed: 23)
        let config = TransformerGeneratorConfig(vocabularySize: 11, maxLength: 20, startToken: 1, endToken: 2, layers: 1,
                                                heads: 2, width: 16, mlpExpansion: 4, initStd: 0.3)
        let g = TransformerGenerator(config, using: &rng)
        let sequences = (0..<40).map { _ in (0..<19).map { _ in Int32(3 + rng.nextInt(below: 8)) } }
        let batch = TokenBatch(sequences: sequences, length: 20)
        var results: [[UInt32]] = []
        for threads in [1, 2, 3] {
            Parallel.threads = threads
            g.zeroGrad()
            let loss = g.weightedNLL(batch, normalizer: nil, backward: true)
            results.append([loss.bitPattern] + g.parameters.flatMap { $0.grad.scalars.map(\.bitPattern) })
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
    }

    /// With dropout on (embeddings, attention probabilities, both residual branches), a training pass's masks come
    /// from the batch's seed: the teacher-forced logits' gradient matches central differences under the same masks,
    /// the masks change the logits, and a pass without a seed (evaluation) drops nothing.
    func testDropoutMasksComeFromTheBatchSeedAndTheirGradientChecks() throws {
        var config = tiny
        config.dropout = 0.3
        var rng = SeededGenerator(seed: 21)
        let g = TransformerGenerator(config, using: &rng)
        XCTAssertTrue(g.drawsTrainingNoise)
        var batch = TokenBatch(sequences: [[3, 4, 5, 2], [6, 3, 2], [4, 4, 4, 4, 5, 2]], length: 6)
        let plain = g.logits(batch).logits
        batch.noiseSeed = 77
        let (dropped, cache) = g.logits(batch)
        XCTAssertEqual(g.logits(batch).logits, dropped, "one seed, one set of masks")
        XCTAssertNotEqual(dropped, plain)
        var other = batch
        other.noiseSeed = 78
        XCTAssertNotEqual(g.logits(other).logits, dropped)
        let noDropout = TransformerGenerator(tiny, using: &rng)
        noDropout.copyValues(from: g)
        var unseeded = batch
        unseeded.noiseSeed = nil
        XCTAssertEqual(noDropout.logits(unseeded).logits, plain, "evaluation drops nothing")

        let weights = Tensor(randomNormal: dropped.shape, std: 1, using: &rng)
        g.zeroGrad()
        g.logitsBackward(weights, cache: cache)
        assertGradientsMatch(g.parameters.map { ($0, $0.grad) },
                             options: GradientCheckOptions(epsilon: 1e-2, relativeTolerance: 3e-2, absoluteTolerance: 2e-3)) {
            let logits = g.logits(batch).logits
            return zip(logits.scalars, weights.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
    }

    /// Tied embeddings: the output projection is the token table transposed (no weight of its own among the
    /// parameters), the likelihood's gradient folds into the table and matches central differences, and an update
    /// of the table moves the logits.
    func testTiedEmbeddingsShareTheTableAndTheirGradientChecks() {
        var config = tiny
        config.tieEmbeddings = true
        var rng = SeededGenerator(seed: 23)
        let g = TransformerGenerator(config, using: &rng)
        XCTAssertFalse(g.parameters.contains { $0 === g.output.weight })
        XCTAssertEqual(g.parameters.count, TransformerGenerator(tiny, using: &rng).parameters.count - 1)
        let batch = TokenBatch(sequences: [[3, 4, 5, 2], [6, 3, 2], [4, 4, 4, 4, 5, 2]], length: 6)
        g.zeroGrad()
        g.weightedNLL(batch, normalizer: 2, backward: true)
        XCTAssertEqual(g.output.weight.grad.scalars.allSatisfy { $0 == 0 }, true, "folded into the table")
        let options = GradientCheckOptions(epsilon: 1e-2, relativeTolerance: 3e-2, absoluteTolerance: 2e-3)
        assertGradientsMatch(g.parameters.map { ($0, $0.grad) }, options: options) {
            Double(g.weightedNLL(batch, normalizer: 2, backward: false))
        }
        let before = g.nextTokenLogProbabilities(after: [3])
        g.tokenEmbedding.table.value.scale(by: 2)
        XCTAssertNotEqual(g.nextTokenLogProbabilities(after: [3]), before)
        var a = SeededGenerator(seed: 1), b = SeededGenerator(seed: 1)
        _ = b.fork()  // as the sample call below forks a's stream for its one batch
        // Sampling reads the tied projection after the update too: the cached path and its twin agree.
        _ = g.sample(count: 1, using: &a)  // an entry point: writes the projection from the table
        XCTAssertEqual(g.output.weight.value, g.tokenEmbedding.table.value.transposedMatrix())
        // An entry point with the table unchanged leaves the weight as it is (its bf16 packings stay current); a
        // change of the table, or of the weight itself, is written through at the next one.
        let version = g.output.weight.version
        _ = g.nextTokenLogProbabilities(after: [3])
        XCTAssertEqual(g.output.weight.version, version, "unchanged table: not rewritten")
        g.output.weight.value.scale(by: 0)
        _ = g.nextTokenLogProbabilities(after: [3])
        XCTAssertEqual(g.output.weight.value, g.tokenEmbedding.table.value.transposedMatrix(), "the weight was overwritten")
        g.tokenEmbedding.table.value.scale(by: 0.5)
        _ = g.nextTokenLogProbabilities(after: [3])
        XCTAssertEqual(g.output.weight.value, g.tokenEmbedding.table.value.transposedMatrix(), "the table changed")
        XCTAssertEqual(g.continueSequencesCached([[Int32]](repeating: [4], count: 6), using: &a),
                       g.continueSequencesByRerunning([[Int32]](repeating: [4], count: 6), using: &b))
    }

    func testIsCausalAndItsProbabilitiesAgree() {
        var rng = SeededGenerator(seed: 3)
        let g = TransformerGenerator(tiny, using: &rng)
        let a = g.tokenLogProbabilities(TokenBatch(sequences: [[3, 4, 5, 6]], length: 4))
        let b = g.tokenLogProbabilities(TokenBatch(sequences: [[3, 4, 6, 3]], length: 4))
        XCTAssertEqual(Array(a.prefix(2)), Array(b.prefix(2)), "a later token changes no earlier prediction")
        XCTAssertNotEqual(a[2], b[2])
        let next = g.nextTokenLogProbabilities(after: [3, 4])
        XCTAssertEqual(next[5], a[2], accuracy: 1e-5)
        XCTAssertEqual(next.map { exp(Double($0)) }.reduce(0, +), 1, accuracy: 1e-5)
    }

    func testSamplingIsSeededKeepsThePrefixAndStops() {
        var rng = SeededGenerator(seed: 4)
        let g = TransformerGenerator(tiny, using: &rng)
        var r1 = SeededGenerator(seed: 9), r2 = SeededGenerator(seed: 9)
        let s1 = g.sample(count: 40, prefix: [3], batchSize: 16, using: &r1)
        XCTAssertEqual(s1, g.sample(count: 40, prefix: [3], batchSize: 16, using: &r2))
        XCTAssertEqual(s1.count, 40)
        for s in s1 {
            XCTAssertEqual(s.first, 3)
            XCTAssertLessThanOrEqual(s.count, 6)
            XCTAssertTrue(s.count == 6 || s.last == 2, "\(s)")
            XCTAssertFalse(s.dropLast().contains(2), "nothing after the end token")
        }
        XCTAssertGreaterThan(Set(s1).count, 5, "samples vary")
        // Greedy decoding follows the arg-max of the next-token distribution.
        var unused = SeededGenerator(seed: 0)
        let greedy = g.sample(count: 1, options: SamplingOptions(temperature: 0), using: &unused)[0]
        var prefix: [Int32] = []
        for token in greedy {
            let lp = g.nextTokenLogProbabilities(after: prefix)
            XCTAssertEqual(Int(token), lp.indices.max { lp[$0] < lp[$1] })
            prefix.append(token)
        }
        // Completions of a prefix keep it, for rollouts.
        let completions = g.prefixCompletions(of: [[3, 4, 5, 6, 3, 2]]).complete(rows: [0], length: 2, times: 5, using: &r1)
        XCTAssertEqual(completions.count, 5)
        XCTAssertTrue(completions.allSatisfy { Array($0.prefix(2)) == [3, 4] })
    }

    func testMLELowersTheLoss() throws {
        var rng = SeededGenerator(seed: 5)
        let g = TransformerGenerator(TransformerGeneratorConfig(vocabularySize: 12, maxLength: 8, startToken: 1,
                                                                endToken: 2, layers: 2, heads: 2, width: 16), using: &rng)
        // Counting sequences: a rule the model can learn.
        let sequences: [[Int32]] = (0..<64).map { i in (0..<5).map { Int32(3 + (i + $0) % 9) } + [2] }
        let batch = TokenBatch(sequences: sequences, length: 8)
        let adam = Adam(g.parameters, config: .init(learningRate: 0.01))
        let first = g.weightedNLL(batch, backward: false)
        for _ in 0..<60 {
            g.zeroGrad()
            g.weightedNLL(batch, backward: true)
            adam.update()
        }
        let last = g.weightedNLL(batch, backward: false)
        XCTAssertGreaterThan(first, 2)
        XCTAssertLessThan(last, 0.6, "loss \(first) → \(last)")
    }

    /// The key-value cache gives the logits of re-running the whole prefix (up to rounding: the sums run in
    /// another order), and so the same samples.
    func testCachedDecodingMatchesRerunningThePrefix() {
        var rng = SeededGenerator(seed: 6)
        let g = TransformerGenerator(tiny, using: &rng)
        var cache = TransformerGenerator.KeyValueCache(layers: 2, rows: 2, maxLength: 6, width: 8)
        let rows: [[Int32]] = [[3, 4, 5, 6, 3], [6, 6, 2, 4, 5]]
        var inputs: [Int32] = [1, 1]
        for t in 0..<5 {
            let cached = g.step(inputs, cache: &cache)
            for (r, row) in rows.enumerated() {
                let expected = g.nextTokenLogProbabilities(after: Array(row.prefix(t)))
                let got = logSoftmax(Tensor(shape: [1, 7], scalars: Array(cached.scalars[(r * 7)..<(r * 7 + 7)]))).scalars
                for v in 0..<7 { XCTAssertEqual(got[v], expected[v], accuracy: 1e-5, "row \(r) position \(t) token \(v)") }
            }
            inputs = rows.map { $0[t] }
        }
        var a = SeededGenerator(seed: 11), b = SeededGenerator(seed: 11)
        let prefixes = [[Int32]](repeating: [4], count: 30)
        XCTAssertEqual(g.continueSequencesCached(prefixes, using: &a), g.continueSequencesByRerunning(prefixes, using: &b))
    }

    /// Rollout completions start from the prefix's keys and values of one teacher-forced pass over the batch; they
    /// draw what re-running each prefix from scratch draws (with end tokens, so rows finish at different steps).
    func testPrefixCompletionsFromTheSharedCacheMatchRerunningEachPrefix() {
        var rng = SeededGenerator(seed: 8)
        let g = TransformerGenerator(tiny, using: &rng)
        let sequences: [[Int32]] = [[3, 4, 5, 6, 3, 4], [6, 2], [5, 5, 4, 3], [4, 3, 6, 6, 5, 3]]
        let completions = g.prefixCompletions(of: sequences)
        for t in 1..<6 {
            let rows = sequences.indices.filter { sequences[$0].count > t }
            var a = SeededGenerator(seed: UInt64(20 + t)), b = a
            let shared = completions.complete(rows: rows, length: t, times: 5, using: &a)
            let prefixes = rows.flatMap { r in [[Int32]](repeating: Array(sequences[r].prefix(t)), count: 5) }
            XCTAssertEqual(shared, g.continueSequencesByRerunning(prefixes, using: &b), "prefix length \(t)")
            XCTAssertEqual(a.next(), b.next(), "both drew the same number of uniforms")
        }
    }

    /// Batches sample side by side from their own streams: the thread count changes no token.
    func testSamplingDoesNotDependOnTheThreadCount() {
        var rng = SeededGenerator(seed: 9)
        let g = TransformerGenerator(tiny, using: &rng)
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        var samples: [[[Int32]]] = []
        for threads in [1, 2, 3] {
            Parallel.threads = threads
            var stream = SeededGenerator(seed: 4)
            samples.append(g.sample(count: 70, batchSize: 16, using: &stream))
        }
        XCTAssertEqual(samples[0], samples[1])
        XCTAssertEqual(samples[0], samples[2])
        XCTAssertEqual(samples[0].count, 70)
    }
}
