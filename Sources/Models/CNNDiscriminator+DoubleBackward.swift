import Foundation
import Layers
import NumericCore

// WGAN-GP's gradient penalty for the CNN discriminator, and its gradient with respect to every parameter: a double
// backward pass, derived layer by layer below.
//
// The critic's score of sequence b is c_b = Σ_r s_{b,r}, its margin s = l_real − l_fake summed over its R views (RelGAN
// takes tf.gradients of its [B·R] logits, which sums them; with one view it is Gulrajani et al.'s critic). On rows
// x̂ [B·T, V] the penalty is
//     P = λ/B · Σ_b (‖u_b‖₂ − 1)²,   u = ∂(Σ_b c_b)/∂x̂  [B·T, V],
// u_b being sequence b's T rows (the norm over all T·V entries; c_b reads only its own rows). P depends on the
// parameters θ only through u, so with the direction v = ∂P/∂u (v_b = 2λ/B · (‖u_b‖ − 1)/‖u_b‖ · u_b, held fixed)
//     ∂P/∂θ = (∂u/∂θ)ᵀ v = ∂/∂θ ⟨u, v⟩ = ∂/∂θ ċ,   ċ = ⟨∂c/∂x̂, v⟩, c = Σ_b c_b:
// c's derivative along v, a forward-mode (tangent, dotted) pass from x̂ in the direction v, then reverse mode of the
// scalar ċ through the tangent and the primal values alike — a Hessian-vector product (Pearlmutter's R-operator).
// ReLU and max-over-time are piecewise linear: away from kinks and ties their second derivatives vanish, and the
// tangent pass reads the primal pass's active units and arg-max positions. (‖u_b‖ = 0 has no gradient: v_b = 0.)
//
// Shapes: N = B·T rows, V vocabulary, R views, E embedding per view, B' = B·R view sequences (view r of sequence b is
// b·R + r), C = ΣF features; M the dropout mask (all ones without dropout), p* the arg-max window of a feature.
//
//   forward    e = x̂·W_emb, split into views [B', T, E]; m = conv(e) at p*, z = relu(m) [B', C];
//              a = z·W_h + b_h, h = relu(a), g = z·W_t + b_t, t = σ(g), y = t⊙h + (1−t)⊙z; d = y⊙M; l = d·W_o + b_o
//   u          ω = W_o[:, 1] − W_o[:, 0] on every view row; δy = ω⊙M; γ_h = δy⊙t⊙[h>0]; γ_t = δy⊙(h−z)⊙t(1−t);
//              δz = δy⊙(1−t) + γ_h·W_hᵀ + γ_t·W_tᵀ; δm = δz⊙[z>0]; δe = δm·W_f at p*; u = join(δe)·W_embᵀ
//   tangent    ė = v·W_emb (views); ż = ⟨W_f, ė at p*⟩⊙[z>0]; ȧ = ż·W_h; ġ = ż·W_t; ḣ = ȧ⊙[h>0]; ṫ = t(1−t)⊙ġ;
//              ẏ = ṫ⊙(h−z) + t⊙ḣ + (1−t)⊙ż; ḋ = ẏ⊙M; ċ = Σ ḋ·ω (= ⟨u, v⟩)
//   reverse    the tangent values' adjoints are the first pass's: ẏ̄ = δy, ǡ = γ_h, ġ̄ = γ_t, ż̄ = δz, ṁ̄ = δm, ė̄ = δe.
//              output   ∂W_o[:, 1] += Σ_rows ḋ, ∂W_o[:, 0] −= Σ_rows ḋ (b_o and the primal d do not reach ċ)
//              highway  ā = δy⊙ṫ⊙[h>0]; t̄ = δy⊙(ḣ − ż) + δy⊙(h−z)⊙ġ⊙(1−2t); ḡ = t̄⊙t(1−t);
//                       ∂W_h += żᵀγ_h + zᵀā, ∂b_h += Σ ā; ∂W_t += żᵀγ_t + zᵀḡ, ∂b_t += Σ ḡ;
//                       z̄ = −δy⊙ṫ + ā·W_hᵀ + ḡ·W_tᵀ
//              conv     m̄ = z̄⊙[z>0]: ∂W_f += m̄·e window + δm·ė window at p*, ∂b_f += Σ m̄, ē = m̄·W_f at p*
//                       (the primal part is `TimeConvolution.backward` of z̄; the tangent part has no bias)
//              emb      ∂W_emb += x̂ᵀ·join(ē) + vᵀ·join(δe)
// Dropout is a fixed mask M, linear in both passes. The CNN's L2 term is not part of the penalty.

