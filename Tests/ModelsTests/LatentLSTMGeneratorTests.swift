import Foundation
import Layers
@testable import Models
import NumericCore
import TestSupport
import XCTest

/// TextGAN's latent-code LSTM: its teacher-forced and soft-argmax gradients against central differences, the soft
/// decoding against greedy sampling of the same code, and the likelihood paths against each other.
final class LatentLSTMGeneratorTests: XCTestCase {
    private func tiny(seed: UInt64 = 3, prior: LatentPrior = .uniform) -> LatentLSTMGenerator {
        var rng = SeededGenerator(seed: seed)
        return LatentLSTMGenerator(LatentLSTMGeneratorConfig(vocabularySize: 7, embeddingSize: 3, hiddenSize: 4,
                                                              latentSize: 2, prior: prior, maxLength: 5, startToken: 1,
                                                              endToken: 2, initStd: 0.5), using: &rng)
    }

    private let batch: TokenBatch = {
        var b = TokenBatch(sequences: [[3, 4, 2], [5, 6, 6, 4, 2], [4, 2]], length: 5)
        b.noiseSeed = 99
        return b
    }()

    func testTeacherForcedNLLGradientMatchesCentralDifferences() {
        let g = tiny()
        g.zeroGrad()
        g.weightedNLL(batch, backward: true)
        assertGradientsMatch(g.parameters.map { ($0, $0.grad) }) { Double(g.weightedNLL(batch, backward: false)) }
    }

    /// Under given codes, the NLL's gradient reaches every parameter and the codes themselves (through h_0 and every
    /// step's input), and the seeded pass is the pass under the codes it draws.
    func testTheNLLUnderGivenCodesIsDifferentiableInTheCodes() {
        let g = tiny(seed: 7)
        var rng = SeededGenerator(seed: 99)  // the batch's noiseSeed: the codes the seeded pass draws
        let z = Parameter("z", g.drawLatents(count: 3, using: &rng))
        XCTAssertEqual(g.weightedNLL(batch, latents: z.value, normalizer: nil, backward: false).value,
                       g.weightedNLL(batch, backward: false))
        g.zeroGrad()
        let dz = g.weightedNLL(batch, latents: z.value, normalizer: nil, backward: true).dLatents!
        assertGradientsMatch(g.parameters.map { ($0, $0.grad) } + [(z, dz)]) {
            Double(g.weightedNLL(batch, latents: z.value, normalizer: nil, backward: false).value)
        }
    }

    /// The codes come from the batch's seed: another seed gives another loss, the same seed the same bits.
    func testTheNoiseSeedChoosesTheCodes() {
        let g = tiny()
        var other = batch
        other.noiseSeed = 100
        XCTAssertEqual(g.weightedNLL(batch, backward: false), g.weightedNLL(batch, backward: false))
        XCTAssertNotEqual(g.weightedNLL(batch, backward: false), g.weightedNLL(other, backward: false))
    }

    /// Σ w·rows of a soft-argmax decoding (L small enough for central differences) is differentiable in every
    /// parameter through the feedback of each step's rows into the next input.
    func testSoftArgmaxDecodingGradientMatchesCentralDifferences() {
        for prior in LatentPrior.allCases {
            let g = tiny(seed: 5, prior: prior)
            var rng = SeededGenerator(seed: 8)
            let z = g.drawLatents(count: 3, using: &rng)
            let weights = Tensor(randomNormal: [3 * 5, 7], using: &rng)
            func loss() -> Double {
                let rows = g.softArgmaxDecode(latents: z, length: 5, sharpness: 1.5).rows
                return zip(rows.scalars, weights.scalars).reduce(0.0) { $0 + Double($1.0 * $1.1) }
            }
            g.zeroGrad()
            let decoding = g.softArgmaxDecode(latents: z, length: 5, sharpness: 1.5)
            g.softArgmaxBackward(weights, of: decoding)
            for p in g.parameters { XCTAssertGreaterThan(p.grad.squaredNorm, 0, "\(p.name) gets a gradient") }
            assertGradientsMatch(g.parameters.map { ($0, $0.grad) },
                                 options: GradientCheckOptions(epsilon: 1e-2, maxEntriesPerTensor: 40)) { loss() }
        }
    }

