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
    ///
    /// The pair distances are summed in Double (`Vector.squaredDistance`), rows of pairs split over threads, and the
    /// gradient d/dz_i = −Σ_j w_ij·(z_i − z_j) is formed as −(Σ_j w_ij)·z_i + (W·z)_i, one product over the centred
    /// vectors (the sum is the same for any shift of z; centring keeps the two terms small).
    public func callAsFunction(_ x: Tensor, _ y: Tensor) -> (value: Double, dx: Tensor, dy: Tensor) {
        let (n, F) = x.matrixShape, m = y.matrixShape.0
        precondition(y.matrixShape.1 == F, "GaussianMMD: features \(x.shape) and \(y.shape) differ in width")
        precondition(n > (unbiased ? 1 : 0) && m > (unbiased ? 1 : 0), "GaussianMMD: too few vectors for the estimate")
        let count = n + m
        // All n + m vectors in one matrix z = [x; y], centred.
        var z = Tensor(shape: [count, F], scalars: x.scalars + y.scalars)
        var mean = [Double](repeating: 0, count: F)
        for i in 0..<count { for f in 0..<F { mean[f] += Double(z.scalars[i * F + f]) } }
        for i in 0..<count { for f in 0..<F { z.scalars[i * F + f] -= Float(mean[f] / Double(count)) } }
        // Pair weights: the value is Σ_{i,j} c_ij·k(z_i, z_j); c by block (xx, yy, xy).
        let (cxx, cyy) = (1 / Double(unbiased ? n * (n - 1) : n * n), 1 / Double(unbiased ? m * (m - 1) : m * m))
        let cxy = -1 / Double(n * m)  // each xy pair appears twice, (i, j) and (j, i): −2/(nm) in all
        let bandwidths = self.bandwidths, unbiased = self.unbiased
        // Row i: its share of the value, and w_ij = 2·c_ij·Σ_s k_s(i, j)/σ_s² (d value/d z_i = −Σ_j w_ij (z_i − z_j)).
        var rowValues = [Double](repeating: 0, count: count)
        var weights = Tensor(zeros: [count, count])
        z.withUnsafeBufferPointer { pz in
            weights.withUnsafeMutableBufferPointer { pw in
                rowValues.withUnsafeMutableBufferPointer { pv in
                    Parallel.forEachChunk(count, grain: 8) { rows in
                        for i in rows {
                            var total = 0.0
                            for j in 0..<count {
                                let (ix, jx) = (i < n, j < n)
                                let c = ix && jx ? cxx : !ix && !jx ? cyy : cxy
                                if i == j && unbiased { continue }
                                let distance = Vector.squaredDistance(pz.baseAddress! + i * F, pz.baseAddress! + j * F, count: F)
                                var k = 0.0, slope = 0.0
                                for sigma in bandwidths {
                                    let e = Foundation.exp(-distance / (2 * sigma * sigma))
                                    k += e
                                    slope += e / (sigma * sigma)
                                }
                                total += c * k
                                // (z_i − z_i) = 0: the diagonal adds to the value, never to the gradient
                                if i != j { pw[i * count + j] = Float(2 * c * slope) }
                            }
                            pv[i] = total
                        }
                    }
                }
            }
        }
        let value = rowValues.reduce(0, +)
        var dz = Tensor(zeros: [count, F])
        matmul(weights, z, into: &dz)  // (W·z)_i
        for i in 0..<count {
            var rowSum = 0.0
            for j in 0..<count { rowSum += Double(weights.scalars[i * count + j]) }
            for f in 0..<F { dz.scalars[i * F + f] -= Float(rowSum) * z.scalars[i * F + f] }
        }
        let dx = Tensor(shape: x.shape, scalars: Array(dz.scalars[0..<(n * F)]))
        let dy = Tensor(shape: y.shape, scalars: Array(dz.scalars[(n * F)...]))
        return (value, dx, dy)
    }
}
