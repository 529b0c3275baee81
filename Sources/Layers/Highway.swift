import NumericCore

/// Highway layer (Srivastava et al. 2015), as in the SeqGAN discriminator:
///   t = σ(x·Wt + bt)   h = ReLU(x·Wh + bh)   y = t⊙h + (1 − t)⊙x        x, y [N, C]
public struct Highway: ParameterContainer {
    public let transform: Linear  // Wh, bh
    public let gate: Linear  // Wt, bt

    public struct Cache {
        public let x: Tensor
        public let h: Tensor  // after ReLU
        public let t: Tensor  // after σ
    }

    /// `gateBias` is the initial gate bias (SeqGAN's reference adds 0; a negative value favours carrying x through).
    public init(_ name: String, size: Int, gateBias: Float = 0, weightInit: Initializer = .normal(std: 0.1),
                using rng: inout SeededGenerator) {
        transform = Linear("\(name).transform", inputSize: size, outputSize: size, weightInit: weightInit, using: &rng)
        gate = Linear("\(name).gate", inputSize: size, outputSize: size, weightInit: weightInit,
                      biasInit: .constant(gateBias), using: &rng)
    }

    public var parameters: [Parameter] { transform.parameters + gate.parameters }

    /// Elements per thread below which the element-wise passes stay on one thread.
    private let elementGrain = 1 << 14

    /// With `precision` bf16 the two products take bf16 operands and fp32 sums (`Linear.forward`); the rest is fp32.
    public func forward(_ x: Tensor, precision: Precision = .fp32) -> (y: Tensor, cache: Cache) {
        var h = transform.forward(x, precision: precision)
        var t = gate.forward(x, precision: precision)
        let y = x.withUnsafeBufferPointer { px in
            h.withUnsafeMutableBufferPointer { ph in
                t.withUnsafeMutableBufferPointer { pt in
                    Tensor(uninitializedShape: x.shape) { py in
                        // Element-wise: split over threads, the same numbers.
                        Parallel.forEachChunk(px.count, grain: elementGrain) { range in
                            for i in range {
                                let hv = max(ph[i], 0), tv = Activation.sigmoid(pt[i])
                                ph[i] = hv
                                pt[i] = tv
                                py[i] = tv * hv + (1 - tv) * px[i]
                            }
                        }
                    }
                }
            }
        }
        return (y, Cache(x: x, h: h, t: t))
    }

    /// With `precision` bf16 the four products (two weight gradients, two input gradients) take bf16 operands.
    public func backward(_ dy: Tensor, cache: Cache, precision: Precision = .fp32) -> Tensor {
        // Every element of the three is written by the pass below: no zero fill.
        var dhPre = Tensor(uninitializedShape: dy.shape) { _ in }
        var dtPre = Tensor(uninitializedShape: dy.shape) { _ in }
        var dx = Tensor(uninitializedShape: dy.shape) { _ in }
        dy.withUnsafeBufferPointer { pdy in
            cache.x.withUnsafeBufferPointer { px in
                cache.h.withUnsafeBufferPointer { ph in
                    cache.t.withUnsafeBufferPointer { pt in
                        dhPre.withUnsafeMutableBufferPointer { pdh in
                            dtPre.withUnsafeMutableBufferPointer { pdt in
                                dx.withUnsafeMutableBufferPointer { pdx in
                                    Parallel.forEachChunk(pdy.count, grain: elementGrain) { range in
                                        for i in range {
                                            let g = pdy[i], tv = pt[i], hv = ph[i]
                                            pdh[i] = hv > 0 ? g * tv : 0
                                            pdt[i] = g * (hv - px[i]) * tv * (1 - tv)
                                            pdx[i] = g * (1 - tv)  // the carried path
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let fromTransform = transform.backward(dhPre, input: cache.x, precision: precision)
        let fromGate = gate.backward(dtPre, input: cache.x, precision: precision)
        // dx + the two paths through the products, added in that order, split over threads.
        fromTransform.withUnsafeBufferPointer { pa in
            fromGate.withUnsafeBufferPointer { pb in
                dx.withUnsafeMutableBufferPointer { pdx in
                    Parallel.forEachChunk(pdx.count, grain: elementGrain) { range in
                        for i in range { pdx[i] = pdx[i] + pa[i] + pb[i] }
                    }
                }
            }
        }
        return dx
    }
}
