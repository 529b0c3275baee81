import Foundation
import Models
import NumericCore

// RelGAN-style adversarial training (Nie et al., ICLR 2019) with the generator of your choice: MLE pretraining, then
// adversarial steps in which the discriminator's gradient reaches the generator through the Gumbel-softmax
// relaxation of its samples (GumbelSoftmax.swift), with the inverse temperature β annealed from 1 to β_max and any
// loss of the GAN family. RelGAN's relational-memory generator is not required; its defaults are below.

/// How β grows over the N adversarial steps, as RelGAN's code writes it (`get_fixed_temperature`), with N the run's
/// number of adversarial steps: RelGAN fixes N = 5000, so its published 2,000-step scripts stop at β_5000^(2000/5000)
/// and never reach β_max; here the last step does (exactly for lin, quad and sqrt; exp ends at β_max^((N−1)/N)).
public enum TemperatureAnnealing: String, Codable, Sendable, CaseIterable {
    /// β = β_max throughout (RelGAN's original code; TextGAN-PyTorch's 'no' is β = 1 instead).
    case no
    /// 1 + n/(N−1)·(β_max − 1)
    case lin
    /// β_max^(n/N)
    case exp
    /// 1 + (β_max − 1)·ln(n + 1)/ln N
    case log
    /// 1 + (β_max − 1)/(1 + e^{(N/2 − n)·20/N})
    case sigmoid
    /// 1 + (β_max − 1)·n²/(N−1)²
    case quad
    /// 1 + (β_max − 1)·√n/√(N−1)
    case sqrt

    /// β at adversarial step n = 0 … N−1 (with N = 1, the policies that divide by N − 1 or ln N give β_max).
    public func inverseTemperature(step n: Int, of N: Int, maximum: Double) -> Double {
        let (i, count) = (Double(n), Double(N))
        switch self {
        case .no: return maximum
        case .lin: return N > 1 ? 1 + i / (count - 1) * (maximum - 1) : maximum
        case .exp: return Foundation.pow(maximum, i / count)
        case .log: return N > 1 ? 1 + (maximum - 1) / Foundation.log(count) * Foundation.log(i + 1) : maximum
        case .sigmoid: return (maximum - 1) / (1 + Foundation.exp((count / 2 - i) * 20 / count)) + 1
        case .quad: return N > 1 ? (maximum - 1) / ((count - 1) * (count - 1)) * i * i + 1 : maximum
        case .sqrt: return N > 1 ? (maximum - 1) / Foundation.sqrt(count - 1) * Foundation.sqrt(i) + 1 : maximum
        }
    }
}

/// The Gumbel-softmax algorithm's own settings; MLE pretraining is the run's `MLEConfig` (RelGAN: Adam 1e-2), the GAN
/// objective its `GANConfig` (RelGAN: RSGAN).
public struct GumbelConfig: Codable, Sendable, Equatable {
    /// Adversarial steps (RelGAN: 2,000 on the synthetic data, 5,000 as its annealing horizon).
    public var adversarialSteps = 2000
    /// Discriminator steps per generator step (RelGAN: 5), each on a fresh real batch and a fresh generated one.
    public var discriminatorSteps = 5
    /// Sequences per generator and discriminator batch (RelGAN: 64).
    public var batchSize = 64
    /// β_max and how β gets there (RelGAN: 100, exp).
    public var maximumInverseTemperature: Double = 100
    /// How β rises from 1 to β_max over the adversarial steps: no (constant β_max), lin, exp, log, sigmoid, quad or sqrt (RelGAN's names).
    public var annealing: TemperatureAnnealing = .exp
    /// The annealing's horizon N, in adversarial steps; unset: the run's own `adversarialSteps`, so β reaches β_max
    /// at the last step. RelGAN's code fixes N = 5000 for its 2,000-step runs (its exp schedule ends at
    /// β_max^0.4: 6.3 for β_max 100, 15.8 for 1000); set 5000 to anneal as it does. Steps past N stay at β_max.
    public var annealingSteps: Int?
    /// Adam for both (RelGAN: 1e-4) and the global-norm clip on both gradients (RelGAN: 5).
    public var generatorLearningRate: Float = 1e-4
    /// The discriminator's Adam learning rate (RelGAN: 1e-4).
    public var discriminatorLearningRate: Float = 1e-4
    /// The global-norm clip of both gradients (RelGAN: 5).
    public var gradientClip: Float = 5
    /// Evaluate (and sample) every this many adversarial steps, and at the start of the adversarial phase.
    public var evaluateEvery = 100
    /// Sequences sampled into the log and the run store at each evaluation.
    public var samplesPerEvaluation = 3

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = GumbelConfig()
        adversarialSteps = try c.decodeIfPresent(Int.self, forKey: .adversarialSteps) ?? d.adversarialSteps
        discriminatorSteps = try c.decodeIfPresent(Int.self, forKey: .discriminatorSteps) ?? d.discriminatorSteps
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        maximumInverseTemperature = try c.decodeIfPresent(Double.self, forKey: .maximumInverseTemperature)
            ?? d.maximumInverseTemperature
        annealing = try c.decodeIfPresent(TemperatureAnnealing.self, forKey: .annealing) ?? d.annealing
        annealingSteps = try c.decodeIfPresent(Int.self, forKey: .annealingSteps)
        generatorLearningRate = try c.decodeIfPresent(Float.self, forKey: .generatorLearningRate) ?? d.generatorLearningRate
        discriminatorLearningRate = try c.decodeIfPresent(Float.self, forKey: .discriminatorLearningRate)
            ?? d.discriminatorLearningRate
        gradientClip = try c.decodeIfPresent(Float.self, forKey: .gradientClip) ?? d.gradientClip
        evaluateEvery = try c.decodeIfPresent(Int.self, forKey: .evaluateEvery) ?? d.evaluateEvery
        samplesPerEvaluation = try c.decodeIfPresent(Int.self, forKey: .samplesPerEvaluation) ?? d.samplesPerEvaluation
    }

    /// β at adversarial step n (0-based).
    public func inverseTemperature(step n: Int) -> Float {
        let horizon = annealingSteps ?? adversarialSteps
        guard n < horizon else { return Float(maximumInverseTemperature) }
        return Float(annealing.inverseTemperature(step: n, of: horizon, maximum: maximumInverseTemperature))
    }
}

