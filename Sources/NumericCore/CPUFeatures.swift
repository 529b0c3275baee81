import CKernels

/// What the CPU can do, as far as the kernels care, read once at run time (`tg_cpu_features`: cpuid, with the OS's
/// register-state check), and its brand string: `textgan bench` prints both beside what it chose.
public struct CPUFeatures: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let avx2 = CPUFeatures(rawValue: UInt32(TG_CPU_AVX2))
    public static let fma = CPUFeatures(rawValue: UInt32(TG_CPU_FMA))
    public static let avx512f = CPUFeatures(rawValue: UInt32(TG_CPU_AVX512F))
    public static let avx512bw = CPUFeatures(rawValue: UInt32(TG_CPU_AVX512BW))
    public static let avx512bf16 = CPUFeatures(rawValue: UInt32(TG_CPU_AVX512_BF16))
    public static let amxBF16 = CPUFeatures(rawValue: UInt32(TG_CPU_AMX_BF16))
    public static let amxTile = CPUFeatures(rawValue: UInt32(TG_CPU_AMX_TILE))
    public static let avx512fp16 = CPUFeatures(rawValue: UInt32(TG_CPU_AVX512_FP16))

    /// This machine's.
    public static let current = CPUFeatures(rawValue: tg_cpu_features())

    private static let names: [(CPUFeatures, String)] = [
        (.avx2, "avx2"), (.fma, "fma"), (.avx512f, "avx512f"), (.avx512bw, "avx512bw"), (.avx512bf16, "avx512_bf16"),
        (.avx512fp16, "avx512_fp16"), (.amxTile, "amx_tile"), (.amxBF16, "amx_bf16"),
    ]

    /// "avx2 fma avx512f …", or "baseline" when none.
    public var description: String {
        let present = Self.names.filter { contains($0.0) }.map(\.1)
        return present.isEmpty ? "baseline" : present.joined(separator: " ")
    }

    /// The CPU's brand string ("Intel(R) Xeon(R) Processor"), or nil.
    public static let brand: String? = {
        var buffer = [CChar](repeating: 0, count: 64)
        guard tg_cpu_brand(&buffer, 64) == 1 else { return nil }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.trimmingCharacters(in: .whitespaces)
    }()
}

/// The mixed-precision product C = A·B with bf16 operands and fp32 accumulation (`tg_sgemm_bf16_packed`): B is
/// packed to bf16 once, C's rows are split over threads (each element is one chain over k, so the split changes no
/// bit). Nil when the CPU lacks AVX512_BF16.
public enum BF16Matmul {
    public static var isAvailable: Bool { CPUFeatures.current.contains(.avx512bf16) }

    /// B [k, n] packed for `multiply`.
    public struct PackedB: Sendable {
        public let k: Int, n: Int
        let values: [UInt16]

        public init(_ b: Tensor) {
            precondition(b.shape.count == 2)
            let (k, n) = (b.shape[0], b.shape[1])
            var values = [UInt16](repeating: 0, count: Int(tg_bf16_packed_b_count(Int64(k), Int64(n))))
            b.scalars.withUnsafeBufferPointer { src in
                values.withUnsafeMutableBufferPointer { tg_bf16_pack_b(Int64(k), Int64(n), src.baseAddress, Int64(n), $0.baseAddress) }
            }
            (self.k, self.n, self.values) = (k, n, values)
        }
    }

    /// A [m, k] · B → [m, n], or nil without AVX512_BF16.
    public static func multiply(_ a: Tensor, _ b: PackedB) -> Tensor? {
        precondition(a.shape.count == 2 && a.shape[1] == b.k, "A is [m, \(b.k)]")
        guard isAvailable else { return nil }
        let (m, n, k) = (a.shape[0], b.n, b.k)
        var c = Tensor(zeros: [m, n])
        // Few large row ranges (one per thread, in whole 12-row blocks): each call streams B once per K slice.
        let rowsPerChunk = max(12, (m + 2 * 12 - 1) / (2 * 12) * 12)
        let chunks = (m + rowsPerChunk - 1) / rowsPerChunk
        a.scalars.withUnsafeBufferPointer { ap in
            b.values.withUnsafeBufferPointer { bp in
                c.scalars.withUnsafeMutableBufferPointer { cp in
                    let (aBase, bBase, cBase) = (ap.baseAddress!, bp.baseAddress!, cp.baseAddress!)
                    Parallel.forEachChunk(chunks) { range in
                        for chunk in range {
                            let row = chunk * rowsPerChunk, rows = min(rowsPerChunk, m - row)
                            _ = tg_sgemm_bf16_packed(Int64(rows), Int64(n), Int64(k), aBase + row * k, Int64(k), bBase,
                                                     cBase + row * n, Int64(n))
                        }
                    }
                }
            }
        }
        return c
    }

    /// The scalar twin (`tg_sgemm_bf16_reference`): the same bits on any CPU.
    public static func reference(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
        var c = Tensor(zeros: [m, n])
        a.scalars.withUnsafeBufferPointer { ap in
            b.scalars.withUnsafeBufferPointer { bp in
                c.scalars.withUnsafeMutableBufferPointer {
                    tg_sgemm_bf16_reference(Int64(m), Int64(n), Int64(k), ap.baseAddress, Int64(k), bp.baseAddress, Int64(n),
                                            $0.baseAddress, Int64(n))
                }
            }
        }
        return c
    }
}
