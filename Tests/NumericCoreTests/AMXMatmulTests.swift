import CKernels
@testable import NumericCore
import XCTest

/// The AMX tile kernel (TDPBF16PS) on the packed B the VDPBF16PS kernel uses: it sums each element's bf16 products in
/// fp32 in its own order, so it is checked against the products of the rounded operands in double, within fp32's
/// accumulation bound, and for determinism and thread-split invariance, not against the twin's bits.
final class AMXMatmulTests: XCTestCase {
    override func tearDown() {
        BF16Matmul.select(.vdpbf16ps)
    }

    private func requireAMX() throws {
        guard BF16Matmul.amxAvailable else {
            throw XCTSkip("this CPU has no AMX-BF16, or the kernel does not grant the tile state (\(CPUFeatures.current))")
        }
    }

    func testTheChoiceFollowsTheCPU() {
        XCTAssertTrue(BF16Matmul.select(.vdpbf16ps))
        XCTAssertEqual(BF16Matmul.kernel, .vdpbf16ps)
        let features = CPUFeatures.current
        XCTAssertEqual(BF16Matmul.select(.amx), features.contains(.amxBF16) && features.contains(.amxTile) && BF16Matmul.amxAvailable)
        XCTAssertEqual(BF16Matmul.kernel == .amx, BF16Matmul.amxAvailable)
        XCTAssertEqual(tg_bf16_set_kernel(7), 0, "an unknown kernel is refused")
        XCTAssertEqual(BF16Matmul.kernel == .amx, BF16Matmul.amxAvailable, "and changes nothing")
    }

    /// |c − Σ round(a)·round(b)| ≤ k·2⁻²³·Σ|round(a)·round(b)| for every element, at every tile edge (16-row,
    /// 16-column and 16-pair tiles, 32×32 blocks and their 16-row halves, 64-row passes), with and without
    /// accumulating onto C, for A as stored and for Aᵀ as stored (a weight gradient's xᵀ·dy).
    func testProductsAreTheRoundedOperandsSummedInFP32() throws {
        try requireAMX()
        var rng = SeededGenerator(seed: 5)
        let round = { (x: Float) in Double(tg_float_from_bf16(tg_bf16_from_float(x))) }
        for (m, n, k) in [(1, 1, 1), (16, 16, 32), (17, 33, 31), (32, 32, 33), (65, 70, 257), (130, 45, 1000), (3, 100, 2),
                          (16, 64, 64), (48, 40, 70), (20, 32, 9)] {
            let b = Tensor(randomNormal: [k, n], using: &rng), c0 = Tensor(randomNormal: [m, n], using: &rng)
            let packed = BF16Matmul.PackedB(b)
            XCTAssertTrue(BF16Matmul.select(.amx))
            for transposeA in [false, true] {
                // A [m, k], or stored as Aᵀ [k, m]; element (i, p) at `at(i, p)`.
                let stored = Tensor(randomNormal: transposeA ? [k, m] : [m, k], using: &rng)
                let at = { (i: Int, p: Int) in transposeA ? stored.scalars[p * m + i] : stored.scalars[i * k + p] }
                for accumulate in [false, true] {
                    var c = accumulate ? c0 : Tensor(zeros: [m, n])
                    stored.withUnsafeBufferPointer { ap in
                        c.scalars.withUnsafeMutableBufferPointer {
                            BF16Matmul.gemm(transposeA: transposeA, m: m, ap.baseAddress!, lda: transposeA ? m : k, packed,
                                            $0.baseAddress!, ldc: n, accumulate: accumulate)
                        }
                    }
                    for i in 0..<m {
                        for j in 0..<n {
                            var exact = accumulate ? Double(c0.scalars[i * n + j]) : 0, magnitude = abs(exact)
                            for p in 0..<k {
                                let product = round(at(i, p)) * round(b.scalars[p * n + j])
                                exact += product
                                magnitude += abs(product)
                            }
                            let got = Double(c.scalars[i * n + j])
                            XCTAssertEqual(got, exact, accuracy: magnitude * Double(k + 1) * 0x1p-23,
                                           "\(m)×\(n)×\(k) transposeA \(transposeA) accumulate \(accumulate) at (\(i), \(j))")
                        }
                    }
                }
            }
        }
    }

    /// A's packing for the tiles (rows rounded by the vector loop, Aᵀ's columns gathered 16 rows at a time) writes
    /// the scalar loop's bits, so the products agree to the bit whichever packed A.
    func testTheVectorAPackingWritesTheScalarBits() throws {
        try requireAMX()
        defer { tg_bf16_set_scalar_packing(0) }
        var rng = SeededGenerator(seed: 6)
        XCTAssertTrue(BF16Matmul.select(.amx))
        for (m, n, k) in [(1, 5, 3), (16, 33, 64), (37, 40, 71), (70, 32, 100)] {
            let b = Tensor(randomNormal: [k, n], using: &rng)
            let packed = BF16Matmul.PackedB(b)
            for transposeA in [false, true] {
                var a = Tensor(randomNormal: transposeA ? [k, m] : [m, k], std: 10, using: &rng)
                a.scalars[0] = .nan
                a.scalars[a.count - 1] = 1 + 1.0 / 256
                var results: [[UInt32]] = []
                for scalar in [1, 0] {
                    tg_bf16_set_scalar_packing(Int32(scalar))
                    var c = Tensor(zeros: [m, n])
                    a.withUnsafeBufferPointer { ap in
                        c.scalars.withUnsafeMutableBufferPointer {
                            BF16Matmul.gemm(transposeA: transposeA, m: m, ap.baseAddress!, lda: transposeA ? m : k, packed,
                                            $0.baseAddress!, ldc: n)
                        }
                    }
                    results.append(c.scalars.map(\.bitPattern))
                }
                XCTAssertEqual(results[0], results[1], "\(m)×\(n)×\(k) transposeA \(transposeA)")
            }
        }
    }

    /// The same bits on one and two threads and from one call to the next; and a product VDPBF16PS rounds differently
    /// is still close to it (the two kernels are different chains, not different answers).
    func testDeterministicOnOneAndTwoThreads() throws {
        try requireAMX()
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        var rng = SeededGenerator(seed: 9)
        // Past parallelGemmThreshold: split over threads by rows, and (few rows) by B's panels.
        for (m, n, k) in [(300, 200, 600), (64, 300, 600)] {
            let a = Tensor(randomNormal: [m, k], using: &rng), b = Tensor(randomNormal: [k, n], using: &rng)
            let packed = BF16Matmul.PackedB(b)
            XCTAssertTrue(BF16Matmul.select(.amx))
            var results: [[UInt32]] = []
            for threads in [1, 2, 2] {
                Parallel.threads = threads
                results.append(try XCTUnwrap(BF16Matmul.multiply(a, packed)).scalars.map(\.bitPattern))
            }
            XCTAssertEqual(results[0], results[1], "\(m)×\(n)×\(k): two threads give other bits")
            XCTAssertEqual(results[1], results[2], "\(m)×\(n)×\(k): a second call gives other bits")
            XCTAssertTrue(BF16Matmul.select(.vdpbf16ps))
            let other = try XCTUnwrap(BF16Matmul.multiply(a, packed)).scalars
            let amx = results[0].map(Float.init(bitPattern:))
            let worst = zip(amx, other).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-3, "AMX and VDPBF16PS differ by \(worst)")
            XCTAssertNotEqual(results[0], other.map(\.bitPattern), "the kernels' orders differ, so some bits should too")
        }
    }
}
