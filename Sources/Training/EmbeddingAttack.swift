import Models
import NumericCore

// Adversarial examples against a discriminator, in the space of its input embeddings (tokens are discrete, so the
// continuous attacks of Goodfellow et al. 2015 and Madry et al. 2018 perturb their embeddings instead), and their
// projection back to tokens, so that an attack also produces real text.
//
//   x = the embedding rows of a batch's tokens [B·T, W] (W: the discriminator's input width, `inputEmbedding`)
//   L(x) = D's loss with the true labels (the 2-class cross-entropy of every view, as D is trained)
//   FGSM (steps = 1):  x' = x + ε·sign(∇ₓL)                     (L∞)   x' = x + ε·∇ₓL / ‖∇ₓL‖₂    (L2)
//   PGD  (steps = k):  x ← Π_ball(x + α·sign(∇ₓL)) k times     (L∞)   x ← Π_ball(x + α·∇ₓL/‖∇ₓL‖₂) (L2)
// Each sequence has its own ball of radius ε around its clean rows (the L2 norm is over all its perturbed rows),
// PGD starts at the clean point (no random start), and its step α defaults to 2.5·ε/k (Madry et al.). Only rows
// of tokens in the attack's vocabulary are perturbed: special tokens (the end token, padding) stay as they are.
// The nearest-token projection maps each perturbed row to the allowed token whose embedding is nearest in L2.

/// The norm of the ball the perturbation stays in.
public enum AttackNorm: String, Codable, Sendable, CaseIterable {
    case linf, l2
}

public struct EmbeddingAttack: Codable, Sendable, Equatable {
    public var norm: AttackNorm
    /// The ball's radius, in embedding units.
    public var epsilon: Float
    /// 1: FGSM, one step of size ε; k > 1: PGD, k steps of `stepSize` projected onto the ball.
    public var steps: Int
    /// PGD's step (nil: 2.5·ε/steps).
    public var stepSize: Float?

    public init(norm: AttackNorm = .linf, epsilon: Float, steps: Int = 1, stepSize: Float? = nil) {
        precondition(steps >= 1 && epsilon >= 0, "EmbeddingAttack: steps ≥ 1 and ε ≥ 0")
        self.norm = norm
        self.epsilon = epsilon
        self.steps = steps
        self.stepSize = stepSize
    }

    public var name: String { steps == 1 ? "fgsm" : "pgd\(steps)" }
    var step: Float { steps == 1 ? epsilon : (stepSize ?? 2.5 * epsilon / Float(steps)) }
}

/// A batch ready to attack: its tokens packed to D's length, their embedding rows, and which rows may move.
public struct EmbeddedBatch {
    public let ids: [Int32]
    /// [B·T, W]
    public let embedded: Tensor
    /// Per row of `embedded`: whether it holds a token of the attack's vocabulary (the rest stay fixed).
    public let mask: [Bool]
    public let batchSize: Int
    public var length: Int { ids.count / max(batchSize, 1) }

    public init(ids: [Int32], embedded: Tensor, mask: [Bool], batchSize: Int) {
        precondition(ids.count == mask.count && embedded.matrixShape.0 == ids.count, "EmbeddedBatch: sizes disagree")
        (self.ids, self.embedded, self.mask, self.batchSize) = (ids, embedded, mask, batchSize)
    }

    /// `sequences` as `discriminator` reads them; rows of tokens in `allowed` may be perturbed.
    public init(_ sequences: [[Int32]], discriminator: any SequenceDiscriminator, allowed: Set<Int32>) throws {
        guard let table = discriminator.inputEmbedding else {
            throw ModelError.unsupported(model: discriminator.kind, capability: "attacks on its input embeddings")
        }
        let ids = discriminator.pack(sequences)
        (self.ids, batchSize) = (ids, sequences.count)
        mask = ids.map { allowed.contains($0) }
        let W = table.matrixShape.1
        embedded = Tensor(uninitializedShape: [ids.count, W]) { out in
            table.withUnsafeBufferPointer { t in
                for (n, id) in ids.enumerated() {
                    (out.baseAddress! + n * W).update(from: t.baseAddress! + Int(id) * W, count: W)
                }
            }
        }
    }
}

public enum EmbeddingAttacks {
    /// D's loss (the mean cross-entropy of every view's logits against `labels`, 1 real, 0 generated) at embedded
    /// rows `x`, and its gradient with respect to them. D's parameter gradients are left zero.
    public static func lossAndGradient(_ discriminator: any SequenceDiscriminator, embedded x: Tensor,
                                       labels: [Int32]) -> (loss: Float, gradient: Tensor) {
        lossAndGradient(discriminator, input: .embedded(x), labels: labels)
    }

