import Foundation
import CKernels
import NumericCore

// Causal multi-head self-attention, for the Transformer generator.
//
//   x [B, T, C] → qkv = x·Wqkv + b [B, T, 3C], split into heads of size D = C / nh
//   for each (b, head):  S = Q·Kᵀ/√D [T, T], masked so step t sees steps ≤ t;  P = softmax(S);  Y = P·V [T, D]
//   heads concatenated into y [B, T, C];  out = y·Wproj + bproj
//
// Q, K and V of one head are strided views into qkv (row stride 3C), so every product is a GEMM on the buffers
// as they lie, with no reshuffling copies.

public struct CausalSelfAttention: ParameterContainer {
    public let qkv: Linear  // [C, 3C]
    public let projection: Linear  // [C, C]
    public let size: Int
    public let heads: Int

    public struct Cache {
        public let x: Tensor  // [B, T, C]
        public let qkv: Tensor  // [B, T, 3C]
        public let probabilities: Tensor  // P [B, nh, T, T]
        public let attended: Tensor  // y before the projection [B, T, C]
        /// Attention dropout's mask [B, nh, T, T] (0 or 1/keep), when it was on: y = (P ⊙ mask)·V.
        public let mask: Tensor?
    }

    public init(_ name: String, size: Int, heads: Int, weightInit: Initializer = .normal(std: 0.02),
                using rng: inout SeededGenerator) {
        precondition(heads > 0 && size % heads == 0, "CausalSelfAttention: \(size) is not divisible into \(heads) heads")
        self.size = size
        self.heads = heads
        qkv = Linear("\(name).qkv", inputSize: size, outputSize: 3 * size, weightInit: weightInit, using: &rng)
        projection = Linear("\(name).proj", inputSize: size, outputSize: size, weightInit: weightInit, using: &rng)
    }

    public var parameters: [Parameter] { qkv.parameters + projection.parameters }

    // MARK: - Forward

    public func forward(_ x: Tensor) -> (y: Tensor, cache: Cache) {
        var unused = SeededGenerator(seed: 0)
        return forward(x, dropout: Dropout(keepProbability: 1), training: false, using: &unused)
    }

    /// With dropout on the attention probabilities (GPT-2's attn_pdrop) when `training`: the mask is drawn from `rng`
    /// before the parallel part, in one order, so the thread count changes no bit.
    public func forward(_ x: Tensor, dropout: Dropout, training: Bool, using rng: inout SeededGenerator) -> (y: Tensor, cache: Cache) {
        precondition(x.rank == 3 && x.shape[2] == size, "CausalSelfAttention: input \(x.shape) is not [B, T, \(size)]")
        let (B, T, C) = (x.shape[0], x.shape[1], size)
        let D = C / heads
        let scale = 1 / Float(D).squareRoot()
        let q = qkv.forward(x)
        // Both written whole below: every head's scores and its columns of every row (products with beta 0).
        var probabilities = Tensor(uninitializedShape: [B, heads, T, T]) { _ in }
        let drops = training && dropout.keepProbability < 1
        let mask = drops ? dropout.forward(Tensor(repeating: 1, shape: [B, heads, T, T]), training: true, using: &rng).mask : nil
        var attended = Tensor(uninitializedShape: [B, T, C]) { _ in }
        withOptionalBuffer(mask) { pm in
        q.withUnsafeBufferPointer { pq in
            probabilities.withUnsafeMutableBufferPointer { pp in
                attended.withUnsafeMutableBufferPointer { py in
                    // Sequences are independent (each writes its own P and rows of y): split them over threads.
                    Parallel.forEachChunk(B, grain: max(1, 4096 / max(T * T, 1))) { range in
                    for b in range {
                        for h in 0..<heads {
                            let base = pq.baseAddress! + b * T * 3 * C + h * D
                            let (Q, K, V) = (base, base + C, base + 2 * C)
                            let P = pp.baseAddress! + (b * heads + h) * T * T
                            gemm(transposeB: true, m: T, n: T, k: D, alpha: scale, Q, lda: 3 * C, K, ldb: 3 * C, P, ldc: T)
                            for t in 0..<T { for j in (t + 1)..<max(T, t + 1) { P[t * T + j] = -.infinity } }
                            Softmax.forward(P, P, rows: T, columns: T)
                            let out = py.baseAddress! + b * T * C + h * D
                            if let pm {
                                withUnsafeTemporaryAllocation(of: Float.self, capacity: T * T) { dropped in
                                    let M = pm + (b * heads + h) * T * T
                                    for i in 0..<(T * T) { dropped[i] = P[i] * M[i] }
                                    gemm(m: T, n: D, k: T, dropped.baseAddress!, lda: T, V, ldb: 3 * C, out, ldc: C)
                                }
                            } else {
                                gemm(m: T, n: D, k: T, P, lda: T, V, ldb: 3 * C, out, ldc: C)
                            }
                        }
                    }
                    }
                }
            }
        }
        }
        let y = projection.forward(attended)
        return (y, Cache(x: x, qkv: q, probabilities: probabilities, attended: attended, mask: mask))
    }

