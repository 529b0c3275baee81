import Foundation
import GRDB
import RunStore
import TestSupport
import XCTest

@testable import RunStore

/// Migration v7: evaluations name the protocol they follow (`eval --protocol`).
final class ProtocolNameTests: XCTestCase {
    func testAStoreFromBeforeTheProtocolColumnUpgradesAndNewScoresCarryTheirName() throws {
        // Given a store at schema version 6 with one evaluation,
        let path = try temporaryDirectory(self).appendingPathComponent("v6.sqlite").path
        do {
            let queue = try DatabaseQueue(path: path)
            try RunDatabase.migrator.migrate(queue, upTo: "v6-run-owner")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO runs (name, algorithm, generator, corpus, seed, started_at, heartbeat_at, stale_after,
                                      config_json, status)
                    VALUES ('old', 'mle', 'lstm', 'coco', 1, '2026-01-01', '2026-01-01', 60, '{}', 'finished');
                    INSERT INTO evaluations (run_id, step, metric, value, kind, sample_count, reference_set, tokenizer, time)
                    VALUES (1, 10, 'bleu4', 0.25, 'finite', 100, 'coco:test', 'ids', '2026-01-01');
                    """)
            }
        }

        // when this build opens it and records a score under a named protocol,
        let database = try RunDatabase(path: path)
        try database.recordEvaluation(
            run: 1, step: 10, values: ["bleu5": 0.2],
            protocol: EvaluationProtocol(sampleCount: 10_000, referenceSet: "coco:test", tokenizer: "ids", name: "gfs"),
            signOfLife: false)

        // then the old score has no name, the new one has its own, and both read back through the record.
        let rows = try database.evaluations(run: 1)
        XCTAssertEqual(rows.map(\.metric), ["bleu4", "bleu5"])
        XCTAssertEqual(rows.map(\.protocolName), [nil, "gfs"])
        XCTAssertEqual(rows[1].evaluationProtocol.name, "gfs")
        try database.writer.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), RunDatabase.schemaVersion)
            XCTAssertEqual(try String.fetchAll(db, sql: "SELECT protocol FROM evaluations WHERE protocol IS NOT NULL"), ["gfs"])
        }
    }
}
