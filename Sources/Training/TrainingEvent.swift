import Foundation
import Models
import NumericCore

// Training reports what happens through typed events to a callback, and the callback answers whether to go on.
// The CLI prints events and the run store records them; training code never imports storage.

public enum TrainingEvent: Sendable {
    /// A phase begins (e.g. "mle", "discriminator", "adversarial"), with its planned length in steps when known.
    case phaseStarted(phase: String, totalSteps: Int?)
    /// One optimisation step: its losses and rates (e.g. "loss", "grad_norm", "tokens_per_s"). `step` counts in the
    /// phase's own numbering; `runStep` counts over the whole run and never decreases (what the run store orders by).
    case step(phase: String, step: Int, epoch: Int, metrics: [String: Double], runStep: Int)
    /// End-of-epoch (or end-of-evaluation) numbers: "train_nll", "nll_test", "nll_oracle", …
    case evaluation(phase: String, step: Int, epoch: Int, metrics: [String: Double], runStep: Int)
    /// A few sampled sequences as token ids (the caller turns them into text).
    case samples(step: Int, temperature: Float, sequences: [[Int32]], runStep: Int)
    /// A checkpoint was written atomically at `path` at run step `step`; `kind` is "latest" or "best".
    case checkpoint(step: Int, kind: String, path: URL)
    /// A phase ended normally.
    case phaseFinished(phase: String, step: Int)
}

/// The callback's answer: go on, or stop cleanly (a checkpoint is written first so the run can be resumed).
public enum TrainingControl: Sendable {
    case proceed
    case stop
}

/// An error the handler throws (the run store could not record the event) ends training at once: the trainer
/// rethrows it without writing another checkpoint, so no checkpoint gets ahead of what was recorded.
public typealias TrainingEventHandler = (TrainingEvent) throws -> TrainingControl

/// Scores a generator during training (e.g. ["nll_test": …, "bleu4": …]); it gets its own random generator, so
/// evaluation never shifts the training stream.
public typealias GeneratorEvaluator = (any SequenceGenerator, inout SeededGenerator) -> [String: Double]

/// The names of training phases: the `phase` of events, of the run store's metric rows, and of the docs
/// (docs/run-store.md). Each phase numbers its own steps: MLE counts optimizer steps, discriminator pretraining
/// counts rounds, adversarial training counts adversarial steps (its first evaluation, before any step, is at 0).
/// The run step adds them up: the phases before plus this phase's step.
public enum Phase {
    /// Maximum-likelihood training of the generator (for SeqGAN: its pretraining).
    public static let mle = "mle"
    /// TextGAN's autoencoder pretraining of its latent generator (`textgan.pretraining` autoencoder): MLE's loop on
    /// −log G(x | z = enc(x)), over the generator and its encoder.
    public static let autoencoder = "autoencoder"
    /// Discriminator pretraining on fresh generated sequences, round by round.
    public static let discriminator = "discriminator"
    /// Adversarial training: generator and discriminator steps alternate.
    public static let adversarial = "adversarial"
}

/// How a training function ended.
public enum TrainingOutcome: Sendable, Equatable {
    case completed
    case earlyStopped(epoch: Int)
    /// The event handler asked to stop; the latest checkpoint holds the exact position.
    case stopped
}

/// Why training stopped on its own.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// A loss or gradient norm became NaN or infinite. The step that produced it is not applied, so the parameters
    /// and the latest checkpoint hold the last finite state.
    case nonFinite(phase: String, step: Int, quantity: String, value: Float)

    public var description: String {
        switch self {
        case .nonFinite(let phase, let step, let quantity, let value):
            "the \(phase) \(quantity) became \(value) at step \(step); the step was not applied and the latest checkpoint "
                + "holds the last finite state (a lower learning rate or a gradient clip usually helps)"
        }
    }

    /// Throws `nonFinite` unless every value is finite.
    static func check(_ values: [(String, Float)], phase: String, step: Int) throws {
        if let (quantity, value) = values.first(where: { !$0.1.isFinite }) {
            throw TrainingError.nonFinite(phase: phase, step: step, quantity: quantity, value: value)
        }
    }
}
