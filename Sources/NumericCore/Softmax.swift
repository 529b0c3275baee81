import CKernels
import Foundation

// Row-wise softmax, log-softmax and the fused softmax–cross-entropy, all numerically stable
// (the row maximum is subtracted before exponentiation). Rows are the leading dimensions, classes the last.

public enum Softmax {
    /// Softmax of each row of x[N, V] into y[N, V] (may alias x).
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for r in 0..<rows {
            let xr = x + r * columns, yr = y + r * columns
            let mx = Vector.maximum(xr, count: columns)
            let s = Vector.expSum(xr, yr, count: columns, shift: mx)
            Vector.scale(yr, by: 1 / s, count: columns)
        }
    }

    /// dx = y ⊙ (dy − Σ dy⊙y) per row, from the softmax output y.
    public static func backward(
        _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int
    ) {
        for r in 0..<rows {
            let yr = y + r * columns, dyr = dy + r * columns, dxr = dx + r * columns
            var dot: Float = 0
            for j in 0..<columns { dot += dyr[j] * yr[j] }
            for j in 0..<columns { dxr[j] = yr[j] * (dyr[j] - dot) }
        }
    }

    /// One row's dx = s·y ⊙ (dy − ⟨dy, y⟩) for y = softmax(s·x) [columns] (`tg_softmax_input_gradient`: the inner
    /// product summed in double, for rows of thousands of columns whose terms cancel).
    public static func scaledBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, scale: Float,
                                      into dx: UnsafeMutablePointer<Float>, columns: Int) {
        tg_softmax_input_gradient(y, dy, Int64(columns), scale, dx)
    }

    /// log softmax of each row: x − max − log Σ exp(x − max). y must not alias x.
    public static func logForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for r in 0..<rows {
            let xr = x + r * columns, yr = y + r * columns
            let mx = Vector.maximum(xr, count: columns)
            let lse = mx + logf(Vector.expSum(xr, yr, count: columns, shift: mx))  // yr is scratch here
            for j in 0..<columns { yr[j] = xr[j] - lse }
        }
    }

    /// dx = dy − softmax(x) · Σ dy per row, from the log-softmax output y.
    public static func logBackward(
        _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int
    ) {
        for r in 0..<rows {
            let yr = y + r * columns, dyr = dy + r * columns, dxr = dx + r * columns
            var s: Float = 0
            for j in 0..<columns { s += dyr[j] }
            for j in 0..<columns { dxr[j] = dyr[j] - expf(yr[j]) * s }
        }
    }

}

// MARK: - Tensor conveniences

public func softmax(_ x: Tensor) -> Tensor {
    var y = x
    let (rows, columns) = x.matrixShape
    x.withUnsafeBufferPointer { px in
        y.withUnsafeMutableBufferPointer { py in
            Softmax.forward(px.baseAddress!, py.baseAddress!, rows: rows, columns: columns)
        }
    }
    return y
}

public func logSoftmax(_ x: Tensor) -> Tensor {
    var y = x
    let (rows, columns) = x.matrixShape
    x.withUnsafeBufferPointer { px in
        y.withUnsafeMutableBufferPointer { py in
            Softmax.logForward(px.baseAddress!, py.baseAddress!, rows: rows, columns: columns)
        }
    }
    return y
}

// MARK: - Fused softmax cross-entropy

/// Mean cross-entropy of logits[N, V] against integer targets, with optional per-row weights (0 masks a row
/// out, e.g. padding). Returns the loss and, when asked, writes d(loss)/d(logits) into `gradient` ([N, V]).
///
/// loss = Σ_r w_r · (logsumexp(x_r) − x_r[t_r]) / Σ_r w_r;   dx_r = w_r · (softmax(x_r) − onehot(t_r)) / Σ_r w_r
/// The normaliser is `normalizer` when given (e.g. batch size for a sum-over-time loss), else Σ_r w_r.
public func softmaxCrossEntropy(
    logits: Tensor, targets: [Int32], weights: [Float]? = nil, normalizer: Float? = nil,
    gradient: UnsafeMutablePointer<Float>? = nil
) -> Float {
    let (rows, columns) = logits.matrixShape
    return logits.withUnsafeBufferPointer { px in
        crossEntropyRows(px.baseAddress!, rows: rows, columns: columns, targets: targets, weights: weights,
                         normalizer: normalizer, gradient: gradient)
    }
}