extension CNNDiscriminator {
    public func gradientPenalty(_ rows: Tensor, weight: Float, training: Bool, backward: Bool,
                                using rng: inout SeededGenerator) throws -> GradientPenalty {
        let (T, V) = (config.sequenceLength, config.vocabularySize)
        precondition(rows.rank == 2 && rows.shape[1] == V && rows.shape[0] % T == 0,
                     "CNNDiscriminator.gradientPenalty: rows \(rows.shape) are not [B·\(T), \(V)]")
        let B = rows.shape[0] / T
        let pass = forward(.rows(rows), training: training, using: &rng)
        let cache = pass.cache as! Cache
        let critic = criticGradient(cache)
        // Per sequence: ‖u_b‖ over its T·V entries, the penalty, and v = ∂P/∂u.
        var norms = [Float](repeating: 0, count: B), scales = [Float](repeating: 0, count: B)
        var total = 0.0
        critic.rows.withUnsafeBufferPointer { u in
            for b in 0..<B {
                var squares = 0.0
                for i in (b * T * V)..<((b + 1) * T * V) { squares += Double(u[i]) * Double(u[i]) }
                let norm = squares.squareRoot()
                norms[b] = Float(norm)
                total += (norm - 1) * (norm - 1)
                scales[b] = norm > 0 ? Float(2 * Double(weight) / Double(B) * (norm - 1) / norm) : 0
            }
        }
        let penalty = GradientPenalty(value: Float(Double(weight) * total / Double(max(B, 1))), norms: norms)
        guard backward else { return penalty }
        var direction = critic.rows
        direction.withUnsafeMutableBufferPointer { v in
            for b in 0..<B { for i in (b * T * V)..<((b + 1) * T * V) { v[i] *= scales[b] } }
        }
        penaltyBackward(rows: rows, direction: direction, cache: cache, critic: critic)
        return penalty
    }

    // MARK: - The critic's input gradient

    /// The first backward pass, d c/d(everything) down to the rows, accumulating no parameter gradient.
    struct CriticGradient {
        /// δy = ω⊙M: d c/dy at the highway's output [B', C].
        let highwayOutput: Tensor
        /// γ_h and γ_t: d c/da and d c/dg at the highway's transform and gate pre-activations [B', C].
        let transform: Tensor
        let gate: Tensor
        /// δm = δz⊙[z>0]: d c/dm at the pooled convolution outputs [B', C].
        let pooled: Tensor
        /// δe: d c/de at the embedded views [B', T, E].
        let embedded: Tensor
        /// u = d c/dx̂ [B·T, V].
        let rows: Tensor
    }

    func criticGradient(_ cache: Cache) -> CriticGradient {
        let R = config.representations
        let (z, h, t) = (cache.highway.x.scalars, cache.highway.h.scalars, cache.highway.t.scalars)
        let (views, C) = cache.highway.x.matrixShape
        let mask = cache.dropoutMask?.scalars
        let omega = marginWeights
        var dy = [Float](repeating: 0, count: views * C), gh = dy, gt = dy, carry = dy
        for i in 0..<(views * C) {
            let d = omega[i % C] * (mask?[i] ?? 1)
            dy[i] = d
            gh[i] = h[i] > 0 ? d * t[i] : 0
            gt[i] = d * (h[i] - z[i]) * t[i] * (1 - t[i])
            carry[i] = d * (1 - t[i])
        }
        let (transform, gate) = (Tensor(shape: [views, C], scalars: gh), Tensor(shape: [views, C], scalars: gt))
        var dz = Tensor(shape: [views, C], scalars: carry)
        matmul(transform, highway.transform.weight.value, into: &dz, transposeB: true, accumulate: true)
        matmul(gate, highway.gate.weight.value, into: &dz, transposeB: true, accumulate: true)
        let pooled = activeFeatures(dz, cache.convolution)
        let de = windowsBackward(pooled, cache: cache.convolution)
        let u = matmul(joinViews(de, batch: views / R), embedding.table.value, transposeB: true)
        return CriticGradient(highwayOutput: Tensor(shape: [views, C], scalars: dy), transform: transform, gate: gate,
                              pooled: pooled, embedded: de, rows: u)
    }