    /// D's loss at `input` (`.embedded` or `.perturbed`), and its gradient with respect to the rows or to δ.
    static func lossAndGradient(_ discriminator: any SequenceDiscriminator, input: DiscriminatorInput,
                                labels: [Int32]) -> (loss: Float, gradient: Tensor) {
        var unused = SeededGenerator(seed: 0)  // no dropout: the attack targets D as it scores
        let pass = discriminator.forward(input, training: false, using: &unused)
        let (loss, dLogits) = CrossEntropyGANLoss().discriminatorLoss(logits: pass.viewLogits,
                                                                      labels: pass.viewLabels(labels))
        discriminator.zeroGrad()
        let gradient = discriminator.backward(pass, logitGradient: dLogits, featureGradient: nil)!
        discriminator.zeroGrad()
        return (loss, gradient)
    }

    /// The adversarial rows of `batch` under `attack` (FGSM or PGD, see the top of the file).
    public static func perturb(_ discriminator: any SequenceDiscriminator, _ batch: EmbeddedBatch, labels: [Int32],
                               attack: EmbeddingAttack) -> Tensor {
        var x = batch.embedded
        x.add(perturbation(discriminator, of: .tokens(batch.ids), mask: batch.mask, batchSize: batch.batchSize,
                           labels: labels, attack: attack))
        return x
    }

    /// The adversarial δ [B·T, W] that `attack` adds to `input`'s embedding rows (tokens or rows over the vocabulary),
    /// moving only the rows whose `mask` is set: FGSM or PGD (see the top of the file), taken in δ, from δ = 0.
    public static func perturbation(_ discriminator: any SequenceDiscriminator, of input: DiscriminatorInput,
                                    mask: [Bool], batchSize: Int, labels: [Int32], attack: EmbeddingAttack) -> Tensor {
        guard let table = discriminator.inputEmbedding else {
            preconditionFailure("EmbeddingAttacks: the \(discriminator.kind) discriminator has no input embedding")
        }
        var delta = Tensor(zeros: [mask.count, table.matrixShape.1])
        for _ in 0..<attack.steps {
            let (_, g) = lossAndGradient(discriminator, input: .perturbed(input, delta: delta), labels: labels)
            delta = ascend(delta, gradient: g, mask: mask, batchSize: batchSize, norm: attack.norm, step: attack.step)
            delta = clip(delta, mask: mask, batchSize: batchSize, norm: attack.norm, radius: attack.epsilon)
        }
        return delta
    }

    /// x + step·sign(g) (L∞) or x + step·g/‖g‖₂ per sequence (L2), on the rows the mask lets move.
    static func ascend(_ x: Tensor, gradient g: Tensor, mask: [Bool], batchSize: Int, norm: AttackNorm,
                       step: Float) -> Tensor {
        var out = x
        let W = x.matrixShape.1, T = mask.count / max(batchSize, 1)
        for b in 0..<batchSize {
            let rows = (b * T)..<((b + 1) * T)
            var scale = step
            if norm == .l2 {
                var squared: Float = 0
                for r in rows where mask[r] { for j in 0..<W { squared += g.scalars[r * W + j] * g.scalars[r * W + j] } }
                guard squared > 0 else { continue }
                scale = step / squared.squareRoot()
            }
            for r in rows where mask[r] {
                for j in 0..<W {
                    let gj = g.scalars[r * W + j]
                    out.scalars[r * W + j] += norm == .linf ? (gj > 0 ? step : (gj < 0 ? -step : 0)) : scale * gj
                }
            }
        }
        return out
    }

    /// The point of each sequence's ball around `center` nearest to `x`: δ clipped to [−ε, ε] (L∞), or scaled to
    /// ‖δ‖₂ ≤ ε (L2).
    public static func projectOntoBall(_ x: Tensor, center: Tensor, batch: EmbeddedBatch, norm: AttackNorm,
                                       radius: Float) -> Tensor {
        var delta = x
        delta.add(center, scaledBy: -1)
        var out = center
        out.add(clip(delta, mask: batch.mask, batchSize: batch.batchSize, norm: norm, radius: radius))
        return out
    }

