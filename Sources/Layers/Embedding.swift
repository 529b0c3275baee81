import NumericCore

/// Token lookup.   ids [N] → y [N, E];  table [V, E].
/// Soft lookup.    rows [N, V] → y = rows·table [N, E] (one-hot rows give the lookup; soft rows, a mixture).
public struct Embedding: ParameterContainer {
    public let table: Parameter
    public let vocabularySize: Int
    public let embeddingSize: Int

    public init(_ name: String, vocabularySize: Int, embeddingSize: Int, initializer: Initializer = .normal(std: 0.1),
                using rng: inout SeededGenerator) {
        self.vocabularySize = vocabularySize
        self.embeddingSize = embeddingSize
        table = Parameter(
            "\(name).weight",
            initializer.make([vocabularySize, embeddingSize], fanIn: vocabularySize, fanOut: embeddingSize, using: &rng))
    }

    public var parameters: [Parameter] { [table] }

    /// Rows of the table for each id, in order: y[n] = table[ids[n]].
    public func forward(_ ids: [Int32]) -> Tensor {
        let e = embeddingSize
        var y = Tensor(zeros: [ids.count, e])
        table.value.withUnsafeBufferPointer { t in
            y.withUnsafeMutableBufferPointer { py in
                for (n, id) in ids.enumerated() {
                    precondition(id >= 0 && Int(id) < vocabularySize, "token id \(id) outside vocabulary 0..<\(vocabularySize)")
                    (py.baseAddress! + n * e).update(from: t.baseAddress! + Int(id) * e, count: e)
                }
            }
        }
        return y
    }

    /// Scatters dy back: table.grad[ids[n]] += dy[n] (repeated ids accumulate).
    public func backward(_ dy: Tensor, ids: [Int32]) {
        let e = embeddingSize
        precondition(dy.count == ids.count * e, "Embedding.backward: \(dy.shape) for \(ids.count) ids")
        dy.withUnsafeBufferPointer { pdy in
            table.grad.withUnsafeMutableBufferPointer { g in
                for (n, id) in ids.enumerated() {
                    let dst = g.baseAddress! + Int(id) * e, src = pdy.baseAddress! + n * e
                    for j in 0..<e { dst[j] += src[j] }
                }
            }
        }
    }

    /// y = rows · table, for rows over the vocabulary (one-hot or soft). Rows that are mostly exact zeros (a sharp
    /// softmax's) are multiplied by their non-zeros only (`SparseRows`).
    public func forward(rows: Tensor) -> Tensor {
        precondition(rows.matrixShape.1 == vocabularySize, "Embedding.forward(rows:): \(rows.shape) for vocabulary \(vocabularySize)")
        let (N, V, E) = (rows.matrixShape.0, vocabularySize, embeddingSize)
        var y = Tensor(uninitializedShape: [N, E]) { _ in }
        let sparse = rows.withUnsafeBufferPointer { pr in
            table.value.withUnsafeBufferPointer { pt in
                y.withUnsafeMutableBufferPointer { py in
                    SparseRows.product(rows: pr.baseAddress!, count: N, columns: V, table: pt.baseAddress!, width: E,
                                       into: py.baseAddress!, ldc: E)
                }
            }
        }
        return sparse ? y : matmul(rows, table.value)
    }

    /// table.grad += rowsᵀ·dy (left pending, see `Parameter.accumulateGradient`, or added from the non-zeros of
    /// sparse rows); returns d/d(rows) = dy·tableᵀ, every element of it, or nil without `inputGradient`.
    @discardableResult
    public func backward(_ dy: Tensor, rows: Tensor, inputGradient: Bool) -> Tensor? {
        precondition(dy.matrixShape == (rows.matrixShape.0, embeddingSize), "Embedding.backward(rows:): \(dy.shape) for \(rows.shape)")
        if let sparse = SparseRows(rows) {
            table.withGradientStorage { sparse.addTransposedProduct(dy, into: $0, overwrite: $1) }
        } else {
            table.accumulateGradient(transposing: rows, times: dy)
        }
        return inputGradient ? matmul(dy, table.value, transposeB: true) : nil
    }
}
