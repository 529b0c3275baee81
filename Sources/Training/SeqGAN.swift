import Foundation
import Models
import NumericCore

// SeqGAN (Yu et al., AAAI 2017): the generator is pretrained by maximum likelihood, the discriminator is pretrained to
// tell corpus sequences from generated ones, and then they alternate: the generator takes policy-gradient steps
// with Monte Carlo rollout rewards from the discriminator, the rollout policy follows the generator with a delay,
// and the discriminator is retrained on fresh negatives. Defaults are the reference code's settings.

/// SeqGAN's own settings. Phase 1, the generator's MLE pretraining, is configured by the run's `MLEConfig` (the
/// reference: 120 epochs, Adam 0.01, batch 64, clip 5).
public struct SeqGANConfig: Codable, Sendable, Equatable {
    /// Phase 2: discriminator pretraining, rounds × epochs, each round on fresh negatives (reference 50 × 3).
    public var discriminatorPretrainRounds = 50
    /// Epochs over each pretraining round's real and fresh generated sequences (reference: 3).
    public var discriminatorPretrainEpochs = 3
    /// Phase 3: adversarial steps (reference 200), each with this many generator steps (1) and discriminator
    /// rounds (5) of this many epochs (3).
    public var adversarialSteps = 200
    /// Policy-gradient steps per adversarial step (reference: 1).
    public var generatorSteps = 1
    /// Discriminator rounds per adversarial step, each on fresh negatives (reference: 5).
    public var discriminatorRounds = 5
    /// Epochs of each of those rounds (reference: 3).
    public var discriminatorEpochs = 3
    /// Sequences per policy-gradient step (the reference samples one batch of 64).
    public var generatorBatchSize = 64
    /// Monte Carlo completions per prefix (the paper: 16).
    public var rollouts = 16
    /// θ_rollout ← r·θ_rollout + (1 − r)·θ_G with r = 0.8.
    public var rolloutUpdateRate: Float = 0.8
    /// Fresh negatives per discriminator round (nil: as many as there are training sequences; reference 10,000).
    public var negatives: Int? = nil
    /// The adversarial generator optimizer (its own Adam, as in the reference).
    public var generatorLearningRate: Float = 0.01
    /// The policy gradient's global-norm clip (reference: 5).
    public var gradientClip: Float = 5
    /// The discriminator's Adam learning rate (reference: 1e-4).
    public var discriminatorLearningRate: Float = 1e-4
    /// Sequences per discriminator batch (reference: 64).
    public var discriminatorBatchSize = 64
    /// Subtract the mean reward from the rewards (a documented variance reduction; off, as in the paper).
    public var baseline = false
    /// Evaluate (and sample) every this many adversarial steps, and at the start of the adversarial phase.
    public var evaluateEvery = 5
    /// Sequences sampled into the log and the run store at each evaluation.
    public var samplesPerEvaluation = 3

    public init() {}
}

extension GANConfig {
    /// The loss SeqGAN's D trains with: the objective, or SeqGAN's 2-class cross-entropy when it names none. The
    /// rewards stay D's probability of "real", σ(margin), whatever the objective: the loss changes how D is trained,
    /// not what the policy gradient reads.
    public var seqganDiscriminatorLoss: any GANLoss { loss?.makeLoss() ?? CrossEntropyGANLoss() }
}

/// Where a SeqGAN run is; the cases are the phases' names (`Phase`), and `done`.
public enum SeqGANPhase: String, Codable, Sendable {
    case mle, discriminator, adversarial, done

    /// The phases in the order a run goes through them.
    var order: Int { [.mle, .discriminator, .adversarial, .done].firstIndex(of: self)! }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        // Checkpoints written before the phases had one vocabulary name the first two differently.
        let legacy = ["pretrainGenerator": SeqGANPhase.mle, "pretrainDiscriminator": .discriminator]
        guard let phase = SeqGANPhase(rawValue: name) ?? legacy[name] else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown SeqGAN phase '\(name)'"))
        }
        self = phase
    }
}

