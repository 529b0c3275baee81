import Foundation
import NumericCore

// The output layer and the softmax cross-entropy in one pass over blocks of rows: a language model's vocabulary
// projection and its loss, without ever holding the [N, V] logits.
//
//   x [N, I] → logits [N, V] = x·W + b → loss = Σ_r w_r·(logsumexp(logits_r) − logits_r[t_r]) / normalizer
//   backward: dLogits_r = w_r·(softmax(logits_r) − onehot(t_r)) / normalizer
//             dW += xᵀ·dLogits   db += Σ_r dLogits_r   dx = dLogits·Wᵀ
//
// The straightforward way (`forward`, `softmaxCrossEntropyGradientInPlace`, `backward`) writes the logits of a whole
// batch (1280 × 5000 floats at the SeqGAN sizes: 25.6 MB) to memory and reads them back three times. Here a block of
// `crossEntropyBlockRows` rows goes through all of it while its logits are in cache, and they become their own
// gradient. The bits differ from the straightforward way only in dW and db, whose sums over rows run block by block;
// `LinearCrossEntropyTests` compares the two.

extension Linear {
    /// Rows per block: a block's logits, turned into their gradient in place (64 · V floats, 1.3 MB for V = 5000),
    /// stay in L2. At the SeqGAN sizes 64 measured fastest (32 and 128 about 5 % slower, 16 about 20 %).
    public static let crossEntropyBlockRows = 64
    /// Blocks are grouped into at most this many runs, each summing its own partial dW and db; the partial sums are
    /// added in run order. The number depends on N only, so the thread count (≤ this many threads are used) changes no
    /// bit of the result.
    public static let crossEntropyGradientRuns = 4

