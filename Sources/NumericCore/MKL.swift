import CKernels
import Foundation

/// Intel MKL's sgemm, used when the user has MKL (PyPI's `mkl` wheel is enough): loaded at run time from
/// TEXTGAN_MKL (a directory holding libmkl_rt.so.3, or the library's path) or else from ~/venvs/mkl/lib, never
/// linked, so without it textgan behaves and computes exactly as it does without this file. TEXTGAN_GEMM=own (or
/// avx512) keeps MKL unloaded. MKL runs single-threaded with strict conditional numerical reproducibility
/// (`tg_mkl_load`); `gemm` hands it fixed blocks, so the thread count changes no bit with MKL either.
public enum MKL {
    /// The library paths tried, in order: TEXTGAN_MKL's (only those, when it is set), else ~/venvs/mkl/lib's.
    static func candidates(_ environment: [String: String]) -> [String] {
        func inDirectory(_ directory: String) -> [String] {
            ["libmkl_rt.so.3", "libmkl_rt.so", "libmkl_rt.so.2"].map { directory + "/" + $0 }
        }
        if let given = environment["TEXTGAN_MKL"] {
            var isDirectory: ObjCBool = false
            guard !given.isEmpty, FileManager.default.fileExists(atPath: given, isDirectory: &isDirectory) else { return [] }
            return isDirectory.boolValue ? inDirectory(given) : [given]
        }
        guard let home = environment["HOME"], !home.isEmpty else { return [] }
        return inDirectory(home + "/venvs/mkl/lib")
    }

    /// Whether MKL is loaded and set up. Loading happens on first use (`GEMMBackend.detected` asks).
    public static var isLoaded: Bool { loading.loaded }

    /// Why MKL is not in use, for benchmarks' and runs' headers (nil when it is loaded).
    public static var absence: String? {
        loading.loaded ? nil : loading.refusal ?? "no libmkl_rt.so.3 in TEXTGAN_MKL or ~/venvs/mkl/lib"
    }

    private static let loading: (loaded: Bool, refusal: String?) = {
        let environment = ProcessInfo.processInfo.environment
        var refusal: String?
        for path in candidates(environment) where FileManager.default.fileExists(atPath: path) {
            switch tg_mkl_load(path) {
            case 1: return (true, nil)
            case -1: refusal = String(cString: tg_mkl_refusal())
            default: break
            }
        }
        return (false, refusal)
    }()

    /// MKL's version and settings, or nil when it is not loaded.
    public static var version: String? { isLoaded ? String(cString: tg_mkl_description()) : nil }

    /// The routing rule: MKL computes C = op(A)·B when B is not transposed, the inner dimension is short (k ≤ 64) and
    /// C has at least 65,536 elements — the output layer's logits and its weight gradient, the LSTM's input gates for
    /// all steps, the Transformer's projections (the highway's weight gradients would qualify, but Adam computes them
    /// 16 rows at a time, below the size). Everything else (transposed B, long sums, small products) stays on
    /// textgan's kernel, which was as fast or faster there
    /// (scripts/gemm-vs-libs/run.sh; docs/performance.md, "MKL against the own kernel"). Without AVX-512, MKL takes
    /// every product. The rule depends on the product's shape alone, never on the thread count.
    public static func wins(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int) -> Bool {
        guard tg_sgemm_available() != 0 else { return true }
        return !transposeB && k <= 64 && m * n >= 1 << 16
    }

    /// Rows (or columns) per MKL call of a split product: at most 8 blocks, a multiple of 64, from the split
    /// dimension alone, so every call sees the same shapes whatever the thread count.
    static func blockSize(_ split: Int) -> Int { max(64, (split + 8 * 64 - 1) / (8 * 64) * 64) }
}
