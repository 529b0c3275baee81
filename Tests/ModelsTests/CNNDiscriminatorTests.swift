import Layers
import Models
import NumericCore
import TestSupport
import XCTest

final class CNNDiscriminatorTests: XCTestCase {
    private let tiny = CNNDiscriminatorConfig(
        vocabularySize: 9, sequenceLength: 6, embeddingSize: 4,
        widths: [ConvolutionWidth(width: 1, filters: 3), ConvolutionWidth(width: 2, filters: 2),
                 ConvolutionWidth(width: 6, filters: 2), ConvolutionWidth(width: 8, filters: 5)],
        keepProbability: 0.75, l2: 0.2, initStd: 0.5)

    func testWidthsLongerThanTheSequenceAreDropped() {
        var rng = SeededGenerator(seed: 1)
        let d = CNNDiscriminator(tiny, using: &rng)
        XCTAssertEqual(d.convolution.widths.map(\.width), [1, 2, 6])
        XCTAssertEqual(d.convolution.featureCount, 7)
        XCTAssertEqual(d.output.weight.shape, [7, 2])
        // The paper's configuration at length 20 keeps all 12 widths and 1720 filters.
        let paper = CNNDiscriminator(CNNDiscriminatorConfig(vocabularySize: 50, sequenceLength: 20), using: &rng)
        XCTAssertEqual(paper.convolution.featureCount, 1720)
    }

    /// The whole discriminator's gradient (with dropout on and L2) against central differences.
    func testGradientOfTheLoss() {
        for representations in [1, 3] { checkGradientOfTheLoss(representations: representations) }
    }

    private func checkGradientOfTheLoss(representations: Int) {
        var rng = SeededGenerator(seed: 2)
        var config = tiny
        config.representations = representations
        let d = CNNDiscriminator(config, using: &rng)
        XCTAssertEqual(d.embedding.table.shape, [9, 4 * representations])
        let sequences: [[Int32]] = [[1, 2, 3, 4, 5, 6], [7, 8, 1], [2, 2, 2, 2, 2, 2], [3, 1, 4, 1, 5]]
        let labels: [Int32] = [1, 0, 1, 0]
        d.zeroGrad()
        var dropoutRNG = SeededGenerator(seed: 3)
        d.loss(sequences, labels: labels, backward: true, using: &dropoutRNG)
        let options = GradientCheckOptions(epsilon: 2e-3, relativeTolerance: 3e-2, absoluteTolerance: 5e-3)
        assertGradientsMatch(d.parameters.map { ($0, $0.grad) }, options: options) {
            var same = SeededGenerator(seed: 3)
            return Double(d.loss(sequences, labels: labels, backward: false, using: &same).loss)
        }
    }

    /// With R identical embedding slices, R representations give one representation's logits: each slice is read
    /// as a sequence by the same layers and the R logits are averaged.
    func testRepresentationsAreSlicesReadAlikeAndAveraged() {
        var rng = SeededGenerator(seed: 14)
        var config = tiny
        config.representations = 3
        let many = CNNDiscriminator(config, using: &rng)
        let one = CNNDiscriminator(tiny, using: &rng)
        for (a, b) in zip(one.parameters, many.parameters) where a !== one.embedding.table { a.value = b.value }
        for v in 0..<9 {
            for e in 0..<4 {
                let value = many.embedding.table.value[v, e]
                one.embedding.table.value[v, e] = value
                for r in 1..<3 { many.embedding.table.value[v, r * 4 + e] = value }
            }
        }
        var unused = SeededGenerator(seed: 0)
        let ids = one.pack([[1, 2, 3, 4, 5, 6], [7, 8, 1]])
        let a = one.forward(.tokens(ids), training: false, using: &unused)
        let b = many.forward(.tokens(ids), training: false, using: &unused)
        for (x, y) in zip(a.logits.scalars + a.features.scalars, b.logits.scalars + b.features.scalars) {
            XCTAssertEqual(x, y, accuracy: 1e-5)
        }
        // Different slices give different logits: the option is not a no-op.
        many.embedding.table.value[1, 5] += 1
        XCTAssertNotEqual(many.forward(.tokens(ids), training: false, using: &unused).logits, b.logits)
        XCTAssertNil(many.tableScorer(), "the table scorer assumes one representation")
    }

    /// D read from rows over the vocabulary: one-hot rows give the token path's logits and features bit for bit, and
    /// the gradient with respect to soft rows (through logits and features, with dropout on) matches central
    /// differences, as do the parameters' gradients.
    func testRowsInputAndItsGradient() {
        // One representation (SeqGAN's D) and three (RelGAN's option: slices read as sequences, logits averaged).
        for representations in [1, 3] { checkRowsInputAndItsGradient(representations: representations) }
    }

