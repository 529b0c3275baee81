import Foundation
import NumericCore

/// The squared maximum mean discrepancy between two sets of feature vectors (Gretton et al. 2012) with a sum of
/// Gaussian kernels k(a, b) = Σ_s exp(−‖a − b‖² / (2σ_s²)): TextGAN's feature-matching distance (Zhang et al. 2017),
/// which the generator minimises and the discriminator's features are trained to expose.
///
///     biased:    MMD² = mean_{i,j} k(x_i, x_j) + mean_{i,j} k(y_i, y_j) − 2·mean_{i,j} k(x_i, y_j)
///     unbiased:  the same with the diagonal terms i = j left out of the first two means (n(n−1) pairs)
///
/// Computed in Double; the gradient with respect to both sets comes with the value.
public struct GaussianMMD: Codable, Sendable, Equatable {
    /// σ_s of the kernels (the reference: 1, 2, 5, 10, 20, 40).
    public var bandwidths: [Double] = [1, 2, 5, 10, 20, 40]
    public var unbiased = false

    public init(bandwidths: [Double] = [1, 2, 5, 10, 20, 40], unbiased: Bool = false) {
        self.bandwidths = bandwidths
        self.unbiased = unbiased
    }

    /// MMD²(x, y) for x [n, F] and y [m, F], and its gradients d/dx [n, F] and d/dy [m, F].
    public func callAsFunction(_ x: Tensor, _ y: Tensor) -> (value: Double, dx: Tensor, dy: Tensor) {
        let (n, F) = x.matrixShape, m = y.matrixShape.0
        precondition(y.matrixShape.1 == F, "GaussianMMD: features \(x.shape) and \(y.shape) differ in width")
        precondition(n > (unbiased ? 1 : 0) && m > (unbiased ? 1 : 0), "GaussianMMD: too few vectors for the estimate")
        // All n + m vectors in one list: z = [x; y].
        let z = (x.scalars + y.scalars).map(Double.init), count = n + m
        var norms = [Double](repeating: 0, count: count)
        for i in 0..<count { for f in 0..<F { norms[i] += z[i * F + f] * z[i * F + f] } }
        // Pair weights: the value is Σ_{i,j} c_ij·k(z_i, z_j); c by block (xx, yy, xy).
        func coefficient(_ i: Int, _ j: Int) -> Double {
            let (ix, jx) = (i < n, j < n)
            if ix && jx { return i == j && unbiased ? 0 : 1 / Double(unbiased ? n * (n - 1) : n * n) }
            if !ix && !jx { return i == j && unbiased ? 0 : 1 / Double(unbiased ? m * (m - 1) : m * m) }
            return -1 / Double(n * m)  // each xy pair appears twice (i, j) and (j, i): −2/(nm) in all
        }
        var value = 0.0
        // d value / d z_i = Σ_j 2·c_ij·Σ_s k_s(i, j)·(−(z_i − z_j)/σ_s²)  (c symmetric)
        var weights = [Double](repeating: 0, count: count * count)
        for i in 0..<count {
            for j in 0..<count {
                let c = coefficient(i, j)
                guard c != 0 else { continue }
                var dot = 0.0
                for f in 0..<F { dot += z[i * F + f] * z[j * F + f] }
                let distance = max(norms[i] + norms[j] - 2 * dot, 0)
                var k = 0.0, slope = 0.0
                for sigma in bandwidths {
                    let e = Foundation.exp(-distance / (2 * sigma * sigma))
                    k += e
                    slope += e / (sigma * sigma)
                }
                value += c * k
                weights[i * count + j] = 2 * c * slope
            }
        }
        var dz = [Double](repeating: 0, count: count * F)
        for i in 0..<count {
            for j in 0..<count where weights[i * count + j] != 0 {
                let w = weights[i * count + j]
                for f in 0..<F { dz[i * F + f] -= w * (z[i * F + f] - z[j * F + f]) }
            }
        }
        let dx = Tensor(shape: x.shape, scalars: dz[0..<(n * F)].map(Float.init))
        let dy = Tensor(shape: y.shape, scalars: dz[(n * F)...].map(Float.init))
        return (value, dx, dy)
    }
}
