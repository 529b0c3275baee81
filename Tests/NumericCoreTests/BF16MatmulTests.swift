import CKernels
@testable import NumericCore
import XCTest

/// The bf16 product (bf16 operands, fp32 accumulation) against its scalar twin, bit for bit, and against fp32.
final class BF16MatmulTests: XCTestCase {
    /// VDPBF16PS, the kernel the twin's bits are defined by (the process's own choice made first, so that it is
    /// not made later inside a test).
    override func setUp() {
        _ = BF16Matmul.environmentChoice
        BF16Matmul.select(.vdpbf16ps)
    }

    func testRoundingToBF16IsNearestTiesToEven() {
        func bits(_ x: Float) -> UInt16 { tg_bf16_from_float(x) }
        XCTAssertEqual(bits(1), 0x3F80)
        XCTAssertEqual(tg_float_from_bf16(bits(1)), 1)
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties go to the even mantissa (1); 1 + 3·2⁻⁸ goes up to 1 + 2⁻⁶.
        XCTAssertEqual(bits(1 + 1.0 / 256), 0x3F80)
        XCTAssertEqual(bits(1 + 3.0 / 256), 0x3F82)
        XCTAssertEqual(bits(1 + 1.0 / 256 + 1.0 / 65536), 0x3F81, "above halfway rounds up")
        XCTAssertEqual(bits(-2.5), 0xC020)
        XCTAssertTrue(tg_float_from_bf16(bits(.nan)).isNaN)
        XCTAssertEqual(tg_float_from_bf16(bits(.infinity)), .infinity)
        XCTAssertEqual(tg_float_from_bf16(bits(Float.greatestFiniteMagnitude)), .infinity, "rounds past the largest bf16")
    }

    func testTheKernelEqualsItsTwinBitForBit() throws {
        guard BF16Matmul.isAvailable else { throw XCTSkip("this CPU has no AVX512_BF16 (\(CPUFeatures.current)); the twin is tested alone below") }
        var rng = SeededGenerator(seed: 11)
        // Edges of every tile (12 rows × 32 columns, k in pairs) and one size past a whole block.
        // k past 512 pairs crosses K slices (C accumulated through memory between them).
        for (m, n, k) in [(1, 1, 1), (12, 32, 2), (13, 33, 7), (5, 70, 64), (49, 17, 129), (100, 96, 300), (30, 40, 1101), (200, 33, 513)] {
            let a = Tensor(randomNormal: [m, k], using: &rng), b = Tensor(randomNormal: [k, n], using: &rng)
            let fast = try XCTUnwrap(BF16Matmul.multiply(a, BF16Matmul.PackedB(b)))
            let twin = BF16Matmul.reference(a, b)
            XCTAssertEqual(fast.scalars.map(\.bitPattern), twin.scalars.map(\.bitPattern), "\(m)×\(n)×\(k)")
        }
        // Denormal operands are read as zero and denormal sums flushed, as VDPBF16PS does.
        let tiny = Float.leastNormalMagnitude / 4
        let a = Tensor(shape: [1, 4], scalars: [tiny, 1, 1e-20, 3]), b = Tensor(shape: [4, 1], scalars: [1, tiny, 1e-20, 2])
        let fast = try XCTUnwrap(BF16Matmul.multiply(a, BF16Matmul.PackedB(b)))
        XCTAssertEqual(fast.scalars.map(\.bitPattern), BF16Matmul.reference(a, b).scalars.map(\.bitPattern))
        XCTAssertEqual(fast.scalars[0], 6)
    }

