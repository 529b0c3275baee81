import Foundation
import Models
import NumericCore

// Maximum-likelihood training of a generator (any `SequenceGenerator`): teacher forcing over shuffled batches, Adam, gradient clipping
// by global norm, an evaluation after every epoch, samples, checkpoints (latest and best), optional early stopping.

public struct MLEConfig: Codable, Sendable, Equatable {
    /// SeqGAN's reference pretrains for 120 epochs.
    public var epochs: Int = 120
    /// Sequences per batch (SeqGAN reference: 64).
    public var batchSize: Int = 64
    /// SeqGAN reference: Adam, learning rate 0.01, gradients clipped to global norm 5.
    public var learningRate: Float = 0.01
    /// Gradients are clipped to this global norm (SeqGAN reference: 5).
    public var gradientClip: Float = 5
    /// Stop when the selection metric has not improved for this many epochs (nil: never).
    public var earlyStoppingPatience: Int? = nil
    /// Run the evaluation (test NLL, NLL-oracle, …) every this many epochs, and after the last one.
    public var evaluateEvery: Int = 1
    /// Report a step event every this many steps.
    public var logEvery: Int = 10
    /// Sequences sampled after each epoch for the log.
    public var samplesPerEpoch: Int = 3
    /// The temperature of those samples.
    public var sampleTemperature: Float = 1
    /// The usual Transformer recipe, off by default (SeqGAN's LSTM uses a constant rate and no decay):
    /// AdamW's decoupled weight decay θ ← θ − lr·λ·θ,
    public var weightDecay: Float = 0
    /// a linear warm-up from 0 over this many steps,
    public var warmupSteps: Int = 0
    /// then a constant rate, or a cosine decay to `minimumLearningRateRatio` of it at the last step.
    public var schedule: LearningRateSchedule = .constant
    /// Where the cosine schedule ends, as a fraction of `learningRate`.
    public var minimumLearningRateRatio: Float = 0.1

    public enum LearningRateSchedule: String, Codable, Sendable, CaseIterable {
        case constant, cosine
    }

    /// The rate of optimizer step `step` (from 1) of `total`.
    public func learningRate(step: Int, of total: Int) -> Float {
        if warmupSteps > 0 && step <= warmupSteps { return learningRate * Float(step) / Float(warmupSteps) }
        guard schedule == .cosine, total > warmupSteps else { return learningRate }
        let progress = min(Float(step - warmupSteps) / Float(total - warmupSteps), 1)
        let floor = learningRate * minimumLearningRateRatio
        return floor + (learningRate - floor) * 0.5 * (1 + cos(Float.pi * progress))
    }

    /// Whether the rate changes from step to step (then every step row records it as `learning_rate`).
    public var schedulesLearningRate: Bool { warmupSteps > 0 || schedule != .constant }

    public init(epochs: Int = 120, batchSize: Int = 64, learningRate: Float = 0.01, gradientClip: Float = 5,
                earlyStoppingPatience: Int? = nil, evaluateEvery: Int = 1, logEvery: Int = 10,
                samplesPerEpoch: Int = 3, sampleTemperature: Float = 1) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.gradientClip = gradientClip
        self.earlyStoppingPatience = earlyStoppingPatience
        self.evaluateEvery = evaluateEvery
        self.logEvery = logEvery
        self.samplesPerEpoch = samplesPerEpoch
        self.sampleTemperature = sampleTemperature
    }

    private enum CodingKeys: String, CodingKey {
        case epochs, batchSize, learningRate, gradientClip, earlyStoppingPatience, evaluateEvery, logEvery
        case samplesPerEpoch, sampleTemperature, weightDecay, warmupSteps, schedule, minimumLearningRateRatio
    }

    // Configs recorded before the schedule fields existed decode with them off.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = MLEConfig()
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? d.learningRate
        gradientClip = try c.decodeIfPresent(Float.self, forKey: .gradientClip) ?? d.gradientClip
        earlyStoppingPatience = try c.decodeIfPresent(Int.self, forKey: .earlyStoppingPatience)
        evaluateEvery = try c.decodeIfPresent(Int.self, forKey: .evaluateEvery) ?? d.evaluateEvery
        logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? d.logEvery
        samplesPerEpoch = try c.decodeIfPresent(Int.self, forKey: .samplesPerEpoch) ?? d.samplesPerEpoch
        sampleTemperature = try c.decodeIfPresent(Float.self, forKey: .sampleTemperature) ?? d.sampleTemperature
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? d.weightDecay
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? d.warmupSteps
        schedule = try c.decodeIfPresent(LearningRateSchedule.self, forKey: .schedule) ?? d.schedule
        minimumLearningRateRatio = try c.decodeIfPresent(Float.self, forKey: .minimumLearningRateRatio)
            ?? d.minimumLearningRateRatio
    }
}

