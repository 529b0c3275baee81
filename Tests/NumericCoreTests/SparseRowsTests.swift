import CKernels
import NumericCore
import XCTest

/// Products with rows that are mostly exact zeros (a sharp softmax's) against the dense products they replace.
final class SparseRowsTests: XCTestCase {
    override func tearDown() { Parallel.threads = 1 }

    /// Rows [N, V] with about `perRow` non-zeros each at random columns (softmax-like positive values), plus the
    /// occasional negative value, so signs matter.
    private func sparseRows(_ N: Int, _ V: Int, perRow: Int, using rng: inout SeededGenerator) -> Tensor {
        var rows = Tensor(zeros: [N, V])
        for n in 0..<N {
            for _ in 0..<perRow {
                let v = Int.random(in: 0..<V, using: &rng)
                rows[n, v] = Float.random(in: -0.2...1, using: &rng)
            }
        }
        return rows
    }

    func testTheScanFindsEveryNonzeroInOrderAndStopsPastTheLimit() {
        var rng = SeededGenerator(seed: 3)
        for n in [1, 15, 16, 17, 33, 5000] {
            var x = [Float](repeating: 0, count: n)
            for i in 0..<n where Float.random(in: 0..<1, using: &rng) < 0.1 { x[i] = Float.random(in: -1...1, using: &rng) }
            x[n - 1] = 2  // the last element of a partial vector
            if n > 4 { x[1] = .nan; x[2] = -0.0 }  // NaN is kept; a negative zero is a zero
            let expected = x.indices.filter { x[$0] != 0 }
            var offsets = [Int64](repeating: -1, count: n), values = [Float](repeating: 0, count: n)
            let count = Int(tg_nonzeros(x, Int64(n), 7, Int64(n), &offsets, &values))
            XCTAssertEqual(count, expected.count, "n = \(n)")
            XCTAssertEqual(Array(offsets.prefix(count)), expected.map { Int64($0 * 7) }, "n = \(n): offsets are index · scale")
            XCTAssertEqual(Array(values.prefix(count)).map(\.bitPattern), expected.map { x[$0].bitPattern }, "n = \(n)")
            if expected.count > 1 {
                let limit = expected.count - 1
                XCTAssertEqual(Int(tg_nonzeros(x, Int64(n), 1, Int64(limit), &offsets, &values)), limit + 1,
                               "n = \(n): one past the limit is reported as limit + 1")
            }
        }
    }

    func testTheProductEqualsTheDenseProductAndOneHotRowsGiveTheTableExactly() throws {
        var rng = SeededGenerator(seed: 5)
        let (N, V, E) = (70, 500, 40)  // E not a multiple of 16: the masked tail of the gather
        let table = Tensor(randomNormal: [V, E], using: &rng)
        let rows = sparseRows(N, V, perRow: 6, using: &rng)
        let sparse = try XCTUnwrap(SparseRows(rows))
        XCTAssertLessThanOrEqual(sparse.nonzeroCount, N * 6)
        let fast = sparse.times(table), dense = matmul(rows, table)
        for i in 0..<fast.count { XCTAssertEqual(fast.scalars[i], dense.scalars[i], accuracy: 1e-5) }

        // One-hot rows: the table's rows themselves, bit for bit, through both entry points.
        let ids = (0..<N).map { _ in Int.random(in: 0..<V, using: &rng) }
        var oneHot = Tensor(zeros: [N, V])
        for (n, v) in ids.enumerated() { oneHot[n, v] = 1 }
        let looked = try XCTUnwrap(SparseRows(oneHot)).times(table)
        var direct = Tensor(zeros: [N, E])
        let written = oneHot.withUnsafeBufferPointer { pr in
            table.withUnsafeBufferPointer { pt in
                direct.withUnsafeMutableBufferPointer { pd in
                    SparseRows.product(rows: pr.baseAddress!, count: N, columns: V, table: pt.baseAddress!, width: E,
                                       into: pd.baseAddress!, ldc: E)
                }
            }
        }
        XCTAssertTrue(written)
        for (n, v) in ids.enumerated() {
            for j in 0..<E {
                XCTAssertEqual(looked[n, j].bitPattern, table[v, j].bitPattern)
                XCTAssertEqual(direct[n, j].bitPattern, table[v, j].bitPattern)
            }
        }
    }

    func testDenseRowsAreRefused() {
        var rng = SeededGenerator(seed: 7)
        var rows = sparseRows(40, 100, perRow: 2, using: &rng)
        XCTAssertNotNil(SparseRows(rows))
        for v in 0..<10 { rows[33, v] = 0.5 }  // one row 10 % full: past the limit
        XCTAssertNil(SparseRows(rows))
        let table = Tensor(randomNormal: [100, 8], using: &rng)
        var out = Tensor(zeros: [40, 8])
        let written = rows.withUnsafeBufferPointer { pr in
            table.withUnsafeBufferPointer { pt in
                out.withUnsafeMutableBufferPointer { po in
                    SparseRows.product(rows: pr.baseAddress!, count: 40, columns: 100, table: pt.baseAddress!, width: 8,
                                       into: po.baseAddress!, ldc: 8)
                }
            }
        }
        XCTAssertFalse(written)
    }

    func testTheTransposedProductEqualsTheDenseOneWhateverTheThreadCount() throws {
        var rng = SeededGenerator(seed: 9)
        let (N, V, E) = (90, 700, 64)
        let rows = sparseRows(N, V, perRow: 5, using: &rng), dy = Tensor(randomNormal: [N, E], using: &rng)
        let start = Tensor(randomNormal: [V, E], using: &rng)
        var byThreads: [[UInt32]] = []
        for threads in [1, 2] {
            Parallel.threads = threads
            let sparse = try XCTUnwrap(SparseRows(rows))
            var accumulated = start, overwritten = start
            accumulated.withUnsafeMutableBufferPointer { sparse.addTransposedProduct(dy, into: $0, overwrite: false) }
            overwritten.withUnsafeMutableBufferPointer { sparse.addTransposedProduct(dy, into: $0, overwrite: true) }
            let dense = matmul(rows, dy, transposeA: true)
            for i in 0..<dense.count {
                XCTAssertEqual(overwritten.scalars[i], dense.scalars[i], accuracy: 1e-5)
                XCTAssertEqual(accumulated.scalars[i], start.scalars[i] + dense.scalars[i], accuracy: 1e-5)
            }
            byThreads.append(accumulated.scalars.map(\.bitPattern))
        }
        XCTAssertEqual(byThreads[0], byThreads[1], "the thread count changes no bit")
    }
}