    func testTheTwinIsBF16RoundedFP32() {
        var rng = SeededGenerator(seed: 3)
        let (m, n, k) = (7, 9, 33)
        let a = Tensor(randomNormal: [m, k], using: &rng), b = Tensor(randomNormal: [k, n], using: &rng)
        let twin = BF16Matmul.reference(a, b)
        let round = { (x: Float) in tg_float_from_bf16(tg_bf16_from_float(x)) }
        for i in 0..<m {
            for j in 0..<n {
                // The same products of rounded operands in double: only fp32 accumulation separates the two.
                var exact = 0.0, magnitude = 0.0, unrounded = 0.0
                for p in 0..<k {
                    let x = Double(round(a.scalars[i * k + p])), y = Double(round(b.scalars[p * n + j]))
                    exact += x * y
                    magnitude += abs(x * y)
                    unrounded += Double(a.scalars[i * k + p]) * Double(b.scalars[p * n + j])
                }
                let got = Double(twin.scalars[i * n + j])
                XCTAssertEqual(got, exact, accuracy: magnitude * Double(k) * 0x1p-24, "fp32 accumulation of bf16 products")
                // And bf16 operands stay within their rounding (2⁻⁹ relative each) of the fp32 product.
                XCTAssertEqual(got, unrounded, accuracy: magnitude * 2 * 0x1p-8 + 1e-6)
            }
        }
    }

    func testTheFeaturesReadAreConsistent() {
        let features = CPUFeatures.current
        if features.contains(.avx512bf16) { XCTAssertTrue(features.contains(.avx512f)) }
        if features.contains(.amxBF16) { XCTAssertTrue(features.contains(.amxTile)) }
        XCTAssertFalse(features.description.isEmpty)
    }

    /// The measured rates exist exactly where the instructions do, and are in the range any core reaches: more
    /// than 10⁹ and less than 10¹² multiply-adds per second (these machines: about 8·10¹⁰ fp32).
    func testTheMeasuredRatesFollowTheFeatures() throws {
        let features = CPUFeatures.current
        guard features.contains(.avx512f) else {
            XCTAssertNil(MultiplyAddRates.measured)
            throw XCTSkip("no AVX-512: nothing to measure")
        }
        let rates = try XCTUnwrap(MultiplyAddRates.measured)
        XCTAssertGreaterThan(rates.fp32, 1e9)
        XCTAssertLessThan(rates.fp32, 1e12)
        XCTAssertEqual(rates.bf16 != nil, features.contains(.avx512bf16))
        if let bf16 = rates.bf16 {
            XCTAssertGreaterThan(bf16, 1e9)
            XCTAssertLessThan(bf16, 1e12)
        }
    }

    /// bf16 is flagged exactly when its measured rate is below fp32's, and fp32 never is.
    func testTheSlowdownWarningFollowsTheRates() throws {
        let slow = MultiplyAddRates(fp32: 80e9, bf16: 36.8e9), fast = MultiplyAddRates(fp32: 80e9, bf16: 160e9)
        let warning = try XCTUnwrap(Precision.bf16.slowdownWarning(rates: slow))
        XCTAssertTrue(warning.contains("0.46× fp32"), warning)
        XCTAssertTrue(warning.hasPrefix("warning: "))
        XCTAssertNil(Precision.bf16.slowdownWarning(rates: fast))
        XCTAssertNil(Precision.fp32.slowdownWarning(rates: slow))
        XCTAssertNil(Precision.bf16.slowdownWarning(rates: MultiplyAddRates(fp32: 80e9, bf16: nil)))
        XCTAssertNil(Precision.bf16.slowdownWarning(rates: nil))
    }

    /// A stored bf16 config computes in bf16 where the CPU has AVX512_BF16 and in fp32 where it does not (a run
    /// trained on another CPU); fp32 stays fp32.
    func testRunnablePrecisionFallsBackToFP32WithoutBF16() {
        XCTAssertEqual(Precision.bf16.runnable(on: CPUFeatures(rawValue: 0)), .fp32)
        XCTAssertEqual(Precision.bf16.runnable(on: CPUFeatures.current.subtracting(.avx512bf16)), .fp32)
        XCTAssertEqual(Precision.fp32.runnable(on: .current), .fp32)
        XCTAssertEqual(Precision.bf16.runnable(on: .current), BF16Matmul.isAvailable ? .bf16 : .fp32)
    }
}

