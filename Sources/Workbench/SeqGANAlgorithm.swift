import Foundation
import Models
import NumericCore
import Training

// SeqGAN (`textgan train --algo seqgan`, the default), on `SeqGANTrainer`: the generator is pretrained by the run's
// `mle` section, then the discriminator, then they alternate (rollout rewards → policy gradient → D steps).

extension SeqGANConfig: ConfigSection {
    public static let key = "seqgan"

    public mutating func setGeneratorLearningRate(_ rate: Float) -> Bool {
        generatorLearningRate = rate
        return true
    }

    public mutating func setAdversarialSteps(_ steps: Int) -> Bool {
        adversarialSteps = steps
        return true
    }

    public init(preset: Preset?) {
        self.init()
        if preset == .quick {
            discriminatorPretrainRounds = 4
            discriminatorPretrainEpochs = 1
            adversarialSteps = 12
            discriminatorRounds = 1
            discriminatorEpochs = 1
            rollouts = 4
            negatives = 1_000
            evaluateEvery = 4
        }
    }

    public func validate() throws {
        let check = ConfigCheck(Self.key)
        try check.int("discriminatorPretrainRounds", discriminatorPretrainRounds, 0...100_000)
        try check.int("discriminatorPretrainEpochs", discriminatorPretrainEpochs, 1...10_000)
        try check.int("adversarialSteps", adversarialSteps, 0...1_000_000)
        try check.int("generatorSteps", generatorSteps, 1...10_000)
        try check.int("discriminatorRounds", discriminatorRounds, 0...10_000)
        try check.int("discriminatorEpochs", discriminatorEpochs, 1...10_000)
        try check.int("generatorBatchSize", generatorBatchSize, 1...65_536)
        try check.int("rollouts", rollouts, 1...1024)
        try check.number("rolloutUpdateRate", rolloutUpdateRate, 0...1)
        try check.int("negatives", negatives, 1...10_000_000)
        try check.number("generatorLearningRate", generatorLearningRate, 0...100, open: true)
        try check.number("gradientClip", gradientClip, 0...1e6, open: true)
        try check.number("discriminatorLearningRate", discriminatorLearningRate, 0...100, open: true)
        try check.int("discriminatorBatchSize", discriminatorBatchSize, 1...65_536)
        try check.int("evaluateEvery", evaluateEvery, 1...100_000)
        try check.int("samplesPerEvaluation", samplesPerEvaluation, 0...10_000)
    }

    /// Negatives default to as many as there are training sequences (the reference: 10,000).
    public mutating func fit(to data: TrainingData) throws {
        if negatives == nil { negatives = data.train.count }
    }
}

public enum SeqGANAlgorithm: TrainingAlgorithm {
    public static let name = "seqgan"
    public static let summary = "SeqGAN (Yu et al. 2017): MLE pretraining, then policy gradient with Monte Carlo rollout rewards from the discriminator"
    public static let sections: [any ConfigSection.Type] = [MLEConfig.self, SeqGANConfig.self, GANConfig.self, AdversarialTrainingConfig.self]
    public static let trainsDiscriminator = true

    public static func makeTrainer(_ setup: TrainerSetup, using rng: inout SeededGenerator) throws -> PreparedTrainer {
        try refuseLatentGenerator(setup.generator, algorithm: name)
        let trainer = SeqGANTrainer(
            generator: setup.generator, discriminator: setup.requireDiscriminator(name), positives: setup.data.train,
            pretrain: setup.config[section: MLEConfig.self], config: setup.config[section: SeqGANConfig.self],
            loss: setup.config[section: GANConfig.self].seqganDiscriminatorLoss)
        trainer.evaluate = setup.evaluate
        trainer.adversarialExamples = setup.adversarialExamples
        trainer.checkpointDirectory = setup.checkpointDirectory
        trainer.metadata = setup.metadata
        var state = SeqGANState(seed: 0)
        if let checkpoint = setup.resumeFrom { state = try trainer.restore(from: checkpoint) } else { state = SeqGANState(seed: rng.next()) }
        return PreparedTrainer { emit in try trainer.run(state: &state, emit: emit) }
    }

    /// SeqGAN's rewards are D's P(real) = σ(margin): a Wasserstein critic's margin is no log-odds, and its D
    /// training neither clips weights (`wgan`) nor reads rows to penalise (`wgan-gp`).
    public static func validate(_ config: RunConfig) throws {
        let loss = config[section: GANConfig.self].loss
        let check = ConfigCheck(GANConfig.key)
        try check.require(loss != .wgan, "loss", "wgan",
                          "an objective other than wgan for SeqGAN (its rewards read D's P(real) = σ(margin), which a weight-clipped critic does not give, and its D training does not clip weights)")
        try check.require(loss != .wganGP, "loss", "wgan-gp",
                          "an objective other than wgan-gp for SeqGAN (its rewards read D's P(real) = σ(margin), and a Wasserstein critic's margin is no log-odds)")
    }

    public static func position(in checkpoint: Checkpoint.Contents) throws -> TrainingPosition {
        let state = try checkpoint.state(SeqGANState.self)
        switch state.phase {
        case .mle, .discriminator:
            let phaseStep = state.phase == .mle ? state.mle.step : state.discriminatorRound
            return TrainingPosition(runStep: state.runStep, phaseStep: phaseStep,
                                    description: "SeqGAN \(state.phase.rawValue), MLE step \(state.mle.step)")
        case .adversarial, .done:
            return TrainingPosition(runStep: state.runStep, phaseStep: state.adversarialStep,
                                    description: "SeqGAN adversarial step \(state.adversarialStep)")
        }
    }
}
