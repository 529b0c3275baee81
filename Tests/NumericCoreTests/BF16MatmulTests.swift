import CKernels
import NumericCore
import XCTest

/// The bf16 product (bf16 operands, fp32 accumulation) against its scalar twin, bit for bit, and against fp32.
final class BF16MatmulTests: XCTestCase {
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
}
