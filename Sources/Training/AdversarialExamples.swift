import Models
import NumericCore

// Adversarial training of the discriminator (Goodfellow et al. 2015; Madry et al. 2018, on D's input embeddings as
// EmbeddingAttack.swift attacks them): in each D batch a share `rate` of the sequences is replaced by its adversarial
// example, label kept, and D takes its step on the mixed batch. Every D-training path calls `mix` on each input it
// is about to train on (`trainDiscriminator`, the Gumbel-softmax and TextGAN D steps), so the mixing lives here once.
//
//   members attacked: b with ⌊(b+1)·rate⌋ > ⌊b·rate⌋, i.e. ⌊B·rate⌋ of B, spread evenly over the batch (a paired
//                     batch of reals then fakes gets its share of each; no random draw, so the run's stream of random
//                     numbers is the same with and without the section)
//   δ:                FGSM or PGD on the attacked members (no dropout), ascending D's 2-class cross-entropy with the
//                     true labels whatever the GAN loss (the attack is on D's verdict), special tokens never moving
//   D trains on:      `.perturbed(input, δ)`, rows embedding(x) + δ with δ = 0 outside the attacked members: the
//                     gradient at a perturbed row reaches its token's embedding row (or, for soft rows, the table
//                     through them) as a clean row's does
//
// `rate` = 0 or ε = 0 turns it off: `mix` returns the input untouched and training is bit for bit what it is
// without the section.

/// The attack that makes D's adversarial training examples.
public enum AdversarialTrainingAttack: String, Codable, Sendable, CaseIterable {
    /// One step of size ε.
    case fgsm
    /// `steps` steps projected onto the ball.
    case pgd
}

/// The run config's `adversarialTraining` section.
public struct AdversarialTrainingConfig: Codable, Sendable, Equatable {
    /// The share of each D batch replaced by adversarial examples (0: off).
    public var rate: Double = 0
    /// How the examples are made: fgsm (one signed-gradient step of size ε) or pgd (`steps` projected steps).
    public var attack: AdversarialTrainingAttack = .fgsm
    /// The ball the perturbation stays in: linf (each coordinate of each embedding row within ε) or l2 (one ball per
    /// sequence: the norm of the perturbation of all its rows together within ε).
    public var norm: AttackNorm = .linf
    /// The ball's radius in embedding units (0: off). D's embeddings start in (−1, 1); 0.05 already takes a trained
    /// detector from 66% to 9% accuracy (docs/security.md).
    public var epsilon: Float = 0.05
    /// PGD's steps (`attack` pgd only).
    public var steps = 5
    /// PGD's step (nil: 2.5·ε/steps, Madry et al.).
    public var stepSize: Float? = nil

    public init(rate: Double = 0, attack: AdversarialTrainingAttack = .fgsm, norm: AttackNorm = .linf,
                epsilon: Float = 0.05, steps: Int = 5, stepSize: Float? = nil) {
        (self.rate, self.attack, self.norm, self.epsilon, self.steps, self.stepSize) = (rate, attack, norm, epsilon, steps, stepSize)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AdversarialTrainingConfig()
        rate = try c.decodeIfPresent(Double.self, forKey: .rate) ?? d.rate
        attack = try c.decodeIfPresent(AdversarialTrainingAttack.self, forKey: .attack) ?? d.attack
        norm = try c.decodeIfPresent(AttackNorm.self, forKey: .norm) ?? d.norm
        epsilon = try c.decodeIfPresent(Float.self, forKey: .epsilon) ?? d.epsilon
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps
        stepSize = try c.decodeIfPresent(Float.self, forKey: .stepSize)
    }

    /// Whether it changes training at all.
    public var isActive: Bool { rate > 0 && epsilon > 0 }

    public var embeddingAttack: EmbeddingAttack {
        EmbeddingAttack(norm: norm, epsilon: epsilon, steps: attack == .fgsm ? 1 : steps, stepSize: stepSize)
    }
}

/// D's clean and robust accuracy on the members it attacked (no dropout), summed over batches.
public struct RobustnessTally: Sendable, Equatable {
    public var attacked = 0
    public var cleanCorrect = 0
    public var robustCorrect = 0

    public init() {}

    public mutating func add(_ other: RobustnessTally) {
        attacked += other.attacked
        cleanCorrect += other.cleanCorrect
        robustCorrect += other.robustCorrect
    }

    /// `d_accuracy_clean`, `d_accuracy_robust`; none when nothing was attacked.
    public var metrics: [String: Double] {
        guard attacked > 0 else { return [:] }
        return ["d_accuracy_clean": Double(cleanCorrect) / Double(attacked),
                "d_accuracy_robust": Double(robustCorrect) / Double(attacked)]
    }
}

/// Mixes adversarial examples into D's training inputs (see the top of the file).
public struct AdversarialExamples: Sendable {
    public let config: AdversarialTrainingConfig
    /// Tokens whose rows never move (pad, bos, eos, unk; none for the oracle).
    public let fixedTokens: Set<Int32>