/// The shapes training uses (#20): B packed from a transposed weight, Aᵀ as stored, accumulation onto C, rows read
/// through pointers, a bias — each against the scalar twin bit for bit, on one thread and on two; and the
/// parameter's packing cache.
final class BF16TrainingShapesTests: XCTestCase {
    /// VDPBF16PS, the kernel the twin's bits are defined by (the process's own choice made first, so that it is
    /// not made later inside a test).
    override func setUp() {
        _ = BF16Matmul.environmentChoice
        BF16Matmul.select(.vdpbf16ps)
    }

    private func bits(_ t: Tensor) -> [UInt32] { t.scalars.map(\.bitPattern) }

    private func transposed(_ x: Tensor) -> Tensor {
        let (r, c) = x.matrixShape
        var out = Tensor(zeros: [c, r])
        for i in 0..<r { for j in 0..<c { out[j, i] = x[i, j] } }
        return out
    }

    /// The twin's transposed modes are its plain mode on the transposed matrices (and accumulating is a chain
    /// continued from C): checked on any CPU.
    func testTheTwinsTransposedModesAreThePlainTwinOfTheTransposes() {
        var rng = SeededGenerator(seed: 21)
        let (m, n, k) = (9, 14, 37)
        let a = Tensor(randomNormal: [m, k], using: &rng), b = Tensor(randomNormal: [k, n], using: &rng)
        let plain = BF16Matmul.reference(a, b)
        XCTAssertEqual(bits(BF16Matmul.reference(transposed(a), b, transposeA: true)), bits(plain))
        XCTAssertEqual(bits(BF16Matmul.reference(a, transposed(b), transposeB: true)), bits(plain))
        // Onto zeros, accumulating is the plain product; onto C it adds C (to the rounding of one chain).
        XCTAssertEqual(bits(BF16Matmul.reference(a, b, accumulatingOnto: Tensor(zeros: [m, n]))), bits(plain))
        let c = Tensor(randomNormal: [m, n], using: &rng)
        let onto = BF16Matmul.reference(a, b, accumulatingOnto: c)
        for i in 0..<(m * n) { XCTAssertEqual(onto.scalars[i], plain.scalars[i] + c.scalars[i], accuracy: 1e-4) }
    }

    func testTheTrainingShapesEqualTheTwinOnOneAndTwoThreads() throws {
        guard BF16Matmul.isAvailable else { throw XCTSkip("this CPU has no AVX512_BF16 (\(CPUFeatures.current))") }
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        var rng = SeededGenerator(seed: 22)
        // Tile edges, K slices (k > 512), and products big enough to be split over threads: by B's panels (few
        // rows) and by rows.
        for (m, n, k) in [(1, 1, 1), (13, 33, 7), (16, 70, 64), (49, 17, 129), (30, 40, 1101), (64, 300, 300), (200, 150, 100)] {
            let a = Tensor(randomNormal: [m, k], using: &rng), w = Tensor(randomNormal: [n, k], using: &rng)
            let at = transposed(a)
            let c0 = Tensor(randomNormal: [m, n], using: &rng)
            let bias = Tensor(randomNormal: [n], using: &rng)
            var results: [[[UInt32]]] = []
            for threads in [1, 2] {
                Parallel.threads = threads
                let packed = BF16Matmul.PackedB(transposing: w)  // B = wᵀ
                var plain = Tensor(zeros: [m, n]), fromAT = c0, withBias = Tensor(zeros: [m, n])
                a.withUnsafeBufferPointer { pa in
                    plain.withUnsafeMutableBufferPointer {
                        BF16Matmul.gemm(m: m, pa.baseAddress!, lda: k, packed, $0.baseAddress!, ldc: n)
                    }
                    bias.withUnsafeBufferPointer { pb in
                        withBias.withUnsafeMutableBufferPointer {
                            BF16Matmul.gemm(m: m, pa.baseAddress!, lda: k, packed, $0.baseAddress!, ldc: n, bias: pb.baseAddress!)
                        }
                    }
                }
                at.withUnsafeBufferPointer { pa in
                    fromAT.withUnsafeMutableBufferPointer {
                        BF16Matmul.gemm(transposeA: true, m: m, pa.baseAddress!, lda: m, packed, $0.baseAddress!, ldc: n,
                                        accumulate: true)
                    }
                }
                let twin = BF16Matmul.reference(a, w, transposeB: true)
                XCTAssertEqual(bits(plain), bits(twin), "\(m)×\(n)×\(k), B = wᵀ")
                XCTAssertEqual(bits(fromAT), bits(BF16Matmul.reference(at, w, transposeA: true, transposeB: true, accumulatingOnto: c0)),
                               "\(m)×\(n)×\(k), Aᵀ onto C")
                var twinBias = twin
                for i in 0..<m { for j in 0..<n { twinBias[i, j] += bias[j] } }
                XCTAssertEqual(bits(withBias), bits(twinBias), "\(m)×\(n)×\(k), + bias")
                results.append([bits(plain), bits(fromAT), bits(withBias)])
            }
            XCTAssertEqual(results[0], results[1], "\(m)×\(n)×\(k): two threads give other bits")
        }
    }

