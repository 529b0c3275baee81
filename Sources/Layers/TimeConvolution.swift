import NumericCore

// The SeqGAN / Kim (2014) text CNN feature extractor: parallel 1-D convolutions over time with several window
// widths, each followed by max-over-time pooling and ReLU, concatenated.
//
//   x [B, T, E] → for each width w with F_w filters:  conv_w [B, T−w+1, F_w] → max over time → ReLU → [B, F_w]
//   features [B, ΣF_w]
//
// A window of w consecutive steps is w·E contiguous floats of x, so each width's convolution is one GEMM of the
// unfolded windows [B·(T−w+1), w·E] with the transposed filters (stored [F_w, w·E]). ReLU commutes with max (both monotone), so the
// pooling runs on the pre-activation and ReLU is applied to the F_w maxima only.

/// One filter width and how many filters of it.
public struct ConvolutionWidth: Codable, Sendable, Equatable {
    public var width: Int
    public var filters: Int

    public init(width: Int, filters: Int) {
        self.width = width
        self.filters = filters
    }
}

public struct TimeConvolutionCache {
    public let x: Tensor  // [B, T, E]
    /// Unfolded windows per width [B·P_w, w·E] (P_w = T − w + 1).
    public let windows: [Tensor]
    /// Position of the maximum for every (b, feature).  [B, ΣF]
    public let argmax: [Int32]
    /// The output features (after ReLU).  [B, ΣF]
    public let features: Tensor
}

/// One width's filters, stored filter-major: weight [F, w·E] (row f is filter f over a window, step-major), bias [F].
/// Filter-major keeps each filter's weights and gradient contiguous for the sparse backward pass.
public struct ConvolutionFilters: ParameterContainer {
    public let weight: Parameter
    public let bias: Parameter

    public var parameters: [Parameter] { [weight, bias] }
}

public struct TimeConvolution: ParameterContainer {
    public let widths: [ConvolutionWidth]
    public let inputSize: Int
    /// Filters and biases for each width, in the order of `widths`.
    public let filters: [ConvolutionFilters]

    public init(
        _ name: String, inputSize: Int, widths: [ConvolutionWidth],
        weightInit: Initializer = .normal(std: 0.1), biasInit: Initializer = .constant(0.1),
        using rng: inout SeededGenerator
    ) {
        precondition(!widths.isEmpty && widths.allSatisfy { $0.width > 0 && $0.filters > 0 }, "TimeConvolution: bad widths \(widths)")
        self.widths = widths
        self.inputSize = inputSize
        filters = widths.map {
            let window = $0.width * inputSize
            return ConvolutionFilters(
                weight: Parameter("\(name).w\($0.width).weight",
                                  weightInit.make([$0.filters, window], fanIn: window, fanOut: $0.filters, using: &rng)),
                bias: Parameter("\(name).w\($0.width).bias",
                                biasInit.make([$0.filters], fanIn: window, fanOut: $0.filters, using: &rng)))
        }
    }

    public var parameters: [Parameter] { filters.flatMap(\.parameters) }

    /// Total number of output features ΣF.
    public var featureCount: Int { widths.reduce(0) { $0 + $1.filters } }

    // MARK: - Forward

    public func forward(_ x: Tensor) -> (features: Tensor, cache: TimeConvolutionCache) {
        precondition(x.rank == 3 && x.shape[2] == inputSize, "TimeConvolution: input \(x.shape) is not [B, T, \(inputSize)]")
        let (B, T) = (x.shape[0], x.shape[1])
        precondition(widths.allSatisfy { $0.width <= T }, "TimeConvolution: a width exceeds the sequence length \(T)")
        let total = featureCount
        var features = Tensor(zeros: [B, total])
        var argmax = [Int32](repeating: 0, count: B * total)
        var windows: [Tensor] = []
        var offset = 0
        for (spec, kernel) in zip(widths, filters) {
            let (w, F) = (spec.width, spec.filters)
            let P = T - w + 1
            let unfolded = TimeConvolution.unfold(x, width: w)
            // conv [B·P, F] = windows · Wᵀ + bias on every row
            let window = w * inputSize
            let conv = Tensor(uninitializedShape: [B * P, F]) { pc in
                unfolded.withUnsafeBufferPointer { pu in
                    kernel.weight.value.withUnsafeBufferPointer { pw in
                        kernel.bias.value.withUnsafeBufferPointer { pb in
                            gemm(transposeB: true, m: B * P, n: F, k: window, pu.baseAddress!, lda: window,
                                 pw.baseAddress!, ldb: window, beta: 0, pc.baseAddress!, ldc: F, bias: pb.baseAddress!)
                        }
                    }
                }
            }
            conv.withUnsafeBufferPointer { pc in
                features.withUnsafeMutableBufferPointer { pf in
                    for b in 0..<B {
                        for f in 0..<F {
                            var best = pc[b * P * F + f], at = 0
                            for p in 1..<max(P, 1) where pc[(b * P + p) * F + f] > best {
                                best = pc[(b * P + p) * F + f]
                                at = p
                            }
                            pf[b * total + offset + f] = max(best, 0)
                            argmax[b * total + offset + f] = Int32(at)
                        }
                    }
                }
            }
            windows.append(unfolded)
            offset += F
        }
        return (features, TimeConvolutionCache(x: x, windows: windows, argmax: argmax, features: features))
    }