    private func checkRowsInputAndItsGradient(representations: Int) {
        var rng = SeededGenerator(seed: 12)
        var config = tiny
        config.representations = representations
        let d = CNNDiscriminator(config, using: &rng)
        let sequences: [[Int32]] = [[1, 2, 3, 4, 5, 6], [7, 8, 1], [2, 2, 2, 2, 2, 2]]
        let ids = d.pack(sequences)
        var oneHot = Tensor(zeros: [ids.count, tiny.vocabularySize])
        for (n, id) in ids.enumerated() { oneHot[n, Int(id)] = 1 }
        var unused = SeededGenerator(seed: 0)
        let byTokens = d.forward(.tokens(ids), training: false, using: &unused)
        let byRows = d.forward(.rows(oneHot), training: false, using: &unused)
        XCTAssertEqual(byRows.logits.scalars.map(\.bitPattern), byTokens.logits.scalars.map(\.bitPattern))
        XCTAssertEqual(byRows.features.scalars.map(\.bitPattern), byTokens.features.scalars.map(\.bitPattern))
        XCTAssertNil(d.backward(byTokens, logitGradient: Tensor(zeros: [3, 2]), featureGradient: nil))

        let rows = Parameter("rows", softmax(Tensor(randomNormal: [ids.count, tiny.vocabularySize], std: 2, using: &rng)))
        let wLogits = Tensor(randomNormal: [3, 2], using: &rng)
        let wFeatures = Tensor(randomNormal: byRows.features.shape, using: &rng)
        func loss() -> Double {
            var dropout = SeededGenerator(seed: 5)
            let pass = d.forward(.rows(rows.value), training: true, using: &dropout)
            return weightedSum(pass.logits, wLogits) + weightedSum(pass.features, wFeatures)
        }
        d.zeroGrad()
        var dropout = SeededGenerator(seed: 5)
        let pass = d.forward(.rows(rows.value), training: true, using: &dropout)
        let dRows = try! XCTUnwrap(d.backward(pass, logitGradient: wLogits, featureGradient: wFeatures))
        XCTAssertEqual(dRows.shape, rows.value.shape)
        let options = GradientCheckOptions(epsilon: 1e-3, relativeTolerance: 3e-2, absoluteTolerance: 5e-3)
        assertGradientsMatch([(rows, dRows)] + d.parameters.map { ($0, $0.grad) }, options: options, loss: loss)

        // A loss on every view's logits (what the GAN losses read): their gradient goes in unspread.
        XCTAssertEqual(pass.viewLogits.matrixShape.0, 3 * representations)
        XCTAssertEqual(pass.views, representations)
        let wViews = Tensor(randomNormal: pass.viewLogits.shape, using: &rng)
        d.zeroGrad()
        var again = SeededGenerator(seed: 5)
        let viewPass = d.forward(.rows(rows.value), training: true, using: &again)
        let dViewRows = try! XCTUnwrap(d.backward(viewPass, logitGradient: wViews, featureGradient: nil))
        assertGradientsMatch([(rows, dViewRows)] + d.parameters.map { ($0, $0.grad) }, options: options) {
            var dropout = SeededGenerator(seed: 5)
            return weightedSum(d.forward(.rows(rows.value), training: true, using: &dropout).viewLogits, wViews)
        }
    }

    func testLearnsToTellAPatternFromNoise() {
        var rng = SeededGenerator(seed: 4)
        let config = CNNDiscriminatorConfig(
            vocabularySize: 12, sequenceLength: 8, embeddingSize: 8,
            widths: [ConvolutionWidth(width: 2, filters: 8), ConvolutionWidth(width: 3, filters: 8)])
        let d = CNNDiscriminator(config, using: &rng)
        let adam = Adam(d.parameters, config: .init(learningRate: 1e-2))
        func realBatch() -> [[Int32]] {
            (0..<32).map { _ in let s = rng.nextInt(below: 4); return (0..<8).map { Int32(s + $0) } }
        }
        func fakeBatch() -> [[Int32]] { (0..<32).map { _ in (0..<8).map { _ in Int32(rng.nextInt(below: 12)) } } }
        let labels = [Int32](repeating: 1, count: 32) + [Int32](repeating: 0, count: 32)
        for _ in 0..<60 {
            d.zeroGrad()
            d.loss(realBatch() + fakeBatch(), labels: labels, backward: true, using: &rng)
            adam.update()
        }
        let real = d.probabilityReal(realBatch()), fake = d.probabilityReal(fakeBatch())
        XCTAssertGreaterThan(real.reduce(0, +) / 32, 0.9)
        XCTAssertLessThan(fake.reduce(0, +) / 32, 0.1)
        let (_, judgedReal) = d.loss(realBatch() + fakeBatch(), labels: labels, training: false, backward: false, using: &rng)
        let correct = zip(judgedReal, labels).filter { $0 == ($1 == 1) }.count
        XCTAssertGreaterThan(correct, 60)
    }