    /// A convolution's windows: rows that overlap in one buffer, read through pointers.
    func testRowPointersEqualTheTwinOfTheUnfoldedWindows() throws {
        guard BF16Matmul.isAvailable else { throw XCTSkip("this CPU has no AVX512_BF16 (\(CPUFeatures.current))") }
        var rng = SeededGenerator(seed: 23)
        let (T, E, w, F) = (20, 16, 5, 37)
        let x = Tensor(randomNormal: [T, E], using: &rng), filters = Tensor(randomNormal: [F, w * E], using: &rng)
        let P = T - w + 1
        var windows = Tensor(zeros: [P, w * E])
        for p in 0..<P { for j in 0..<(w * E) { windows[p, j] = x.scalars[p * E + j] } }
        var c = Tensor(zeros: [P, F])
        x.withUnsafeBufferPointer { px in
            let rows: [UnsafePointer<Float>?] = (0..<P).map { UnsafePointer(px.baseAddress! + $0 * E) }
            rows.withUnsafeBufferPointer { r in
                c.withUnsafeMutableBufferPointer {
                    BF16Matmul.gemm(rows: r.baseAddress!, m: P, BF16Matmul.PackedB(transposing: filters), $0.baseAddress!, ldc: F)
                }
            }
        }
        XCTAssertEqual(bits(c), bits(BF16Matmul.reference(windows, filters, transposeB: true)))
    }

    /// The packing is kept while the value is unchanged and redone after any change (assigned or written in place).
    func testAParametersPackingFollowsItsValue() throws {
        guard BF16Matmul.isAvailable else { throw XCTSkip("this CPU has no AVX512_BF16 (\(CPUFeatures.current))") }
        var rng = SeededGenerator(seed: 24)
        let p = Parameter("w", Tensor(randomNormal: [24, 40], using: &rng))
        let x = Tensor(randomNormal: [5, 24], using: &rng)
        func product(_ packed: BF16Matmul.PackedB) -> [UInt32] { bits(BF16Matmul.multiply(x, packed)!) }
        let first = p.bf16Packed(transposed: false)
        XCTAssertTrue(first.isSameStorage(as: p.bf16Packed(transposed: false)), "packed again without a change")
        XCTAssertEqual(product(first), bits(BF16Matmul.reference(x, p.value)))
        p.value.withUnsafeMutableBufferPointer { $0[3] += 1 }  // as Adam writes
        let second = p.bf16Packed(transposed: false)
        XCTAssertFalse(second.isSameStorage(as: first))
        XCTAssertEqual(product(second), bits(BF16Matmul.reference(x, p.value)))
        p.value = Tensor(randomNormal: [24, 40], using: &rng)  // as a checkpoint load or copyValues writes
        XCTAssertEqual(product(p.bf16Packed(transposed: false)), bits(BF16Matmul.reference(x, p.value)))
        // The transposed packing is cached on its own.
        let y = Tensor(randomNormal: [5, 40], using: &rng)
        XCTAssertEqual(bits(BF16Matmul.multiply(y, p.bf16Packed(transposed: true))!),
                       bits(BF16Matmul.reference(y, p.value, transposeB: true)))
    }

