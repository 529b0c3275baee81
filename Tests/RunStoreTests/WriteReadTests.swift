import GRDB
import RunStore
import TestSupport
import XCTest

final class WriteReadTests: XCTestCase {
    // MARK: - Params

    func testConfigIsFlattenedIntoTypedDottedParams() throws {
        // Given a run whose config nests objects and holds every JSON type
        let database = try RunDatabase.inMemory()
        let id = try database.startRun(makeRun(config: """
            {"g_lr": 0.01, "steps": 2000, "use_highway": true, "tokenizer": "whitespace", "note": null,
             "generator": {"hidden": 32, "optimizer": {"beta1": 0.9}}, "filter_sizes": [1, 2, 3]}
            """))

        // when its params are read
        let params = try database.details(of: id).params
        let byKey = Dictionary(uniqueKeysWithValues: params.map { ($0.key, $0) })

        // then each leaf is one dotted key with its JSON type, arrays stay whole.
        XCTAssertEqual(params.map(\.key), ["filter_sizes", "g_lr", "generator.hidden", "generator.optimizer.beta1",
                                           "note", "steps", "tokenizer", "use_highway"])
        XCTAssertEqual(byKey["g_lr"]?.value, 0.01.databaseValue)
        XCTAssertEqual(byKey["g_lr"]?.type, "real")
        XCTAssertEqual(byKey["steps"]?.value, 2000.databaseValue)
        XCTAssertEqual(byKey["steps"]?.type, "integer")
        XCTAssertEqual(byKey["use_highway"]?.text, "true")
        XCTAssertEqual(byKey["generator.optimizer.beta1"]?.value, 0.9.databaseValue)
        XCTAssertEqual(byKey["filter_sizes"]?.text, "[1,2,3]")
        XCTAssertEqual(byKey["note"]?.value, .null)
        XCTAssertEqual(byKey["tokenizer"]?.text, "whitespace")

        // and numeric params compare as numbers in SQL.
        let above = try database.writer.read { db in
            try Int64.fetchAll(db, sql: "SELECT run_id FROM params WHERE key = 'g_lr' AND value > 0.005")
        }
        XCTAssertEqual(above, [id])
    }

    func testAConfigThatIsNotAJSONObjectIsRejectedAndNothingIsWritten() throws {
        let database = try RunDatabase.inMemory()
        for bad in ["[1, 2]", "{\"g_lr\": ", "0.1"] {
            XCTAssertThrowsError(try database.startRun(makeRun(config: bad))) { error in
                guard case RunStoreError.invalidConfigJSON = error else { return XCTFail("\(error)") }
            }
        }
        XCTAssertEqual(try database.runs().count, 0)
    }

    // MARK: - Non-finite values

