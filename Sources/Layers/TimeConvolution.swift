import NumericCore

// The SeqGAN / Kim (2014) text CNN feature extractor: parallel 1-D convolutions over time with several window
// widths, each followed by max-over-time pooling and ReLU, concatenated.
//
//   x [B, T, E] → for each width w with F_w filters:  conv_w [B, T−w+1, F_w] → max over time → ReLU → [B, F_w]
//   features [B, ΣF_w]
//
// A window of w consecutive steps is w·E contiguous floats of x, so each width's convolution is one GEMM of the
// windows [B·(T−w+1), w·E] with the transposed filters (stored [F_w, w·E]); the windows are the GEMM's rows read where
// they lie in x (overlapping), not copied out. ReLU commutes with max (both monotone), so the pooling runs on the
// pre-activation and ReLU is applied to the F_w maxima only.

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

    /// Sequences are split over threads, and each thread runs every width on its sequences with its own scratch:
    /// one parallel region per call. Rows of a product do not depend on the others, so the split changes no bit.
    /// With `precision` bf16 the windows and filters are rounded to bf16 and the products summed in fp32 (the
    /// filters packed once per change of their values), the bias added after in fp32. The backward pass is sparse
    /// (gathered rows, not a dense product) and stays fp32.
    public func forward(_ x: Tensor, precision: Precision = .fp32) -> (features: Tensor, cache: TimeConvolutionCache) {
        precondition(x.rank == 3 && x.shape[2] == inputSize, "TimeConvolution: input \(x.shape) is not [B, T, \(inputSize)]")
        let (B, T, E) = (x.shape[0], x.shape[1], inputSize)
        precondition(widths.allSatisfy { $0.width <= T }, "TimeConvolution: a width exceeds the sequence length \(T)")
        let total = featureCount
        let featureOffsets = featureOffsets
        // Scratch per sequence: the windows' addresses and the convolution outputs [P, F] of the widest case.
        let windowCount = T - (widths.map(\.width).min() ?? 1) + 1
        let convFloats = widths.map { (T - $0.width + 1) * $0.filters }.max() ?? 0
        var features = Tensor(uninitializedShape: [B, total]) { _ in }  // every feature is written below
        var argmax = [Int32](repeating: 0, count: B * total)
        // bf16: each width's Wᵀ [w·E, F], packed before the threads start.
        let packed = precision == .bf16 ? filters.map { $0.weight.bf16Packed(transposed: true) } : nil
        x.withUnsafeBufferPointer { px in
            features.withUnsafeMutableBufferPointer { pf in
                argmax.withUnsafeMutableBufferPointer { pa in
                    withFilterValues { weights, biases in
                        let (px, pf, pa) = (px.baseAddress!, pf.baseAddress!, pa.baseAddress!)
                        Parallel.forEachChunk(B, grain: 8) { sequences in
                            let nb = sequences.count
                            // Scratch, written before it is read: no zero fill.
                            withScratch(UnsafePointer<Float>?.self, nb * windowCount) { windows in
                                withScratch(Float.self, nb * convFloats) { conv in
                                    for (k, spec) in widths.enumerated() {
                                        let (w, F, P) = (spec.width, spec.filters, T - spec.width + 1)
                                        // Window (b, p) is x[b, p ..< p + w]: w·E contiguous floats, read in place.
                                        for (i, b) in sequences.enumerated() {
                                            for p in 0..<P { windows[i * P + p] = UnsafePointer(px + (b * T + p) * E) }
                                        }
                                        // conv [nb·P, F] = windows · Wᵀ + bias on every row
                                        if let packed {
                                            BF16Matmul.gemm(rows: windows, m: nb * P, packed[k], conv, ldc: F, bias: biases[k])
                                        } else {
                                            gemm(rows: windows, m: nb * P, n: F, k: w * E, transposeB: true, weights[k],
                                                 ldb: w * E, conv, ldc: F, bias: biases[k])
                                        }
                                        // Max over time (the first position attaining it), then ReLU on the maxima.
                                        for (i, b) in sequences.enumerated() {
                                            let out = pf + b * total + featureOffsets[k]
                                            Vector.maxOverTime(conv + i * P * F, positions: P, filters: F, into: out,
                                                               argmax: pa + b * total + featureOffsets[k])
                                            for f in 0..<F { out[f] = max(out[f], 0) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (features, TimeConvolutionCache(x: x, argmax: argmax, features: features))
    }

    /// Where each width's features start in the concatenated [ΣF] features.
    var featureOffsets: [Int] {
        widths.reduce(into: [0]) { $0.append($0.last! + $1.filters) }.dropLast()
    }

    /// Calls `body` with every width's filter weights [F, w·E] and biases [F], as pointers valid inside it.
    private func withFilterValues<R>(_ body: ([UnsafePointer<Float>], [UnsafePointer<Float>]) -> R) -> R {
        func nest(_ k: Int, _ weights: [UnsafePointer<Float>], _ biases: [UnsafePointer<Float>]) -> R {
            guard k < filters.count else { return body(weights, biases) }
            return filters[k].weight.value.withUnsafeBufferPointer { w in
                filters[k].bias.value.withUnsafeBufferPointer { b in
                    nest(k + 1, weights + [w.baseAddress!], biases + [b.baseAddress!])
                }
            }
        }
        return nest(0, [], [])
    }

    /// Calls `body` with every width's filter and bias gradients, as pointers valid inside it, and whether each
    /// filter gradient holds only noted zeros (`body` must then write every element of it: no zero fill is done).
    private func withFilterGradients<R>(
        _ body: ([UnsafeMutablePointer<Float>], [UnsafeMutablePointer<Float>], [Bool]) -> R
    ) -> R {
        func nest(_ k: Int, _ weights: [UnsafeMutablePointer<Float>], _ biases: [UnsafeMutablePointer<Float>],
                  _ zero: [Bool]) -> R {
            guard k < filters.count else { return body(weights, biases, zero) }
            return filters[k].weight.withGradientStorage { w, isZero in
                filters[k].bias.grad.withUnsafeMutableBufferPointer { b in
                    nest(k + 1, weights + [w.baseAddress!], biases + [b.baseAddress!], zero + [isZero])
                }
            }
        }
        return nest(0, [], [], [])
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
    /// B·F·w·E multiply-adds per width for each, instead of the products' B·P·F·w·E. The filters of all widths are
    /// split over threads for dW, and sequences for dx (two parallel regions per call); each sum runs in one fixed
    /// order (b for dW[f]; width, position, then f for dx[b]), so the thread count changes no bit. `backwardDense` is the straightforward version it is tested against.
    public func backward(_ dFeatures: Tensor, cache: TimeConvolutionCache) -> Tensor {
        let (B, T, E) = (cache.x.shape[0], cache.x.shape[1], inputSize)
        let total = featureCount
        precondition(dFeatures.count == B * total, "TimeConvolution.backward: \(dFeatures.shape) is not [\(B), \(total)]")
        let featureOffsets = featureOffsets
        // The width of every feature, so one parallel region covers the filters of all widths.
        let widthOf = widths.enumerated().flatMap { k, spec in [Int](repeating: k, count: spec.filters) }
        let maxFilters = widths.map(\.filters).max() ?? 0
        var dx = Tensor(zeros: cache.x.shape)
        dFeatures.withUnsafeBufferPointer { pd in
            cache.features.withUnsafeBufferPointer { pf in
                cache.argmax.withUnsafeBufferPointer { pa in
                    cache.x.withUnsafeBufferPointer { px in
                        dx.withUnsafeMutableBufferPointer { pdx in
                            withFilterValues { weights, _ in
                                withFilterGradients { dWeights, dBiases, dWeightsAreZero in
                                    let (pd, pf, pa, px, pdx) = (pd.baseAddress!, pf.baseAddress!, pa.baseAddress!,
                                                                 px.baseAddress!, pdx.baseAddress!)
                                    // The gradient reaches (b, feature) only where ReLU passed its maximum.
                                    // dW[f] += Σ_b d(b, f) · x[b, p(b, f) ..< p(b, f) + w],  db[f] += Σ_b d(b, f)
                                    // A feature's work grows with its width: chunks of equal work, not of equal
                                    // counts (half the features by count are the narrow widths' quarter of the work).
                                    Parallel.forEachChunk(total, cost: { widths[widthOf[$0]].width }) { range in
                                        // Each feature's active rows, listed sequence by sequence (the rows of the
                                        // [B, ΣF] arrays are read contiguously), then summed feature by feature.
                                        let width = range.count
                                        withScratch(Int.self, width) { counts in
                                        withScratch(Int64.self, width * B) { offsets in
                                        withScratch(Float.self, width * B) { coefficients in
                                            counts.initialize(repeating: 0, count: width)
                                            for b in 0..<B {
                                                for (i, feature) in range.enumerated() where pf[b * total + feature] > 0 {
                                                    offsets[i * B + counts[i]] = Int64((b * T + Int(pa[b * total + feature])) * E)
                                                    coefficients[i * B + counts[i]] = pd[b * total + feature]
                                                    counts[i] += 1
                                                }
                                            }
                                            for (i, feature) in range.enumerated() {
                                                let k = widthOf[feature]
                                                let (f, window) = (feature - featureOffsets[k], widths[k].width * E)
                                                for n in 0..<counts[i] { dBiases[k][f] += coefficients[i * B + n] }
                                                // Every filter's row is written here, so noted zeros need no fill.
                                                Vector.gatherAxpy(into: dWeights[k] + f * window, count: window, base: px,
                                                                  offsets: offsets + i * B, coefficients: coefficients + i * B,
                                                                  rows: counts[i], accumulate: !dWeightsAreZero[k])
                                            }
                                        }
                                        }
                                        }
                                    }
                                    // dx[b, p ..< p + w] += Σ_{f : p(b, f) = p} d(b, f) · W[f], width by width.
                                    // Widths outside, sequences inside: one width's filters (at most 820 KB) stay in
                                    // L2 for all of a thread's sequences, where all widths (3.2 MB) would not. Each
                                    // dx element still adds its terms in width order.
                                    Parallel.forEachChunk(B, grain: 4) { range in
                                        withScratch(Int64.self, maxFilters) { offsets in
                                        withScratch(Float.self, maxFilters) { coefficients in
                                        withScratch(Int.self, 2 * (T + 1)) { starts in
                                            let (start, next) = (starts, starts + T + 1)
                                            for (k, spec) in widths.enumerated() {
                                                for b in range {
                                                    let (w, F, P) = (spec.width, spec.filters, T - spec.width + 1)
                                                    let base = b * total + featureOffsets[k]
                                                    // The active filters grouped by arg-max position, in filter order.
                                                    start.initialize(repeating: 0, count: P + 1)
                                                    for f in 0..<F where pf[base + f] > 0 { start[Int(pa[base + f]) + 1] += 1 }
                                                    for p in 0..<P { start[p + 1] += start[p] }
                                                    next.update(from: start, count: P + 1)
                                                    for f in 0..<F where pf[base + f] > 0 {
                                                        let p = Int(pa[base + f])
                                                        offsets[next[p]] = Int64(f * w * E)
                                                        coefficients[next[p]] = pd[base + f]
                                                        next[p] += 1
                                                    }
                                                    for p in 0..<P where start[p + 1] > start[p] {
                                                        Vector.gatherAxpy(
                                                            into: pdx + (b * T + p) * E, count: w * E, base: weights[k],
                                                            offsets: offsets + start[p], coefficients: coefficients + start[p],
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

/// `body` with `count` elements of uninitialised scratch (a temporary allocation, not a Swift array: the loops that
/// fill it run without uniqueness or bounds checks).
private func withScratch<T, R>(_: T.Type, _ count: Int, _ body: (UnsafeMutablePointer<T>) -> R) -> R {
    withUnsafeTemporaryAllocation(of: T.self, capacity: max(count, 1)) { body($0.baseAddress!) }
}
