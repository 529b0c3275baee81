import Foundation
import Layers
import Models
import NumericCore
import TestSupport
import XCTest

/// TextGAN's sentence encoder: the codes' shape and range, padding, and its gradient against central differences.
final class SentenceEncoderTests: XCTestCase {
    private func tiny(prior: LatentPrior, seed: UInt64 = 3) -> SentenceEncoder {
        var rng = SeededGenerator(seed: seed)
        return SentenceEncoder(SentenceEncoderConfig(
            vocabularySize: 7, sequenceLength: 5, padToken: 0, latentSize: 3, prior: prior, embeddingSize: 4,
            widths: [ConvolutionWidth(width: 2, filters: 3), ConvolutionWidth(width: 3, filters: 2)], initStd: 0.5),
            using: &rng)
    }

    private let sentences: [[Int32]] = [[3, 4, 2], [5, 6, 6, 4, 2], [4, 2], [6, 5, 4, 3, 3, 2]]

    /// One code of n_z values per sentence; uniform codes inside (−1, 1); a sentence longer than the encoder's length
    /// is read cut, and trailing padding changes nothing.
    func testCodesHaveTheGeneratorsShapeAndTheUniformOnesLieInItsSupport() {
        for prior in LatentPrior.allCases {
            let encoder = tiny(prior: prior)
            let z = encoder.forward(sentences).codes
            XCTAssertEqual(z.shape, [4, 3])
            if prior == .uniform { XCTAssertTrue(z.scalars.allSatisfy { abs($0) < 1 }) }
            XCTAssertNotEqual(Array(z.scalars[0..<3]), Array(z.scalars[3..<6]), "different sentences, different codes")
            let cutAndPadded = encoder.forward([[6, 5, 4, 3, 3], [3, 4, 2, 0, 0]]).codes
            XCTAssertEqual(Array(cutAndPadded.scalars[0..<3]), Array(z.scalars[9..<12]))
            XCTAssertEqual(Array(cutAndPadded.scalars[3..<6]), Array(z.scalars[0..<3]))
        }
    }

    /// Σ w·z is differentiable in every tensor: embedding, each width's filters and biases, the output map.
    func testEncoderGradientMatchesCentralDifferences() {
        for prior in LatentPrior.allCases {
            let encoder = tiny(prior: prior, seed: 5)
            var rng = SeededGenerator(seed: 8)
            let weights = Tensor(randomNormal: [4, 3], using: &rng)
            encoder.zeroGrad()
            let (_, cache) = encoder.forward(sentences)
            encoder.backward(weights, cache: cache)
            for p in encoder.parameters { XCTAssertGreaterThan(p.grad.squaredNorm, 0, "\(p.name) gets a gradient") }
            assertGradientsMatch(encoder.parameters.map { ($0, $0.grad) },
                                 options: GradientCheckOptions(epsilon: 1e-3, relativeTolerance: 1e-2, absoluteTolerance: 1e-3)) {
                weightedSum(encoder.forward(sentences).codes, weights)
            }
        }
    }
}