    /// The table-based scorer used for rollout rewards agrees with the ordinary forward pass: for padded, full-length
    /// and over-long sequences, after some training has moved the weights away from their initial values, and on
    /// two threads; over the memory cap there is no scorer.
    func testFrozenScorerAgreesWithTheForwardPass() throws {
        let saved = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = saved }
        var rng = SeededGenerator(seed: 14)
        let config = CNNDiscriminatorConfig(
            vocabularySize: 50, sequenceLength: 12, embeddingSize: 8,
            widths: [ConvolutionWidth(width: 1, filters: 5), ConvolutionWidth(width: 3, filters: 24),
                     ConvolutionWidth(width: 12, filters: 7)], initStd: 0.3)
        let d = CNNDiscriminator(config, using: &rng)
        let sequences: [[Int32]] = (0..<300).map { i in
            (0..<(1 + i % 15)).map { _ in Int32(rng.nextInt(below: 50)) }  // 1 … 15 tokens: padded and cut
        }
        let optimizer = Adam(d.parameters, config: .init(learningRate: 0.01))
        for step in 0..<3 {
            d.zeroGrad()
            let batch = Array(sequences[(step * 64)..<((step + 1) * 64)])
            d.loss(batch, labels: batch.map { Int32($0.count % 2) }, backward: true, using: &rng)
            optimizer.update()
        }
        let scorer = try XCTUnwrap(d.tableScorer())
        let expected = d.probabilityReal(sequences, batchSize: 100)
        let fromTables = scorer.probabilityReal(sequences, batchSize: 100)
        XCTAssertEqual(fromTables.count, sequences.count)
        let worst = zip(expected, fromTables).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-5)
        XCTAssertGreaterThan(Set(expected.map { ($0 * 1000).rounded() }).count, 10, "the scores vary")
        XCTAssertNil(d.tableScorer(maximumTableBytes: 1000))
    }

    /// Runs of rollout completions that share a prefix: the scorer sums the shared windows once per run, and the
    /// scores are the same bits as scoring every sequence on its own — for prefixes shorter than the widest window,
    /// longer than some, as long as the sequence, and for sequences shorter than the prefix (padding is shared too).
    func testFrozenScorerWithSharedPrefixesGivesTheSameBits() throws {
        var rng = SeededGenerator(seed: 15)
        let config = CNNDiscriminatorConfig(
            vocabularySize: 40, sequenceLength: 10, embeddingSize: 8,
            widths: [ConvolutionWidth(width: 1, filters: 5), ConvolutionWidth(width: 3, filters: 9),
                     ConvolutionWidth(width: 4, filters: 6), ConvolutionWidth(width: 10, filters: 7)], initStd: 0.3)
        let d = CNNDiscriminator(config, using: &rng)
        let scorer = try XCTUnwrap(d.tableScorer())
        for (runLength, prefix) in [(4, 0), (4, 1), (3, 3), (5, 6), (4, 9), (2, 10), (6, 12)] {
            var sequences: [[Int32]] = []
            for run in 0..<7 {
                let shared = (0..<prefix).map { _ in Int32(rng.nextInt(below: 40)) }
                for _ in 0..<runLength {
                    // Some runs end early (padded), so the shared prefix may include padding.
                    let rest = run % 3 == 0 ? 0 : max(0, 10 - prefix)
                    sequences.append(shared + (0..<rest).map { _ in Int32(rng.nextInt(below: 40)) })
                }
            }
            let alone = scorer.probabilityReal(sequences, batchSize: 8)
            let together = scorer.probabilityReal(sequences, batchSize: 8, sharing: SharedPrefix(runLength: runLength, length: prefix))
            XCTAssertEqual(together, alone, "runs of \(runLength) sharing \(prefix) tokens")
            XCTAssertGreaterThanOrEqual(Set(alone).count, 7, "the scores vary (between runs at least)")
        }
    }

    func testInferenceIsDeterministicAndProbabilitiesAreValid() {
        var rng = SeededGenerator(seed: 5)
        let d = CNNDiscriminator(tiny, using: &rng)
        let sequences: [[Int32]] = [[1, 2, 3], [4, 5, 6, 7, 8, 1, 2, 3]]  // shorter is padded, longer is cut
        let p = d.probabilityReal(sequences)
        XCTAssertEqual(p, d.probabilityReal(sequences))
        XCTAssertTrue(p.allSatisfy { $0 > 0 && $0 < 1 })
        XCTAssertEqual(d.pack(sequences), [1, 2, 3, 0, 0, 0, 4, 5, 6, 7, 8, 1])
    }
}

extension CNNDiscriminator {
    /// SeqGAN's discriminator step as training composes it from the role's pieces: the 2-class cross-entropy of the
    /// logits plus the L2 regularization, backward when asked. Returns the loss and, per sequence, whether D judged
    /// it real.
    @discardableResult
    func loss(_ sequences: [[Int32]], labels: [Int32], training: Bool = true, backward: Bool,
              using rng: inout SeededGenerator) -> (loss: Float, judgedReal: [Bool]) {
        let pass = forward(.tokens(pack(sequences)), training: training, using: &rng)
        let judgedReal = (0..<labels.count).map { pass.logits[$0, 1] > pass.logits[$0, 0] }
        guard backward else {
            return (softmaxCrossEntropy(logits: pass.logits, targets: labels) + regularization(backward: false), judgedReal)
        }
        let (crossEntropy, dLogits) = softmaxCrossEntropyWithGradient(logits: pass.logits, targets: labels)
        let penalty = regularization(backward: true)
        self.backward(pass, logitGradient: dLogits, featureGradient: nil)
        return (crossEntropy + penalty, judgedReal)
    }
}
