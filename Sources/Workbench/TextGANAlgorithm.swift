import Foundation
import Models
import NumericCore
import Training

// TextGAN (`textgan train --algo textgan`), on `TextGANTrainer`: a latent-code generator (`latent-lstm`, the default
// for this algorithm) pretrained for the run's `mle` section's epochs, as an autoencoder's decoder or by MLE
// (`textgan.pretraining`), D pretrained on real against its samples, then G matches
// D's features of real sentences through its soft-argmax decoding while D classifies, exposes the discrepancy and
// reconstructs the code.

extension TextGANConfig: ConfigSection {
    public static let key = "textgan"

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
            discriminatorPretrainRounds = 1
            adversarialSteps = 12
            evaluateEvery = 4
        }
    }

    public func validate() throws {
        let check = ConfigCheck(Self.key)
        try check.number("latentNoise", latentNoise, 0...100)
        try check.number("latentMatchingWeight", latentMatchingWeight, 0...1e6)
        try check.int("encoderEmbeddingSize", encoderEmbeddingSize, 1...8192)
        try check.require(!encoderWidths.isEmpty, "encoderWidths", "[]", "at least one width, e.g. [{\"width\": 3, \"filters\": 32}]")
        for (i, spec) in encoderWidths.enumerated() {
            try check.int("encoderWidths.\(i).width", spec.width, 1...100_000)
            try check.int("encoderWidths.\(i).filters", spec.filters, 1...65_536)
        }
        try check.int("discriminatorPretrainRounds", discriminatorPretrainRounds, 0...100_000)
        try check.int("discriminatorPretrainEpochs", discriminatorPretrainEpochs, 1...10_000)
        try check.int("adversarialSteps", adversarialSteps, 0...1_000_000)
        try check.int("batchSize", batchSize, 2...65_536)
        try check.require(!bandwidths.isEmpty, "bandwidths", "[]", "at least one kernel bandwidth, e.g. [1, 2, 5, 10, 20, 40]")
        for (i, sigma) in bandwidths.enumerated() {
            try check.number("bandwidths.\(i)", Float(sigma), 0...1e6, open: true)
        }
        try check.number("featureMatchingWeight", featureMatchingWeight, 0...1e6)
        try check.number("reconstructionWeight", reconstructionWeight, 0...1e6)
        try check.number("labelSmoothing", labelSmoothing, 0...0.5, open: false)
        try check.number("sharpness", sharpness, 0...1e6, open: true)
        try check.int("reconstructionHidden", reconstructionHidden, 1...65_536)
        try check.number("generatorLearningRate", generatorLearningRate, 0...100, open: true)
        try check.number("discriminatorLearningRate", discriminatorLearningRate, 0...100, open: true)
        try check.number("gradientClip", gradientClip, 0...1e6, open: true)
        try check.int("evaluateEvery", evaluateEvery, 1...100_000)
        try check.int("samplesPerEvaluation", samplesPerEvaluation, 0...10_000)
    }

    /// The encoder's windows must fit in the corpus's sentences.
    public func fit(to data: TrainingData) throws {
        guard pretraining == .autoencoder else { return }
        for (i, spec) in encoderWidths.enumerated() {
            try ConfigCheck(Self.key).int("encoderWidths.\(i).width", spec.width, 1...data.maxLength)
        }
    }
}

public enum TextGANAlgorithm: TrainingAlgorithm {
    public static let name = "textgan"
    public static let summary = "TextGAN (Zhang et al. 2017): a latent-code LSTM matches D's features of real sentences (kernel MMD) through its soft-argmax decoding"
    public static let sections: [any ConfigSection.Type] = [MLEConfig.self, TextGANConfig.self, AdversarialTrainingConfig.self]
    public static let trainsDiscriminator = true
    public static let defaultGeneratorKind = LatentLSTMGeneratorConfig.kind

    public static func makeTrainer(_ setup: TrainerSetup, using rng: inout SeededGenerator) throws -> PreparedTrainer {
        guard let generator = setup.generator as? any LatentSequenceGenerator else {
            throw WorkbenchError("textgan needs a generator with a latent code and soft-argmax decoding (generator.kind \(LatentLSTMGeneratorConfig.kind)); \(setup.generator.kind) has neither")
        }
        var headRNG = SeededGenerator(seed: rng.next())
        let trainer = TextGANTrainer(
            generator: generator, discriminator: setup.requireDiscriminator(name), positives: setup.data.train,
            pretrain: setup.config[section: MLEConfig.self], config: setup.config[section: TextGANConfig.self],
            padToken: setup.data.shape.padToken, using: &headRNG)
        trainer.evaluate = setup.evaluate
        trainer.heldOut = setup.data.test
        trainer.adversarialExamples = setup.adversarialExamples
        trainer.checkpointDirectory = setup.checkpointDirectory
        trainer.metadata = setup.metadata
        var state = TextGANState(seed: 0)
        if let checkpoint = setup.resumeFrom { state = try trainer.restore(from: checkpoint) } else { state = TextGANState(seed: rng.next()) }
        return PreparedTrainer { emit in try trainer.run(state: &state, emit: emit) }
    }

    public static func position(in checkpoint: Checkpoint.Contents) throws -> TrainingPosition {
        let state = try checkpoint.state(TextGANState.self)
        switch state.phase {
        case .mle, .discriminator:
            let phaseStep = state.phase == .mle ? state.mle.step : state.discriminatorRound
            return TrainingPosition(runStep: state.runStep, phaseStep: phaseStep,
                                    description: "TextGAN \(state.phase.rawValue), pretraining step \(state.mle.step)")
        case .adversarial, .done:
            return TrainingPosition(runStep: state.runStep, phaseStep: state.adversarialStep,
                                    description: "TextGAN adversarial step \(state.adversarialStep)")
        }
    }
}

/// SeqGAN's policy gradient and the Gumbel-softmax relaxation score a sample under the generator that drew it; a
/// latent generator's samples depend on a code those algorithms do not keep, so they refuse it.
func refuseLatentGenerator(_ generator: any SequenceGenerator, algorithm: String) throws {
    if generator is any LatentSequenceGenerator {
        throw WorkbenchError("\(algorithm) cannot train the \(generator.kind) generator: its samples depend on a latent code that \(algorithm)'s generator step does not keep (use --algo textgan or mle, or another generator)")
    }
}