/// Everything that moves during MLE training besides parameters and optimizer moments; stored in checkpoints.
public struct MLEState: Codable, Sendable, Equatable {
    /// Completed epochs.
    public var epoch = 0
    /// Batches completed within the current epoch.
    public var batchInEpoch = 0
    /// Optimisation steps so far.
    public var step = 0
    /// The generator for shuffling and sampling.
    public var rng: SeededGenerator
    /// The seed of the current epoch's order (drawn from `rng` when the epoch starts).
    public var epochSeed: UInt64?
    /// Running sums of the current epoch's training loss.
    public var epochLossSum = 0.0
    public var epochTokens = 0
    /// Best value of the selection metric so far, its epoch, and epochs since it improved.
    public var best: Double?
    public var bestEpoch: Int?
    public var epochsSinceBest = 0

    public init(seed: UInt64) {
        rng = SeededGenerator(seed: seed)
    }
}

public struct MLETrainer {
    public let generator: any SequenceGenerator
    /// What the steps minimise and the optimizer updates: the generator itself (its likelihood) unless another
    /// objective was given (TextGAN's autoencoder: the generator under an encoder's codes).
    public let objective: any TeacherForcedObjective
    public let optimizer: Adam
    public let loader: BatchLoader
    public let config: MLEConfig
    /// Scores the generator after an epoch, e.g. ["nll_test": …, "nll_oracle": …]. Gets its own generator, seeded
    /// from the epoch, so evaluation never shifts the training stream.
    public var evaluate: GeneratorEvaluator?
    /// The metric that picks the best checkpoint and drives early stopping (lower is better); the first of these
    /// that the evaluation reports.
    public var selectionMetrics = ["nll_test", "nll_gen_held_out", "nll_oracle", "train_nll"]
    /// Where latest.safetensors and best.safetensors go (nil: no checkpoints).
    public var checkpointDirectory: URL?
    /// Replaces the default checkpoint writer (used when MLE is a phase of a larger algorithm whose checkpoint
    /// holds more): gets the state and the kind ("latest" or "best"), returns the file written.
    public var writeCheckpoint: ((MLEState, String) throws -> URL?)?
    /// Stored in every checkpoint beside the state (the CLI puts the run's config and vocabulary here).
    public var metadata: [String: String] = [:]
    /// Run steps before this MLE phase (0 when it comes first, as SeqGAN's pretraining does).
    public var runStepOffset = 0
    /// The phase its events name (`Phase.autoencoder` for TextGAN's autoencoder pretraining).
    public var phase = Phase.mle

    public init(generator: any SequenceGenerator, loader: BatchLoader, config: MLEConfig,
                objective: (any TeacherForcedObjective)? = nil) {
        self.generator = generator
        self.objective = objective ?? generator
        self.loader = loader
        self.config = config
        optimizer = Adam(self.objective.parameters, config: Adam.Config(
            learningRate: config.learningRate, weightDecay: config.weightDecay, decoupledWeightDecay: config.weightDecay != 0))
    }

    /// Restores parameters, optimizer moments and state from a checkpoint written by `run`.
    public func restore(from url: URL) throws -> MLEState {
        let contents = try Checkpoint.load(from: url)
        try contents.restore(objective)
        try contents.restore(optimizer, name: "generator")
        return try contents.state(MLEState.self)
    }

