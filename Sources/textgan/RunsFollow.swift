import Foundation
import RunStore
import Workbench

/// `runs show --follow`: the run as `runs show` prints it, then every metric and evaluation row as it is recorded,
/// polled from the store (so it follows a run trained by any process, on this machine or writing to a shared store),
/// until the run's effective status is no longer running: finished, interrupted, failed, or crashed (its heartbeat
/// went stale).
struct RunFollower {
    let store: RunDatabase
    let id: Int64
    let interval: TimeInterval
    let json: Bool
    let show: (RunDetails) -> Void
    let sampleLimit: Int

    func run() throws {
        var lastMetric: Int64 = 0, lastEvaluation: Int64 = 0
        if json {
            let run = try store.run(id)
            emit([("type", .string("run")), ("id", .integer(id)), ("name", .string(run.name)), ("status", .string(run.status.rawValue))])
        } else {
            show(try store.details(of: id, sampleLimit: sampleLimit))
            // What the table showed is not printed again: follow from the rows it summarised.
            lastMetric = try store.metrics(run: id).last?.id ?? 0
            lastEvaluation = try store.evaluations(run: id, afterID: 0).last?.id ?? 0
            print("\nfollowing run \(id) (Ctrl-C stops following; the run goes on)")
        }
        while true {
            // The status first: rows recorded before a run ended are all read below before it is reported.
            let run = try store.run(id)
            let metrics = try store.metrics(run: id, afterID: lastMetric)
            let evaluations = try store.evaluations(run: id, afterID: lastEvaluation)
            lastMetric = metrics.last?.id ?? lastMetric
            lastEvaluation = evaluations.last?.id ?? lastEvaluation
            printRows(metrics)
            printRows(evaluations)
            guard run.status == .running else {
                if json {
                    emit([("type", .string("status")), ("id", .integer(id)), ("status", .string(run.status.rawValue)),
                          ("reason", JSONValue(run.exitReason))])
                } else {
                    print("run \(id) \(run.status.rawValue)" + (run.exitReason.map { ": \($0)" } ?? ""))
                }
                return
            }
            Thread.sleep(forTimeInterval: interval)
        }
    }

    private func emit(_ fields: [(String, JSONValue)]) {
        print(JSONValue.object(fields).rendered())
    }

    /// One line per (phase, step): `step 312 adversarial 12  d_loss 0.69  pg_loss 1.23`.
    private func printRows(_ metrics: [Metric]) {
        if json {
            for m in metrics {
                emit([("type", .string("metric")), ("phase", .string(m.phase)), ("step", JSONValue(m.step)),
                      ("phase_step", JSONValue(m.phaseStep)), ("epoch", JSONValue(m.epoch)), ("key", .string(m.key)),
                      ("value", .number(m.value))])
            }
            return
        }
        var start = metrics.startIndex
        while start < metrics.endIndex {
            let first = metrics[start]
            let end = metrics[start...].firstIndex { $0.step != first.step || $0.phase != first.phase } ?? metrics.endIndex
            let values = metrics[start..<end].map { "\($0.key) \(Format.number($0.value))" }.joined(separator: "  ")
            Swift.print("step \(first.step) \(first.phase)" + (first.phaseStep.map { " \($0)" } ?? "") + "  " + values)
            start = end
        }
    }

    /// One line per evaluation (step and protocol): `eval step 312  bleu4 0.21  nll_test 5.01  (2000 samples, coco:test)`.
    private func printRows(_ evaluations: [Evaluation]) {
        if json {
            for e in evaluations {
                emit([("type", .string("evaluation")), ("step", JSONValue(e.step)), ("phase_step", JSONValue(e.phaseStep)),
                      ("metric", .string(e.metric)), ("value", .number(e.value)), ("sample_count", JSONValue(e.sampleCount)),
                      ("reference_set", .string(e.referenceSet)), ("temperature", JSONValue(e.temperature))])
            }
            return
        }
        var start = evaluations.startIndex
        while start < evaluations.endIndex {
            let first = evaluations[start]
            func same(_ e: Evaluation) -> Bool {
                e.step == first.step && e.sampleCount == first.sampleCount && e.referenceSet == first.referenceSet
                    && e.temperature == first.temperature
            }
            let end = evaluations[start...].firstIndex { !same($0) } ?? evaluations.endIndex
            let values = evaluations[start..<end].map { "\($0.metric) \(Format.number($0.value))" }.joined(separator: "  ")
            Swift.print("eval step \(first.step)  \(values)  (\(first.sampleCount) samples, \(first.referenceSet))")
            start = end
        }
    }
}
