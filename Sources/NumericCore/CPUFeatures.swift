import CKernels
import Foundation

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

/// Multiply-adds per second on one core, fp32 (AVX-512 FMA) and bf16 (AVX512_BF16's VDPBF16PS), measured by
/// `tg_multiply_add_rates` the first time they are asked for (about 2 ms). The instruction set says whether bf16
/// products exist; this says whether they pay: VDPBF16PS does twice an FMA's multiply-adds, but on the Emerald Rapids
/// Xeon these sessions run on it issues at under a quarter of the FMA's rate, so bf16 products there are slower.
public struct MultiplyAddRates: Sendable, Equatable {
    public let fp32: Double
    /// Nil without AVX512_BF16.
    public let bf16: Double?

    public init(fp32: Double, bf16: Double?) { (self.fp32, self.bf16) = (fp32, bf16) }

    /// bf16's rate over fp32's: above 1, bf16 products can beat fp32 ones; nil without AVX512_BF16.
    public var bf16Speedup: Double? { bf16.map { $0 / fp32 } }

    /// This machine's, or nil without AVX-512.
    public static let measured: MultiplyAddRates? = {
        var fp32 = 0.0, bf16 = 0.0
        guard tg_multiply_add_rates(&fp32, &bf16) == 1, fp32 > 0 else { return nil }
        return MultiplyAddRates(fp32: fp32, bf16: bf16 > 0 ? bf16 : nil)
    }()

    /// "fp32 FMA 84.1 G/s, bf16 VDPBF16PS 38.6 G/s (0.46× fp32)" (multiply-adds per second per core).
    public var description: String {
        let fp32Text = String(format: "fp32 FMA %.1f G/s", fp32 / 1e9)
        guard let bf16, let speedup = bf16Speedup else { return fp32Text + ", bf16 none (no AVX512_BF16)" }
        return fp32Text + String(format: ", bf16 VDPBF16PS %.1f G/s (%.2f× fp32)", bf16 / 1e9, speedup)
    }
}

/// The mixed-precision product C = A·B with bf16 operands and fp32 accumulation (`tg_sgemm_bf16_packed`): B is
/// packed to bf16 once, C's rows are split over threads (each element is one chain over k, so the split changes no
/// bit). Nil when the CPU lacks AVX512_BF16.
public enum BF16Matmul {
    public static var isAvailable: Bool { CPUFeatures.current.contains(.avx512bf16) }

    /// The instruction the bf16 products run on. Each is deterministic and splits over threads without changing a
    /// bit, but the two round a k pair's sum in different orders, so they agree only to about fp32's precision.
    public enum Kernel: String, Sendable, CaseIterable {
        /// AVX512_BF16's VDPBF16PS: bit-identical to the scalar twin (`reference`) on every CPU that has it.
        case vdpbf16ps
        /// AMX-BF16's TDPBF16PS on 16×16 tiles (Sapphire Rapids and later, when Linux grants the tile state).
        case amx
    }

    /// Whether the CPU has AMX-BF16 and the kernel granted this process the tile state.
    public static var amxAvailable: Bool { tg_bf16_amx_available() != 0 }

    /// The kernel in use: AMX where the CPU grants the tiles (measured faster: see docs/performance.md), else
    /// VDPBF16PS; TEXTGAN_BF16_KERNEL=vdpbf16ps|amx chooses (`environmentChoice`, applied when a run or a benchmark
    /// checks bf16 is supported). Tests and benchmarks may switch it. Recorded with every run (`kernels`).
    public static var kernel: Kernel {
        get { tg_bf16_kernel() == Int32(TG_BF16_AMX) ? .amx : .vdpbf16ps }
        set { precondition(select(newValue), "the \(newValue.rawValue) bf16 kernel is not available on this CPU") }
    }

    /// Switches to `kernel` if this CPU can run it; returns whether it did.
    @discardableResult public static func select(_ kernel: Kernel) -> Bool {
        tg_bf16_set_kernel(Int32(kernel == .amx ? TG_BF16_AMX : TG_BF16_VDPBF16PS)) != 0
    }

    /// The kernels this CPU can run.
    public static var availableKernels: [Kernel] { isAvailable ? (amxAvailable ? [.vdpbf16ps, .amx] : [.vdpbf16ps]) : [] }

