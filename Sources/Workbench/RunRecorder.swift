import Digest
import Foundation
import RunStore
import Training

/// Writes training events into the run store: losses into `metrics`, evaluation scores into `metrics` and, with
/// their protocol, into `evaluations`, samples as text, checkpoints with their SHA-256 and size.
/// The training code knows nothing of this: it only emits events.
public struct RunRecorder {
    public let database: RunDatabase
    public let run: Int64
    public let render: ([Int32]) -> String
    /// The protocol of each evaluation metric the training reports (e.g. nll_oracle: 10,000 samples vs the oracle).
    public let protocols: [String: EvaluationProtocol]
    /// The lease of the process recording (see `RunLease`): every write fails with `leaseLost` once another process
    /// has taken the run over, so nothing more is recorded.
    public let owner: String?

    public func record(_ event: TrainingEvent) throws {
        switch event {
        case .phaseStarted, .phaseFinished:
            break
        case .step(let phase, let step, let epoch, let metrics, let runStep):
            try database.recordMetrics(run: run, phase: phase, step: runStep, phaseStep: step, epoch: epoch, values: metrics,
                                       owner: owner)
        case .evaluation(let phase, let step, let epoch, let metrics, let runStep):
            try database.recordMetrics(run: run, phase: phase, step: runStep, phaseStep: step, epoch: epoch, values: metrics,
                                       owner: owner)
            for (metric, value) in metrics.sorted(by: { $0.key < $1.key }) {
                guard let evaluationProtocol = protocols[metric] else { continue }
                try database.recordEvaluation(run: run, step: runStep, phaseStep: step, values: [metric: value],
                                              protocol: evaluationProtocol, owner: owner)
            }
        case .samples(let step, let temperature, let sequences, let runStep):
            try database.recordSamples(run: run, step: runStep, phaseStep: step, temperature: Double(temperature),
                                       texts: sequences.map(render), owner: owner)
        case .checkpoint(let step, _, let path):
            let bytes = (try FileManager.default.attributesOfItem(atPath: path.path)[.size] as? NSNumber)?.int64Value ?? 0
            try database.recordCheckpoint(run: run, step: step, path: path.path, sha256: try SHA256.hex(ofFile: path), bytes: bytes,
                                          owner: owner)
        }
    }
}