/// Where a Gumbel run is.
public enum GumbelPhase: String, Codable, Sendable {
    case mle, adversarial, done
}

/// Everything that moves besides parameters and optimizer moments; stored in every checkpoint.
public struct GumbelState: AdversarialTrainingState, Equatable {
    public var phase: GumbelPhase = .mle
    public var mle: MLEState
    public var adversarialStep = 0
    /// Generation, noise, real batches and D's dropout.
    public var rng: SeededGenerator

    public init(seed: UInt64) {
        var root = SeededGenerator(seed: seed)
        mle = MLEState(seed: root.next())
        rng = root.fork()
    }

    /// MLE steps, then adversarial steps, with one step for each phase change (as SeqGAN's run step).
    public var runStep: Int {
        mle.step + adversarialStep + (phase == .mle ? 0 : 1) + (phase == .done ? 1 : 0)
    }
}

public final class GumbelTrainer {
    public let config: GumbelConfig
    /// The objective and its settings; `objective` is its loss, RSGAN when it names none.
    public let gan: GANConfig
    public let generator: any SequenceGenerator
    public let discriminator: any SequenceDiscriminator
    public let loss: any GANLoss
    public let mle: MLETrainer
    public let generatorOptimizer: Adam
    public let discriminatorOptimizer: Adam
    public let positives: SequenceDataset
    public var evaluate: GeneratorEvaluator?
    /// Adversarial examples mixed into D's training batches (the `adversarialTraining` section; nil: none).
    public var adversarialExamples: AdversarialExamples?
    public var checkpointDirectory: URL?
    public var metadata: [String: String] = [:]

    public init(generator: any SequenceGenerator, discriminator: any SequenceDiscriminator, positives: SequenceDataset,
                pretrain: MLEConfig, config: GumbelConfig, gan: GANConfig = GANConfig()) {
        self.config = config
        self.gan = gan
        self.generator = generator
        self.discriminator = discriminator
        self.positives = positives
        loss = (gan.loss ?? .rsgan).makeLoss()
        mle = MLETrainer(generator: generator, loader: BatchLoader(dataset: positives, batchSize: pretrain.batchSize),
                         config: pretrain)
        generatorOptimizer = Adam(generator.parameters, config: .init(learningRate: config.generatorLearningRate))
        discriminatorOptimizer = Adam(discriminator.parameters, config: .init(learningRate: config.discriminatorLearningRate))
    }

