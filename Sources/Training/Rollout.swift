import Foundation
import Layers
import Models
import NumericCore

// SeqGAN's reward: Monte Carlo rollouts scored by the discriminator (Yu et al. 2017, eq. 4).
//
// For a generated sequence Y = y_1 … y_T and each prefix length t < T, the rollout policy completes y_1 … y_t to full
// length N times; the reward of token t is the mean, over the N completions, of D's probability that the completion
// is real. The reward of the last token is D's probability of Y itself:
//
//     Q(y_<t, y_t) = (1/N) Σ_n D(Y^n_{1:T}),  Y^n ~ rollout(· | y_1 … y_t)    for t < T
//     Q(y_<T, y_T) = D(Y_{1:T})
//
// The rollout policy is a delayed copy of the generator. Following SeqGAN's reference code (rollout.py), its
// embedding is copied from the generator and every other tensor moves as θ_r ← r·θ_r + (1 − r)·θ_G (r = 0.8).
//
// All N completions of a whole batch for one prefix length run together; the generator prepares what every prefix
// shares once (the LSTM: the hidden states of a single teacher-forced pass), so no prefix is ever re-run. While
// rewards are computed D's weights do not change, so it scores through its frozen scorer (the CNN: convolutions from
// per-token tables), equal to its forward pass up to rounding.

public final class RolloutPolicy {
    public let model: any SequenceGenerator
    public let updateRate: Float

    /// A copy of `generator` (same config, same values).
    public init(copying generator: any SequenceGenerator, updateRate: Float = 0.8) {
        model = generator.copy()
        self.updateRate = updateRate
    }

    /// θ_r ← r·θ_r + (1 − r)·θ_G for every tensor but the token embeddings, which are copied.
    public func update(from generator: any SequenceGenerator) {
        let source = Dictionary(uniqueKeysWithValues: generator.parameters.map { ($0.name, $0) })
        let copied = Set(model.tokenEmbeddings.map(ObjectIdentifier.init))
        for p in model.parameters {
            let g = source[p.name]!.value
            if copied.contains(ObjectIdentifier(p)) {
                p.value = g
                continue
            }
            p.value.scale(by: updateRate)
            p.value.add(g, scaledBy: 1 - updateRate)
        }
    }

    /// Rewards for each token of each sequence ([b][t], same lengths as the sequences). A sequence shorter than the
    /// maximum (it ended with the end token) gets rewards for its own tokens only. `score` is the discriminator:
    /// the probability that each sequence is real; it is told that the completions of one prefix come together.
    public func rewards(
        for sequences: [[Int32]], rollouts: Int, score: SequenceScorer, using rng: inout SeededGenerator
    ) -> [[Float]] {
        precondition(rollouts > 0, "at least one rollout")
        let length = sequences.map(\.count).max() ?? 0
        let completions = model.prefixCompletions(of: sequences)
        var rewards = sequences.map { [Float](repeating: 0, count: $0.count) }

        for t in 1..<max(length, 1) {
            // Rows whose sequence continues past t: their prefix y_1 … y_t gets `rollouts` completions.
            let rows = sequences.indices.filter { sequences[$0].count > t }
            guard !rows.isEmpty else { continue }
            let completed = completions.complete(rows: rows, length: t, times: rollouts, using: &rng)
            // Each prefix's `rollouts` completions are consecutive and share its t tokens.
            let probabilities = score(completed, SharedPrefix(runLength: rollouts, length: t))
            for (k, b) in rows.enumerated() {
                var sum: Float = 0
                for r in 0..<rollouts { sum += probabilities[k * rollouts + r] }
                rewards[b][t - 1] = sum / Float(rollouts)
            }
        }
        // The last token of every sequence: D's probability of the sequence itself.
        let full = score(sequences, .none)
        for b in sequences.indices where !sequences[b].isEmpty { rewards[b][sequences[b].count - 1] = full[b] }
        return rewards
    }
}

// MARK: - Policy gradient

/// One REINFORCE step on the generator: loss = −Σ_{b,t} log G(y_t | y_<t) · Q_t, summed over the batch as in
/// SeqGAN's reference (its Adam makes the scale immaterial, except against the clipping threshold). With `baseline`,
/// the batch's mean reward is subtracted from every reward first (a variance reduction the paper does not use).
/// Returns the loss and the mean reward; throws `TrainingError.nonFinite` (before updating) when the loss or the
/// gradient norm is not finite.
@discardableResult
public func policyGradientStep(
    generator: any SequenceGenerator, optimizer: some Optimizer, sequences: [[Int32]], rewards: [[Float]],
    baseline: Bool = false, gradientClip: Float = 5, step: Int = 0, noiseSeed: UInt64? = nil
) throws -> (loss: Float, meanReward: Double) {
    let length = sequences.map(\.count).max() ?? 0
    var batch = TokenBatch(sequences: sequences, length: length)
    batch.noiseSeed = noiseSeed
    let all = rewards.joined()
    let mean = all.isEmpty ? 0 : Double(all.reduce(0, +)) / Double(all.count)
    for (b, row) in rewards.enumerated() {
        precondition(row.count == sequences[b].count, "policyGradientStep: one reward per token")
        for (t, q) in row.enumerated() { batch.weights[b * length + t] = baseline ? q - Float(mean) : q }
    }
    generator.zeroGrad()
    let loss = generator.weightedNLL(batch, normalizer: 1, backward: true)
    let norm = clipGradientNorm(generator.parameters, maxNorm: gradientClip)
    try TrainingError.check([("policy-gradient loss", loss), ("gradient norm", norm)], phase: Phase.adversarial, step: step)
    optimizer.update()
    return (loss, mean)
}
