import Foundation
import Models
import NumericCore
import Training

// RelGAN-style Gumbel-softmax training (`textgan train --algo gumbel`), on `GumbelTrainer`: the generator (any kind
// with teacher-forced logits: the LSTM or the Transformer) is pretrained by the run's `mle` section, then D's
// gradient reaches it through the Gumbel-softmax relaxation of its samples, β annealed to β_max.

extension GumbelConfig: ConfigSection {
    public static let key = "gumbel"

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
            adversarialSteps = 12
            evaluateEvery = 4
        }
    }

    public func validate() throws {
        let check = ConfigCheck(Self.key)
        try check.int("adversarialSteps", adversarialSteps, 0...1_000_000)
        try check.int("discriminatorSteps", discriminatorSteps, 0...10_000)
        try check.int("batchSize", batchSize, 2...65_536)
        if let annealingSteps { try check.int("annealingSteps", annealingSteps, 1...1_000_000) }
        try check.number("maximumInverseTemperature", Float(maximumInverseTemperature), 0...1e6, open: true)
        try check.number("generatorLearningRate", generatorLearningRate, 0...100, open: true)
        try check.number("discriminatorLearningRate", discriminatorLearningRate, 0...100, open: true)
        try check.number("gradientClip", gradientClip, 0...1e6, open: true)
        try check.int("evaluateEvery", evaluateEvery, 1...100_000)
        try check.int("samplesPerEvaluation", samplesPerEvaluation, 0...10_000)
    }

    public mutating func fit(to data: TrainingData) throws {}
}

public enum GumbelAlgorithm: TrainingAlgorithm {
    public static let name = "gumbel"
    public static let summary = "RelGAN-style (Nie et al. 2019): MLE pretraining, then D's gradient through the Gumbel-softmax relaxation of the samples, β annealed, any GAN loss"
    public static let sections: [any ConfigSection.Type] = [MLEConfig.self, GumbelConfig.self, GANConfig.self, AdversarialTrainingConfig.self]
    public static let trainsDiscriminator = true

    public static func makeTrainer(_ setup: TrainerSetup, using rng: inout SeededGenerator) throws -> PreparedTrainer {
        try refuseLatentGenerator(setup.generator, algorithm: name)
        let trainer = GumbelTrainer(
            generator: setup.generator, discriminator: setup.requireDiscriminator(name), positives: setup.data.train,
            pretrain: setup.config[section: MLEConfig.self], config: setup.config[section: GumbelConfig.self],
            gan: setup.config[section: GANConfig.self])
        trainer.evaluate = setup.evaluate
        trainer.adversarialExamples = setup.adversarialExamples
        trainer.checkpointDirectory = setup.checkpointDirectory
        trainer.metadata = setup.metadata
        var state = GumbelState(seed: 0)
        if let checkpoint = setup.resumeFrom { state = try trainer.restore(from: checkpoint) } else { state = GumbelState(seed: rng.next()) }
        return PreparedTrainer { emit in try trainer.run(state: &state, emit: emit) }
    }

    public static func position(in checkpoint: Checkpoint.Contents) throws -> TrainingPosition {
        let state = try checkpoint.state(GumbelState.self)
        switch state.phase {
        case .mle:
            return TrainingPosition(runStep: state.runStep, phaseStep: state.mle.step,
                                    description: "Gumbel mle, MLE step \(state.mle.step)")
        case .adversarial, .done:
            return TrainingPosition(runStep: state.runStep, phaseStep: state.adversarialStep,
                                    description: "Gumbel adversarial step \(state.adversarialStep)")
        }
    }
}
