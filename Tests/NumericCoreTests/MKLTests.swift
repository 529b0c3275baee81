import CKernels
@testable import NumericCore
import TestSupport
import XCTest

/// MKL's products (when ~/venvs/mkl or TEXTGAN_MKL holds MKL) against textgan's own kernel, and the routing's rules:
/// equal to fp32 rounding, the same bits on any thread count, and exactly the own kernel's bits with it switched off.
final class MKLTests: XCTestCase {
    private var saved: (GEMMBackend, Int)!

    override func setUpWithError() throws {
        try XCTSkipUnless(MKL.isLoaded, "MKL is not in use here: \(MKL.absence ?? "?")")
        try XCTSkipUnless(tg_sgemm_available() != 0, "the comparison is against the AVX-512 kernel, which this CPU lacks")
        saved = (GEMMBackend.current, Parallel.threads)
    }

    override func tearDown() {
        if let saved { GEMMBackend.current = saved.0; BLAS.setThreads(saved.1) }
    }

    /// Shapes MKL is given: the phases' products (the output layer's logits and weight gradient, the LSTM's input
    /// gates, the Transformer's projections, the highway's weight gradient) and odd edges of the rule (k = 64, m·n just
    /// above 65,536, one row, odd sizes), with and without a transposed A.
    private let routed: [(m: Int, n: Int, k: Int, transposeA: Bool)] = [
        (64, 5000, 32, false), (32, 5000, 64, true), (1280, 128, 32, false), (1280, 192, 64, false),
        (1720, 1720, 64, true), (257, 257, 64, false), (1, 65536, 3, false), (1, 70000, 5, true), (333, 997, 17, true),
    ]

    private struct Problem {
        var a: [Float], b: [Float], c0: [Float], bias: [Float]
        var lda: Int, ldb: Int, ldc: Int
    }

    /// A and B with padded row strides, a random C (for beta ≠ 0) with padding columns, a bias row.
    private func problem(_ m: Int, _ n: Int, _ k: Int, transposeA: Bool, seed: UInt64) -> Problem {
        var rng = SeededGenerator(seed: seed)
        let (aRows, aCols) = transposeA ? (k, m) : (m, k)
        let (lda, ldb, ldc) = (aCols + 3, n + 5, n + 1)
        return Problem(
            a: Tensor(randomNormal: [aRows * lda], using: &rng).scalars,
            b: Tensor(randomNormal: [k * ldb], using: &rng).scalars,
            c0: Tensor(randomNormal: [m * ldc], using: &rng).scalars,
            bias: Tensor(randomNormal: [n], using: &rng).scalars, lda: lda, ldb: ldb, ldc: ldc)
    }

    private func product(_ p: Problem, _ m: Int, _ n: Int, _ k: Int, transposeA: Bool, beta: Float, bias: Bool,
                         backend: GEMMBackend, threads: Int) -> [Float] {
        GEMMBackend.current = backend
        BLAS.setThreads(threads)
        var c = p.c0
        c.withUnsafeMutableBufferPointer { pc in
            p.bias.withUnsafeBufferPointer { pb in
                gemm(transposeA: transposeA, m: m, n: n, k: k, alpha: 0.7, p.a, lda: p.lda, p.b, ldb: p.ldb,
                     beta: beta, pc.baseAddress!, ldc: p.ldc, bias: bias ? pb.baseAddress! : nil)
            }
        }
        return c
    }

    func testRoutedProductsEqualTheOwnKernelsToRounding() {
        for (index, (m, n, k, transposeA)) in routed.enumerated() {
            XCTAssertTrue(MKL.wins(transposeA: transposeA, transposeB: false, m: m, n: n, k: k), "\(m)×\(n)×\(k) is routed")
            let p = problem(m, n, k, transposeA: transposeA, seed: UInt64(index))
            for (beta, bias) in [(Float(0), false), (0.5, false), (0, true), (1, true)] {
                let viaMKL = product(p, m, n, k, transposeA: transposeA, beta: beta, bias: bias, backend: .mkl, threads: 2)
                let own = product(p, m, n, k, transposeA: transposeA, beta: beta, bias: bias, backend: .avx512, threads: 2)
                var worst: Float = 0
                for i in 0..<m { for j in 0..<n { worst = max(worst, abs(viaMKL[i * p.ldc + j] - own[i * p.ldc + j])) } }
                let label = "\(m)×\(n)×\(k) tA=\(transposeA) beta=\(beta) bias=\(bias)"
                XCTAssertLessThan(worst, 2e-5 * Float(k).squareRoot() * 4, label)
                // The padding columns of C stay as they were.
                for i in 0..<m { XCTAssertEqual(viaMKL[i * p.ldc + n], p.c0[i * p.ldc + n], label) }
            }
        }
    }

