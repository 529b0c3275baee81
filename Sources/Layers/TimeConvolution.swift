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
            // Max over time (the first position attaining it), then ReLU on the maxima.
            conv.withUnsafeBufferPointer { pc in
                features.withUnsafeMutableBufferPointer { pf in
                    argmax.withUnsafeMutableBufferPointer { pa in
                        let (pc, pf, pa) = (pc.baseAddress!, pf.baseAddress!, pa.baseAddress!)
                        Parallel.forEachChunk(B, grain: 8) { range in
                            for b in range {
                                let out = pf + b * total + offset
                                Vector.maxOverTime(pc + b * P * F, positions: P, filters: F, into: out,
                                                   argmax: pa + b * total + offset)
                                for f in 0..<F { out[f] = max(out[f], 0) }
                            }
                        }
                    }
                }
            }
            offset += F
        }
        return (features, TimeConvolutionCache(x: x, argmax: argmax, features: features))
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
    /// dW = dConvᵀ·windows and dWindows = dConv·W just B·F rows are non-zero. This pass touches only those, as sums
    /// of gathered rows (`Vector.gatherAxpy`, which keeps 64 outputs in registers over all its rows):
    ///   dW[f] += Σ_b d(b, f) · x[b, p(b, f) ..< p(b, f) + w]   (the arg-max window, read where it lies in x)
    ///   dx[b, p ..< p + w] += Σ_{f : p(b, f) = p} d(b, f) · W[f]
    /// B·F·w·E multiply-adds per width for each, instead of the products' B·P·F·w·E. Filters are split over threads
    /// for dW and sequences for dx; each sum runs in one fixed order (b for dW[f]; width, position, then f for dx[b]),
    /// so the thread count changes no bit. `backwardDense` is the straightforward version it is tested against.
    public func backward(_ dFeatures: Tensor, cache: TimeConvolutionCache) -> Tensor {
        let (B, T, E) = (cache.x.shape[0], cache.x.shape[1], inputSize)
        let total = featureCount
        precondition(dFeatures.count == B * total, "TimeConvolution.backward: \(dFeatures.shape) is not [\(B), \(total)]")
        var dx = Tensor(zeros: cache.x.shape)
        var offset = 0
        for (spec, kernel) in zip(widths, filters) {
            let (w, F) = (spec.width, spec.filters)
            let (P, window) = (T - w + 1, w * E)
            dFeatures.withUnsafeBufferPointer { pd in
                cache.features.withUnsafeBufferPointer { pf in
                    cache.argmax.withUnsafeBufferPointer { pa in
                        cache.x.withUnsafeBufferPointer { px in
                            kernel.weight.value.withUnsafeBufferPointer { weight in
                                kernel.weight.grad.withUnsafeMutableBufferPointer { dWeight in
                                    kernel.bias.grad.withUnsafeMutableBufferPointer { db in
                                        dx.withUnsafeMutableBufferPointer { pdx in
                                            let (pd, pf, pa, px) = (pd.baseAddress!, pf.baseAddress!, pa.baseAddress!, px.baseAddress!)
                                            let (weight, dWeight, db, pdx) = (weight.baseAddress!, dWeight.baseAddress!, db.baseAddress!, pdx.baseAddress!)
                                            // The gradient reaches (b, f) only where ReLU passed its maximum.
                                            func active(_ b: Int, _ f: Int) -> Bool { pf[b * total + offset + f] > 0 }
                                            func d(_ b: Int, _ f: Int) -> Float { pd[b * total + offset + f] }
                                            func position(_ b: Int, _ f: Int) -> Int { Int(pa[b * total + offset + f]) }
                                            Parallel.forEachChunk(F, grain: 16) { range in
                                                var offsets = [Int64](repeating: 0, count: B)
                                                var coefficients = [Float](repeating: 0, count: B)
                                                for f in range {
                                                    var n = 0
                                                    for b in 0..<B where active(b, f) {
                                                        db[f] += d(b, f)
                                                        offsets[n] = Int64((b * T + position(b, f)) * E)
                                                        coefficients[n] = d(b, f)
                                                        n += 1
                                                    }
                                                    Vector.gatherAxpy(into: dWeight + f * window, count: window, base: px,
                                                                      offsets: offsets, coefficients: coefficients, rows: n)
                                                }
                                            }
                                            Parallel.forEachChunk(B, grain: 4) { range in
                                                var offsets = [Int64](repeating: 0, count: F)
                                                var coefficients = [Float](repeating: 0, count: F)
                                                var start = [Int](repeating: 0, count: P + 1)
                                                for b in range {
                                                    // The active filters grouped by arg-max position, in filter order.
                                                    for p in 0...P { start[p] = 0 }
                                                    for f in 0..<F where active(b, f) { start[position(b, f) + 1] += 1 }
                                                    for p in 0..<P { start[p + 1] += start[p] }
                                                    var next = start
                                                    for f in 0..<F where active(b, f) {
                                                        let p = position(b, f)
                                                        offsets[next[p]] = Int64(f * window)
                                                        coefficients[next[p]] = d(b, f)
                                                        next[p] += 1
                                                    }
                                                    for p in 0..<P where start[p + 1] > start[p] {
                                                        offsets.withUnsafeBufferPointer { o in
                                                            coefficients.withUnsafeBufferPointer { c in
                                                                Vector.gatherAxpy(
                                                                    into: pdx + (b * T + p) * E, count: window, base: weight,
                                                                    offsets: o.baseAddress! + start[p],
                                                                    coefficients: c.baseAddress! + start[p],
                                                                    rows: start[p + 1] - start[p])
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
        for (spec, kernel) in zip(widths, filters) {
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
            let windows = TimeConvolution.unfold(cache.x, width: w)
            matmul(dConv, windows, into: &kernel.weight.grad, transposeA: true, accumulate: true)  // [F, w·E]
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