    /// ω = W_o[:, 1] − W_o[:, 0]: the margin's weights on the dropped highway output [C].
    var marginWeights: [Float] {
        let C = output.inputSize
        return (0..<C).map { output.weight.value[$0, 1] - output.weight.value[$0, 0] }
    }

    // MARK: - The double backward

    /// The tangent pass along `direction` (v) and the reverse of ċ, accumulating ∂P/∂θ into every parameter.
    func penaltyBackward(rows: Tensor, direction: Tensor, cache: Cache, critic: CriticGradient) {
        let (T, E, R) = (config.sequenceLength, config.embeddingSize, config.representations)
        let (views, C) = cache.highway.x.matrixShape

        // Tangent: ė = v·W_emb in views, ż through the arg-max windows and ReLU, then the highway's products.
        var de = embedding.forward(rows: direction)
        if R > 1 { de = Self.splitRepresentations(de, batch: views / R, length: T, size: E, count: R) }
        de = de.reshaped([views, T, E])
        let zDot = activeFeatures(windowsForward(de, cache: cache.convolution), cache.convolution)
        let aDot = matmul(zDot, highway.transform.weight.value), gDot = matmul(zDot, highway.gate.weight.value)

        // Element-wise: ḋ (for W_o), and the primal adjoints ā, ḡ and z̄'s direct part.
        let (z, h, t) = (cache.highway.x.scalars, cache.highway.h.scalars, cache.highway.t.scalars)
        let (dy, zd, ad, gd) = (critic.highwayOutput.scalars, zDot.scalars, aDot.scalars, gDot.scalars)
        let mask = cache.dropoutMask?.scalars
        var dDot = [Float](repeating: 0, count: views * C), aBar = dDot, gBar = dDot, zBar = dDot
        for i in 0..<(views * C) {
            let on = h[i] > 0
            let hDot: Float = on ? ad[i] : 0
            let slope = t[i] * (1 - t[i])
            let tDot = slope * gd[i]
            let yDot = tDot * (h[i] - z[i]) + t[i] * hDot + (1 - t[i]) * zd[i]
            dDot[i] = yDot * (mask?[i] ?? 1)
            aBar[i] = on ? dy[i] * tDot : 0
            let tBar = dy[i] * (hDot - zd[i]) + dy[i] * (h[i] - z[i]) * gd[i] * (1 - 2 * t[i])
            gBar[i] = tBar * slope
            zBar[i] = -dy[i] * tDot
        }

        // Output layer: ċ = Σ ḋ·ω.
        var columnSums = [Double](repeating: 0, count: C)
        for i in 0..<views { for c in 0..<C { columnSums[c] += Double(dDot[i * C + c]) } }
        output.weight.grad.withUnsafeMutableBufferPointer { g in
            for c in 0..<C {
                g[c * 2 + 1] += Float(columnSums[c])
                g[c * 2] -= Float(columnSums[c])
            }
        }

        // Highway: both products' weights see the tangent (ż, γ) and the primal (z, ā or ḡ) pairs.
        let (aBarT, gBarT) = (Tensor(shape: [views, C], scalars: aBar), Tensor(shape: [views, C], scalars: gBar))
        let both = stackRows(zDot, cache.highway.x)
        highway.transform.weight.accumulateGradient(transposing: both, times: stackRows(critic.transform, aBarT))
        highway.gate.weight.accumulateGradient(transposing: both, times: stackRows(critic.gate, gBarT))
        addColumnSums(of: aBarT, into: &highway.transform.bias!.grad)
        addColumnSums(of: gBarT, into: &highway.gate.bias!.grad)
        var dz = Tensor(shape: [views, C], scalars: zBar)
        matmul(aBarT, highway.transform.weight.value, into: &dz, transposeB: true, accumulate: true)
        matmul(gBarT, highway.gate.weight.value, into: &dz, transposeB: true, accumulate: true)

        // Convolutions: the primal part is the ordinary backward pass of z̄; the tangent part adds δm·ė windows.
        let dEmbedded = convolution.backward(dz, cache: cache.convolution)
        addWindowWeightGradient(critic.pooled, input: de, cache: cache.convolution)

        // Embedding: ∂W_emb += x̂ᵀ·join(ē) + vᵀ·join(δe).
        embedding.table.accumulateGradient(transposing: rows, times: joinViews(dEmbedded, batch: views / R))
        embedding.table.accumulateGradient(transposing: direction, times: joinViews(critic.embedded, batch: views / R))
    }