    /// Nil when `config` is off, so that trainers skip it entirely.
    public init?(_ config: AdversarialTrainingConfig, fixedTokens: Set<Int32>) {
        guard config.isActive else { return nil }
        self.config = config
        self.fixedTokens = fixedTokens
    }

    /// The members of a batch of `count` that are attacked: ⌊count·rate⌋, evenly spread.
    public func attackedMembers(count: Int) -> [Int] {
        // A rate written in decimal is not exact in binary (100 · 0.29 = 28.999999999999996): a margin far below one
        // member keeps ⌊count·rate⌋ what the decimal says.
        let attacked = { (i: Int) in (Double(i) * config.rate + 1e-9).rounded(.down) }
        return (0..<count).filter { attacked($0 + 1) > attacked($0) }
    }

    /// `input` (tokens or rows over the vocabulary, `labels` one per sequence) with its attacked members replaced
    /// by their adversarial examples, and D's clean and robust accuracy on them. `tally` collects the accuracies.
    public func mix(_ input: DiscriminatorInput, labels: [Int32], discriminator: any SequenceDiscriminator,
                    tally: inout RobustnessTally) throws -> DiscriminatorInput {
        guard discriminator.inputEmbedding != nil else {
            throw ModelError.unsupported(model: discriminator.kind, capability: "adversarial training on its input embeddings")
        }
        let members = attackedMembers(count: labels.count)
        guard !members.isEmpty else { return input }
        let B = labels.count
        let (sub, subTokens) = Self.select(input, members: members, batchSize: B)
        let T = subTokens.count / members.count
        let mask = subTokens.map { !fixedTokens.contains($0) }
        let subLabels = members.map { labels[$0] }
        let delta = EmbeddingAttacks.perturbation(discriminator, of: sub, mask: mask, batchSize: members.count,
                                                  labels: subLabels, attack: config.embeddingAttack)
        // Clean and robust verdicts on the attacked members, as D scores (no dropout).
        var unused = SeededGenerator(seed: 0)
        for (scored, isRobust) in [(sub, false), (DiscriminatorInput.perturbed(sub, delta: delta), true)] {
            let logits = discriminator.forward(scored, training: false, using: &unused).logits
            for (k, label) in subLabels.enumerated() where (logits[k, 1] > logits[k, 0]) == (label == 1) {
                if isRobust { tally.robustCorrect += 1 } else { tally.cleanCorrect += 1 }
            }
        }
        tally.attacked += members.count
        // δ of the whole batch: the attacked members' rows, zero elsewhere.
        let W = delta.matrixShape.1
        var full = Tensor(zeros: [B * T, W])
        full.withUnsafeMutableBufferPointer { out in
            delta.withUnsafeBufferPointer { d in
                for (k, b) in members.enumerated() {
                    (out.baseAddress! + b * T * W).update(from: d.baseAddress! + k * T * W, count: T * W)
                }
            }
        }
        return .perturbed(input, delta: full)
    }

    /// A D step's input of `realCount` corpus sequences and one of `fakeCount` generated ones, each mixed.
    public func mix(real: DiscriminatorInput, realCount: Int, fake: DiscriminatorInput, fakeCount: Int,
                    discriminator: any SequenceDiscriminator, tally: inout RobustnessTally) throws
        -> (real: DiscriminatorInput, fake: DiscriminatorInput) {
        (try mix(real, labels: [Int32](repeating: 1, count: realCount), discriminator: discriminator, tally: &tally),
         try mix(fake, labels: [Int32](repeating: 0, count: fakeCount), discriminator: discriminator, tally: &tally))
    }

    /// The members' part of a batch input, and the token of each of its rows (a soft row's argmax).
    static func select(_ input: DiscriminatorInput, members: [Int], batchSize B: Int) -> (DiscriminatorInput, [Int32]) {
        switch input {
        case .tokens(let ids):
            let T = ids.count / B
            let tokens = members.flatMap { ids[($0 * T)..<(($0 + 1) * T)] }
            return (.tokens(tokens), tokens)
        case .rows(let rows):
            let (N, V) = rows.matrixShape
            let T = N / B
            let picked = Tensor(uninitializedShape: [members.count * T, V]) { out in
                rows.withUnsafeBufferPointer { p in
                    for (k, b) in members.enumerated() {
                        (out.baseAddress! + k * T * V).update(from: p.baseAddress! + b * T * V, count: T * V)
                    }
                }
            }
            let tokens = (0..<(members.count * T)).map { n in
                var best = 0
                for v in 1..<V where picked[n, v] > picked[n, best] { best = v }
                return Int32(best)
            }
            return (.rows(picked), tokens)
        case .embedded, .perturbed:
            preconditionFailure("AdversarialExamples.mix: D trains on tokens or rows, not on \(input)")
        }
    }
}
