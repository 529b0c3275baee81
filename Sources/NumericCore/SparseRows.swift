import CKernels

/// Rows [N, V] kept as their non-zero elements (compressed sparse rows), for products whose dense form would spend
/// almost all its multiply-adds on zeros.
///
/// The rows a relaxed generator hands the discriminator are softmax(s·o) over the vocabulary. In fp32 most of their
/// elements are exactly zero: exp underflows once s·(max − o_v) exceeds about 87 (103 with subnormals), so at
/// TextGAN's sharpness s = 1000 a row keeps only the words whose logit is within 0.1 of the largest, and at RelGAN's
/// β = 100…1000 a Gumbel-softmax row is nearly one-hot too. A product rows·T [N, V]·[V, E] then costs nnz·E
/// multiply-adds instead of N·V·E. Skipping an exact zero changes no sum (x + 0·t = x for finite t); the sums run
/// over each row's non-zeros in column order, so the bits differ from the blocked dense product's but not with
/// the thread count. One-hot rows give exactly the table's rows, as the dense product does.
public struct SparseRows {
    public let rowCount: Int
    public let columnCount: Int
    /// Row n's non-zeros are entries starts[n] ..< starts[n + 1] of `columns` and `values`.
    public let starts: [Int]
    public let columns: [Int]
    public let values: [Float]

    /// The fraction of a row's elements above which `init` gives up, and the scan stops at the first row past it.
    /// Measured on Emerald Rapids (one thread, rows [1280, 5000] with non-zeros at random columns, times [5000, 64]):
    /// the gathered product takes 3.5 ms at 1 % non-zeros against the dense product's 6–9 ms, about the same at 5 %,
    /// and twice as long at 25 %: the scan reads every element, and each non-zero gathers a table row.
    public static let maximumDensity = 1.0 / 32

