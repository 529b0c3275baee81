import Foundation
import Models
import NumericCore
import Training

// Maximum-likelihood training of the generator alone (`textgan train --algo mle`), on `MLETrainer`.

extension MLEConfig: ConfigSection {
    public static let key = "mle"

    public mutating func setGeneratorLearningRate(_ rate: Float) -> Bool {
        learningRate = rate
        return true
    }

    public init(preset: Preset?) {
        self.init()
        evaluateEvery = 5  // the reference evaluates NLL-oracle every 5 epochs
        if preset == .quick { epochs = 15 }
    }

    public func validate() throws {
        let check = ConfigCheck(Self.key)
        try check.int("epochs", epochs, 0...100_000)
        try check.int("batchSize", batchSize, 1...65_536)
        try check.number("learningRate", learningRate, 0...100, open: true)
        try check.number("gradientClip", gradientClip, 0...1e6, open: true)
        try check.int("earlyStoppingPatience", earlyStoppingPatience, 1...100_000)
        try check.int("evaluateEvery", evaluateEvery, 1...100_000)
        try check.int("logEvery", logEvery, 1...1_000_000_000)
        try check.int("samplesPerEpoch", samplesPerEpoch, 0...10_000)
        try check.number("sampleTemperature", sampleTemperature, 0...100)
        try check.number("weightDecay", weightDecay, 0...10)
        try check.int("warmupSteps", warmupSteps, 0...100_000_000)
        try check.number("minimumLearningRateRatio", minimumLearningRateRatio, 0...1)
    }

    public func fit(to data: TrainingData) throws {
        guard data.train.count >= batchSize else {
            throw WorkbenchError("corpus \(data.corpus) has \(data.train.count) training sequences, fewer than one batch of \(batchSize) (mle.batchSize)")
        }
    }
}

public enum MLEAlgorithm: TrainingAlgorithm {
    public static let name = "mle"
    public static let summary = "maximum likelihood (teacher forcing) of the generator alone"
    public static let sections: [any ConfigSection.Type] = [MLEConfig.self]
    public static let trainsDiscriminator = false

    public static func makeTrainer(_ setup: TrainerSetup, using rng: inout SeededGenerator) throws -> PreparedTrainer {
        let config = setup.config[section: MLEConfig.self]
        var trainer = MLETrainer(generator: setup.generator,
                                 loader: BatchLoader(dataset: setup.data.train, batchSize: config.batchSize), config: config)
        trainer.evaluate = setup.evaluate
        trainer.checkpointDirectory = setup.checkpointDirectory
        trainer.metadata = setup.metadata
        var state = MLEState(seed: 0)
        if let checkpoint = setup.resumeFrom { state = try trainer.restore(from: checkpoint) } else { state = MLEState(seed: rng.next()) }
        return PreparedTrainer { emit in try trainer.run(state: &state, emit: emit) }
    }

    public static func position(in checkpoint: Checkpoint.Contents) throws -> TrainingPosition {
        let state = try checkpoint.state(MLEState.self)
        return TrainingPosition(runStep: state.step, phaseStep: state.step, description: "MLE step \(state.step), epoch \(state.epoch)")
    }
}