    /// The windows of w consecutive steps, one per row: [B, T, E] → [B·(T−w+1), w·E].
    static func unfold(_ x: Tensor, width w: Int) -> Tensor {
        let (B, T, E) = (x.shape[0], x.shape[1], x.shape[2])
        let P = T - w + 1
        var out = Tensor(zeros: [B * P, w * E])
        x.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                for b in 0..<B {
                    for p in 0..<P {
                        (po.baseAddress! + (b * P + p) * w * E).update(from: px.baseAddress! + (b * T + p) * E, count: w * E)
                    }
                }
            }
        }
        return out
    }

    // MARK: - Backward

    /// dFeatures [B, ΣF] → accumulates filter gradients, returns dx [B, T, E].
    ///
    /// Max-over-time sends each (b, filter)'s gradient to one window only, so of the dense products
    /// dW = dConvᵀ·windows and dWindows = dConv·W just B·F rows are non-zero. This pass touches only those:
    /// per active (b, f) one contiguous axpy into dW[f] and one into the w·E inputs of the arg-max window —
    /// B·F·w·E multiply-adds per width instead of the products' B·P·F·w·E. Filters are split over threads for dW
    /// and sequences for dx; each sum still runs in one fixed order (b for dW[f], then width and f for dx[b]), so the
    /// thread count changes no bit. `backwardDense` is the straightforward version it is tested against.
    public func backward(_ dFeatures: Tensor, cache: TimeConvolutionCache) -> Tensor {
        let (B, T, E) = (cache.x.shape[0], cache.x.shape[1], inputSize)
        let total = featureCount
        precondition(dFeatures.count == B * total, "TimeConvolution.backward: \(dFeatures.shape) is not [\(B), \(total)]")
        var dx = Tensor(zeros: cache.x.shape)
        var offset = 0
        for (k, (spec, kernel)) in zip(widths, filters).enumerated() {
            let (w, F) = (spec.width, spec.filters)
            let (P, window) = (T - w + 1, w * E)
            dFeatures.withUnsafeBufferPointer { pd in
                cache.features.withUnsafeBufferPointer { pf in
                    cache.argmax.withUnsafeBufferPointer { pa in
                        cache.windows[k].withUnsafeBufferPointer { pw in
                            kernel.weight.value.withUnsafeBufferPointer { weight in
                                kernel.weight.grad.withUnsafeMutableBufferPointer { dWeight in
                                    kernel.bias.grad.withUnsafeMutableBufferPointer { db in
                                        dx.withUnsafeMutableBufferPointer { px in
                                            let (pd, pf, pa, pw) = (pd.baseAddress!, pf.baseAddress!, pa.baseAddress!, pw.baseAddress!)
                                            let (weight, dWeight, db, px) = (weight.baseAddress!, dWeight.baseAddress!, db.baseAddress!, px.baseAddress!)
                                            // dW[f] += d · window(b, argmax), db[f] += d
                                            Parallel.forEachChunk(F, grain: 16) { range in
                                                for f in range {
                                                    for b in 0..<B where pf[b * total + offset + f] > 0 {
                                                        let d = pd[b * total + offset + f]
                                                        let p = Int(pa[b * total + offset + f])
                                                        db[f] += d
                                                        Vector.axpy(d, pw + (b * P + p) * window, dWeight + f * window, count: window)
                                                    }
                                                }
                                            }
                                            // dx[b, argmax ..< argmax + w] += d · W[f]
                                            Parallel.forEachChunk(B, grain: 4) { range in
                                                for b in range {
                                                    for f in 0..<F where pf[b * total + offset + f] > 0 {
                                                        let d = pd[b * total + offset + f]
                                                        let p = Int(pa[b * total + offset + f])
                                                        Vector.axpy(d, weight + f * window, px + (b * T + p) * E, count: window)
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            offset += F
        }
        return dx
    }

    /// The reference backward pass: dense dConv, the two products, then folding the windows back.
    func backwardDense(_ dFeatures: Tensor, cache: TimeConvolutionCache) -> Tensor {
        let (B, T, E) = (cache.x.shape[0], cache.x.shape[1], inputSize)
        let total = featureCount
        var dx = Tensor(zeros: cache.x.shape)
        var offset = 0
        for (k, (spec, kernel)) in zip(widths, filters).enumerated() {
            let (w, F) = (spec.width, spec.filters)
            let P = T - w + 1
            // The gradient reaches only the arg-max position of each (b, filter), and only where ReLU passed it.
            var dConv = Tensor(zeros: [B * P, F])
            for b in 0..<B {
                for f in 0..<F where cache.features.scalars[b * total + offset + f] > 0 {
                    let p = Int(cache.argmax[b * total + offset + f])
                    dConv.scalars[(b * P + p) * F + f] = dFeatures.scalars[b * total + offset + f]
                }
            }
            matmul(dConv, cache.windows[k], into: &kernel.weight.grad, transposeA: true, accumulate: true)  // [F, w·E]
            addColumnSums(of: dConv, into: &kernel.bias.grad)
            let dWindows = matmul(dConv, kernel.weight.value)  // [B·P, w·E]
            // Fold the windows back: each window's gradient adds onto the w steps it covered.
            for b in 0..<B {
                for p in 0..<P {
                    for j in 0..<(w * E) { dx.scalars[(b * T + p) * E + j] += dWindows.scalars[(b * P + p) * w * E + j] }
                }
            }
            offset += F
        }
        return dx
    }
}

