import CBLAS
import Foundation
import CKernels

// Matrix products. Every product goes through textgan's own AVX-512 sgemm (CKernels/gemm.c) when the CPU has
// AVX-512, else through OpenBLAS's sgemm; when MKL can be loaded (`MKL`), the shapes where MKL's sgemm is faster go
// to MKL instead (`GEMMBackend` chooses; TEXTGAN_GEMM=openblas forces OpenBLAS, TEXTGAN_GEMM=own the own kernel
// without MKL); `naiveGemm` is the straightforward triple loop kept beside it as the reference the tests compare
// against.
//
// Conventions: row-major storage, C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C, where op(X) is X or Xᵀ.
// Leading dimensions (`lda`, `ldb`, `ldc`) are the row strides of the matrices as stored, so a matrix can be a
// view into a larger buffer (a head of an attention tensor, a window of a sequence).

/// C [m, n] = A·op(B) (+ bias on every row) where A's row i is the k floats at rows[i]: rows anywhere, even
/// overlapping, like a convolution's windows in its input, which the AVX-512 kernel reads where they lie. On one thread
/// (callers split their own work); elsewhere the rows are copied into a matrix for `gemm`. The same bits either way.
public func gemm(
    rows: UnsafePointer<UnsafePointer<Float>?>, m: Int, n: Int, k: Int, transposeB: Bool = false,
    _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>? = nil
) {
    guard m > 0, n > 0 else { return }
    if k > 0, GEMMBackend.current != .openblas,
       tg_sgemm_rows(transposeB ? 1 : 0, Int64(m), Int64(n), Int64(k), rows, b, Int64(ldb), c, Int64(ldc), bias) != 0 {
        return
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: max(m * k, 1)) { a in
        for i in 0..<m { (a.baseAddress! + i * k).update(from: rows[i]!, count: k) }
        gemm(transposeB: transposeB, m: m, n: n, k: k, a.baseAddress!, lda: k, b, ldb: ldb, c, ldc: ldc, bias: bias)
    }
}

/// C = alpha · op(A) · op(B) + beta · C (+ `bias` added to every row, when given: n entries).
///
/// The kernel runs single-threaded (see `BLAS.setThreads`); a product big enough to be worth it is split into
/// `Parallel.threads` blocks of rows of C (or of columns, when C has few rows), one sgemm call per block. A fixed
/// thread count gives the same bits run after run. With the AVX-512 kernel another thread count gives the same bits
/// too (each element's sum runs in one order whatever the blocks). So it does with MKL, which gets the products
/// `MKL.wins` picks in blocks of a fixed size (`MKL.blockSize`), split even on one thread. OpenBLAS can change
/// the last bits (it picks other kernel paths for other block shapes), which the tests bound.
public func gemm(
    transposeA: Bool = false, transposeB: Bool = false,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    _ a: UnsafePointer<Float>, lda: Int,
    _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0,
    _ c: UnsafeMutablePointer<Float>, ldc: Int,
    bias: UnsafePointer<Float>? = nil
) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        // BLAS would also only scale C here; keep the k == 0 case explicit and defined.
        for i in 0..<m {
            for j in 0..<n { c[i * ldc + j] = (beta == 0 ? 0 : beta * c[i * ldc + j]) + (bias?[j] ?? 0) }
        }
        return
    }
    let backend = GEMMBackend.current
    let viaMKL = backend == .mkl && MKL.wins(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k)
    func call(_ m: Int, _ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
              _ bias: UnsafePointer<Float>?) {
        if !viaMKL, backend != .openblas,
           tg_sgemm_bias(transposeA ? 1 : 0, transposeB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda),
                         b, Int64(ldb), beta, c, Int64(ldc), bias) != 0 {
            return
        }
        if !viaMKL || tg_mkl_sgemm(transposeA ? 1 : 0, transposeB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a,
                                   Int64(lda), b, Int64(ldb), beta, c, Int64(ldc)) == 0 {
            cblas_sgemm(
                CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
        if let bias {
            for i in 0..<m { Vector.axpy(1, bias, c + i * ldc, count: n) }
        }
    }
    let work = m * n * k
    let split = m >= n ? m : n
    let bounds: [Int]
    if viaMKL {
        // MKL's bits depend on the shapes it is given: blocks of a size fixed by the product, whatever the threads.
        guard work >= parallelGemmThreshold else { return call(m, n, a, b, c, bias) }
        bounds = Array(stride(from: 0, to: split, by: MKL.blockSize(split))) + [split]
    } else {
        guard Parallel.threads > 1, work >= parallelGemmThreshold else { return call(m, n, a, b, c, bias) }
        // Block boundaries fall on multiples of 64 for OpenBLAS, where its kernels tile anyway; the AVX-512 kernel's
        // results do not depend on the split, so its blocks are as even as its row panels (8) or column vectors (16)
        // allow.
        let blocks = Parallel.threads
        let granule = backend == .avx512 ? (m >= n ? 8 : 16) : 64
        bounds = (0...blocks).map { min(split, ($0 * split / blocks + granule - 1) / granule * granule) }
    }
    Parallel.forEachChunk(bounds.count - 1) { chunk in
        for block in chunk {
            let (lo, hi) = (bounds[block], bounds[block + 1])
            guard hi > lo else { continue }
            if m >= n {
                // Rows of op(A) and of C.
                call(hi - lo, n, transposeA ? a + lo : a + lo * lda, b, c + lo * ldc, bias)
            } else {
                // Columns of op(B) and of C.
                call(m, hi - lo, a, transposeB ? b + lo * ldb : b + lo, c + lo, bias.map { $0 + lo })
            }
        }
    }
}