    /// A bf16 weight gradient left pending: read whole, and fused into Adam's update block by block, it is the twin's
    /// product, and the fused update is the unfused one bit for bit.
    func testAPendingBF16GradientIsTheTwinsProductFusedOrNot() throws {
        guard BF16Matmul.isAvailable else { throw XCTSkip("this CPU has no AVX512_BF16 (\(CPUFeatures.current))") }
        var rng = SeededGenerator(seed: 25)
        let (N, R, C) = (64, 70, 90)  // R past several of Adam's 16-row blocks, with a partial one
        let a = Tensor(randomNormal: [N, R], using: &rng), b = Tensor(randomNormal: [N, C], using: &rng)
        let start = Tensor(randomNormal: [R, C], using: &rng), rest = Tensor(randomNormal: [R, C], using: &rng)
        let read = Parameter("w", start)
        read.grad = rest
        read.accumulateGradient(transposing: a, times: b, precision: .bf16)
        XCTAssertEqual(bits(read.grad), bits(BF16Matmul.reference(a, b, transposeA: true, accumulatingOnto: rest)))
        var fp32 = rest
        matmul(a, b, into: &fp32, transposeA: true, accumulate: true)
        XCTAssertNotEqual(bits(read.grad), bits(fp32), "bf16 is not fp32")
        let fused = Parameter("w", start), unfused = Parameter("w", start)
        fused.grad = rest
        fused.accumulateGradient(transposing: a, times: b, precision: .bf16)
        unfused.grad = read.grad
        Adam([fused]).update()
        Adam([unfused]).update()
        XCTAssertEqual(bits(fused.value), bits(unfused.value))
    }

    /// Rewriting a packing's rows (B = W) or columns (B = Wᵀ) block by block after W changed gives the bits of
    /// packing the new W whole, with the scalar and the vector packers, for odd sizes and partial panels.
    func testRepackingByRowBlocksGivesTheWholePackingsBits() throws {
        var rng = SeededGenerator(seed: 26)
        defer { tg_bf16_set_scalar_packing(0) }
        for scalar in [1, 0] {
            tg_bf16_set_scalar_packing(Int32(scalar))
            // Blocks of 2 and 6 rows, and Adam's 16-row blocks (16 columns of a panel at once for Wᵀ).
            for (R, C, sizes) in [(1, 1, [2, 6]), (2, 32, [2, 6]), (3, 33, [2, 6]), (17, 5, [2, 6]), (33, 70, [2, 6]),
                                  (64, 1, [2, 6]), (101, 45, [2, 6]), (70, 90, [16]), (48, 33, [16]), (40, 100, [16, 2])] {
                let old = Tensor(randomNormal: [R, C], using: &rng), new = Tensor(randomNormal: [R, C], using: &rng)
                var packings = [(transposed: false, packed: BF16Matmul.PackedB(old)),
                                (transposed: true, packed: BF16Matmul.PackedB(transposing: old))]
                let repacker = BF16Matmul.repacker(for: &packings, rows: R, columns: C)
                XCTAssertTrue(repacker.rewrites(transposed: false) && repacker.rewrites(transposed: true))
                new.withUnsafeBufferPointer { w in
                    var r0 = 0, turn = 0
                    while r0 < R {
                        let count = min(sizes[turn % sizes.count], R - r0)
                        repacker.repack(rows: r0, count: count, of: w.baseAddress!)
                        r0 += count
                        turn += 1
                    }
                }
                XCTAssertEqual(packings[0].packed.values, BF16Matmul.PackedB(new).values, "W \(R)×\(C), scalar \(scalar)")
                XCTAssertEqual(packings[1].packed.values, BF16Matmul.PackedB(transposing: new).values,
                               "Wᵀ \(R)×\(C), scalar \(scalar)")
            }
        }
        // A packing shared with another holder is copied before it is rewritten; the holder's stays as it was.
        let w = Tensor(randomNormal: [8, 40], using: &rng)
        let held = BF16Matmul.PackedB(w), before = held.values
        var packings = [(transposed: false, packed: held)]
        let repacker = BF16Matmul.repacker(for: &packings, rows: 8, columns: 40)
        Tensor(zeros: [8, 40]).withUnsafeBufferPointer { repacker.repack(rows: 0, count: 8, of: $0.baseAddress!) }
        XCTAssertFalse(packings[0].packed.isSameStorage(as: held))
        XCTAssertEqual(held.values, before)
        XCTAssertEqual(packings[0].packed.values, BF16Matmul.PackedB(Tensor(zeros: [8, 40])).values)
    }