    /// At TextGAN's sharpness the rows are a few exact non-zeros each, and the backward pass runs over them
    /// (`SparseRows`): every parameter's gradient equals the dense pass's (which the test above checks against
    /// central differences) up to the order of the sums.
    func testTheSparseBackwardPassEqualsTheDenseOne() throws {
        var rng = SeededGenerator(seed: 21)
        let g = LatentLSTMGenerator(LatentLSTMGeneratorConfig(vocabularySize: 1000, embeddingSize: 8, hiddenSize: 6,
                                                               latentSize: 3, maxLength: 6, startToken: 1, endToken: 2,
                                                               initStd: 1), using: &rng)
        let z = g.drawLatents(count: 20, using: &rng)
        let decoding = g.softArgmaxDecode(latents: z, length: 6, sharpness: 300)
        let support = try XCTUnwrap(SparseRows(decoding.rows), "the rows must be sparse for the sparse path to run")
        XCTAssertGreaterThan(support.nonzeroCount, decoding.rows.matrixShape.0, "not one-hot: the softmax's Jacobian matters")
        let dRows = Tensor(randomNormal: decoding.rows.shape, using: &rng)
        func gradients() -> [[Float]] {
            g.zeroGrad()
            g.softArgmaxBackward(dRows, of: decoding)
            return g.parameters.map(\.grad.scalars)
        }
        let sparse = gradients()
        LatentLSTMGenerator.sparseBackwardDensity = 0
        defer { LatentLSTMGenerator.sparseBackwardDensity = SparseRows.maximumDensity }
        let dense = gradients()
        for (k, p) in g.parameters.enumerated() {
            let scale = dense[k].map { abs($0) }.max() ?? 0
            XCTAssertGreaterThan(scale, 0, "\(p.name) gets a gradient")
            for i in dense[k].indices {
                XCTAssertEqual(sparse[k][i], dense[k][i], accuracy: 1e-4 * scale, "\(p.name)[\(i)]")
            }
        }
    }

    /// At a sharpness where softmax(L·o) is exactly one-hot, the decoding feeds the arg-max's embedding, so its
    /// tokens are greedy sampling's from the same code.
    func testSharpDecodingEmitsTheGreedySamplesOfItsCode() {
        let g = tiny(seed: 11)
        var rng = SeededGenerator(seed: 2)
        let z = g.drawLatents(count: 6, using: &rng)
        let decoding = g.softArgmaxDecode(latents: z, length: 5, sharpness: 1e6)
        XCTAssertTrue(decoding.rows.scalars.allSatisfy { $0 == 0 || $0 == 1 }, "rows are exactly one-hot")
        let decoded = decoding.sequences(endToken: 2)
        for b in 0..<6 {
            let code = Array(z.scalars[(b * 2)..<((b + 1) * 2)])
            var unused = SeededGenerator(seed: 0)
            let greedy = g.sample(count: 1, options: SamplingOptions(temperature: 0, latent: code), using: &unused)
            XCTAssertEqual(decoded[b], greedy[0], "sequence \(b)")
        }
    }

    /// Teacher-forced log-probabilities of sequence 0 (no seed: the fixed stream's first code) are the next-token
    /// log-probabilities after each of its prefixes.
    func testTeacherForcedAndIncrementalLogProbabilitiesAgree() {
        let g = tiny(seed: 13)
        var unseeded = batch
        unseeded.noiseSeed = nil
        let teacherForced = g.tokenLogProbabilities(unseeded)
        let sequence: [Int32] = [3, 4, 2]
        for t in 0..<sequence.count {
            let next = g.nextTokenLogProbabilities(after: Array(sequence[..<t]))
            XCTAssertEqual(teacherForced[t], next[Int(sequence[t])], accuracy: 1e-5, "position \(t)")
        }
    }

    /// A fixed code gives the same samples under any seed's stream of tokens at temperature 0, and codes matter.
    func testAFixedCodeMakesSamplesReproducible() {
        let g = tiny(seed: 17)
        var a = SeededGenerator(seed: 1), b = SeededGenerator(seed: 2)
        let options = SamplingOptions(temperature: 0, latent: [0.9, -0.9])
        XCTAssertEqual(g.sample(count: 4, options: options, using: &a), g.sample(count: 4, options: options, using: &b))
        var c = SeededGenerator(seed: 1)
        let drawn = g.sample(count: 64, options: SamplingOptions(temperature: 0), using: &c)
        XCTAssertGreaterThan(Set(drawn).count, 1, "codes drawn from the prior give different greedy sequences")
    }

    /// Seeded MLE on a tiny corpus: the loss falls.
    func testSeededMaximumLikelihoodLowersTheLoss() {
        let g = tiny(seed: 19)
        let adam = Adam(g.parameters, config: .init(learningRate: 0.05))
        var losses: [Float] = []
        for step in 0..<60 {
            var b = batch
            b.noiseSeed = UInt64(step)
            g.zeroGrad()
            losses.append(g.weightedNLL(b, backward: true))
            adam.update()
        }
        XCTAssertLessThan(losses.suffix(5).reduce(0, +), 0.5 * losses.prefix(5).reduce(0, +))
    }
}