    /// tg_mkl_sgemm itself for all four transposes (the routing only ever sends an untransposed B).
    func testMKLsSgemmAgreesWithTheNaiveProductForEveryTranspose() {
        var rng = SeededGenerator(seed: 3)
        let (m, n, k) = (37, 53, 29)
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let (lda, ldb, ldc) = ((transposeA ? m : k) + 2, (transposeB ? k : n) + 1, n + 3)
                let a = Tensor(randomNormal: [(transposeA ? k : m) * lda], using: &rng).scalars
                let b = Tensor(randomNormal: [(transposeB ? n : k) * ldb], using: &rng).scalars
                var fast = Tensor(randomNormal: [m * ldc], using: &rng).scalars, slow = fast
                let done = fast.withUnsafeMutableBufferPointer {
                    tg_mkl_sgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, Int64(m), Int64(n), Int64(k), 0.7, a,
                                 Int64(lda), b, Int64(ldb), 0.5, $0.baseAddress!, Int64(ldc))
                }
                XCTAssertEqual(done, 1)
                slow.withUnsafeMutableBufferPointer {
                    naiveGemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.7, a, lda: lda,
                              b, ldb: ldb, beta: 0.5, $0.baseAddress!, ldc: ldc)
                }
                let worst = zip(fast, slow).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(worst, 1e-4 * Float(k).squareRoot(), "tA=\(transposeA) tB=\(transposeB)")
            }
        }
    }

    /// MKL gets blocks of a size fixed by the product, so one, two and three threads give the same bits.
    func testTheThreadCountChangesNoBitWithMKLRouting() {
        for (index, (m, n, k, transposeA)) in routed.enumerated() where m * n * k >= parallelGemmThreshold {
            let p = problem(m, n, k, transposeA: transposeA, seed: UInt64(100 + index))
            for (beta, bias) in [(Float(0), false), (1, true)] {
                let one = product(p, m, n, k, transposeA: transposeA, beta: beta, bias: bias, backend: .mkl, threads: 1)
                for threads in [2, 3] {
                    let many = product(p, m, n, k, transposeA: transposeA, beta: beta, bias: bias, backend: .mkl,
                                       threads: threads)
                    XCTAssertEqual(one.map(\.bitPattern), many.map(\.bitPattern),
                                   "\(m)×\(n)×\(k) tA=\(transposeA) bias=\(bias) on \(threads) threads")
                }
            }
        }
    }

    /// With the routing off (TEXTGAN_GEMM=own selects .avx512), a routed shape has the own kernel's bits: those of
    /// one tg_sgemm_bias call over the whole product; and with it on, MKL really computes those shapes.
    func testTheOwnKernelSwitchGivesTheOwnKernelsBits() {
        var differing = 0
        for (index, (m, n, k, transposeA)) in routed.enumerated() {
            let p = problem(m, n, k, transposeA: transposeA, seed: UInt64(200 + index))
            var direct = p.c0
            direct.withUnsafeMutableBufferPointer { pc in
                p.bias.withUnsafeBufferPointer { pb in
                    _ = tg_sgemm_bias(transposeA ? 1 : 0, 0, Int64(m), Int64(n), Int64(k), 0.7, p.a, Int64(p.lda), p.b,
                                      Int64(p.ldb), 0.5, pc.baseAddress!, Int64(p.ldc), pb.baseAddress!)
                }
            }
            for threads in [1, 2] {
                let own = product(p, m, n, k, transposeA: transposeA, beta: 0.5, bias: true, backend: .avx512, threads: threads)
                XCTAssertEqual(own.map(\.bitPattern), direct.map(\.bitPattern), "\(m)×\(n)×\(k) on \(threads) threads")
            }
            let viaMKL = product(p, m, n, k, transposeA: transposeA, beta: 0.5, bias: true, backend: .mkl, threads: 1)
            if viaMKL.map(\.bitPattern) != direct.map(\.bitPattern) { differing += 1 }
        }
        XCTAssertGreaterThan(differing, 0, "MKL's results should differ from the own kernel's in some last bits")
    }
}

/// Where MKL is looked for (no MKL needed).
final class MKLLookupTests: XCTestCase {
    /// TEXTGAN_MKL names a directory or the library; set but pointing nowhere, it loads nothing (not ~/venvs/mkl).
    func testTheLibraryIsLookedForWhereTheEnvironmentSays() throws {
        XCTAssertEqual(MKL.candidates(["TEXTGAN_MKL": "/nowhere/at/all", "HOME": "/root"]), [])
        XCTAssertEqual(MKL.candidates(["TEXTGAN_MKL": "", "HOME": "/root"]), [])
        XCTAssertEqual(MKL.candidates(["HOME": "/home/u"]).first, "/home/u/venvs/mkl/lib/libmkl_rt.so.3")
        let directory = try temporaryDirectory(self).path
        XCTAssertEqual(MKL.candidates(["TEXTGAN_MKL": directory]).first, directory + "/libmkl_rt.so.3")
        let file = directory + "/libmkl_rt.so.3"
        _ = FileManager.default.createFile(atPath: file, contents: Data())
        XCTAssertEqual(MKL.candidates(["TEXTGAN_MKL": file]), [file])
    }
}