/// Everything that moves besides parameters and optimizer moments; stored in every checkpoint.
public struct SeqGANState: AdversarialTrainingState, Equatable {
    public var phase: SeqGANPhase = .mle
    public var mle: MLEState
    /// Completed discriminator pretraining rounds and adversarial steps.
    public var discriminatorRound = 0
    public var adversarialStep = 0
    /// The generator for negatives, rollouts, dropout and D's batch order (MLE has its own in `mle`).
    public var rng: SeededGenerator

    public init(seed: UInt64) {
        var root = SeededGenerator(seed: seed)
        mle = MLEState(seed: root.next())
        rng = root.fork()
    }

    /// The run's step: MLE steps, then discriminator rounds, then adversarial steps, added up, with one more step
    /// for each phase change (into discriminator pretraining, into adversarial training, done). A phase change is a
    /// step of its own, so its checkpoint and what it records (the adversarial start's evaluation) never share a
    /// step with the phase before: a resume can tell them apart.
    public var runStep: Int {
        let changes = [SeqGANPhase.discriminator, .adversarial, .done].filter { phase.order >= $0.order }.count
        return mle.step + discriminatorRound + adversarialStep + changes
    }
}

public final class SeqGANTrainer {
    public let config: SeqGANConfig
    public let generator: any SequenceGenerator
    public let discriminator: any SequenceDiscriminator
    /// D's objective (SeqGAN's: the 2-class cross-entropy).
    public let loss: any GANLoss
    public let rollout: RolloutPolicy
    public let mle: MLETrainer
    public let generatorOptimizer: Adam
    public let discriminatorOptimizer: Adam
    /// The corpus sequences: MLE's data and D's positives.
    public let positives: SequenceDataset
    /// Scores the generator ("nll_oracle", "nll_test", …); gets its own generator so the training stream is untouched.
    public var evaluate: GeneratorEvaluator?
    /// Adversarial examples mixed into D's training batches (the `adversarialTraining` section; nil: none).
    public var adversarialExamples: AdversarialExamples?
    public var checkpointDirectory: URL?
    /// Stored in every checkpoint beside the state (the CLI puts the run's config and vocabulary here).
    public var metadata: [String: String] = [:]

    public init(generator: any SequenceGenerator, discriminator: any SequenceDiscriminator, positives: SequenceDataset,
                pretrain: MLEConfig, config: SeqGANConfig, loss: any GANLoss = CrossEntropyGANLoss()) {
        self.config = config
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.positives = positives
        rollout = RolloutPolicy(copying: generator, updateRate: config.rolloutUpdateRate)
        mle = MLETrainer(generator: generator, loader: BatchLoader(dataset: positives, batchSize: pretrain.batchSize),
                         config: pretrain)
        generatorOptimizer = Adam(generator.parameters, config: .init(learningRate: config.generatorLearningRate))
        discriminatorOptimizer = Adam(discriminator.parameters, config: .init(learningRate: config.discriminatorLearningRate))
    }

    // MARK: - The algorithm

