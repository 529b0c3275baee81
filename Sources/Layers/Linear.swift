import NumericCore

/// y = x·W + b.   x [N, I] (leading dimensions fold into N), W [I, O], b [O], y [N, O].
/// W is stored input-major ([I, O]), the orientation of TensorFlow's and the SeqGAN oracle's matrices.
public struct Linear: ParameterContainer {
    public let weight: Parameter
    public let bias: Parameter?
    public let inputSize: Int
    public let outputSize: Int

    public init(
        _ name: String, inputSize: Int, outputSize: Int, bias: Bool = true,
        weightInit: Initializer = .xavierUniform, biasInit: Initializer = .zeros,
        using rng: inout SeededGenerator
    ) {
        self.inputSize = inputSize
        self.outputSize = outputSize
        weight = Parameter(
            "\(name).weight", weightInit.make([inputSize, outputSize], fanIn: inputSize, fanOut: outputSize, using: &rng))
        self.bias = bias
            ? Parameter("\(name).bias", biasInit.make([outputSize], fanIn: inputSize, fanOut: outputSize, using: &rng))
            : nil
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    // MARK: - Forward

    /// With `precision` bf16, x and W are rounded to bf16 and the products summed in fp32 (W packed once per
    /// change of its value, `Parameter.bf16Packed`); the bias is then added in fp32.
    public func forward(_ x: Tensor, precision: Precision = .fp32) -> Tensor {
        let (n, i) = x.matrixShape
        precondition(i == inputSize, "Linear(\(weight.name)): input has \(i) features, expected \(inputSize)")
        let shape = Array(x.shape.dropLast()) + [outputSize]
        if precision == .bf16 {
            let packed = weight.bf16Packed(transposed: false)
            return Tensor(uninitializedShape: shape) { py in
                x.withUnsafeBufferPointer { forward(rows: n, $0.baseAddress!, into: py.baseAddress!, packed: packed) }
            }
        }
        guard let bias else { return matmul(x, weight.value).reshaped(shape) }
        guard n > 0 else { return Tensor(zeros: shape) }
        // y = x·W with the bias added to every row as the product is written (one pass over y).
        return Tensor(uninitializedShape: shape) { py in
            x.withUnsafeBufferPointer { px in
                weight.value.withUnsafeBufferPointer { pw in
                    bias.value.withUnsafeBufferPointer { pb in
                        gemm(m: n, n: outputSize, k: inputSize, px.baseAddress!, lda: inputSize, pw.baseAddress!,
                             ldb: outputSize, beta: 0, py.baseAddress!, ldc: outputSize, bias: pb.baseAddress!)
                    }
                }
            }
        }
    }

    /// y = x·W + b for `rows` rows of x at `x` (row stride `inputSize`), written to `y` (row stride `outputSize`),
    /// for callers that use the output a block of rows at a time while it is still in cache. With the AVX-512
    /// kernel each row's values are the bits `forward` gives that row, whatever the block; in bf16 (W's cached
    /// packing, `Parameter.bf16Packed`) the bits `forward(_:precision:)` gives it, on any kernel.
    /// In bf16 pass W's packing (`bf16Packing`).
    public func forward(rows: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                        packed: BF16Matmul.PackedB? = nil) {
        guard rows > 0 else { return }
        if let packed {
            return withBias { BF16Matmul.gemm(m: rows, x, lda: inputSize, packed, y, ldc: outputSize, bias: $0) }
        }
        weight.value.withUnsafeBufferPointer { pw in
            func product(_ pb: UnsafePointer<Float>?) {
                gemm(m: rows, n: outputSize, k: inputSize, x, lda: inputSize, pw.baseAddress!, ldb: outputSize,
                     beta: 0, y, ldc: outputSize, bias: pb)
            }
            guard let bias else { return product(nil) }
            bias.value.withUnsafeBufferPointer { product($0.baseAddress!) }
        }
    }

    /// W packed for `forward(rows:_:into:packed:)` in `precision`: nil in fp32. Packed once per change of W and
    /// safe to ask from several threads; a caller that splits blocks over threads fetches it once, before.
    public func bf16Packing(_ precision: Precision) -> BF16Matmul.PackedB? {
        precision == .bf16 ? weight.bf16Packed(transposed: false) : nil
    }

    /// Calls `body` with the bias values, or nil without a bias.
    func withBias<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let bias else { return body(nil) }
        return bias.value.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    // MARK: - Backward

    /// Accumulates dW += xᵀ·dy (left pending, see `Parameter.accumulateGradient`) and db += Σ_rows dy; returns
    /// dx = dy·Wᵀ. With `precision` bf16 both products take bf16 operands and fp32 sums; db stays an fp32 sum.
    public func backward(_ dy: Tensor, input x: Tensor, precision: Precision = .fp32) -> Tensor {
        weight.accumulateGradient(transposing: x, times: dy, precision: precision)
        if let bias { addColumnSums(of: dy, into: &bias.grad) }
        guard precision == .bf16 else { return matmul(dy, weight.value, transposeB: true).reshaped(x.shape) }
        let packed = weight.bf16Packed(transposed: true)
        return Tensor(uninitializedShape: x.shape) { px in
            dy.withUnsafeBufferPointer {
                BF16Matmul.gemm(m: dy.matrixShape.rows, $0.baseAddress!, lda: outputSize, packed, px.baseAddress!, ldc: inputSize)
            }
        }
    }
}

/// into[j] += Σ_r m[r, j] — the gradient of a bias broadcast over rows. Columns are split over threads; each
/// column's sum runs over the rows in order, so the thread count changes no bit.
public func addColumnSums(of m: Tensor, into: inout Tensor) {
    let (rows, columns) = m.matrixShape
    precondition(into.count == columns, "addColumnSums: \(m.shape) into \(into.shape)")
    m.withUnsafeBufferPointer { pm in
        into.withUnsafeMutableBufferPointer { pb in
            guard let pm = pm.baseAddress, let pb = pb.baseAddress else { return }
            Parallel.forEachChunk(columns, grain: rows * columns >= 1 << 16 ? 256 : columns) { range in
                for r in 0..<rows {
                    Vector.axpy(1, pm + r * columns + range.lowerBound, pb + range.lowerBound, count: range.count)
                }
            }
        }
    }
}