    /// The non-zeros of `rows` [N, V] (NaN counts as non-zero), or nil when some row has more than
    /// `maximumDensity`·V of them (use the dense product then).
    public init?(_ rows: Tensor, maximumDensity: Double = SparseRows.maximumDensity) {
        let (N, V) = rows.matrixShape
        let limit = Int(maximumDensity * Double(V))
        // Per chunk of rows, its non-zeros in row order; chunks are joined in order, so the split changes nothing.
        let chunkCount = max(1, min(Parallel.threads, N / 16))
        var chunkColumns = [[Int]](repeating: [], count: chunkCount), chunkValues = [[Float]](repeating: [], count: chunkCount)
        var counts = [Int](repeating: 0, count: N)
        var tooDense = [Bool](repeating: false, count: chunkCount)
        rows.withUnsafeBufferPointer { pr in
            counts.withUnsafeMutableBufferPointer { pc in
                let (pr, pc) = (pr.baseAddress!, pc.baseAddress!)
                chunkColumns.withUnsafeMutableBufferPointer { cols in
                    chunkValues.withUnsafeMutableBufferPointer { vals in
                        tooDense.withUnsafeMutableBufferPointer { dense in
                            Parallel.forEachChunk(chunkCount) { chunks in
                                for chunk in chunks {
                                    var offsets = [Int64](repeating: 0, count: max(1, min(V, limit + 1)))
                                    var found = [Float](repeating: 0, count: max(1, min(V, limit + 1)))
                                    for n in (chunk * N / chunkCount)..<((chunk + 1) * N / chunkCount) {
                                        let count = Int(tg_nonzeros(pr + n * V, Int64(V), 1, Int64(limit), &offsets, &found))
                                        if count > limit {
                                            dense[chunk] = true
                                            break
                                        }
                                        pc[n] = count
                                        for c in 0..<count {
                                            cols[chunk].append(Int(offsets[c]))
                                            vals[chunk].append(found[c])
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if tooDense.contains(true) { return nil }
        var starts = [Int](repeating: 0, count: N + 1)
        for n in 0..<N { starts[n + 1] = starts[n] + counts[n] }
        self.init(rowCount: N, columnCount: V, starts: starts, columns: chunkColumns.flatMap { $0 },
                  values: chunkValues.flatMap { $0 })
    }

    init(rowCount: Int, columnCount: Int, starts: [Int], columns: [Int], values: [Float]) {
        self.rowCount = rowCount
        self.columnCount = columnCount
        self.starts = starts
        self.columns = columns
        self.values = values
    }

    /// out[n, 0 ..< E] = Σ_v rows[n, v]·table[v] for rows [N, V] at `rows` and table [V, E], row n of out at
    /// out + n·ldc, from each row's non-zeros in column order (as `times`), without keeping them. False, with out
    /// partly written, as soon as a row has more than `maximumDensity`·V non-zeros: use the dense product then.
    public static func product(rows: UnsafePointer<Float>, count N: Int, columns V: Int, table: UnsafePointer<Float>,
                               width E: Int, into out: UnsafeMutablePointer<Float>, ldc: Int,
                               maximumDensity: Double = SparseRows.maximumDensity) -> Bool {
        let limit = Int(maximumDensity * Double(V))
        let chunkCount = max(1, min(Parallel.threads, N / 16))
        var tooDense = [Bool](repeating: false, count: chunkCount)
        tooDense.withUnsafeMutableBufferPointer { dense in
            Parallel.forEachChunk(chunkCount) { chunks in
                var offsets = [Int64](repeating: 0, count: max(1, min(V, limit + 1)))
                var found = [Float](repeating: 0, count: max(1, min(V, limit + 1)))
                for chunk in chunks {
                    for n in (chunk * N / chunkCount)..<((chunk + 1) * N / chunkCount) {
                        let count = Int(tg_nonzeros(rows + n * V, Int64(V), Int64(E), Int64(limit), &offsets, &found))
                        if count > limit {
                            dense[chunk] = true
                            return
                        }
                        Vector.gatherAxpy(into: out + n * ldc, count: E, base: table, offsets: offsets,
                                          coefficients: found, rows: count, accumulate: false)
                    }
                }
            }
        }
        return !tooDense.contains(true)
    }

    /// The same non-zero positions with other values (one per non-zero, in order): a gradient on the support.
    public func replacingValues(_ values: [Float]) -> SparseRows {
        precondition(values.count == nonzeroCount, "SparseRows.replacingValues: \(values.count) values for \(nonzeroCount) non-zeros")
        return SparseRows(rowCount: rowCount, columnCount: columnCount, starts: starts, columns: columns, values: values)
    }

    /// The first `rows` rows.
    public func prefix(rows: Int) -> SparseRows {
        precondition((0...rowCount).contains(rows), "SparseRows.prefix: \(rows) of \(rowCount) rows")
        let end = starts[rows]
        return SparseRows(rowCount: rows, columnCount: columnCount, starts: Array(starts[...rows]),
                          columns: Array(columns[..<end]), values: Array(values[..<end]))
    }

    /// sums[v] += Σ_n rows[n, v] (a bias gradient), each column summed over n in order.
    public func addColumnSums(into sums: UnsafeMutableBufferPointer<Float>) {
        precondition(sums.count == columnCount, "SparseRows.addColumnSums: \(sums.count) sums for \(columnCount) columns")
        for c in 0..<nonzeroCount { sums[columns[c]] += values[c] }
    }

    /// How many elements are non-zero.
    public var nonzeroCount: Int { starts[rowCount] }

    /// rows·table [N, E] for table [V, E]: row n is Σ_v rows[n, v]·table[v] over its non-zeros, in column order
    /// (`Vector.gatherAxpy`). Rows are split over threads; each is one sum, so the split changes no bit.
    public func times(_ table: Tensor) -> Tensor {
        let (V, E) = table.matrixShape
        precondition(V == columnCount, "SparseRows.times: a [\(V), \(E)] table for rows over \(columnCount) columns")
        let widest = (0..<rowCount).map { starts[$0 + 1] - starts[$0] }.max() ?? 0
        return Tensor(uninitializedShape: [rowCount, E]) { out in
            table.withUnsafeBufferPointer { pt in
                values.withUnsafeBufferPointer { pv in
                    let (out, pt, pv) = (out.baseAddress!, pt.baseAddress!, pv.baseAddress!)
                    Parallel.forEachChunk(rowCount, grain: 16) { range in
                        var offsets = [Int64](repeating: 0, count: max(widest, 1))
                        for n in range {
                            let (first, count) = (starts[n], starts[n + 1] - starts[n])
                            for c in 0..<count { offsets[c] = Int64(columns[first + c] * E) }
                            // With no non-zeros the row is written as zeros (nothing is accumulated).
                            Vector.gatherAxpy(into: out + n * E, count: E, base: pt, offsets: offsets,
                                              coefficients: pv + first, rows: count, accumulate: false)
                        }
                    }
                }
            }
        }
    }

    /// gradient[v] += Σ_n rows[n, v]·dy[n] for dy [N, E] and gradient [V, E] (rowsᵀ·dy), each row of the gradient
    /// summed over n in order. Columns are split over threads (each scans every row for its own), so the split
    /// changes no bit. With `overwrite`, the gradient's previous contents are ignored (zeros where nothing is added).
    public func addTransposedProduct(_ dy: Tensor, into gradient: UnsafeMutableBufferPointer<Float>, overwrite: Bool) {
        let (N, E) = dy.matrixShape
        precondition(N == rowCount && gradient.count == columnCount * E,
                     "SparseRows.addTransposedProduct: dy \(dy.shape), gradient of \(gradient.count) for [\(rowCount), \(columnCount)] rows")
        if overwrite { gradient.update(repeating: 0) }
        let g = gradient.baseAddress!
        dy.withUnsafeBufferPointer { pdy in
            let pdy = pdy.baseAddress!
            Parallel.forEachChunk(columnCount, grain: 256) { range in
                for n in 0..<rowCount {
                    var c = starts[n]
                    let end = starts[n + 1]
                    while c < end && columns[c] < range.lowerBound { c += 1 }
                    while c < end && columns[c] < range.upperBound {
                        Vector.axpy(values[c], pdy + n * E, g + columns[c] * E, count: E)
                        c += 1
                    }
                }
            }
        }
    }
}