/// The same loss, turning the logits into d(loss)/d(logits) in place: the training step's way, which never holds a
/// second [N, V] buffer.
public func softmaxCrossEntropyGradientInPlace(
    _ logits: inout Tensor, targets: [Int32], weights: [Float]? = nil, normalizer: Float? = nil
) -> Float {
    let (rows, columns) = logits.matrixShape
    return logits.withUnsafeMutableBufferPointer { px in
        crossEntropyRows(UnsafePointer(px.baseAddress!), rows: rows, columns: columns, targets: targets,
                         weights: weights, normalizer: normalizer, gradient: px.baseAddress!)
    }
}

/// The kernel behind both: `gradient` may be the logits themselves (the exp kernel may write over its input).
private func crossEntropyRows(
    _ px: UnsafePointer<Float>, rows: Int, columns: Int, targets: [Int32], weights: [Float]?, normalizer: Float?,
    gradient: UnsafeMutablePointer<Float>?
) -> Float {
    precondition(targets.count == rows, "softmaxCrossEntropy: \(targets.count) targets for \(rows) rows")
    precondition(weights == nil || weights!.count == rows, "softmaxCrossEntropy: weights count")
    let total = normalizer ?? (weights.map { $0.reduce(0, +) } ?? Float(rows))
    let scale: Float = total > 0 ? 1 / total : 0
    // Each row's loss goes to its own slot and the sum is taken in row order, so threads never change the result.
    var rowLoss = [Double](repeating: 0, count: rows)
    rowLoss.withUnsafeMutableBufferPointer { losses in
        let losses = losses.baseAddress!
        Parallel.forEachChunk(rows, grain: 64) { range in
            // Without a gradient buffer, one row of scratch holds the exponentials.
            var scratch = [Float](repeating: 0, count: gradient == nil ? columns : 0)
            scratch.withUnsafeMutableBufferPointer { ps in
                for r in range {
                    let t = Int(targets[r])
                    precondition(t >= 0 && t < columns, "target \(t) outside 0..<\(columns)")
                    let w = weights?[r] ?? 1
                    let xr = px + r * columns
                    if w == 0 {
                        if let g = gradient { (g + r * columns).update(repeating: 0, count: columns) }
                        continue
                    }
                    let mx = Vector.maximum(xr, count: columns)
                    let targetLogit = xr[t]
                    let out = gradient.map { $0 + r * columns } ?? ps.baseAddress!
                    let s = Vector.expSum(xr, out, count: columns, shift: mx)
                    losses[r] = Double(w) * Double(mx + logf(s) - targetLogit)
                    if let gradient {
                        let row = gradient + r * columns
                        Vector.scale(row, by: w * scale / s, count: columns)
                        row[t] -= w * scale
                    }
                }
            }
        }
    }
    let loss = rowLoss.reduce(0, +)
    return Float(loss * Double(scale))
}

/// The same loss with the gradient returned as a tensor shaped like the logits.
public func softmaxCrossEntropyWithGradient(
    logits: Tensor, targets: [Int32], weights: [Float]? = nil, normalizer: Float? = nil
) -> (loss: Float, gradient: Tensor) {
    var g = Tensor(zeros: logits.shape)
    let loss = g.withUnsafeMutableBufferPointer { pg in
        softmaxCrossEntropy(
            logits: logits, targets: targets, weights: weights, normalizer: normalizer, gradient: pg.baseAddress)
    }
    return (loss, g)
}
