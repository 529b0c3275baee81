import NumericCore

/// Layer normalisation over the last dimension:  x [N, C] → (x − μ)/√(σ² + ε) · γ + β.
public struct LayerNorm: ParameterContainer {
    public let gamma: Parameter  // [C]
    public let beta: Parameter  // [C]
    public let epsilon: Float

    public struct Cache {
        public let normalized: Tensor  // x̂ [N, C]
        public let inverseStd: [Float]  // 1/√(σ² + ε) per row
    }

    public init(_ name: String, size: Int, epsilon: Float = 1e-5) {
        gamma = Parameter("\(name).weight", Tensor(repeating: 1, shape: [size]))
        beta = Parameter("\(name).bias", Tensor(zeros: [size]))
        self.epsilon = epsilon
    }

    public var parameters: [Parameter] { [gamma, beta] }

    /// Rows per thread worth splitting for (rows are independent: the split changes no bit).
    static let rowGrain = 64

    public func forward(_ x: Tensor) -> (y: Tensor, cache: Cache) {
        let (N, C) = x.matrixShape
        precondition(C == gamma.value.count, "LayerNorm: \(C) features, expected \(gamma.value.count)")
        var y = Tensor(zeros: x.shape)
        var xhat = Tensor(zeros: x.shape)
        var inverseStd = [Float](repeating: 0, count: N)
        x.withUnsafeBufferPointer { px in
            gamma.value.withUnsafeBufferPointer { g in
                beta.value.withUnsafeBufferPointer { b in
                    xhat.withUnsafeMutableBufferPointer { pn in
                        y.withUnsafeMutableBufferPointer { py in
                            inverseStd.withUnsafeMutableBufferPointer { ps in
                                Parallel.forEachChunk(N, grain: Self.rowGrain) { rows in
                                    for r in rows {
                                        let row = px.baseAddress! + r * C
                                        var mean: Float = 0
                                        for j in 0..<C { mean += row[j] }
                                        mean /= Float(C)
                                        var variance: Float = 0
                                        for j in 0..<C { variance += (row[j] - mean) * (row[j] - mean) }
                                        variance /= Float(C)
                                        let rstd = 1 / (variance + epsilon).squareRoot()
                                        ps[r] = rstd
                                        for j in 0..<C {
                                            let n = (row[j] - mean) * rstd
                                            pn[r * C + j] = n
                                            py[r * C + j] = n * g[j] + b[j]
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (y, Cache(normalized: xhat, inverseStd: inverseStd))
    }

    /// dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ ⊙ x̂)), with dx̂ = dy ⊙ γ. The rows' dx on several threads; γ's and
    /// β's gradients summed over the rows in order on one, so the thread count changes no bit.
    public func backward(_ dy: Tensor, cache: Cache) -> Tensor {
        let (N, C) = dy.matrixShape
        var dx = Tensor(zeros: dy.shape)
        dy.withUnsafeBufferPointer { pdy in
            cache.normalized.withUnsafeBufferPointer { pn in
                gamma.value.withUnsafeBufferPointer { g in
                    dx.withUnsafeMutableBufferPointer { pdx in
                        Parallel.forEachChunk(N, grain: Self.rowGrain) { rows in
                            for r in rows {
                                var meanD: Float = 0, meanDN: Float = 0
                                for j in 0..<C {
                                    let k = r * C + j
                                    let d = pdy[k] * g[j]
                                    meanD += d
                                    meanDN += d * pn[k]
                                }
                                meanD /= Float(C)
                                meanDN /= Float(C)
                                let rstd = cache.inverseStd[r]
                                for j in 0..<C {
                                    let k = r * C + j
                                    pdx[k] = rstd * (pdy[k] * g[j] - meanD - pn[k] * meanDN)
                                }
                            }
                        }
                    }
                }
                gamma.grad.withUnsafeMutableBufferPointer { dg in
                    beta.grad.withUnsafeMutableBufferPointer { db in
                        for r in 0..<N {
                            for j in 0..<C {
                                let k = r * C + j
                                dg[j] += pdy[k] * pn[k]
                                db[j] += pdy[k]
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}
