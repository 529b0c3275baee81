import Foundation
import Models
import NumericCore

// What the adversarial trainers (SeqGAN, Gumbel-softmax) share: MLE pretraining whose checkpoints hold the whole
// trainer's state, evaluations with samples during the adversarial phase, and checkpoint files holding every model
// and optimizer of the run. Each trainer keeps its own algorithm; this is the scaffolding around it.

/// A trainer state with an MLE pretraining phase inside it.
public protocol AdversarialTrainingState: Codable, Sendable {
    var mle: MLEState { get set }
    var adversarialStep: Int { get set }
    var runStep: Int { get }
}

protocol AdversarialTrainer: AnyObject {
    associatedtype State: AdversarialTrainingState
    var generator: any SequenceGenerator { get }
    var mle: MLETrainer { get }
    var evaluate: GeneratorEvaluator? { get }
    var checkpointDirectory: URL? { get }
    var metadata: [String: String] { get }
    /// Every model and optimizer a checkpoint holds (optimizers by name).
    var checkpointModels: [(prefix: String, model: any ParameterContainer)] { get }
    var checkpointOptimizers: [String: any Optimizer] { get }
    var samplesPerEvaluation: Int { get }
    /// The evaluations' own streams start here (plus the adversarial step), apart from training's.
    static var evaluationSeed: UInt64 { get }
}

extension AdversarialTrainer {
    /// The MLE trainer for pretraining from `state`: it evaluates as the run does, and its checkpoints are the whole
    /// trainer's, with the pretraining's position inside.
    func pretrainer(from state: State) -> MLETrainer {
        var mle = self.mle
        mle.evaluate = evaluate
        mle.metadata = metadata
        var snapshot = state
        mle.writeCheckpoint = { [unowned self] mleState, kind in
            snapshot.mle = mleState
            return try self.save(snapshot, kind: kind)
        }
        return mle
    }

    /// Scores the generator (with its own stream) and shows samples, at an adversarial step.
    func evaluateAndSample(_ state: State, emit: TrainingEventHandler) throws -> TrainingControl {
        var rng = SeededGenerator(seed: Self.evaluationSeed &+ UInt64(state.adversarialStep))
        var metrics = evaluate?(generator, &rng) ?? [:]
        metrics["adversarial_step"] = Double(state.adversarialStep)
        var control = try emit(.evaluation(phase: Phase.adversarial, step: state.adversarialStep, epoch: state.mle.epoch,
                                           metrics: metrics, runStep: state.runStep))
        if samplesPerEvaluation > 0 {
            let samples = generator.sample(count: samplesPerEvaluation, using: &rng)
            if try emit(.samples(step: state.adversarialStep, temperature: 1, sequences: samples, runStep: state.runStep)) == .stop {
                control = .stop
            }
        }
        return control
    }

    /// The adversarial phase's steps from `state.adversarialStep` to `steps`: each runs `iteration(step, &state)`
    /// (its metrics), records it, evaluates every `evaluateEvery` steps and at the last, and checkpoints; then reports
    /// the phase finished. Returns false when a handler asked to stop (after that step's checkpoint).
    func runAdversarialSteps(_ state: inout State, steps: Int, evaluateEvery: Int, emit: TrainingEventHandler,
                             iteration: (_ step: Int, _ state: inout State) throws -> [String: Double]) throws -> Bool {
        _ = try emit(.phaseStarted(phase: Phase.adversarial, totalSteps: steps))
        while state.adversarialStep < steps {
            let step = state.adversarialStep + 1
            let metrics = try iteration(step, &state)
            state.adversarialStep = step
            var control = try emit(.step(phase: Phase.adversarial, step: step, epoch: 0, metrics: metrics,
                                         runStep: state.runStep))
            if step % max(evaluateEvery, 1) == 0 || step == steps {
                if try evaluateAndSample(state, emit: emit) == .stop { control = .stop }
            }
            try checkpoint(state, emit: emit)
            if control == .stop { return false }
        }
        _ = try emit(.phaseFinished(phase: Phase.adversarial, step: state.adversarialStep))
        return true
    }

    /// Writes `latest` and reports it.
    func checkpoint(_ state: State, emit: TrainingEventHandler) throws {
        if let url = try save(state, kind: "latest") {
            _ = try emit(.checkpoint(step: state.runStep, kind: "latest", path: url))
        }
    }

    /// Writes `<kind>.safetensors` in the checkpoint directory (none: nil).
    func save(_ state: State, kind: String) throws -> URL? {
        guard let directory = checkpointDirectory else { return nil }
        let url = directory.appendingPathComponent("\(kind).safetensors")
        try Checkpoint.save(to: url, models: checkpointModels, optimizers: checkpointOptimizers, state: state,
                            metadata: metadata)
        return url
    }

    /// Restores every model and optimizer of a checkpoint written by `save`, and returns its state.
    func restoreAll(from url: URL) throws -> State {
        let contents = try Checkpoint.load(from: url)
        let state = try contents.state(State.self)
        for (prefix, model) in checkpointModels { try contents.restore(model, prefix: prefix) }
        for (name, optimizer) in checkpointOptimizers { try contents.restore(optimizer, name: name) }
        return state
    }
}
