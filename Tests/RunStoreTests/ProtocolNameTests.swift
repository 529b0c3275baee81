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
        let path = try legacyStore(self, file: "v6.sqlite", upTo: "v6-run-owner", """
            INSERT INTO evaluations (run_id, step, metric, value, kind, sample_count, reference_set, tokenizer, time)
            VALUES (1, 10, 'bleu4', 0.25, 'finite', 100, 'coco:test', 'ids', '2026-01-01');
            """)

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

/// The LM behind an LM score is part of its protocol (migration v11): two LMs' scores are not ranked together, in
/// `leaderboard_by_protocol` or in `compare`.
final class LanguageModelProtocolTests: XCTestCase {
    func testScoresUnderTwoLanguageModelsStayApart() throws {
        let store = try RunDatabase.inMemory()
        let id = try store.startRun(makeRun(name: "gen"))
        for (lm, value) in [("run 7, a", 3.2), ("run 9, b", 2.5)] {
            try store.recordEvaluation(run: id, step: 1, values: ["lm_score": value],
                                       protocol: EvaluationProtocol(sampleCount: 100, referenceSet: "lm", tokenizer: "t", languageModel: lm))
        }
        let rows = try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT language_model, value FROM leaderboard_by_protocol WHERE metric = 'lm_score' ORDER BY value")
        }
        XCTAssertEqual(rows.map { $0["language_model"] as String }, ["run 9, b", "run 7, a"], "one best per LM, not the lowest over both")
        let other = try store.startRun(makeRun(name: "other"))
        let compared = try store.compare([id, other]).evaluations.filter { $0.key == "lm_score" }
        XCTAssertEqual(compared.count, 2)
        XCTAssertTrue(compared.allSatisfy { $0.protocol.contains("LM run ") }, "\(compared.map(\.protocol))")
    }
}