    /// Applies the process's choice once: TEXTGAN_BF16_KERNEL (amx or vdpbf16ps) when set, else AMX where the CPU
    /// grants it. Nil when that choice is in force, else why TEXTGAN_BF16_KERNEL cannot be honoured.
    public static let environmentChoice: String? = {
        guard let value = ProcessInfo.processInfo.environment["TEXTGAN_BF16_KERNEL"], !value.isEmpty else {
            if amxAvailable { select(.amx) }
            return nil
        }
        guard let wanted = Kernel(rawValue: value.lowercased()) else {
            return "TEXTGAN_BF16_KERNEL=\(value) is not a bf16 kernel (amx or vdpbf16ps)"
        }
        return select(wanted) ? nil : "TEXTGAN_BF16_KERNEL=\(value): this CPU (or the kernel) does not grant AMX tiles"
    }()

    /// "vdpbf16ps" or "amx (tdpbf16ps)", or "unavailable" without AVX512_BF16: for run records and benchmark headers.
    public static var summary: String {
        guard isAvailable else { return "unavailable (no AVX512_BF16)" }
        _ = environmentChoice
        return kernel == .amx ? "amx (tdpbf16ps)" : "avx512_bf16 (vdpbf16ps)" + (amxAvailable ? "; amx available (TEXTGAN_BF16_KERNEL)" : "")
    }

    /// B [k, n] packed for `multiply`: 32-column panels of k pairs (`tg_bf16_pack_b`), in a 64-byte-aligned buffer.
    public struct PackedB: Sendable {
        public let k: Int, n: Int
        fileprivate var storage: Storage

        fileprivate final class Storage: @unchecked Sendable {
            let pointer: UnsafeMutablePointer<UInt16>
            let count: Int

            /// Uninitialized: the packers write every value, pads included.
            init(count: Int) {
                self.count = count
                pointer = UnsafeMutableRawPointer(aligned_alloc(64, (max(count, 1) * 2 + 63) / 64 * 64)!)
                    .bindMemory(to: UInt16.self, capacity: max(count, 1))
            }

            deinit { free(pointer) }
        }

        /// B [k, n] (leading dimensions fold into k).
        public init(_ b: Tensor) {
            let (k, n) = b.matrixShape
            self.init(k: k, n: n, b.scalars, transposed: false)
        }

        /// B = wᵀ for w [n, k] (leading dimensions fold into n): a weight stored [out, in] used as x·wᵀ.
        public init(transposing w: Tensor) {
            let (n, k) = w.matrixShape
            self.init(k: k, n: n, w.scalars, transposed: true)
        }

        /// B [k, n] from `source` as stored: B itself ([k, n], rows of `ld` floats), or with `transposed` the
        /// matrix Bᵀ ([n, k], rows of `ld` floats).
        public init(k: Int, n: Int, _ source: UnsafePointer<Float>, ld: Int, transposed: Bool) {
            let storage = Storage(count: Int(tg_bf16_packed_b_count(Int64(k), Int64(n))))
            if transposed {
                tg_bf16_pack_b_transposed(Int64(k), Int64(n), source, Int64(ld), storage.pointer)
            } else {
                tg_bf16_pack_b(Int64(k), Int64(n), source, Int64(ld), storage.pointer)
            }
            (self.k, self.n, self.storage) = (k, n, storage)
        }

        /// B [k, n] to be written a block of rows at a time (`packRows`), as a product's right operand that is
        /// itself computed in blocks (a loss's logit gradients): its pads are zeros, its real pairs not yet written.
        public init(rowsToCome k: Int, n: Int) {
            let storage = Storage(count: Int(tg_bf16_packed_b_count(Int64(k), Int64(n))))
            tg_bf16_zero_pads(Int64(k), Int64(n), storage.pointer)
            (self.k, self.n, self.storage) = (k, n, storage)
        }

        /// Packs B's rows r0 ..< r0 + count from `rows` (row r0 first, rows `ld` floats apart): with every row
        /// packed so, the bits of packing B whole. A block starts at an even row and ends at one or at k (a pair
        /// of rows is packed together); blocks packed on other threads must not overlap, and the packing must not
        /// be shared (one made by `init(rowsToCome:n:)` is not).
        public func packRows(_ r0: Int, count: Int, from rows: UnsafePointer<Float>, ld: Int) {
            guard count > 0 else { return }
            precondition(r0 % 2 == 0 && r0 + count <= k && (count % 2 == 0 || r0 + count == k),
                         "packRows: rows \(r0) ..< \(r0 + count) of \(k) do not start and end at even rows")
            tg_bf16_pack_b_rows(Int64(k), Int64(n), rows, Int64(ld), Int64(r0), Int64(r0 + count), storage.pointer)
        }

