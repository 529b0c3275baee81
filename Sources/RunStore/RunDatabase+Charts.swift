import Foundation
import GRDB

// MARK: - Reads for charts
//
// What `textgan plot` and `textgan report` need beyond the other reads: where each phase of a run lies in run steps,
// and which keys a run recorded (to name them when a requested one is missing).

/// The run steps one phase of a run recorded metric rows at.
public struct PhaseSpan: Sendable, Equatable {
    public var phase: String
    public var firstStep: Int
    public var lastStep: Int
}

extension RunDatabase {
    /// The run's phases in run-step order, each with the first and last step of its `metrics` rows. Runs recorded
    /// before schema version 4 number each phase from its own start, so their spans can overlap.
    public func phaseSpans(run id: Int64) throws -> [PhaseSpan] {
        try reading { db in
            try Row.fetchAll(db, sql: """
                SELECT phase, min(step) AS first, max(step) AS last FROM metrics WHERE run_id = ?
                GROUP BY phase ORDER BY min(step), min(id)
                """, arguments: [id]).map { PhaseSpan(phase: $0["phase"], firstStep: $0["first"], lastStep: $0["last"]) }
        }
    }

    /// The distinct keys of the run's `metrics` rows and metric names of its `evaluations` rows, sorted.
    public func recordedKeys(run id: Int64) throws -> (metrics: [String], evaluations: [String]) {
        try reading { db in
            (try String.fetchAll(db, sql: "SELECT DISTINCT key FROM metrics WHERE run_id = ? ORDER BY key", arguments: [id]),
             try String.fetchAll(db, sql: "SELECT DISTINCT metric FROM evaluations WHERE run_id = ? ORDER BY metric",
                                 arguments: [id]))
        }
    }
}
