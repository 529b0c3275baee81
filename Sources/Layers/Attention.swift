import Foundation
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
        precondition(x.rank == 3 && x.shape[2] == size, "CausalSelfAttention: input \(x.shape) is not [B, T, \(size)]")
        let (B, T, C) = (x.shape[0], x.shape[1], size)
        let D = C / heads
        let scale = 1 / Float(D).squareRoot()
        let q = qkv.forward(x)
        var probabilities = Tensor(zeros: [B, heads, T, T])
        var attended = Tensor(zeros: [B, T, C])
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
                            gemm(m: T, n: D, k: T, P, lda: T, V, ldb: 3 * C, py.baseAddress! + b * T * C + h * D, ldc: C)
                        }
                    }
                    }
                }
            }
        }
        let y = projection.forward(attended)
        return (y, Cache(x: x, qkv: q, probabilities: probabilities, attended: attended))
    }

    // MARK: - Backward

    public func backward(_ dy: Tensor, cache: Cache) -> Tensor {
        let (B, T, C) = (cache.x.shape[0], cache.x.shape[1], size)
        let D = C / heads
        let scale = 1 / Float(D).squareRoot()
        let dAttended = projection.backward(dy, input: cache.attended)
        var dqkv = Tensor(zeros: [B, T, 3 * C])
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
                                    // dP = dY·Vᵀ;  dV = Pᵀ·dY
                                    gemm(transposeB: true, m: T, n: T, k: D, dY, lda: C, V, ldb: 3 * C, dS, ldc: T)
                                    gemm(transposeA: true, m: T, n: D, k: T, P, lda: T, dY, ldb: C, dV, ldc: 3 * C)
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
        return qkv.backward(dqkv, input: cache.x)
    }
}
