import Models
import NumericCore

// Greedy gradient-guided token swaps (HotFlip, Ebrahimi et al. 2018, as a word-level attack on D): a discrete attack
// whose output is real text. For a sentence with tokens x and embedding rows e(x_t), a swap of position t to token v
// changes D's loss L by, to first order,
//
//   gain(t, v) = ∇_{e_t}L · (e(v) − e(x_t))
//
// Each round takes, for every sentence still judged right, the swap of largest gain over its movable positions
// (word tokens not swapped before) and the attack's vocabulary (v ≠ x_t; ties: the earlier position, then the smaller
// id), applies it, and recomputes the gradient at the new tokens. A sentence stops after `swaps` swaps, once D
// misjudges it (the attack succeeded), or when no swap has a positive gain. D is scored as it scores (no dropout).

/// A swap: position `position` of a sentence (D's packed row) becomes `token`, with its first-order gain.
public struct TokenSwap: Sendable, Equatable {
    public let position: Int
    public let token: Int32
    public let gain: Float
}

public enum TokenSwapAttack {
    /// The best swap of each of `batchSize` sequences (nil: none with a positive gain, or the sequence is not
    /// `active`), from the gradient g [B·T, W] of D's loss at the embedding rows of `ids` [B·T]: over the positions
    /// whose `movable` is set and the tokens of `allowed`, the arg-max of g_t · (e(v) − e(x_t)).
    public static func bestSwaps(gradient g: Tensor, ids: [Int32], movable: [Bool], active: [Bool], table: Tensor,
                                 allowed: [Int32]) -> [TokenSwap?] {
        let W = table.matrixShape.1, B = active.count, T = ids.count / max(B, 1)
        let candidates = Tensor(uninitializedShape: [allowed.count, W]) { out in
            for (k, id) in allowed.enumerated() {
                for j in 0..<W { out[k * W + j] = table.scalars[Int(id) * W + j] }
            }
        }
        let products = matmul(g, candidates, transposeB: true)  // [B·T, |allowed|]: g_t · e(v)
        let order = allowed.indices.sorted { allowed[$0] < allowed[$1] }
        return (0..<B).map { b in
            guard active[b] else { return nil }
            var best: TokenSwap?
            for t in 0..<T where movable[b * T + t] {
                let n = b * T + t, current = Int(ids[n])
                var own: Float = 0
                for j in 0..<W { own += g.scalars[n * W + j] * table.scalars[current * W + j] }
                for k in order where allowed[k] != ids[n] {
                    let gain = products[n, k] - own
                    if gain > (best?.gain ?? 0) { best = TokenSwap(position: t, token: allowed[k], gain: gain) }
                }
            }
            return best
        }
    }

    /// `sequences` (labels 1 real, 0 generated) attacked with up to `swaps` swaps each; tokens of `allowed` may be
    /// swapped, for tokens of `allowed`. Returns the adversarial sequences (each as long as its original) and the
    /// swaps made in each.
    public static func attack(_ discriminator: any SequenceDiscriminator, sequences: [[Int32]], labels: [Int32],
                              swaps: Int, allowed: [Int32]) throws -> (sequences: [[Int32]], swaps: [[TokenSwap]]) {
        guard let table = discriminator.inputEmbedding else {
            throw ModelError.unsupported(model: discriminator.kind, capability: "attacks on its input embeddings")
        }
        precondition(sequences.count == labels.count, "TokenSwapAttack: one label per sequence")
        let B = sequences.count, allowedSet = Set(allowed)
        var ids = discriminator.pack(sequences)
        let T = ids.count / max(B, 1)
        var movable = ids.map { allowedSet.contains($0) }
        for b in 0..<B { for t in min(sequences[b].count, T)..<T { movable[b * T + t] = false } }  // never the padding
        var made = [[TokenSwap]](repeating: [], count: B)
        var unused = SeededGenerator(seed: 0)
        for _ in 0..<swaps {
            let logits = discriminator.forward(.tokens(ids), training: false, using: &unused).logits
            let active = (0..<B).map { b in (logits[b, 1] > logits[b, 0]) == (labels[b] == 1) }
            guard active.contains(true) else { break }
            let (_, g) = EmbeddingAttacks.lossAndGradient(discriminator, input: .perturbed(.tokens(ids), delta:
                Tensor(zeros: [ids.count, table.matrixShape.1])), labels: labels)
            let best = bestSwaps(gradient: g, ids: ids, movable: movable, active: active, table: table, allowed: allowed)
            guard best.contains(where: { $0 != nil }) else { break }
            for (b, swap) in best.enumerated() {
                guard let swap else { continue }
                ids[b * T + swap.position] = swap.token
                movable[b * T + swap.position] = false
                made[b].append(swap)
            }
        }
        let adversarial = (0..<B).map { b in
            var s = sequences[b]
            for swap in made[b] { s[swap.position] = swap.token }
            return s
        }
        return (adversarial, made)
    }

    /// D's accuracy on `sequences` before and after the attack, `batchSize` at a time, with up to `keepFlipped`
    /// sentences whose verdict it flipped.
    public static func evaluate(_ discriminator: any SequenceDiscriminator, sequences: [[Int32]], labels: [Int32],
                                swaps: Int, allowed: [Int32], batchSize: Int = 64,
                                keepFlipped: Int = 5) throws -> SwapAttackReport {
        var correct = [0, 0], swapCount = 0, movable = 0
        var flipped: [(label: Int32, clean: [Int32], adversarial: [Int32])] = []
        let allowedSet = Set(allowed)
        for start in stride(from: 0, to: sequences.count, by: batchSize) {
            let range = start..<min(start + batchSize, sequences.count)
            let chunk = Array(sequences[range]), chunkLabels = Array(labels[range])
            let (adversarial, made) = try attack(discriminator, sequences: chunk, labels: chunkLabels, swaps: swaps,
                                                 allowed: allowed)
            let clean = discriminator.probabilityReal(chunk), attacked = discriminator.probabilityReal(adversarial)
            for b in 0..<chunk.count {
                let label = chunkLabels[b]
                let (rightClean, rightAttacked) = ((clean[b] > 0.5) == (label == 1), (attacked[b] > 0.5) == (label == 1))
                if rightClean { correct[0] += 1 }
                if rightAttacked { correct[1] += 1 }
                swapCount += made[b].count
                movable += chunk[b].prefix(discriminator.sequenceLength).filter { allowedSet.contains($0) }.count
                if rightClean, !rightAttacked, flipped.count < keepFlipped { flipped.append((label, chunk[b], adversarial[b])) }
            }
        }
        let n = Double(max(sequences.count, 1))
        return SwapAttackReport(swaps: swaps, count: sequences.count, cleanAccuracy: Double(correct[0]) / n,
                                attackedAccuracy: Double(correct[1]) / n, meanSwaps: Double(swapCount) / n,
                                changedTokenRate: Double(swapCount) / Double(max(movable, 1)), flipped: flipped)
    }
}

/// How a discriminator holds up against token swaps.
public struct SwapAttackReport: Sendable {
    /// The most swaps per sentence.
    public let swaps: Int
    public let count: Int
    public let cleanAccuracy: Double
    /// Accuracy on the swapped sentences (real text).
    public let attackedAccuracy: Double
    public let meanSwaps: Double
    /// The share of word tokens swapped.
    public let changedTokenRate: Double
    /// Sentences D judged right before and wrong after: (label, clean, adversarial tokens).
    public let flipped: [(label: Int32, clean: [Int32], adversarial: [Int32])]
}
