import Foundation
import Models
import NumericCore
import Training
import Workbench

// A test-only algorithm, written as a new algorithm is meant to be: one file declaring its config section, building
// (and restoring) its trainer and naming its checkpoints' position; `Registry.shared.register(SGDAlgorithm.self)`
// is its one registry line. It trains the generator by plain SGD on teacher-forced batches, a fixed number of steps.

struct SGDConfig: ConfigSection {
    static let key = "sgd"
    var steps = 40
    var batchSize = 16
    var learningRate: Float = 0.5

    init(preset: Preset?) {
        if preset == .quick { steps = 10 }
    }

    func validate() throws {
        let check = ConfigCheck(Self.key)
        try check.int("steps", steps, 1...100_000)
        try check.int("batchSize", batchSize, 1...4096)
        try check.number("learningRate", learningRate, 0...100, open: true)
    }

    mutating func setGeneratorLearningRate(_ rate: Float) -> Bool {
        learningRate = rate
        return true
    }
}

/// Steps done and the batch stream: everything a checkpoint must hold besides the parameters.
struct SGDState: Codable, Equatable {
    var step = 0
    var rng: SeededGenerator
}

enum SGDAlgorithm: TrainingAlgorithm {
    static let name = "sgd"
    static let summary = "plain SGD on teacher-forced batches (a test's toy)"
    static let sections: [any ConfigSection.Type] = [SGDConfig.self]
    static let trainsDiscriminator = false

    static func makeTrainer(_ setup: TrainerSetup, using rng: inout SeededGenerator) throws -> PreparedTrainer {
        let config = setup.config[section: SGDConfig.self]
        let generator = setup.generator
        let optimizer = SGD(generator.parameters, config: .init(learningRate: config.learningRate))
        var state = SGDState(rng: rng.fork())
        if let url = setup.resumeFrom {
            let contents = try Checkpoint.load(from: url)
            try contents.restore(generator)
            state = try contents.state(SGDState.self)
        }
        let data = setup.data.train
        return PreparedTrainer { emit in
            _ = try emit(.phaseStarted(phase: Phase.mle, totalSteps: config.steps))
            while state.step < config.steps {
                let members = (0..<config.batchSize).map { _ in data.sequences[state.rng.nextInt(below: data.count)] }
                generator.zeroGrad()
                let loss = generator.weightedNLL(TokenBatch(sequences: members, length: data.length), backward: true)
                optimizer.update()
                state.step += 1
                let control = try emit(.step(phase: Phase.mle, step: state.step, epoch: 0, metrics: ["loss": Double(loss)],
                                         runStep: state.step))
                if let directory = setup.checkpointDirectory {
                    let url = directory.appendingPathComponent("latest.safetensors")
                    try Checkpoint.save(to: url, models: [("", generator)], optimizers: [:], state: state,
                                        metadata: setup.metadata)
                    _ = try emit(.checkpoint(step: state.step, kind: "latest", path: url))
                }
                if control == .stop { return .stopped }
            }
            var evaluationRNG = SeededGenerator(seed: UInt64(state.step))
            _ = try emit(.evaluation(phase: Phase.mle, step: state.step, epoch: 0,
                                 metrics: setup.evaluate(generator, &evaluationRNG), runStep: state.step))
            _ = try emit(.phaseFinished(phase: Phase.mle, step: state.step))
            return .completed
        }
    }

    static func position(in checkpoint: Checkpoint.Contents) throws -> TrainingPosition {
        let state = try checkpoint.state(SGDState.self)
        return TrainingPosition(runStep: state.step, phaseStep: state.step, description: "SGD step \(state.step)")
    }
}
