import Foundation
import NumericCore
import TestSupport
import Training
import XCTest

/// TextGAN's feature-matching distance: values on hand-computed cases, zero between a set and itself, the unbiased
/// estimate near zero between two samples of one law, and the gradients of both sets against central differences.
final class MMDTests: XCTestCase {
    func testValuesOnHandComputedCases() {
        let mmd = GaussianMMD(bandwidths: [1])
        let x = Tensor(shape: [1, 1], scalars: [0]), y = Tensor(shape: [1, 1], scalars: [1])
        XCTAssertEqual(mmd(x, y).value, 2 - 2 * exp(-0.5), accuracy: 1e-12)
        // Two bandwidths add their kernels: σ = 1 and 2 at distance² = 4 (points 0 and 2).
        let two = GaussianMMD(bandwidths: [1, 2])
        let far = Tensor(shape: [1, 1], scalars: [2])
        XCTAssertEqual(two(x, far).value, 4 - 2 * (exp(-2) + exp(-0.5)), accuracy: 1e-12)
        // Unbiased: the diagonal leaves the within-set means. x = y = {0, 1}: k₀₁ + k₀₁ − 2·(2 + 2k₀₁)/4 = k₀₁ − 1 < 0
        // (the unbiased estimate can be negative; the biased one of a set and itself is 0).
        let pair = Tensor(shape: [2, 1], scalars: [0, 1])
        let unbiased = GaussianMMD(bandwidths: [1], unbiased: true)
        let k01 = exp(-0.5)
        XCTAssertEqual(unbiased(pair, pair).value, k01 + k01 - 2 * (2 + 2 * k01) / 4, accuracy: 1e-12)
        XCTAssertEqual(GaussianMMD()(pair, pair).value, 0, accuracy: 1e-12)
    }

    func testTheUnbiasedEstimateIsNearZeroForOneLawAndLargeForTwo() {
        var rng = SeededGenerator(seed: 3)
        let a = Tensor(randomNormal: [200, 4], std: 1, using: &rng), b = Tensor(randomNormal: [200, 4], std: 1, using: &rng)
        var shifted = Tensor(randomNormal: [200, 4], std: 1, using: &rng)
        shifted.add(Tensor(repeating: 1.5, shape: [200, 4]), scaledBy: 1)
        let mmd = GaussianMMD(bandwidths: [1, 2, 5], unbiased: true)
        XCTAssertLessThan(abs(mmd(a, b).value), 0.02)
        XCTAssertGreaterThan(mmd(a, shifted).value, 0.5)
    }

    func testGradientsOfBothSetsMatchCentralDifferences() {
        var rng = SeededGenerator(seed: 4)
        for unbiased in [false, true] {
            let mmd = GaussianMMD(bandwidths: [0.5, 1, 2], unbiased: unbiased)
            let x = Parameter("x", Tensor(randomNormal: [5, 3], std: 1, using: &rng))
            let y = Parameter("y", Tensor(randomNormal: [4, 3], std: 1, using: &rng))
            let (_, dx, dy) = mmd(x.value, y.value)
            XCTAssertGreaterThan(dx.scalars.map { abs($0) }.max()!, 1e-3)
            assertGradientsMatch([(x, dx), (y, dy)], options: GradientCheckOptions(epsilon: 1e-2)) {
                mmd(x.value, y.value).value
            }
        }
    }
}