    public func run(state: inout GumbelState, emit: TrainingEventHandler) throws -> TrainingOutcome {
        let mle = pretrainer(from: state)

        if state.phase == .mle {
            switch try mle.run(state: &state.mle, emit: emit) {
            case .stopped: return .stopped
            case .completed, .earlyStopped: state.phase = .adversarial
            }
            let control = try evaluateAndSample(state, emit: emit)
            try checkpoint(state, emit: emit)
            if control == .stop { return .stopped }
        }

        if state.phase == .adversarial {
            let completed = try runAdversarialSteps(&state, steps: config.adversarialSteps, evaluateEvery: config.evaluateEvery,
                                                    emit: emit) { step, state in
                try iteration(inverseTemperature: config.inverseTemperature(step: step - 1), step: step, using: &state.rng)
            }
            guard completed else { return .stopped }
            state.phase = .done
            try checkpoint(state, emit: emit)
        }
        return .completed
    }

    /// One adversarial iteration at inverse temperature β: a generator step, then `discriminatorSteps` D steps.
    /// Returns its metrics (g_loss, g_gradient_norm, the mean d_loss, inverse_temperature; with `wgan-gp` also the
    /// mean gradient_penalty and the mean gradient_norm_interpolates, ‖∇D(x̂)‖ over the D steps' sequences).
    public func iteration(inverseTemperature beta: Float, step: Int, using rng: inout SeededGenerator) throws -> [String: Double] {
        var metrics = try generatorStep(beta: beta, step: step, rng: &rng)
        var (dLoss, penalty, norm) = (0.0, 0.0, 0.0)
        var robustness = RobustnessTally()
        for _ in 0..<config.discriminatorSteps {
            let result = try discriminatorStep(beta: beta, step: step, robustness: &robustness, rng: &rng)
            dLoss += result.loss
            penalty += Double(result.penalty?.value ?? 0)
            norm += result.penalty.map { Double($0.norms.reduce(0, +)) / Double(max($0.norms.count, 1)) } ?? 0
        }
        let steps = Double(max(config.discriminatorSteps, 1))
        metrics["d_loss"] = dLoss / steps
        if objective.penalizesGradient {
            metrics["gradient_penalty"] = penalty / steps
            metrics["gradient_norm_interpolates"] = norm / steps
        }
        metrics["inverse_temperature"] = Double(beta)
        return metrics.merging(robustness.metrics) { $1 }
    }

    /// A batch of real sequences drawn with replacement (as RelGAN's data loader cycles shuffled batches).
    private func realBatch(_ rng: inout SeededGenerator) -> [[Int32]] {
        (0..<config.batchSize).map { _ in positives.sequences[Int(rng.next() % UInt64(positives.count))] }
    }

    /// D's logits on real token sequences and on relaxed generated rows, and the loss's gradient split back.
    private func discriminate(real: DiscriminatorInput, fake: DiscriminatorInput, training: Bool,
                              rng: inout SeededGenerator) -> (real: DiscriminatorPass, fake: DiscriminatorPass) {
        let realPass = discriminator.forward(real, training: training, using: &rng)
        let fakePass = discriminator.forward(fake, training: training, using: &rng)
        return (realPass, fakePass)
    }

    /// One generator step: D's loss on relaxed samples, back through the rows into the generator.
    private func generatorStep(beta: Float, step: Int, rng: inout SeededGenerator) throws -> [String: Double] {
        generator.zeroGrad()
        discriminator.zeroGrad()
        let relaxed = try GumbelSoftmax.generate(generator, count: config.batchSize, inverseTemperature: beta,
                                                 discriminator: discriminator, using: &rng)
        let real = realBatch(&rng)
        let passes = discriminate(real: .tokens(discriminator.pack(real)), fake: .rows(relaxed.rows), training: true,
                                  rng: &rng)
        let (value, dFake) = loss.generatorLoss(fake: passes.fake.viewLogits,
                                                real: loss.pairsExamples ? passes.real.viewLogits : nil)
        try TrainingError.check([("generator loss", value)], phase: Phase.adversarial, step: step)
        guard let dRows = discriminator.backward(passes.fake, logitGradient: dFake, featureGradient: nil) else {
            throw ModelError.unsupported(model: "discriminator", capability: "the gradient of its input rows")
        }
        try GumbelSoftmax.backward(dRows, of: relaxed, generator: generator)
        let norm = clipGradientNorm(generator.parameters, maxNorm: config.gradientClip)
        try TrainingError.check([("generator gradient norm", norm)], phase: Phase.adversarial, step: step)
        generatorOptimizer.update()
        discriminator.zeroGrad()  // D's gradients from this pass are not D's update
        return ["g_loss": Double(value), "g_gradient_norm": Double(norm)]
    }