    /// Adam, fusing a bf16 linear layer's pending weight gradient into its update, rewrites the weight's packings
    /// in place: they stay in the cache (same buffers), hold the bits of packing the new weight, and the next
    /// products use them.
    func testAdamRewritesTheWeightsPackingsInPlace() throws {
        guard BF16Matmul.isAvailable else { throw XCTSkip("this CPU has no AVX512_BF16 (\(CPUFeatures.current))") }
        var rng = SeededGenerator(seed: 27)
        let p = Parameter("w", Tensor(randomNormal: [70, 45], using: &rng))
        let x = Tensor(randomNormal: [64, 70], using: &rng), dy = Tensor(randomNormal: [64, 45], using: &rng)
        // The buffers' addresses, no reference kept (a held packing would be copied, not rewritten).
        let addresses = [false, true].map { p.bf16Packed(transposed: $0).bufferAddress }
        let adam = Adam([p])
        for step in 1...2 {
            p.zeroGrad()
            p.accumulateGradient(transposing: x, times: dy, precision: .bf16)
            let before = p.value
            adam.update()
            XCTAssertNotEqual(bits(p.value), bits(before), "step \(step) changed the weight")
            for transposed in [false, true] {
                XCTAssertTrue(p.hasCurrentBF16Packing(transposed: transposed), "step \(step): repacked by the update")
                let packed = p.bf16Packed(transposed: transposed)
                XCTAssertEqual(packed.bufferAddress, addresses[transposed ? 1 : 0], "step \(step): rewritten in place")
                let fresh = transposed ? BF16Matmul.PackedB(transposing: p.value) : BF16Matmul.PackedB(p.value)
                XCTAssertEqual(packed.values, fresh.values, "step \(step), transposed \(transposed)")
            }
        }
        // Without a pending gradient Adam updates element-wise and the packings go stale, to be packed anew.
        p.grad = Tensor(randomNormal: [70, 45], using: &rng)
        adam.update()
        XCTAssertFalse(p.hasCurrentBF16Packing(transposed: false))
        XCTAssertEqual(p.bf16Packed(transposed: false).values, BF16Matmul.PackedB(p.value).values)
    }

    /// The AVX-512 packers (B's panels from B and from Bᵀ, and A's rows) write the scalar loop's bits: ties, NaNs of
    /// both signs, infinities, values past the largest bf16, at every panel, pair and lane edge.
    func testTheVectorPackersWriteTheScalarBits() throws {
        guard CPUFeatures.current.contains(.avx512bw) else { throw XCTSkip("no AVX-512BW: only the scalar packer runs") }
        defer { tg_bf16_set_scalar_packing(0) }
        var rng = SeededGenerator(seed: 21)
        let specials: [Float] = [1 + 1.0 / 256, -(1 + 3.0 / 256), .nan, -.nan, Float(bitPattern: 0xFFC0_0001), .infinity,
                                 -.infinity, .greatestFiniteMagnitude, Float.leastNormalMagnitude / 4, 0, -0.0]
        for (k, n) in [(1, 1), (2, 32), (3, 33), (31, 17), (32, 64), (33, 70), (257, 100), (1000, 45), (64, 1)] {
            var b = Tensor(randomNormal: [k, n], std: 100, using: &rng)
            for i in stride(from: 0, to: b.count, by: 5) { b.scalars[i] = specials[(i / 5) % specials.count] }
            for transposed in [false, true] {
                var packings: [[UInt16]] = []
                for scalar in [1, 0] {
                    tg_bf16_set_scalar_packing(Int32(scalar))
                    let packed = transposed ? BF16Matmul.PackedB(transposing: b.reshaped([n, k])) : BF16Matmul.PackedB(b)
                    packings.append(packed.values)
                }
                XCTAssertEqual(packings[0], packings[1], "k \(k), n \(n), transposed \(transposed)")
            }
            var rows: [[UInt16]] = []
            for scalar in [1, 0] {
                tg_bf16_set_scalar_packing(Int32(scalar))
                var out = [UInt16](repeating: 0xABCD, count: b.count + 3)
                b.withUnsafeBufferPointer { tg_bf16_round_row($0.baseAddress, Int64(b.count), &out) }
                rows.append(out)
            }
            XCTAssertEqual(rows[0], rows[1], "rows of \(b.count)")
            XCTAssertEqual(rows[1].suffix(3), [0xABCD, 0xABCD, 0xABCD], "nothing written past the row")
        }
    }