        private init(k: Int, n: Int, _ scalars: [Float], transposed: Bool) {
            let ld = transposed ? k : n
            self = scalars.withUnsafeBufferPointer { PackedB(k: k, n: n, $0.baseAddress!, ld: ld, transposed: transposed) }
        }

        /// The packed values (for tests).
        var values: [UInt16] { Array(UnsafeBufferPointer(start: storage.pointer, count: storage.count)) }

        /// Where the buffer is (the tests' check that a packing is rewritten in place).
        var bufferAddress: UnsafeRawPointer { UnsafeRawPointer(storage.pointer) }

        /// Whether two packings share one buffer (the tests' check that a cached packing is reused).
        func isSameStorage(as other: PackedB) -> Bool { storage === other.storage }

        /// The buffer, for rewriting in place: a copy of it first when another packing shares it.
        fileprivate mutating func uniqueBuffer() -> UnsafeMutablePointer<UInt16> {
            if !isKnownUniquelyReferenced(&storage) {
                let copy = Storage(count: storage.count)
                copy.pointer.update(from: storage.pointer, count: storage.count)
                storage = copy
            }
            return storage.pointer
        }
    }

    /// Rewrites a weight's bf16 packings a block of rows at a time, as an optimizer updates the weight in place
    /// (`Parameter.withBF16Repacking`): the weight W [R, C] is B itself (x·W: its rows are B's k rows) or Bᵀ (x·Wᵀ:
    /// its rows are B's columns). Blocks on other threads must not overlap and must start at even rows.
    public struct RowRepacker: @unchecked Sendable {
        fileprivate let targets: [(transposed: Bool, buffer: UnsafeMutablePointer<UInt16>)]
        fileprivate let rows: Int, columns: Int

        /// Whether it rewrites the packing of that orientation (not when its shape is not the weight's).
        func rewrites(transposed: Bool) -> Bool { targets.contains { $0.transposed == transposed } }

        /// Repacks rows r0 ..< r0 + count of the weight, read from `weight` (all of it, rows of `columns` floats).
        public func repack(rows r0: Int, count: Int, of weight: UnsafePointer<Float>) {
            precondition(r0 % 2 == 0 || count == 0, "a repacked block starts at an even row")
            let (R, C) = (Int64(rows), Int64(columns))
            for (transposed, buffer) in targets {
                if transposed {
                    tg_bf16_pack_b_transposed_columns(C, R, weight, C, Int64(r0), Int64(r0 + count), buffer)
                } else {
                    tg_bf16_pack_b_rows(R, C, weight + r0 * columns, C, Int64(r0), Int64(r0 + count), buffer)
                }
            }
        }
    }

    /// A repacker for `packings` of a weight [rows, columns] (each B = W or Wᵀ), rewriting their buffers (made
    /// unique first); the packings of other shapes are left out.
    static func repacker(for packings: inout [(transposed: Bool, packed: PackedB)], rows: Int, columns: Int) -> RowRepacker {
        var targets: [(Bool, UnsafeMutablePointer<UInt16>)] = []
        for i in packings.indices {
            let (k, n) = packings[i].transposed ? (columns, rows) : (rows, columns)
            guard packings[i].packed.k == k, packings[i].packed.n == n else { continue }
            targets.append((packings[i].transposed, packings[i].packed.uniqueBuffer()))
        }
        return RowRepacker(targets: targets, rows: rows, columns: columns)
    }