    /// δ [B·T, W] clipped to [−ε, ε] per entry (L∞), or scaled down to ‖δ_b‖₂ ≤ ε per sequence b (L2).
    static func clip(_ delta: Tensor, mask: [Bool], batchSize: Int, norm: AttackNorm, radius: Float) -> Tensor {
        var out = delta
        let W = delta.matrixShape.1, T = mask.count / max(batchSize, 1)
        switch norm {
        case .linf:
            out.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = min(max(p[i], -radius), radius) } }
        case .l2:
            for b in 0..<batchSize {
                let entries = (b * T * W)..<((b + 1) * T * W)
                let length = entries.reduce(Float(0)) { $0 + delta.scalars[$1] * delta.scalars[$1] }.squareRoot()
                guard length > radius else { continue }
                for i in entries { out.scalars[i] = delta.scalars[i] * (radius / length) }
            }
        }
        return out
    }

    /// Each row of `rows` [N, W] whose mask is set, as the token of `allowed` whose row of `table` [V, W] is
    /// nearest in L2 (the smaller id on a tie); the other rows keep `ids`.
    public static func nearestTokens(_ rows: Tensor, table: Tensor, allowed: [Int32], mask: [Bool],
                                     ids: [Int32]) -> [Int32] {
        precondition(!allowed.isEmpty, "nearestTokens: no token to project onto")
        let W = table.matrixShape.1
        let candidates = Tensor(uninitializedShape: [allowed.count, W]) { out in
            for (k, id) in allowed.enumerated() {
                for j in 0..<W { out[k * W + j] = table.scalars[Int(id) * W + j] }
            }
        }
        // ‖x − e‖² = ‖x‖² − 2x·e + ‖e‖²: the argmin over e of ‖e‖² − 2x·e.
        let norms = (0..<allowed.count).map { k in (0..<W).reduce(Float(0)) { $0 + candidates[k, $1] * candidates[k, $1] } }
        let products = matmul(rows, candidates, transposeB: true)  // [N, |allowed|]
        var out = ids
        let order = allowed.indices.sorted { allowed[$0] < allowed[$1] }
        for n in 0..<rows.matrixShape.0 where mask[n] {
            var best = order[0], bestDistance = Float.infinity
            for k in order {
                let distance = norms[k] - 2 * products[n, k]
                if distance < bestDistance { (best, bestDistance) = (k, distance) }
            }
            out[n] = allowed[best]
        }
        return out
    }
}

// MARK: - Accuracy under attack

/// How a discriminator holds up against an attack on labelled sequences.
public struct AttackReport: Sendable {
    public let attack: EmbeddingAttack
    public let count: Int
    /// Accuracy on the clean sequences, on the perturbed embeddings, and on the perturbed embeddings' nearest tokens.
    public let cleanAccuracy: Double
    public let robustAccuracy: Double
    public let projectedAccuracy: Double
    /// The share of perturbable tokens that the projection changed.
    public let changedTokenRate: Double
    /// Sequences D judged right when clean and wrong after projection: (label, clean, adversarial tokens).
    public let flipped: [(label: Int32, clean: [Int32], adversarial: [Int32])]
}

extension EmbeddingAttacks {
    /// Attacks `sequences` (labels 1 real, 0 generated) `batchSize` at a time; rows of tokens in `allowed` move and
    /// project onto `allowed`. Keeps up to `keepFlipped` flipped examples.
    public static func evaluate(_ discriminator: any SequenceDiscriminator, sequences: [[Int32]], labels: [Int32],
                                attack: EmbeddingAttack, allowed: [Int32], batchSize: Int = 64,
                                keepFlipped: Int = 5) throws -> AttackReport {
        precondition(sequences.count == labels.count, "EmbeddingAttacks.evaluate: one label per sequence")
        let allowedSet = Set(allowed)
        var correct = [0, 0, 0], changed = 0, movable = 0
        var flipped: [(label: Int32, clean: [Int32], adversarial: [Int32])] = []
        var unused = SeededGenerator(seed: 0)
        func predictions(_ input: DiscriminatorInput) -> [Int32] {
            let logits = discriminator.forward(input, training: false, using: &unused).logits
            return (0..<logits.matrixShape.0).map { logits[$0, 1] > logits[$0, 0] ? 1 : 0 }
        }
        for start in stride(from: 0, to: sequences.count, by: batchSize) {
            let range = start..<min(start + batchSize, sequences.count)
            let chunk = Array(sequences[range]), chunkLabels = Array(labels[range])
            let batch = try EmbeddedBatch(chunk, discriminator: discriminator, allowed: allowedSet)
            let adversarial = perturb(discriminator, batch, labels: chunkLabels, attack: attack)
            let projected = nearestTokens(adversarial, table: discriminator.inputEmbedding!, allowed: allowed,
                                          mask: batch.mask, ids: batch.ids)
            let clean = predictions(.tokens(batch.ids)), robust = predictions(.embedded(adversarial))
            let onTokens = predictions(.tokens(projected))
            let T = batch.length
            for b in 0..<chunk.count {
                let label = chunkLabels[b]
                if clean[b] == label { correct[0] += 1 }
                if robust[b] == label { correct[1] += 1 }
                if onTokens[b] == label { correct[2] += 1 }
                let tokens = Array(projected[(b * T)..<((b + 1) * T)])
                for t in 0..<T where batch.mask[b * T + t] {
                    movable += 1
                    if tokens[t] != batch.ids[b * T + t] { changed += 1 }
                }
                if clean[b] == label, onTokens[b] != label, flipped.count < keepFlipped {
                    flipped.append((label, Array(batch.ids[(b * T)..<((b + 1) * T)]), tokens))
                }
            }
        }
        let n = Double(max(sequences.count, 1))
        return AttackReport(attack: attack, count: sequences.count, cleanAccuracy: Double(correct[0]) / n,
                            robustAccuracy: Double(correct[1]) / n, projectedAccuracy: Double(correct[2]) / n,
                            changedTokenRate: Double(changed) / Double(max(movable, 1)), flipped: flipped)
    }
}