    func testNaNAndInfinitiesRoundTripDistinguishably() throws {
        // Given a run that records NaN, +inf, -inf, zero and an ordinary loss
        let database = try RunDatabase.inMemory()
        let id = try database.startRun(makeRun())
        let values: [Double] = [.nan, .infinity, -.infinity, 0, 2.5, -1e-300]
        for (step, value) in values.enumerated() {
            try database.recordMetrics(run: id, phase: "adversarial", step: step, epoch: 1, values: ["g_loss": value])
        }
        try database.recordEvaluation(run: id, step: 6, values: ["nll_oracle": .nan, "bleu4": .infinity],
                                      protocol: evaluationProtocol)

        // when they are read back
        let history = try database.metricHistory(run: id, key: "g_loss").map(\.value)
        let evaluations = try database.evaluations(run: id)

        // then each comes back as written, and SQL sees the kind and is_nan columns.
        XCTAssertEqual(history.count, values.count)
        XCTAssertTrue(history[0].isNaN)
        XCTAssertEqual(Array(history[1...]), Array(values[1...]))
        XCTAssertEqual(evaluations.first { $0.metric == "bleu4" }?.value, .infinity)
        XCTAssertTrue(evaluations.first { $0.metric == "nll_oracle" }?.value.isNaN ?? false)
        let rows = try database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT value, kind, is_nan FROM metrics WHERE run_id = ? ORDER BY step",
                             arguments: [id])
        }
        XCTAssertEqual(rows.map { $0["kind"] as String }, ["nan", "inf", "-inf", "finite", "finite", "finite"])
        XCTAssertEqual(rows.map { $0["is_nan"] as Bool }, [true, false, false, false, false, false])
        XCTAssertTrue((rows[0]["value"] as DatabaseValue).isNull)
        XCTAssertEqual(rows[1]["value"] as Double, .infinity)
        // and a summary excludes non-finite values from min and max but counts them.
        let summary = try XCTUnwrap(database.details(of: id).metrics.first)
        XCTAssertEqual(summary.nonFinite, 3)
        XCTAssertEqual(summary.min, -1e-300)
        XCTAssertEqual(summary.max, 2.5)
    }

    // MARK: - Views

    func testLatestMetricsViewAndLeaderboardFollowEachMetricsDirection() throws {
        // Given two runs with BLEU-4 (higher is better) and NLL-oracle (lower is better) histories
        let database = try RunDatabase.inMemory()
        let a = try database.startRun(makeRun(name: "a"))
        let b = try database.startRun(makeRun(name: "b"))
        try database.recordEvaluation(run: a, step: 100, values: ["bleu4": 0.20, "nll_oracle": 9.0], protocol: evaluationProtocol)
        try database.recordEvaluation(run: a, step: 200, values: ["bleu4": 0.35, "nll_oracle": 8.5], protocol: evaluationProtocol)
        try database.recordEvaluation(run: a, step: 300, values: ["bleu4": 0.30, "nll_oracle": 8.7], protocol: evaluationProtocol)
        try database.recordEvaluation(run: b, step: 100, values: ["bleu4": 0.25, "nll_oracle": 8.0], protocol: evaluationProtocol)
        try database.recordMetrics(run: a, phase: "pretrain_g", step: 1, values: ["g_loss": 3])
        try database.recordMetrics(run: a, phase: "adversarial", step: 2, values: ["g_loss": 2])

        // when the views are queried
        let (leaders, latest) = try database.writer.read { db in
            (try Row.fetchAll(db, sql: "SELECT run_id, metric, value, step FROM leaderboard ORDER BY metric, run_id"),
             try Row.fetchAll(db, sql: "SELECT run_id, phase, key, step, value FROM latest_metrics"))
        }

        // then each run's best is the maximum BLEU and the minimum NLL, with its step
        struct Best: Equatable { var run: Int64; var metric: String; var value: Double; var step: Int }
        let best = leaders.map { Best(run: $0["run_id"], metric: $0["metric"], value: $0["value"], step: $0["step"]) }
        XCTAssertEqual(best, [
            Best(run: a, metric: "bleu4", value: 0.35, step: 200),
            Best(run: b, metric: "bleu4", value: 0.25, step: 100),
            Best(run: a, metric: "nll_oracle", value: 8.5, step: 200),
            Best(run: b, metric: "nll_oracle", value: 8.0, step: 100),
        ])
        // and the latest g_loss is the last step's, whatever its phase.
        XCTAssertEqual(latest.count, 1)
        XCTAssertEqual(latest[0]["phase"] as String, "adversarial")
        XCTAssertEqual(latest[0]["value"] as Double, 2)
        // and the run list shows the best BLEU-4 and latest NLL.
        let summary = try XCTUnwrap(database.runs().first { $0.run.id == a })
        XCTAssertEqual(summary.bestBLEU4, 0.35)
        XCTAssertEqual(summary.latestNLLOracle, 8.7)
        XCTAssertNil(summary.latestNLLTest)
    }

    func testLeaderboardByProtocolKeepsProtocolsApart() throws {
        // Given a run scored at temperature 1 and, higher, at temperature 0.7 and with a top-k filter
        let database = try RunDatabase.inMemory()
        let run = try database.startRun(makeRun())
        var cool = evaluationProtocol, filtered = evaluationProtocol
        cool.temperature = 0.7
        filtered.topK = 40
        try database.recordEvaluation(run: run, step: 1, values: ["bleu4": 0.20], protocol: evaluationProtocol)
        try database.recordEvaluation(run: run, step: 2, values: ["bleu4": 0.22], protocol: evaluationProtocol)
        try database.recordEvaluation(run: run, step: 2, values: ["bleu4": 0.40], protocol: cool)
        try database.recordEvaluation(run: run, step: 2, values: ["bleu4": 0.45], protocol: filtered)

        // when the per-protocol leaderboard is read
        let rows = try database.writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT value, step, evaluations, temperature, top_k FROM leaderboard_by_protocol
                WHERE run_id = ? AND metric = 'bleu4' ORDER BY value
                """, arguments: [run])
        }

        // then each protocol has its own best, and the plain one is not overtaken by the other two.
        XCTAssertEqual(rows.map { $0["value"] as Double }, [0.22, 0.40, 0.45])
        XCTAssertEqual(rows.map { $0["evaluations"] as Int }, [2, 1, 1])
        XCTAssertEqual(rows.map { $0["top_k"] as Int? }, [nil, nil, 40])
        XCTAssertEqual(try database.writer.read { db in
            try Double.fetchOne(db, sql: "SELECT value FROM leaderboard WHERE run_id = ? AND metric = 'bleu4'",
                                arguments: [run])
        }, 0.45)
    }

    // MARK: - Samples, checkpoints, details, compare

    func testDetailsShowTheLastStepsSamplesCheckpointsAndEvaluationProtocol() throws {
        let database = try RunDatabase.inMemory()
        let id = try database.startRun(makeRun())
        try database.recordSamples(run: id, step: 10, temperature: 1.0, texts: ["old sample"])
        try database.recordSamples(run: id, step: 20, temperature: 0.7, texts: ["the cat", "a dog", "the end"])
        try database.recordCheckpoint(run: id, step: 20, path: "runs/1/step-20.safetensors",
                                      sha256: String(repeating: "C", count: 64), bytes: 1234)
        try database.recordEvaluation(run: id, step: 20, values: ["bleu2": 0.5], protocol: evaluationProtocol)

        let details = try database.details(of: id, sampleLimit: 2)

        XCTAssertEqual(details.lastSamples.map(\.text), ["the cat", "a dog"])
        XCTAssertEqual(details.lastSamples.map(\.temperature), [0.7, 0.7])
        XCTAssertEqual(details.checkpoints.map(\.sha256), [String(repeating: "c", count: 64)])
        XCTAssertEqual(details.checkpoints.map(\.bytes), [1234])
        XCTAssertEqual(details.latestEvaluations.map(\.evaluationProtocol), [evaluationProtocol])
        XCTAssertThrowsError(try database.details(of: 999)) { XCTAssertEqual($0 as? RunStoreError, .noSuchRun(999)) }
    }

    func testCompareFoldsIdenticalParamsAndLinesUpMetrics() throws {
        let database = try RunDatabase.inMemory()
        let a = try database.startRun(makeRun(name: "a", config: #"{"g_lr": 0.01, "batch_size": 64, "only_a": 1}"#))
        let b = try database.startRun(makeRun(name: "b", config: #"{"g_lr": 0.001, "batch_size": 64}"#))
        try database.recordMetrics(run: a, phase: "mle", step: 5, values: ["g_loss": 1.5])
        try database.recordEvaluation(run: b, step: 5, values: ["bleu4": 0.3], protocol: evaluationProtocol)

        let comparison = try database.compare([b, a])

        XCTAssertEqual(comparison.runs.map(\.name), ["b", "a"])
        XCTAssertEqual(comparison.params.count, 3)
        XCTAssertEqual(comparison.differingParams.map(\.key), ["g_lr", "only_a"])
        XCTAssertEqual(comparison.differingParams.map(\.values), [["0.001", "0.01"], [nil, "1"]])
        XCTAssertEqual(comparison.metrics.map(\.key), ["g_loss"])
        XCTAssertEqual(comparison.metrics[0].values, [nil, 1.5])
        XCTAssertEqual(comparison.evaluations[0].values, [0.3, nil])
    }

    /// `compare` never puts scores of different protocols in one row, and the runs list's best BLEU-4 is at the
    /// default protocol: a temperature sweep does not move it.
    func testEvaluationsCompareWithinAProtocolAndTheHeadlineIsAtTheDefault() throws {
        let database = try RunDatabase.inMemory()
        let a = try database.startRun(makeRun(name: "a"))
        let b = try database.startRun(makeRun(name: "b"))
        let training = EvaluationProtocol(sampleCount: 2000, referenceSet: "coco:test", tokenizer: "word", temperature: 1)
        let swept = EvaluationProtocol(sampleCount: 10000, referenceSet: "coco:test", tokenizer: "word", temperature: 0.5)
        try database.recordEvaluation(run: a, step: 10, values: ["bleu4": 0.20], protocol: training)
        try database.recordEvaluation(run: a, step: 20, values: ["bleu4": 0.40], protocol: swept)
        try database.recordEvaluation(run: b, step: 10, values: ["bleu4": 0.25], protocol: training)

        let comparison = try database.compare([a, b])
        XCTAssertEqual(comparison.evaluations.map(\.key), ["bleu4", "bleu4"])
        XCTAssertEqual(comparison.evaluations.map(\.protocol),
                       ["10000 samples, coco:test, word, T=0.5", "2000 samples, coco:test, word, T=1.0"])
        XCTAssertEqual(comparison.evaluations.map(\.values), [[0.40, nil], [0.20, 0.25]])
        let summaries = try database.runs()
        XCTAssertEqual(summaries.first { $0.run.id == a }?.bestBLEU4, 0.20, "the T=0.5 probe is not the headline")
    }

    func testAResumeForgetsTrainingsRowsPastItsCheckpointButKeepsEvalsScores() throws {
        // Given a run that recorded steps 10 and 20 (with an evaluation and a checkpoint each), whose step-20
        // checkpoint `textgan eval` scored, and which then crashed before its latest checkpoint reached step 20
        let database = try RunDatabase.inMemory()
        let id = try database.startRun(makeRun())
        for step in [10, 20] {
            try database.recordMetrics(run: id, phase: "mle", step: step, values: ["loss": Double(step)])
            try database.recordEvaluation(run: id, step: step, values: ["nll_test": 3], protocol: evaluationProtocol)
            try database.recordSamples(run: id, step: step, temperature: 1, texts: ["at \(step)"])
            try database.recordCheckpoint(run: id, step: step, path: "/r/\(id)/best.safetensors",
                                          sha256: String(repeating: "0", count: 64), bytes: 1)
        }
        try database.recordEvaluation(run: id, step: 20, values: ["nll_test": 3, "bleu2": 0.5],
                                      protocol: evaluationProtocol, signOfLife: false)

        // when it resumes from its checkpoint at step 10
        let removed = try database.forgetHistory(run: id, after: 10)

        // then training's rows past step 10 are gone (it records them again) and eval's two scores stay.
        XCTAssertEqual(removed, 4)
        XCTAssertEqual(try database.metricHistory(run: id, key: "loss").map(\.step), [10])
        let evaluations = try database.evaluations(run: id)
        XCTAssertEqual(evaluations.map { "\($0.step) \($0.metric) \($0.recordedBy!)" },
                       ["10 nll_test train", "20 bleu2 eval", "20 nll_test eval"])
        let details = try database.details(of: id)
        XCTAssertEqual(details.checkpoints.map(\.step), [10])
        XCTAssertEqual(details.lastSamples.map(\.text), ["at 10"])
    }

    func testFiltersAndLimitSelectRunsNewestFirst() throws {
        let database = try RunDatabase.inMemory()
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        let seq = try database.startRun(makeRun(name: "1", algorithm: "seqgan", corpus: "coco"), at: t0)
        let leak = try database.startRun(makeRun(name: "2", algorithm: "leakgan", corpus: "coco"), at: t0 + 10)
        let other = try database.startRun(makeRun(name: "3", algorithm: "seqgan", corpus: "emnlp"), at: t0 + 20)
        try database.finish(run: seq, status: .finished, at: t0 + 30)
        try database.finish(run: leak, status: .finished, at: t0 + 30)
        try database.finish(run: other, status: .failed, reason: "boom", at: t0 + 30)

        XCTAssertEqual(try database.runs().map(\.run.id), [other, leak, seq])
        XCTAssertEqual(try database.runs(RunFilter(algorithm: "seqgan")).map(\.run.id), [other, seq])
        XCTAssertEqual(try database.runs(RunFilter(corpus: "coco", limit: 1)).map(\.run.id), [leak])
        XCTAssertEqual(try database.runs(RunFilter(status: .failed)).map(\.run.id), [other])
        XCTAssertEqual(try database.run(seq).duration, 30)
    }
}