    /// C [m, n] = op(A) · B, + C's values when `accumulate` (each element's chain goes on from its value), then +
    /// `bias` on every row (one fp32 add). A is [m, k] (row stride `lda`) or, with `transposeA`, stored [k, m].
    /// C's rows (or, for few rows, B's 32-column panels) are split over threads when the product is large enough;
    /// each element is one chain over k, so the split changes no bit. The caller has checked `Precision.bf16` is supported
    /// (`Precision.unsupportedReason`); without AVX512_BF16 this stops the program.
    public static func gemm(transposeA: Bool = false, m: Int, _ a: UnsafePointer<Float>, lda: Int, _ b: PackedB,
                            _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false,
                            bias: UnsafePointer<Float>? = nil) {
        guard m > 0, b.n > 0 else { return }
        let (n, k) = (b.n, b.k)
        let panelValues = tg_bf16_padded_pairs(Int64(k)) * 64  // one 32-column panel of B
        // Few rows (a batch through a wide layer): split B's panels over threads, so each streams half of B and
        // uses each of its tiles for every row. Else whole row blocks of the kernel: 12 rows for VDPBF16PS, 16 (a
        // tile) for AMX.
        let large = m * n * k >= parallelGemmThreshold && Parallel.threads > 1
        let splitColumns = large && m <= 128 && n >= 128
        let block = kernel == .amx ? 16 : 12
        let rowsPerChunk = large && !splitColumns ? max(block, (m + 2 * block - 1) / (2 * block) * block) : m
        let panels = (n + 31) / 32, panelsPerChunk = splitColumns ? (panels + 1) / 2 : panels
        let chunks = splitColumns ? (panels + panelsPerChunk - 1) / panelsPerChunk : (m + rowsPerChunk - 1) / rowsPerChunk
        withExtendedLifetime(b.storage) {
            let bBase = UnsafePointer(b.storage.pointer)
            Parallel.forEachChunk(chunks) { range in
                for chunk in range {
                    let row = splitColumns ? 0 : chunk * rowsPerChunk, rows = splitColumns ? m : min(rowsPerChunk, m - row)
                    let column = splitColumns ? chunk * panelsPerChunk * 32 : 0
                    let columns = splitColumns ? min(panelsPerChunk * 32, n - column) : n
                    let done = tg_sgemm_bf16_ex(transposeA ? 1 : 0, Int64(rows), Int64(columns), Int64(k),
                                                transposeA ? a + row : a + row * lda, Int64(lda),
                                                bBase + Int(panelValues) * (column / 32), c + row * ldc + column,
                                                Int64(ldc), accumulate ? 1 : 0)
                    precondition(done != 0, Precision.bf16.unsupportedReason() ?? "bf16 product failed")
                    if let bias {
                        for i in row..<(row + rows) { Vector.axpy(1, bias + column, c + i * ldc + column, count: columns) }
                    }
                }
            }
        }
    }

    /// C [m, n] = A · B + `bias` on every row, A's row i being the k floats at rows[i] (overlapping windows, read
    /// where they lie). On one thread: callers split their own work.
    public static func gemm(rows: UnsafePointer<UnsafePointer<Float>?>, m: Int, _ b: PackedB,
                            _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>? = nil) {
        guard m > 0, b.n > 0 else { return }
        let done = withExtendedLifetime(b.storage) {
            tg_sgemm_bf16_rows(Int64(m), Int64(b.n), Int64(b.k), rows, b.storage.pointer, c, Int64(ldc))
        }
        precondition(done != 0, Precision.bf16.unsupportedReason() ?? "bf16 product failed")
        if let bias { for i in 0..<m { Vector.axpy(1, bias, c + i * ldc, count: b.n) } }
    }

    /// A [m, k] · B → [m, n], or nil without AVX512_BF16.
    public static func multiply(_ a: Tensor, _ b: PackedB) -> Tensor? {
        precondition(a.shape.count == 2 && a.shape[1] == b.k, "A is [m, \(b.k)]")
        guard isAvailable else { return nil }
        let m = a.shape[0]
        return Tensor(uninitializedShape: [m, b.n]) { c in
            a.withUnsafeBufferPointer { gemm(m: m, $0.baseAddress!, lda: b.k, b, c.baseAddress!, ldc: b.n) }
        }
    }

    /// The scalar twin (`tg_sgemm_bf16_reference_ex`) of op(A) · op(B), + `c`'s values when given (the chains go on
    /// from them): the same bits as the kernel on any CPU.
    public static func reference(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
                                 accumulatingOnto c0: Tensor? = nil) -> Tensor {
        let (ar, ac) = a.matrixShape, (br, bc) = b.matrixShape
        let (m, k) = transposeA ? (ac, ar) : (ar, ac)
        let n = transposeB ? br : bc
        precondition((transposeB ? bc : br) == k, "BF16Matmul.reference: \(a.shape) × \(b.shape)")
        var c = c0 ?? Tensor(zeros: [m, n])
        precondition(c.count == m * n, "BF16Matmul.reference: C \(c.shape) is not \(m)×\(n)")
        a.scalars.withUnsafeBufferPointer { ap in
            b.scalars.withUnsafeBufferPointer { bp in
                c.scalars.withUnsafeMutableBufferPointer {
                    tg_sgemm_bf16_reference_ex(transposeA ? 1 : 0, transposeB ? 1 : 0, Int64(m), Int64(n), Int64(k),
                                               ap.baseAddress, Int64(ac), bp.baseAddress, Int64(bc), $0.baseAddress,
                                               Int64(n), c0 == nil ? 0 : 1)
                }
            }
        }
        return c.reshaped([m, n])
    }
}