    public func run(state: inout SeqGANState, emit: TrainingEventHandler) throws -> TrainingOutcome {
        let mle = pretrainer(from: state)

        // MARK: Phase 1 — pretrain the generator by maximum likelihood
        if state.phase == .mle {
            switch try mle.run(state: &state.mle, emit: emit) {
            case .stopped: return .stopped
            case .completed, .earlyStopped: state.phase = .discriminator
            }
            // The rollout policy starts as a copy of the pretrained generator.
            rollout.model.copyValues(from: generator)
            try checkpoint(state, emit: emit)
        }

        // MARK: Phase 2 — pretrain the discriminator on fresh negatives each round
        if state.phase == .discriminator {
            _ = try emit(.phaseStarted(phase: Phase.discriminator, totalSteps: config.discriminatorPretrainRounds))
            while state.discriminatorRound < config.discriminatorPretrainRounds {
                let report = try discriminatorRound(epochs: config.discriminatorPretrainEpochs, phase: Phase.discriminator,
                                                    step: state.discriminatorRound + 1, rng: &state.rng)
                state.discriminatorRound += 1
                // Record, then checkpoint (everywhere): a crash between the two redoes the step on resume, and the
                // resumed run drops the rows recorded after its checkpoint, so no row is lost or doubled.
                let control = try emit(.step(phase: Phase.discriminator, step: state.discriminatorRound, epoch: 0,
                                         metrics: report.metrics, runStep: state.runStep))
                try checkpoint(state, emit: emit)
                if control == .stop { return .stopped }
            }
            _ = try emit(.phaseFinished(phase: Phase.discriminator, step: state.discriminatorRound))
            state.phase = .adversarial
            let control = try evaluateAndSample(state, emit: emit)
            try checkpoint(state, emit: emit)
            if control == .stop { return .stopped }
        }

        // MARK: Phase 3 — adversarial training
        if state.phase == .adversarial {
            _ = try emit(.phaseStarted(phase: Phase.adversarial, totalSteps: config.adversarialSteps))
            while state.adversarialStep < config.adversarialSteps {
                var metrics: [String: Double] = [:]
                // Generator: policy-gradient step(s) with rollout rewards.
                for _ in 0..<config.generatorSteps {
                    let sequences = generator.sample(count: config.generatorBatchSize, using: &state.rng)
                    let rewards = rollout.rewards(
                        for: sequences, rollouts: config.rollouts, score: discriminator.frozenScorer(),
                        using: &state.rng)
                    let (loss, meanReward) = try policyGradientStep(
                        generator: generator, optimizer: generatorOptimizer, sequences: sequences, rewards: rewards,
                        baseline: config.baseline, gradientClip: config.gradientClip, step: state.adversarialStep + 1,
                        noiseSeed: generator.drawsTrainingNoise ? state.rng.next() : nil)
                    metrics["pg_loss"] = Double(loss)
                    metrics["mean_reward"] = meanReward
                }
                // The rollout policy follows the generator with a delay.
                rollout.update(from: generator)
                // Discriminator: rounds on fresh negatives.
                for _ in 0..<config.discriminatorRounds {
                    let report = try discriminatorRound(epochs: config.discriminatorEpochs, phase: Phase.adversarial,
                                                        step: state.adversarialStep + 1, rng: &state.rng)
                    metrics.merge(report.metrics) { _, new in new }
                }
                state.adversarialStep += 1
                var control = try emit(.step(phase: Phase.adversarial, step: state.adversarialStep, epoch: 0, metrics: metrics,
                                         runStep: state.runStep))
                if state.adversarialStep % config.evaluateEvery == 0 || state.adversarialStep == config.adversarialSteps {
                    if try evaluateAndSample(state, emit: emit) == .stop { control = .stop }
                }
                try checkpoint(state, emit: emit)
                if control == .stop { return .stopped }
            }
            _ = try emit(.phaseFinished(phase: Phase.adversarial, step: state.adversarialStep))
            state.phase = .done
            try checkpoint(state, emit: emit)
        }
        return .completed
    }

    /// Fresh negatives from the generator, then `epochs` passes of D over positives and negatives.
    private func discriminatorRound(epochs: Int, phase: String, step: Int, rng: inout SeededGenerator) throws -> DiscriminatorReport {
        let negatives = generator.sample(count: config.negatives ?? positives.count, using: &rng)
        return try trainDiscriminator(
            discriminator, loss: loss, optimizer: discriminatorOptimizer, positives: positives.sequences, negatives: negatives,
            epochs: epochs, batchSize: config.discriminatorBatchSize, phase: phase, step: step,
            adversarial: adversarialExamples, using: &rng)
    }

    /// Restores every model, optimizer and the state from a checkpoint written by `run`.
    public func restore(from url: URL) throws -> SeqGANState { try restoreAll(from: url) }
}

extension SeqGANTrainer: AdversarialTrainer {
    typealias State = SeqGANState
    static var evaluationSeed: UInt64 { 0xADE5_0000 }
    var samplesPerEvaluation: Int { config.samplesPerEvaluation }
    var checkpointModels: [(prefix: String, model: any ParameterContainer)] {
        [("", generator), ("", discriminator), ("rollout.", rollout.model)]
    }
    var checkpointOptimizers: [String: any Optimizer] {
        ["generator_mle": mle.optimizer, "generator_pg": generatorOptimizer, "discriminator": discriminatorOptimizer]
    }
}
