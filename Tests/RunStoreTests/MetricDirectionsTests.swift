import Foundation
import GRDB
import RunStore
import TestSupport
import XCTest

@testable import RunStore

/// Migration v9: which way is better for the security metrics — lower for what a generator leaks (membership AUC,
/// canary exposure, every canary's own key included), higher for detection and robust accuracy.
final class MetricDirectionsTests: XCTestCase {
    private func direction(_ metric: String, in database: RunDatabase) throws -> Int? {
        try database.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT higher_is_better FROM metric_directions WHERE metric = ?", arguments: [metric])
        }
    }

    func testTheLeaderboardKeepsTheLowestLeakAndTheHighestAccuracy() throws {
        // Given a run with two evaluations of each security metric,
        let database = try RunDatabase(path: try temporaryDirectory(self).appendingPathComponent("d.sqlite").path)
        let run = try database.startRun(makeRun())
        try database.recordEvaluation(run: run, step: 1, values: [
            "membership_auc": 0.9, "membership_auc_reference": 0.8, "canary_exposure_0": 13, "canary_exposure_12": 4,
            "canary_exposure_mean": 8.5, "roc_auc": 0.6, "tpr_at_1pct_fpr": 0.1, "accuracy": 0.7,
        ], protocol: evaluationProtocol)
        try database.recordEvaluation(run: run, step: 2, values: [
            "membership_auc": 0.6, "membership_auc_reference": 0.95, "canary_exposure_0": 5, "canary_exposure_12": 9,
            "canary_exposure_mean": 7, "roc_auc": 0.8, "tpr_at_1pct_fpr": 0.05, "accuracy": 0.75,
        ], protocol: evaluationProtocol)

        // then the leaderboard's best is the lower leak and the higher detection score.
        let best = try database.writer.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT metric, value FROM leaderboard WHERE run_id = ?",
                                                              arguments: [run]).map { ($0["metric"] as String, $0["value"] as Double) })
        }
        XCTAssertEqual(best, ["membership_auc": 0.6, "membership_auc_reference": 0.8, "canary_exposure_0": 5,
                              "canary_exposure_12": 4, "canary_exposure_mean": 7, "roc_auc": 0.8, "tpr_at_1pct_fpr": 0.1,
                              "accuracy": 0.75])
        for metric in ["membership_auc", "membership_auc_reference", "canary_exposure_mean", "canary_exposure_0",
                       "canary_exposure_12"] {
            XCTAssertEqual(try direction(metric, in: database), 0, metric)
        }
        for metric in ["roc_auc", "tpr_at_1pct_fpr", "accuracy", "d_accuracy_clean", "d_accuracy_robust", "bleu4"] {
            XCTAssertEqual(try direction(metric, in: database), 1, metric)
        }
        // A metric that merely starts like a canary's is not one.
        try database.recordEvaluation(run: run, step: 3, values: ["canary_exposure_note": 1], protocol: evaluationProtocol)
        XCTAssertNil(try direction("canary_exposure_note", in: database))
    }

    func testAStoreFromBeforeGetsTheDirectionsOfItsCanaries() throws {
        // Given a store at schema version 8 with a canary's exposure recorded,
        let path = try legacyStore(self, file: "v8.sqlite", upTo: "v8-evaluation-protocol-name", """
            INSERT INTO evaluations (run_id, step, metric, value, kind, sample_count, reference_set, tokenizer, time)
            VALUES (1, 10, 'canary_exposure_7', 3.5, 'finite', 100, 'coco:train', 'ids', '2026-01-01');
            """)
        // when this build opens it, then the old canary's exposure counts as lower-is-better too.
        let database = try RunDatabase(path: path)
        XCTAssertEqual(try direction("canary_exposure_7", in: database), 0)
        XCTAssertEqual(try direction("membership_auc", in: database), 0)
    }
}