    // MARK: - Pieces

    /// Views [B', T, E] back to rows [B·T, R·E].
    private func joinViews(_ x: Tensor, batch B: Int) -> Tensor {
        let (T, E, R) = (config.sequenceLength, config.embeddingSize, config.representations)
        guard R > 1 else { return x.reshaped([B * T, E]) }
        return Self.splitRepresentations(x, batch: B, length: T, size: E, count: R, reverse: true)
    }

    /// x⊙[z>0] for x [B', C]: zero where the feature's ReLU is off.
    private func activeFeatures(_ x: Tensor, _ cache: TimeConvolutionCache) -> Tensor {
        let features = cache.features.scalars
        return Tensor(shape: x.shape, scalars: zip(x.scalars, features).map { $1 > 0 ? $0 : 0 })
    }

    /// Calls `body(k, f, w, column)` for every width k, its filter f, width w and feature column.
    private func forEachFilter(_ body: (_ k: Int, _ f: Int, _ w: Int, _ column: Int) -> Void) {
        var column = 0
        for (k, spec) in convolution.widths.enumerated() {
            for f in 0..<spec.filters { body(k, f, spec.width, column + f) }
            column += spec.filters
        }
    }

    /// dx [B', T, E] = Σ over active (view, feature) of coefficient · W_f, added onto the feature's arg-max window.
    private func windowsBackward(_ coefficients: Tensor, cache: TimeConvolutionCache) -> Tensor {
        let (views, T, E) = (cache.x.shape[0], cache.x.shape[1], cache.x.shape[2])
        let C = convolution.featureCount
        var dx = Tensor(zeros: [views, T, E])
        let d = coefficients.scalars
        dx.withUnsafeMutableBufferPointer { out in
            forEachFilter { k, f, w, column in
                convolution.filters[k].weight.value.withUnsafeBufferPointer { weights in
                    let filter = weights.baseAddress! + f * w * E
                    for b in 0..<views where d[b * C + column] != 0 {
                        let p = Int(cache.argmax[b * C + column])
                        Vector.axpy(d[b * C + column], filter, out.baseAddress! + (b * T + p) * E, count: w * E)
                    }
                }
            }
        }
        return dx
    }

    /// ⟨W_f, ẋ's arg-max window⟩ for every (view, feature) [B', C]: the convolution's tangent at its maxima (no bias).
    private func windowsForward(_ xDot: Tensor, cache: TimeConvolutionCache) -> Tensor {
        let (views, T, E) = (cache.x.shape[0], cache.x.shape[1], cache.x.shape[2])
        let C = convolution.featureCount
        var out = [Float](repeating: 0, count: views * C)
        xDot.withUnsafeBufferPointer { x in
            forEachFilter { k, f, w, column in
                convolution.filters[k].weight.value.withUnsafeBufferPointer { weights in
                    let filter = weights.baseAddress! + f * w * E
                    for b in 0..<views {
                        let window = x.baseAddress! + (b * T + Int(cache.argmax[b * C + column])) * E
                        var sum: Float = 0
                        for j in 0..<(w * E) { sum += filter[j] * window[j] }
                        out[b * C + column] = sum
                    }
                }
            }
        }
        return Tensor(shape: [views, C], scalars: out)
    }

    /// ∂W_f += Σ_b' coefficient · x's arg-max window (no bias term).
    private func addWindowWeightGradient(_ coefficients: Tensor, input x: Tensor, cache: TimeConvolutionCache) {
        let (views, T, E) = (cache.x.shape[0], cache.x.shape[1], cache.x.shape[2])
        let C = convolution.featureCount
        let d = coefficients.scalars
        x.withUnsafeBufferPointer { px in
            forEachFilter { k, f, w, column in
                convolution.filters[k].weight.grad.withUnsafeMutableBufferPointer { g in
                    for b in 0..<views where d[b * C + column] != 0 {
                        let p = Int(cache.argmax[b * C + column])
                        Vector.axpy(d[b * C + column], px.baseAddress! + (b * T + p) * E,
                                    g.baseAddress! + f * w * E, count: w * E)
                    }
                }
            }
        }
    }

    /// [a; b]: the rows of a, then those of b.
    private func stackRows(_ a: Tensor, _ b: Tensor) -> Tensor {
        Tensor(shape: [a.matrixShape.0 + b.matrixShape.0, a.matrixShape.1], scalars: a.scalars + b.scalars)
    }
}