    // MARK: - Backward

    public func backward(_ dy: Tensor, cache: Cache) -> Tensor {
        let (B, T, C) = (cache.x.shape[0], cache.x.shape[1], size)
        let D = C / heads
        let scale = 1 / Float(D).squareRoot()
        let dAttended = projection.backward(dy, input: cache.attended)
        var dqkv = Tensor(uninitializedShape: [B, T, 3 * C]) { _ in }  // dQ, dK and dV of every head written whole
        withOptionalBuffer(cache.mask) { pm in
        cache.qkv.withUnsafeBufferPointer { pq in
            cache.probabilities.withUnsafeBufferPointer { pp in
                dAttended.withUnsafeBufferPointer { pdy in
                    dqkv.withUnsafeMutableBufferPointer { pd in
                        // Each sequence writes only its own rows of dqkv; dS is scratch of the chunk's thread.
                        Parallel.forEachChunk(B, grain: max(1, 4096 / max(T * T, 1))) { range in
                        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(T * T, 1)) { pdP in
                            for b in range {
                                for h in 0..<heads {
                                    let offset = b * T * 3 * C + h * D
                                    let (Q, K, V) = (pq.baseAddress! + offset, pq.baseAddress! + offset + C, pq.baseAddress! + offset + 2 * C)
                                    let (dQ, dK, dV) = (pd.baseAddress! + offset, pd.baseAddress! + offset + C, pd.baseAddress! + offset + 2 * C)
                                    let P = pp.baseAddress! + (b * heads + h) * T * T
                                    let dY = pdy.baseAddress! + b * T * C + h * D
                                    let dS = pdP.baseAddress!
                                    // dP = dY·Vᵀ;  dV = Pᵀ·dY  (with dropout: P' = P ⊙ M in both, and dP = dP' ⊙ M)
                                    gemm(transposeB: true, m: T, n: T, k: D, dY, lda: C, V, ldb: 3 * C, dS, ldc: T)
                                    if let pm {
                                        let M = pm + (b * heads + h) * T * T
                                        withUnsafeTemporaryAllocation(of: Float.self, capacity: T * T) { dropped in
                                            for i in 0..<(T * T) { dropped[i] = P[i] * M[i] }
                                            gemm(transposeA: true, m: T, n: D, k: T, dropped.baseAddress!, lda: T, dY, ldb: C,
                                                 dV, ldc: 3 * C)
                                        }
                                        for i in 0..<(T * T) { dS[i] *= M[i] }
                                    } else {
                                        gemm(transposeA: true, m: T, n: D, k: T, P, lda: T, dY, ldb: C, dV, ldc: 3 * C)
                                    }
                                    // dS = softmax'(dP) · scale (masked entries have P = 0, so they get no gradient)
                                    Softmax.backward(P, dS, dS, rows: T, columns: T)
                                    // dQ = dS·K·scale;  dK = dSᵀ·Q·scale
                                    gemm(m: T, n: D, k: T, alpha: scale, dS, lda: T, K, ldb: 3 * C, dQ, ldc: 3 * C)
                                    gemm(transposeA: true, m: T, n: D, k: T, alpha: scale, dS, lda: T, Q, ldb: 3 * C, dK, ldc: 3 * C)
                                }
                            }
                        }
                        }
                    }
                }
            }
        }
        }
        return qkv.backward(dqkv, input: cache.x)
    }
}

/// `body` with a pointer to the tensor's values, or nil when there is no tensor.
func withOptionalBuffer<R>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let tensor else { return body(nil) }
    return tensor.withUnsafeBufferPointer { body($0.baseAddress!) }
}

extension CausalSelfAttention {
    /// One query row [width] attending, head by head, to `positions` cached key and value rows [positions, width]:
    /// out[head] = softmax(q·Kᵀ/√D)·V (`tg_attend_cached`), the step of decoding with a key/value cache.
    public static func attendCached(query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                    positions: Int, heads: Int, width: Int, into out: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(positions, 1)) { scores in
            tg_attend_cached(query, keys, values, Int64(positions), Int64(heads), Int64(width), scores.baseAddress!, out)
        }
    }
}