    /// One discriminator step on a fresh real batch and a fresh relaxed generated batch (held fixed); with `wgan-gp`,
    /// plus the gradient penalty on their interpolates (a third D pass, its dropout drawn after theirs). Returns D's
    /// loss (penalties included) and the gradient penalty.
    private func discriminatorStep(beta: Float, step: Int, robustness: inout RobustnessTally, rng: inout SeededGenerator) throws
        -> (loss: Double, penalty: GradientPenalty?) {
        discriminator.zeroGrad()
        let relaxed = try GumbelSoftmax.discriminatorRows(generator, count: config.batchSize, inverseTemperature: beta,
                                                          discriminator: discriminator, using: &rng)
        let real = realBatch(&rng)
        var realInput = DiscriminatorInput.tokens(discriminator.pack(real)), fakeInput = DiscriminatorInput.rows(relaxed.rows)
        if let adversarialExamples {
            (realInput, fakeInput) = try adversarialExamples.mix(
                real: realInput, realCount: real.count, fake: fakeInput, fakeCount: real.count,
                discriminator: discriminator, tally: &robustness)
        }
        let passes = discriminate(real: realInput, fake: fakeInput, training: true, rng: &rng)
        // Every view's logits (RelGAN's representations; one per sequence otherwise): n real rows, then n generated.
        let n = passes.real.viewLogits.matrixShape.0
        var logits = Tensor(zeros: [2 * n, 2])
        for r in 0..<n {
            for c in 0..<2 {
                logits[r, c] = passes.real.viewLogits[r, c]
                logits[n + r, c] = passes.fake.viewLogits[r, c]
            }
        }
        let labels = [Int32](repeating: 1, count: n) + [Int32](repeating: 0, count: n)
        let (value, gradient) = loss.discriminatorLoss(logits: logits, labels: labels)
        try TrainingError.check([("discriminator loss", value)], phase: Phase.adversarial, step: step)
        var dReal = Tensor(zeros: [n, 2]), dFake = Tensor(zeros: [n, 2])
        for r in 0..<n {
            for c in 0..<2 {
                dReal[r, c] = gradient[r, c]
                dFake[r, c] = gradient[n + r, c]
            }
        }
        let penalty = discriminator.regularization(backward: true)
        discriminator.backward(passes.real, logitGradient: dReal, featureGradient: nil, inputGradient: false)
        discriminator.backward(passes.fake, logitGradient: dFake, featureGradient: nil, inputGradient: false)
        var gradientPenalty: GradientPenalty?
        if objective.penalizesGradient {
            let interpolates = WassersteinPenalty.interpolates(
                real: discriminator.pack(real), fake: relaxed.rows, length: discriminator.sequenceLength, using: &rng)
            gradientPenalty = try discriminator.gradientPenalty(interpolates, weight: gan.gpWeight, training: true,
                                                                backward: true, using: &rng)
            try TrainingError.check([("gradient penalty", gradientPenalty!.value)], phase: Phase.adversarial, step: step)
        }
        let norm = clipGradientNorm(discriminator.parameters, maxNorm: config.gradientClip)
        try TrainingError.check([("discriminator gradient norm", norm)], phase: Phase.adversarial, step: step)
        discriminatorOptimizer.update()
        if objective.clipsDiscriminatorWeights {
            let c = gan.weightClip
            for p in discriminator.parameters {
                p.value.withUnsafeMutableBufferPointer { w in for i in w.indices { w[i] = min(max(w[i], -c), c) } }
            }
        }
        return (Double(value + penalty + (gradientPenalty?.value ?? 0)), gradientPenalty)
    }

    /// The GAN objective D and G train with (RSGAN, RelGAN's, when the config names none).
    public var objective: GANObjective { gan.loss ?? .rsgan }

    /// Restores every model, optimizer and the state from a checkpoint written by `run`.
    public func restore(from url: URL) throws -> GumbelState { try restoreAll(from: url) }
}

extension GumbelTrainer: AdversarialTrainer {
    typealias State = GumbelState
    static var evaluationSeed: UInt64 { 0x6A3B_0000 }
    var samplesPerEvaluation: Int { config.samplesPerEvaluation }
    var checkpointModels: [(prefix: String, model: any ParameterContainer)] { [("", generator), ("", discriminator)] }
    var checkpointOptimizers: [String: any Optimizer] {
        ["generator_mle": mle.optimizer, "generator_adversarial": generatorOptimizer, "discriminator": discriminatorOptimizer]
    }
}