/// Which sgemm `gemm` calls.
public enum GEMMBackend: String, Sendable {
    /// textgan's AVX-512 kernel (CKernels/gemm.c), not affected by OPENBLAS_CORETYPE.
    case avx512
    /// OpenBLAS's cblas_sgemm, with the kernel OpenBLAS chose for this CPU (or OPENBLAS_CORETYPE).
    case openblas
    /// MKL's cblas_sgemm (loaded at run time, see `MKL`) for the products `MKL.wins` picks, the AVX-512 kernel for
    /// the others.
    case mkl

    /// The default: mkl when MKL loads, else avx512 where the CPU has it, else openblas. The environment may set
    /// TEXTGAN_GEMM=own (or avx512: the own kernel, MKL not even loaded), openblas, or mkl (the default's choice).
    public static let detected: GEMMBackend = {
        switch ProcessInfo.processInfo.environment["TEXTGAN_GEMM"].flatMap({ GEMMBackend(rawValue: $0 == "own" ? "avx512" : $0) }) {
        case .avx512?: return own
        case .openblas?: return .openblas
        case .mkl?, nil: return MKL.isLoaded ? .mkl : own
        }
    }()

    /// Without MKL: avx512 where the CPU has it, else openblas.
    public static let own: GEMMBackend = tg_sgemm_available() != 0 ? .avx512 : .openblas

    /// How the products are routed, for benchmarks' headers.
    public var summary: String {
        self == .mkl && Self.own == .avx512
            ? "mkl where it wins (op(B) not transposed, k ≤ 64, m·n ≥ 65536), avx512 elsewhere" : rawValue
    }

    /// The backend in use; tests and benchmarks may switch it.
    nonisolated(unsafe) public static var current: GEMMBackend = detected
}

/// Products with fewer multiply-adds than this run on one thread: below it, handing work to another thread costs
/// more than it saves (an LSTM step's 64×128×32 stays on one; the output layer's 1280×5000×32 is split).
public let parallelGemmThreshold = 1 << 20

/// The reference product: same contract as `gemm`, accumulated in Double, no BLAS.
public func naiveGemm(
    transposeA: Bool = false, transposeB: Bool = false,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    _ a: UnsafePointer<Float>, lda: Int,
    _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0,
    _ c: UnsafeMutablePointer<Float>, ldc: Int,
    bias: UnsafePointer<Float>? = nil
) {
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transposeA ? a[p * lda + i] : a[i * lda + p]
                let bv = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
            c[i * ldc + j] = Float(Double(alpha) * s + old + Double(bias?[j] ?? 0))
        }
    }
}

// MARK: - Tensor-level products

/// op(A) · op(B) for matrices (rank-2, or higher rank with the leading dimensions folded into rows).
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    let (ar, ac) = a.matrixShape
    let (br, bc) = b.matrixShape
    let (m, k) = transposeA ? (ac, ar) : (ar, ac)
    let (k2, n) = transposeB ? (bc, br) : (br, bc)
    precondition(k == k2, "matmul: inner dimensions differ (\(a.shape) × \(b.shape))")
    guard m > 0, n > 0, k > 0 else { return Tensor(zeros: [m, n]) }
    // Every element is written by the product (beta = 0), so the buffer starts uninitialised.
    return Tensor(uninitializedShape: [m, n]) { pc in
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                     pa.baseAddress!, lda: ac, pb.baseAddress!, ldb: bc, beta: 0, pc.baseAddress!, ldc: n)
            }
        }
    }
}

/// C = op(A) · op(B), or C += op(A) · op(B) when `accumulate` (the shape of gradient accumulation).
public func matmul(
    _ a: Tensor, _ b: Tensor, into c: inout Tensor,
    transposeA: Bool = false, transposeB: Bool = false, accumulate: Bool = false
) {
    let (ar, ac) = a.matrixShape
    let (br, bc) = b.matrixShape
    let (m, k) = transposeA ? (ac, ar) : (ar, ac)
    let n = transposeB ? br : bc
    precondition((transposeB ? bc : br) == k, "matmul: inner dimensions differ (\(a.shape) × \(b.shape))")
    precondition(c.count == m * n, "matmul: output \(c.shape) is not \(m)×\(n)")
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
        if !accumulate { c.fill(0) }
        return
    }
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                gemm(
                    transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                    pa.baseAddress!, lda: ac, pb.baseAddress!, ldb: bc,
                    beta: accumulate ? 1 : 0, pc.baseAddress!, ldc: n)
            }
        }
    }
}

// MARK: - OpenBLAS settings

public enum BLAS {
    /// Sets the threads for products: OpenBLAS itself stays on one thread (its idle workers spin and steal the
    /// other core from textgan's own loops), and `gemm` splits large products over `n` threads itself.
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(1)
        Parallel.threads = max(1, n)
    }

    /// OpenBLAS's build configuration and the kernel it selected (e.g. "Haswell" or "SkylakeX").
    public static var configuration: String {
        let config = openblas_get_config().map { String(cString: $0) } ?? "?"
        let core = openblas_get_corename().map { String(cString: $0) } ?? "?"
        return "\(config.trimmingCharacters()) core=\(core)"
    }
}

extension String {
    fileprivate func trimmingCharacters() -> String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