    /// Trains until `config.epochs` epochs are complete, early stopping triggers, or `emit` says stop.
    public func run(state: inout MLEState, emit: TrainingEventHandler) throws -> TrainingOutcome {
        let batches = loader.batchesPerEpoch
        precondition(batches > 0, "MLE: the corpus has fewer sequences than one batch")
        _ = try emit(.phaseStarted(phase: phase, totalSteps: config.epochs * batches))
        var clock = Throughput()
        while state.epoch < config.epochs {
            // A run stopped (or killed) right after the epoch that triggered early stopping ends here on resume.
            if let patience = config.earlyStoppingPatience, state.batchInEpoch == 0, state.epochsSinceBest >= patience {
                _ = try emit(.phaseFinished(phase: phase, step: state.step))
                return .earlyStopped(epoch: state.epoch)
            }
            if state.epochSeed == nil { state.epochSeed = state.rng.next() }
            let order = loader.order(epochSeed: state.epochSeed!)
            // MARK: One epoch of teacher-forced steps
            while state.batchInEpoch < batches {
                var batch = loader.batch(state.batchInEpoch, order: order)
                if generator.drawsTrainingNoise {
                    // From the epoch's seed and the batch's place: a resumed epoch drops the same units.
                    var mix = SeededGenerator(seed: state.epochSeed! ^ (UInt64(state.batchInEpoch) &* 0x9E37_79B9_7F4A_7C15))
                    batch.noiseSeed = mix.next()
                }
                objective.zeroGrad()
                let loss = objective.weightedNLL(batch, backward: true)
                let norm = clipGradientNorm(objective.parameters, maxNorm: config.gradientClip)
                try TrainingError.check([("loss", loss), ("gradient norm", norm)], phase: phase, step: state.step + 1)
                if config.schedulesLearningRate {
                    optimizer.config.learningRate = config.learningRate(step: state.step + 1, of: config.epochs * batches)
                }
                optimizer.update()
                state.step += 1
                state.batchInEpoch += 1
                let tokens = batch.realTokenCount
                state.epochLossSum += Double(loss) * Double(tokens)
                state.epochTokens += tokens
                clock.add(tokens)
                if state.step % config.logEvery == 0 || state.batchInEpoch == batches {
                    var metrics = ["loss": Double(loss), "grad_norm": Double(norm), "tokens_per_s": clock.rate()]
                    metrics.merge(objective.stepMetrics) { _, new in new }
                    if config.schedulesLearningRate { metrics["learning_rate"] = Double(optimizer.config.learningRate) }
                    if try emit(.step(phase: phase, step: state.step, epoch: state.epoch, metrics: metrics,
                                   runStep: runStepOffset + state.step)) == .stop {
                        try saveCheckpoint(state, kind: "latest", emit: emit)
                        return .stopped
                    }
                }
            }
            // MARK: End of epoch: evaluate, sample, checkpoint
            var metrics = ["train_nll": state.epochLossSum / Double(max(state.epochTokens, 1))]
            var evaluationRNG = SeededGenerator(seed: state.epochSeed! ^ 0x5EED_E7A1)
            let evaluating = (state.epoch + 1) % max(config.evaluateEvery, 1) == 0 || state.epoch + 1 == config.epochs
            if evaluating, let evaluate { metrics.merge(evaluate(generator, &evaluationRNG)) { _, new in new } }
            state.epoch += 1
            state.batchInEpoch = 0
            state.epochSeed = nil
            state.epochLossSum = 0
            state.epochTokens = 0
            var control = try emit(.evaluation(phase: phase, step: state.step, epoch: state.epoch, metrics: metrics,
                                           runStep: runStepOffset + state.step))
            if config.samplesPerEpoch > 0 {
                let samples = generator.sample(
                    count: config.samplesPerEpoch, options: SamplingOptions(temperature: config.sampleTemperature),
                    using: &evaluationRNG)
                if try emit(.samples(step: state.step, temperature: config.sampleTemperature, sequences: samples,
                                 runStep: runStepOffset + state.step)) == .stop {
                    control = .stop
                }
            }
            // The best checkpoint and early stopping look only at evaluated epochs (patience counts evaluations).
            let selection = evaluating ? selectionMetrics.lazy.compactMap { metrics[$0] }.first : nil
            let improved = selection.map { value in state.best.map { value < $0 } ?? true } ?? false
            if improved {
                state.best = selection
                state.bestEpoch = state.epoch
                state.epochsSinceBest = 0
            } else if evaluating {
                state.epochsSinceBest += 1
            }
            // best before latest: a crash between the two leaves a latest that does not yet know of the new best, so
            // the resumed run redoes the epoch and writes best again; the other order could leave best stale for good.
            if improved { try saveCheckpoint(state, kind: "best", emit: emit) }
            try saveCheckpoint(state, kind: "latest", emit: emit)
            clock.restart()  // tokens_per_s counts training time only
            if control == .stop { return .stopped }
            if let patience = config.earlyStoppingPatience, state.epochsSinceBest >= patience {
                _ = try emit(.phaseFinished(phase: phase, step: state.step))
                return .earlyStopped(epoch: state.epoch)
            }
        }
        _ = try emit(.phaseFinished(phase: phase, step: state.step))
        return .completed
    }

    private func saveCheckpoint(_ state: MLEState, kind: String, emit: TrainingEventHandler) throws {
        let written: URL?
        if let writeCheckpoint {
            written = try writeCheckpoint(state, kind)
        } else if let directory = checkpointDirectory {
            written = directory.appendingPathComponent("\(kind).safetensors")
            try Checkpoint.save(to: written!, models: [("", objective)], optimizers: ["generator": optimizer],
                                state: state, metadata: metadata)
        } else {
            written = nil
        }
        if let written { _ = try emit(.checkpoint(step: runStepOffset + state.step, kind: kind, path: written)) }
    }
}

/// Tokens per second over the recent past (for progress display only; never part of the training state).
struct Throughput {
    private var start = DispatchTime.now().uptimeNanoseconds
    private var tokens = 0

    mutating func add(_ n: Int) { tokens += n }

    /// Starts the clock again, leaving out what came since the last step (evaluation, sampling, checkpoints).
    mutating func restart() {
        start = DispatchTime.now().uptimeNanoseconds
        tokens = 0
    }

    mutating func rate() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        let rate = Double(tokens) / max(Double(now - start) / 1e9, 1e-9)
        start = now
        tokens = 0
        return rate
    }
}