    /// The weighted softmax cross-entropy of the logits x·W + b against `targets` (one per row of x), normalised
    /// by `normalizer` (default: Σ weights, or N without weights); rows of weight 0 contribute nothing. With
    /// `backward`, accumulates dW and db into the parameters' gradients and returns dx [N, I].
    ///
    /// With `precision` bf16 the three products take bf16 operands and fp32 sums (`BF16Matmul`): the logits from
    /// W's packing, dx from Wᵀ's, and dW = xᵀ·dLogits as one product over all N rows, each block's logit gradients
    /// packed to bf16 as they are made (so no [N, V] fp32 matrix is ever written). Loss, dx and dW are then the bits
    /// of the straightforward way in bf16 (`forward`, the gradient rows, `backward` with `precision` bf16); only db,
    /// summed block by block, differs in its last bits.
    public func softmaxCrossEntropy(
        _ x: Tensor, targets: [Int32], weights: [Float]? = nil, normalizer: Float? = nil, backward: Bool,
        precision: Precision = .fp32
    ) -> (loss: Float, dx: Tensor?) {
        let (N, I) = x.matrixShape
        let V = outputSize
        precondition(I == inputSize, "Linear(\(weight.name)): input has \(I) features, expected \(inputSize)")
        precondition(targets.count == N, "softmaxCrossEntropy: \(targets.count) targets for \(N) rows")
        precondition(weights == nil || weights!.count == N, "softmaxCrossEntropy: weights count")
        precondition(targets.allSatisfy { $0 >= 0 && Int($0) < V }, "softmaxCrossEntropy: a target is outside 0..<\(V)")
        let total = normalizer ?? (weights.map { $0.reduce(0, +) } ?? Float(N))
        let scale: Float = total > 0 ? 1 / total : 0
        guard N > 0 else { return (0, backward ? Tensor(zeros: x.shape) : nil) }

        let R = Self.crossEntropyBlockRows
        let blocks = (N + R - 1) / R
        let runs = min(blocks, Self.crossEntropyGradientRuns)
        let bf16 = precision == .bf16
        // bf16: W's two packings (cached by the parameter until W changes), and the logit gradients' packing.
        let packedW = bf16 ? weight.bf16Packed(transposed: false) : nil
        let packedWt = bf16 && backward ? weight.bf16Packed(transposed: true) : nil
        let packedGradient = bf16 && backward ? BF16Matmul.PackedB(rowsToCome: N, n: V) : nil
        // dx = dLogits·Wᵀ reads Wᵀ [V, I] untransposed: a product never packs the 5000 × 32 matrix per block.
        let wt = backward && !bf16 ? weight.value.transposedMatrix() : Tensor(zeros: [0])
        var rowLoss = [Double](repeating: 0, count: N)
        // Each run's first block overwrites its partial sums, and every row of dx is written by a product.
        let partialCount = backward && !bf16 ? runs * I * V : 0
        var partialW = [Float](unsafeUninitializedCapacity: partialCount) { $1 = partialCount }
        var partialB = [Float](unsafeUninitializedCapacity: backward ? runs * V : 0) { $1 = backward ? runs * V : 0 }
        var dx = Tensor(uninitializedShape: backward ? [N, I] : [0]) { _ in }
        x.withUnsafeBufferPointer { px in
            weight.value.withUnsafeBufferPointer { pw in
                wt.withUnsafeBufferPointer { pwt in
                    withBias { pb in
                        rowLoss.withUnsafeMutableBufferPointer { losses in
                            partialW.withUnsafeMutableBufferPointer { partialW in
                                partialB.withUnsafeMutableBufferPointer { partialB in
                                    dx.withUnsafeMutableBufferPointer { pdx in
                                        let (px, pw, losses) = (px.baseAddress!, pw.baseAddress!, losses.baseAddress!)
                                        Parallel.forEachChunk(runs) { runRange in
                                            // Every row a block uses is written by its product first.
                                            var logits = [Float](unsafeUninitializedCapacity: R * V) { $1 = R * V }
                                            logits.withUnsafeMutableBufferPointer { logits in
                                                for run in runRange {
                                                    for block in (run * blocks / runs)..<((run + 1) * blocks / runs) {
                                                        let r0 = block * R, rows = min(R, N - r0)
                                                        // logits = x·W + b for this block's rows
                                                        if let packedW {
                                                            BF16Matmul.gemm(m: rows, px + r0 * I, lda: I, packedW,
                                                                            logits.baseAddress!, ldc: V, bias: pb)
                                                        } else {
                                                            gemm(m: rows, n: V, k: I, px + r0 * I, lda: I, pw, ldb: V,
                                                                 beta: 0, logits.baseAddress!, ldc: V, bias: pb)
                                                        }
                                                        let first = block == run * blocks / runs
                                                        let db = partialB.baseAddress.map { $0 + run * V }
                                                        if backward && first { db!.update(repeating: 0, count: V) }
                                                        for r in 0..<rows {
                                                            let w = weights?[r0 + r] ?? 1
                                                            let row = logits.baseAddress! + r * V
                                                            let t = Int(targets[r0 + r])
                                                            guard w != 0 else {
                                                                row.update(repeating: 0, count: V)
                                                                if backward { Vector.axpy(1, row, db!, count: V) }
                                                                continue
                                                            }
                                                            // The row becomes its gradient in place.
                                                            let mx = Vector.maximum(row, count: V)
                                                            let targetLogit = row[t]
                                                            let s = Vector.expSum(row, row, count: V, shift: mx)
                                                            losses[r0 + r] = Double(w) * Double(mx + logf(s) - targetLogit)
                                                            // The gradient row, added to db_run as it is written.
                                                            if backward {
                                                                Vector.crossEntropyGradientRow(
                                                                    row, scale: w * scale / s, target: t, minus: w * scale,
                                                                    addingTo: db!, count: V)
                                                            }
                                                        }
                                                        guard backward else { continue }
                                                        let g = logits.baseAddress!
                                                        if let packedWt, let packedGradient {
                                                            // dx = dLogits·Wᵀ now; dW = xᵀ·dLogits once all are packed
                                                            BF16Matmul.gemm(m: rows, g, lda: V, packedWt,
                                                                            pdx.baseAddress! + r0 * I, ldc: I)
                                                            packedGradient.packRows(r0, count: rows, from: g, ld: V)
                                                            continue
                                                        }
                                                        // dx = dLogits·Wᵀ, dW_run (+)= xᵀ·dLogits
                                                        gemm(m: rows, n: I, k: V, g, lda: V, pwt.baseAddress!, ldb: I,
                                                             beta: 0, pdx.baseAddress! + r0 * I, ldc: I)
                                                        gemm(transposeA: true, m: I, n: V, k: rows, px + r0 * I, lda: I,
                                                             g, ldb: V, beta: first ? 0 : 1,
                                                             partialW.baseAddress! + run * I * V, ldc: V)
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let packedGradient {
            weight.withGradientStorage { g, isZero in
                x.withUnsafeBufferPointer {
                    BF16Matmul.gemm(transposeA: true, m: I, $0.baseAddress!, lda: I, packedGradient, g.baseAddress!,
                                    ldc: V, accumulate: !isZero)
                }
            }
        } else if backward {
            // The runs' partial sums, added in run order.
            weight.grad.withUnsafeMutableBufferPointer { g in
                partialW.withUnsafeBufferPointer { p in
                    for run in 0..<runs { Vector.axpy(1, p.baseAddress! + run * I * V, g.baseAddress!, count: I * V) }
                }
            }
        }
        if backward {
            if let bias {
                bias.grad.withUnsafeMutableBufferPointer { g in
                    partialB.withUnsafeBufferPointer { p in
                        for run in 0..<runs { Vector.axpy(1, p.baseAddress! + run * V, g.baseAddress!, count: V) }
                    }
                }
            }
        }
        let loss = Float(rowLoss.reduce(0, +) * Double(scale))
        return (loss, backward ? dx.reshaped(x.shape) : nil)
    }
}