    /// The AVX-512 packers of A (its rows as stored, Aᵀ as stored, and row pointers) give the products of the scalar
    /// loop, bit for bit: ties, denormals and signed zeros in every row, NaNs and infinities in some, at the edges of
    /// the 12-row blocks, of 16 pairs and of the 256-pair K slices.
    func testTheVectorAPackersGiveTheScalarPackersProducts() throws {
        guard BF16Matmul.isAvailable else { throw XCTSkip("this CPU has no AVX512_BF16 (\(CPUFeatures.current))") }
        defer { tg_bf16_set_scalar_packing(0) }
        var rng = SeededGenerator(seed: 28)
        let finite: [Float] = [1 + 1.0 / 256, -(1 + 3.0 / 256), Float.leastNormalMagnitude / 4, 0, -0.0]
        let special: [Float] = [.nan, -.nan, .infinity, -.infinity, .greatestFiniteMagnitude]
        for (m, n, k) in [(1, 1, 1), (11, 5, 2), (12, 33, 31), (13, 32, 33), (25, 17, 64), (40, 40, 513), (7, 3, 1101)] {
            var a = Tensor(randomNormal: [m, k], std: 100, using: &rng)
            for i in stride(from: 0, to: a.count, by: 3) { a.scalars[i] = finite[(i / 3) % finite.count] }
            for i in stride(from: 2 * k, to: a.count, by: 5 * k) { a.scalars[i + (i / k) % k] = special[(i / k) % special.count] }
            let at = transposed(a), w = Tensor(randomNormal: [n, k], using: &rng), packed = BF16Matmul.PackedB(transposing: w)
            var products: [[[UInt32]]] = []
            for scalar in [1, 0] {
                tg_bf16_set_scalar_packing(Int32(scalar))
                var plain = Tensor(zeros: [m, n]), fromAT = Tensor(zeros: [m, n]), fromRows = Tensor(zeros: [m, n])
                a.withUnsafeBufferPointer { pa in
                    plain.withUnsafeMutableBufferPointer {
                        BF16Matmul.gemm(m: m, pa.baseAddress!, lda: k, packed, $0.baseAddress!, ldc: n)
                    }
                    let rows: [UnsafePointer<Float>?] = (0..<m).map { UnsafePointer(pa.baseAddress! + $0 * k) }
                    rows.withUnsafeBufferPointer { r in
                        fromRows.withUnsafeMutableBufferPointer {
                            BF16Matmul.gemm(rows: r.baseAddress!, m: m, packed, $0.baseAddress!, ldc: n)
                        }
                    }
                }
                at.withUnsafeBufferPointer { pa in
                    fromAT.withUnsafeMutableBufferPointer {
                        BF16Matmul.gemm(transposeA: true, m: m, pa.baseAddress!, lda: m, packed, $0.baseAddress!, ldc: n)
                    }
                }
                products.append([bits(plain), bits(fromAT), bits(fromRows)])
            }
            XCTAssertEqual(products[0], products[1], "\(m)×\(n)×\(k)")
            XCTAssertEqual(products[1][0], products[1][1], "\(m)×\(n)×\(k): A and Aᵀ")
            XCTAssertEqual(products[1][0], products[1][2], "\(m)×\(n)×\(k): A and its rows' pointers")
        }
    }
}
