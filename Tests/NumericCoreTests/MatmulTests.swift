import CKernels
import NumericCore
import XCTest

final class MatmulTests: XCTestCase {
    /// Runs `body` with each available sgemm backend selected.
    private func forEachBackend(_ body: (GEMMBackend) throws -> Void) rethrows {
        let saved = GEMMBackend.current
        defer { GEMMBackend.current = saved }
        var backends: [GEMMBackend] = [.openblas]
        if GEMMBackend.detected == .avx512 || tg_sgemm_available() != 0 { backends.append(.avx512) }
        if MKL.isLoaded { backends.append(.mkl) }
        for backend in backends {
            GEMMBackend.current = backend
            try body(backend)
        }
    }

    func testBLASMatchesNaiveProduct() {
        forEachBackend { backend in checkAgainstNaiveProduct(backend) }
    }

    /// sgemm against the naive product for every transpose combination, odd sizes, strided views and beta ≠ 0;
    /// the shapes cross the AVX-512 kernel's tile and block edges (MR 8, NR 48, KC 192, MC 144, NC 4080) and its
    /// panel widths (a last 49–64 columns go as 32 + the rest: n = 49, 64, 97, 100, and 4144 = NC + 64).
    private func checkAgainstNaiveProduct(_ backend: GEMMBackend) {
        var rng = SeededGenerator(seed: 1)
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 128, 32), (5, 1, 300), (9, 49, 193), (20, 97, 400),
                          (150, 4090, 3), (12, 64, 50), (300, 100, 70), (9, 4144, 5)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    // Store A and B with padded row strides so leading dimensions are exercised.
                    let (aRows, aCols) = transposeA ? (k, m) : (m, k)
                    let (bRows, bCols) = transposeB ? (n, k) : (k, n)
                    let (lda, ldb, ldc) = (aCols + 3, bCols + 2, n + 1)
                    let a = Tensor(randomNormal: [aRows * lda], using: &rng).scalars
                    let b = Tensor(randomNormal: [bRows * ldb], using: &rng).scalars
                    let c0 = Tensor(randomNormal: [m * ldc], using: &rng).scalars
                    var fast = c0, slow = c0
                    fast.withUnsafeMutableBufferPointer { c in
                        gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.7,
                             a, lda: lda, b, ldb: ldb, beta: 0.5, c.baseAddress!, ldc: ldc)
                    }
                    slow.withUnsafeMutableBufferPointer { c in
                        naiveGemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.7,
                                  a, lda: lda, b, ldb: ldb, beta: 0.5, c.baseAddress!, ldc: ldc)
                    }
                    var worst: Float = 0
                    for i in 0..<m { for j in 0..<n { worst = max(worst, abs(fast[i * ldc + j] - slow[i * ldc + j])) } }
                    XCTAssertLessThan(worst, 1e-4 * Float(k).squareRoot(), "\(backend) m=\(m) n=\(n) k=\(k) tA=\(transposeA) tB=\(transposeB)")
                    // Padding columns of C are untouched.
                    for i in 0..<m { XCTAssertEqual(fast[i * ldc + n], c0[i * ldc + n]) }
                }
            }
        }
    }

    /// A product whose A rows are given by address (overlapping windows of one buffer, as the convolution passes
    /// them) has the bits of the same product on those rows copied into a matrix: partial row tiles, K slices, both
    /// layouts of B, with and without a bias row, on both backends.
    func testProductOfListedRowsHasTheBitsOfTheCopiedRows() {
        var rng = SeededGenerator(seed: 21)
        forEachBackend { backend in
            for (m, n, k, stride, transposeB, withBias) in [(13, 100, 64, 8, true, true), (45, 200, 320, 64, true, false),
                                                            (8, 49, 400, 3, false, true), (3, 5, 7, 1, false, false)] {
                let source = Tensor(randomNormal: [m * stride + k], using: &rng).scalars
                let b = Tensor(randomNormal: [n * k], using: &rng).scalars
                let bias = Tensor(randomNormal: [n], using: &rng).scalars
                var copied = [Float](repeating: 0, count: m * k)
                for i in 0..<m { for p in 0..<k { copied[i * k + p] = source[i * stride + p] } }
                var direct = [Float](repeating: .nan, count: m * n), listed = direct
                source.withUnsafeBufferPointer { s in
                    bias.withUnsafeBufferPointer { bias in
                        let rows: [UnsafePointer<Float>?] = (0..<m).map { s.baseAddress! + $0 * stride }
                        let ldb = transposeB ? k : n
                        gemm(rows: rows, m: m, n: n, k: k, transposeB: transposeB, b, ldb: ldb, &listed, ldc: n,
                             bias: withBias ? bias.baseAddress : nil)
                        gemm(transposeB: transposeB, m: m, n: n, k: k, copied, lda: k, b, ldb: ldb, &direct, ldc: n,
                             bias: withBias ? bias.baseAddress : nil)
                    }
                }
                XCTAssertEqual(listed.map(\.bitPattern), direct.map(\.bitPattern), "\(backend) m \(m) n \(n) k \(k)")
            }
        }
    }

    func testTransposedMatrix() {
        let m = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(m.transposedMatrix(), Tensor(shape: [3, 2], scalars: [1, 4, 2, 5, 3, 6]))
        var rng = SeededGenerator(seed: 3)
        let big = Tensor(randomNormal: [32, 517], using: &rng)
        XCTAssertEqual(big.transposedMatrix().transposedMatrix(), big)
        // Every element, for shapes inside, on and across the kernel's 16×16 blocks.
        for (rows, columns) in [(1, 1), (1, 17), (33, 1), (16, 16), (15, 17), (37, 517), (64, 5000)] {
            let m = Tensor(randomNormal: [rows, columns], using: &rng)
            let t = m.transposedMatrix()
            XCTAssertEqual(t.shape, [columns, rows])
            var mismatches = 0
            for r in 0..<rows {
                for c in 0..<columns where t.scalars[c * rows + r] != m.scalars[r * columns + c] { mismatches += 1 }
            }
            XCTAssertEqual(mismatches, 0, "\(rows)×\(columns)")
        }
    }

    /// A short A times a large Bᵀ (a layer's input gradient, dY·Wᵀ) is computed transposed by the AVX-512 kernel
    /// (B read in place): the same bits as the direct path, which a taller A takes for the same rows; also across
    /// K slices, with padded strides and a column split over two threads.
    func testShortTimesLargeTransposedHasTheDirectPathsBits() throws {
        try XCTSkipUnless(tg_sgemm_available() != 0, "the transposed path belongs to the AVX-512 kernel")
        let saved = (GEMMBackend.current, Parallel.threads)
        defer { GEMMBackend.current = saved.0; BLAS.setThreads(saved.1) }
        GEMMBackend.current = .avx512
        var rng = SeededGenerator(seed: 17)
        for (m, n, k) in [(64, 1720, 1720), (5, 600, 70), (128, 515, 400)] {
            let tall = 200  // more rows than the transposed path takes
            let (lda, ldb, ldc) = (k + 3, k + 1, n + 2)
            let a = Tensor(randomNormal: [tall * lda], using: &rng).scalars
            let b = Tensor(randomNormal: [n * ldb], using: &rng).scalars
            var direct = [Float](repeating: 0, count: tall * ldc)
            let ran = direct.withUnsafeMutableBufferPointer { c in
                tg_sgemm(0, 1, Int64(tall), Int64(n), Int64(k), 0.7, a, Int64(lda), b, Int64(ldb), 0, c.baseAddress!, Int64(ldc))
            }
            XCTAssertNotEqual(ran, 0, "the direct AVX-512 path ran")
            for threads in [1, 2] {
                BLAS.setThreads(threads)
                var short = [Float](repeating: -1, count: m * ldc)
                short.withUnsafeMutableBufferPointer { c in
                    gemm(transposeB: true, m: m, n: n, k: k, alpha: 0.7, a, lda: lda, b, ldb: ldb, beta: 0, c.baseAddress!, ldc: ldc)
                }
                for i in 0..<m {
                    XCTAssertEqual(Array(short[(i * ldc)..<(i * ldc + n)]), Array(direct[(i * ldc)..<(i * ldc + n)]),
                                   "row \(i) of \(m)×\(n)×\(k), \(threads) threads")
                    XCTAssertEqual(short[i * ldc + n], -1, "padding")
                }
                var reference = [Float](repeating: 0, count: m * ldc)
                reference.withUnsafeMutableBufferPointer { c in
                    naiveGemm(transposeB: true, m: m, n: n, k: k, alpha: 0.7, a, lda: lda, b, ldb: ldb, beta: 0, c.baseAddress!, ldc: ldc)
                }
                var worst: Float = 0
                for i in 0..<m { for j in 0..<n { worst = max(worst, abs(short[i * ldc + j] - reference[i * ldc + j])) } }
                XCTAssertLessThan(worst, 1e-4 * Float(k).squareRoot(), "\(m)×\(n)×\(k) against the naive product")
            }
        }
    }

    /// A bias row joins the product as it is written, for both backends, with and without beta, across the kernel's
    /// K slices and over two threads, like the naive product with the bias added.
    func testBiasRowIsAddedToEveryRow() {
        let saved = Parallel.threads
        defer { BLAS.setThreads(saved) }
        forEachBackend { backend in
            var rng = SeededGenerator(seed: 3)
            for threads in [1, 2] {
                BLAS.setThreads(threads)
                for (m, n, k, beta) in [(9, 53, 7, Float(0)), (300, 130, 400, 0.5), (64, 5000, 32, 0), (0, 4, 4, 0), (5, 7, 0, 1)] {
                    let a = Tensor(randomNormal: [max(m * k, 1)], using: &rng).scalars
                    let b = Tensor(randomNormal: [max(k * n, 1)], using: &rng).scalars
                    let bias = Tensor(randomNormal: [n], using: &rng).scalars
                    let c0 = Tensor(randomNormal: [m * n], using: &rng).scalars
                    var fast = c0, slow = c0
                    fast.withUnsafeMutableBufferPointer { c in
                        gemm(m: m, n: n, k: k, a, lda: max(k, 1), b, ldb: n, beta: beta, c.baseAddress!, ldc: n, bias: bias)
                    }
                    slow.withUnsafeMutableBufferPointer { c in
                        naiveGemm(m: m, n: n, k: k, a, lda: max(k, 1), b, ldb: n, beta: beta, c.baseAddress!, ldc: n, bias: bias)
                    }
                    let worst = zip(fast, slow).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThan(worst, 1e-4 * Float(max(k, 1)).squareRoot(), "\(backend) threads \(threads) m=\(m) n=\(n) k=\(k)")
                }
            }
        }
    }

    /// With beta = 0, C is overwritten, never read: NaN or infinity already in C does not leak into the product.
    func testBetaZeroDoesNotReadC() {
        forEachBackend { backend in
            let (m, n, k) = (13, 50, 7)
            let a = [Float](repeating: 1, count: m * k), b = [Float](repeating: 2, count: k * n)
            var c = [Float](repeating: .nan, count: m * n)
            c[5] = .infinity
            c.withUnsafeMutableBufferPointer { pc in
                gemm(m: m, n: n, k: k, a, lda: k, b, ldb: n, beta: 0, pc.baseAddress!, ldc: n)
            }
            XCTAssertEqual(c, [Float](repeating: 14, count: m * n), "\(backend)")
        }
    }

    /// The AVX-512 kernel sums each element in one order however C is split, so the thread count changes no bit.
    func testTheAVX512KernelGivesTheSameBitsOnAnyThreadCount() throws {
        guard tg_sgemm_available() != 0 else { throw XCTSkip("this CPU has no AVX-512; the OpenBLAS path is used") }
        let saved = (GEMMBackend.current, Parallel.threads)
        defer { GEMMBackend.current = saved.0; BLAS.setThreads(saved.1) }
        GEMMBackend.current = .avx512
        var rng = SeededGenerator(seed: 8)
        for (m, n, k, transposeA, transposeB) in [(1280, 300, 32, false, false), (32, 5000, 1280, true, false),
                                                  (700, 64, 2100, false, true)] {
            let a = Tensor(randomNormal: [m * k], using: &rng).scalars
            let b = Tensor(randomNormal: [k * n], using: &rng).scalars
            func product(threads: Int) -> [UInt32] {
                BLAS.setThreads(threads)
                var c = [Float](repeating: 1, count: m * n)
                c.withUnsafeMutableBufferPointer { pc in
                    gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a,
                         lda: transposeA ? m : k, b, ldb: transposeB ? k : n, beta: 0.5, pc.baseAddress!, ldc: n)
                }
                return c.map(\.bitPattern)
            }
            XCTAssertEqual(product(threads: 1), product(threads: 2), "m=\(m) n=\(n) k=\(k)")
        }
    }

    /// Large products split over threads agree with the single-threaded result to rounding (OpenBLAS picks other
    /// kernel paths for the blocks' shapes), and a fixed thread count repeats bit for bit.
    func testSplitProductsAgreeWithOneThreadAndRepeatExactly() {
        var rng = SeededGenerator(seed: 5)
        let saved = Parallel.threads
        defer { BLAS.setThreads(saved) }
        for (m, n, k) in [(1280, 300, 32), (32, 5000, 1280), (700, 64, 2100)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let a = Tensor(randomNormal: [m * k], using: &rng).scalars
                    let b = Tensor(randomNormal: [k * n], using: &rng).scalars
                    let (lda, ldb) = (transposeA ? m : k, transposeB ? k : n)
                    func product(threads: Int) -> [Float] {
                        BLAS.setThreads(threads)
                        var c = [Float](repeating: 1, count: m * n)
                        c.withUnsafeMutableBufferPointer { pc in
                            gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                 a, lda: lda, b, ldb: ldb, beta: 0.5, pc.baseAddress!, ldc: n)
                        }
                        return c
                    }
                    XCTAssertGreaterThanOrEqual(m * n * k, parallelGemmThreshold)
                    let (one, two) = (product(threads: 1), product(threads: 2))
                    let worst = zip(one, two).map { abs($0 - $1) }.max()!
                    XCTAssertLessThan(worst, 1e-4 * Float(k).squareRoot(), "m=\(m) n=\(n) k=\(k) tA=\(transposeA) tB=\(transposeB)")
                    XCTAssertEqual(product(threads: 2), two, "two threads repeat exactly")
                }
            }
        }
    }

    func testTensorMatmulOnKnownValues() {
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], scalars: [7, 8, 9, 10, 11, 12])
        XCTAssertEqual(matmul(a, b).scalars, [58, 64, 139, 154])
        XCTAssertEqual(matmul(a, a, transposeB: true).scalars, [14, 32, 32, 77])
        XCTAssertEqual(matmul(a, a, transposeA: true).shape, [3, 3])
        var c = Tensor(repeating: 1, shape: [2, 2])
        matmul(a, b, into: &c, accumulate: true)
        XCTAssertEqual(c.scalars, [59, 65, 140, 155])
    }

    func testEmptyInnerDimension() {
        let a = Tensor(zeros: [2, 0]), b = Tensor(zeros: [0, 3])
        XCTAssertEqual(matmul(a, b), Tensor(zeros: [2, 3]))
    }
}
