import GRDB
@testable import RunStore
import TestSupport
import XCTest

final class SchemaTests: XCTestCase {
    func testMigratesAnEmptyDatabaseToEveryTableAndView() throws {
        // Given an empty database, when the run store opens it
        let database = try RunDatabase.inMemory()

        // then every table and view of the spec exists and user_version is this build's schema version.
        try database.writer.read { db in
            let objects = try Row.fetchAll(db, sql: "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
            let tables = Set(objects.filter { $0["type"] == "table" }.map { $0["name"] as String })
            let views = Set(objects.filter { $0["type"] == "view" }.map { $0["name"] as String })
            XCTAssertTrue(tables.isSuperset(of: ["runs", "params", "metrics", "evaluations", "samples", "checkpoints",
                                                 "metric_directions"]), "\(tables)")
            XCTAssertEqual(views, ["runs_view", "latest_metrics", "latest_evaluations", "leaderboard",
                                   "leaderboard_by_protocol"])
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), RunDatabase.schemaVersion)
            let runColumns = Set(try db.columns(in: "runs").map(\.name))
            XCTAssertTrue(runColumns.isSuperset(of: [
                "id", "name", "algorithm", "generator", "discriminator", "corpus", "corpus_sha256", "vocabulary",
                "seed", "status", "started_at", "ended_at", "heartbeat_at", "exit_reason", "config_json",
                "code_commit", "code_dirty", "host", "toolchain", "cpu", "kernels",
            ]))
            let indexes = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index'")
            XCTAssertTrue(indexes.contains("metrics_by_run_key_step"))
            XCTAssertTrue(try db.foreignKeys(on: "metrics").contains { $0.destinationTable == "runs" })
        }
    }

    func testUpgradesAVersion2StoreKeepingItsEvaluations() throws {
        // Given a store written by schema version 2 (before top_k / top_p), holding one evaluation
        let path = try temporaryDirectory(self).appendingPathComponent("textgan.sqlite").path
        do {
            let queue = try DatabaseQueue(path: path)
            try RunDatabase.migrator.migrate(queue, upTo: "v2-eval-metric-directions")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO runs (name, algorithm, generator, corpus, seed, started_at, heartbeat_at, stale_after,
                                      config_json, status)
                    VALUES ('old', 'mle', 'lstm', 'coco', 1, '2026-01-01', '2026-01-01', 60, '{}', 'finished');
                    INSERT INTO evaluations (run_id, step, metric, value, kind, sample_count, reference_set, tokenizer,
                                             temperature, time)
                    VALUES (1, 5, 'bleu2', 0.25, 'finite', 100, 'coco:test', 'space', 1.0, '2026-01-01');
                    """)
            }
            XCTAssertEqual(try queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") }, 2)
        }

        // when this build opens it
        let database = try RunDatabase(path: path)

        // then it is upgraded, the old score is still there with no sampling filter, and new scores carry theirs.
        let old = try database.evaluations(run: 1)
        XCTAssertEqual(old.map(\.value), [0.25])
        XCTAssertEqual(old.first?.evaluationProtocol.topK, nil)
        XCTAssertEqual(old.first?.evaluationProtocol.topP, nil)
        let filtered = EvaluationProtocol(sampleCount: 100, referenceSet: "coco:test", tokenizer: "space",
                                          temperature: 1, topK: 40, topP: 0.9)
        try database.recordEvaluation(run: 1, step: 6, values: ["bleu2": 0.2], protocol: filtered, signOfLife: false)
        try database.writer.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), RunDatabase.schemaVersion)
            let latest = try Row.fetchOne(db, sql: "SELECT step, top_k, top_p FROM latest_evaluations WHERE metric = 'bleu2'")
            XCTAssertEqual(latest?["step"], 6)
            XCTAssertEqual(latest?["top_k"], 40)
            XCTAssertEqual(latest?["top_p"], 0.9)
        }
    }

    func testUpgradesAVersion8StoreNamingItsHeldOutLikelihoodBySplit() throws {
        // Given a store written by schema version 8, whose oracle run recorded the held-out NLL as `nll_gen`
        let path = try temporaryDirectory(self).appendingPathComponent("textgan.sqlite").path
        do {
            let queue = try DatabaseQueue(path: path)
            try RunDatabase.migrator.migrate(queue, upTo: "v8-evaluation-protocol-name")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO runs (name, algorithm, generator, corpus, seed, started_at, heartbeat_at, stale_after,
                                      config_json, status)
                    VALUES ('old', 'mle', 'lstm', 'oracle', 1, '2026-01-01', '2026-01-01', 60, '{}', 'finished');
                    INSERT INTO metrics (run_id, phase, step, phase_step, key, value, kind, time)
                    VALUES (1, 'mle', 156, 156, 'nll_gen', 7.5, 'finite', '2026-01-01');
                    INSERT INTO evaluations (run_id, step, metric, value, kind, sample_count, reference_set, tokenizer,
                                             time)
                    VALUES (1, 156, 'nll_gen', 7.5, 'finite', 2048, 'oracle:seqgan-original:held-out', 'ids', '2026-01-01');
                    """)
            }
        }

        // when this build opens it,
        let database = try RunDatabase(path: path)

        // then the score is named by its data, nothing is called nll_gen any more, the new likelihood and LM scores
        // are lower-is-better, and scores can name their language model.
        XCTAssertEqual(try database.metricHistory(run: 1, key: "nll_gen_held_out").map(\.value), [7.5])
        XCTAssertEqual(try database.evaluations(run: 1).map(\.metric), ["nll_gen_held_out"])
        try database.writer.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), RunDatabase.schemaVersion)
            XCTAssertEqual(try Int.fetchOne(db, sql: """
                SELECT (SELECT count(*) FROM metrics WHERE key = 'nll_gen')
                     + (SELECT count(*) FROM evaluations WHERE metric = 'nll_gen')
                     + (SELECT count(*) FROM metric_directions WHERE metric = 'nll_gen')
                """), 0)
            XCTAssertEqual(try Int.fetchAll(db, sql: """
                SELECT higher_is_better FROM metric_directions
                WHERE metric IN ('nll_gen_held_out', 'nll_gen_train', 'lm_score', 'reverse_lm_score')
                """), [0, 0, 0, 0])
        }
        var lm = EvaluationProtocol(sampleCount: 100, referenceSet: "lm", tokenizer: "ids", seed: 0, temperature: 1)
        lm.languageModel = "run 2, runs/2/latest.safetensors"
        try database.recordEvaluation(run: 1, step: 156, values: ["lm_score": 8.25], protocol: lm, signOfLife: false)
        XCTAssertEqual(try database.evaluations(run: 1).first { $0.metric == "lm_score" }?.evaluationProtocol.languageModel, "run 2, runs/2/latest.safetensors")
    }

    func testUpgradesAVersion11StoreAndRecordsEachNewRunsCPUAndKernels() throws {
        // Given a store written by schema version 11 with one finished run,
        let path = try legacyStore(self, file: "textgan.sqlite", upTo: "v11-language-model-in-the-protocol", "")

        // when this build opens it and starts a run,
        let database = try RunDatabase(path: path)
        var run = makeRun()
        run.environment.cpu = "Test CPU (avx512f)"
        run.environment.kernels = "fp32 gemm avx512"
        let id = try database.startRun(run)

        // then the old run knows neither, and the new one reads back both, from the table and from runs_view.
        XCTAssertNil(try database.run(1).cpu)
        XCTAssertNil(try database.run(1).kernels)
        XCTAssertEqual(try database.run(id).cpu, "Test CPU (avx512f)")
        XCTAssertEqual(try database.run(id).kernels, "fp32 gemm avx512")
        try database.writer.read { db in
            XCTAssertEqual(try String.fetchAll(db, sql: "SELECT kernels FROM runs_view WHERE id = ?", arguments: [id]),
                           ["fp32 gemm avx512"])
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), 12)
        }
    }

    func testUpgradesAVersion3StoreGivingItsRowsTheirPhaseStep() throws {
        // Given a store written by schema version 3 (one step column, counted per phase), with a SeqGAN run's rows
        let path = try temporaryDirectory(self).appendingPathComponent("textgan.sqlite").path
        do {
            let queue = try DatabaseQueue(path: path)
            try RunDatabase.migrator.migrate(queue, upTo: "v3-eval-top-k-top-p")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO runs (name, algorithm, generator, corpus, seed, started_at, heartbeat_at, stale_after,
                                      config_json, status)
                    VALUES ('old', 'seqgan', 'lstm', 'coco', 1, '2026-01-01', '2026-01-01', 60, '{}', 'finished');
                    INSERT INTO metrics (run_id, phase, step, key, value, kind, time)
                    VALUES (1, 'mle', 40, 'loss', 2.5, 'finite', '2026-01-01'),
                           (1, 'adversarial', 3, 'pg_loss', 9.0, 'finite', '2026-01-02');
                    INSERT INTO evaluations (run_id, step, metric, value, kind, sample_count, reference_set, tokenizer,
                                             temperature, time)
                    VALUES (1, 3, 'bleu2', 0.25, 'finite', 100, 'coco:test', 'space', 1.0, '2026-01-02');
                    INSERT INTO samples (run_id, step, temperature, text, time) VALUES (1, 3, 1.0, 'a cat', '2026-01-02');
                    """)
            }
        }

        // when this build opens it,
        let database = try RunDatabase(path: path)

        // then every old row keeps its step as its phase step, and new rows carry both.
        XCTAssertEqual(try database.metricHistory(run: 1, key: "loss").map(\.phaseStep), [40])
        XCTAssertEqual(try database.evaluations(run: 1).map(\.phaseStep), [3])
        try database.recordMetrics(run: 1, phase: "adversarial", step: 45, phaseStep: 4, values: ["pg_loss": 8.0])
        try database.writer.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), RunDatabase.schemaVersion)
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT phase_step FROM samples"), 3)
            let latest = try Row.fetchOne(db, sql: "SELECT step, phase_step, value FROM latest_metrics WHERE key = 'pg_loss'")
            XCTAssertEqual(latest?["step"], 45)
            XCTAssertEqual(latest?["phase_step"], 4)
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT phase_step FROM latest_evaluations WHERE metric = 'bleu2'"), 3)
        }
    }

    func testUpgradesAVersion4StoreWhoseEvaluationsHaveNoRecorder() throws {
        // Given a store written by schema version 4, with a score past step 10 of unknown origin
        let path = try temporaryDirectory(self).appendingPathComponent("textgan.sqlite").path
        do {
            let queue = try DatabaseQueue(path: path)
            try RunDatabase.migrator.migrate(queue, upTo: "v4-run-step-and-phase-step")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO runs (name, algorithm, generator, corpus, seed, started_at, heartbeat_at, stale_after,
                                      config_json, status)
                    VALUES ('old', 'mle', 'lstm', 'coco', 1, '2026-01-01', '2026-01-01', 60, '{}', 'interrupted');
                    INSERT INTO evaluations (run_id, step, phase_step, metric, value, kind, sample_count, reference_set,
                                             tokenizer, temperature, time)
                    VALUES (1, 20, 20, 'bleu2', 0.25, 'finite', 100, 'coco:test', 'space', 1.0, '2026-01-02');
                    """)
            }
        }

        // when this build opens it
        let database = try RunDatabase(path: path)

        // then the old row has no recorder, new ones have theirs, and a resume at step 10 drops the old row (it
        // may be training's) while keeping a new eval's.
        XCTAssertEqual(try database.evaluations(run: 1).map(\.recordedBy), [nil])
        try database.recordEvaluation(run: 1, step: 20, values: ["bleu3": 0.2], protocol: evaluationProtocol,
                                      signOfLife: false)
        try database.resumeRun(1)
        try database.recordEvaluation(run: 1, step: 5, values: ["bleu4": 0.1], protocol: evaluationProtocol)
        XCTAssertEqual(try database.evaluations(run: 1).map(\.recordedBy), ["train", nil, "eval"])
        try database.forgetHistory(run: 1, after: 10)
        XCTAssertEqual(try database.evaluations(run: 1).map(\.metric), ["bleu4", "bleu3"])
        try database.writer.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), RunDatabase.schemaVersion)
        }
    }

    func testUpgradesAVersion5StoreWhoseRunsHaveNoOwner() throws {
        // Given a store written by schema version 5, with an interrupted run
        let path = try temporaryDirectory(self).appendingPathComponent("textgan.sqlite").path
        do {
            let queue = try DatabaseQueue(path: path)
            try RunDatabase.migrator.migrate(queue, upTo: "v5-evaluations-recorded-by")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO runs (name, algorithm, generator, corpus, seed, started_at, heartbeat_at, stale_after,
                                      config_json, status)
                    VALUES ('old', 'mle', 'lstm', 'coco', 1, '2026-01-01', '2026-01-01', 60, '{}', 'interrupted');
                    """)
            }
        }

        // when this build opens it, the run has no owner; a resume gives it one, whose writes pass and others' fail.
        let database = try RunDatabase(path: path)
        let owner = { try database.writer.read { try String.fetchOne($0, sql: "SELECT owner FROM runs WHERE id = 1") } }
        XCTAssertNil(try owner())
        try database.resumeRun(1, owner: "new")
        XCTAssertEqual(try owner(), "new")
        try database.recordMetrics(run: 1, phase: "mle", step: 1, values: ["loss": 1], owner: "new")
        XCTAssertThrowsError(try database.recordMetrics(run: 1, phase: "mle", step: 2, values: ["loss": 1], owner: "old"))
        try database.writer.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), RunDatabase.schemaVersion)
        }
    }

    func testReopeningAnOnDiskDatabaseKeepsItsRunsAndUsesWAL() throws {
        // Given a run stored on disk
        let path = try temporaryDirectory(self).appendingPathComponent("runs/textgan.sqlite").path
        let id = try RunDatabase(path: path).startRun(makeRun())

        // when the file is opened again
        let reopened = try RunDatabase(path: path)

        // then the run is there, nothing was migrated twice, and the journal is WAL.
        XCTAssertEqual(try reopened.run(id).name, "seqgan-lstm")
        try reopened.writer.read { db in
            XCTAssertEqual(try String.fetchOne(db, sql: "PRAGMA journal_mode"), "wal")
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT count(*) FROM grdb_migrations"),
                           RunDatabase.schemaVersion)
        }
    }

    func testRefusesADatabaseMigratedByANewerTextgan() throws {
        // Given a store that a newer textgan migrated (an unknown migration applied)
        let path = try temporaryDirectory(self).appendingPathComponent("future.sqlite").path
        let database = try RunDatabase(path: path)
        try database.writer.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v2-from-the-future')")
        }

        // when this build opens it, then it refuses with a message naming the path and the unknown migration.
        XCTAssertThrowsError(try RunDatabase(path: path)) { error in
            guard case RunStoreError.schemaTooNew(let errorPath, _, let known, let unknown) = error else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(errorPath, path)
            XCTAssertEqual(known, RunDatabase.schemaVersion)
            XCTAssertEqual(unknown, ["v2-from-the-future"])
            XCTAssertTrue(String(describing: error).contains("newer textgan"), String(describing: error))
        }
    }

    func testRefusesADatabaseWhoseUserVersionIsNewer() throws {
        // Given a store whose PRAGMA user_version is ahead of this build
        let path = try temporaryDirectory(self).appendingPathComponent("future.sqlite").path
        try RunDatabase(path: path).writer.write { db in
            try db.execute(sql: "PRAGMA user_version = \(RunDatabase.schemaVersion + 1)")
        }

        // when it is opened, then it is refused, and the CLI says so on stderr with exit status 1.
        XCTAssertThrowsError(try RunDatabase(path: path)) { error in
            XCTAssertEqual(error as? RunStoreError, .schemaTooNew(
                path: path, version: RunDatabase.schemaVersion + 1, known: RunDatabase.schemaVersion,
                unknownMigrations: []))
        }
        let cli = try runProcess("textgan", ["runs", "--db", path])
        XCTAssertNotEqual(cli.status, 0)
        XCTAssertTrue(cli.stderr.contains("newer textgan"), cli.stderr)
    }

    func testCreatesTheDatabaseInMissingDirectories() throws {
        // Given a path whose directories do not exist, when a run store opens it, then it is created there.
        let path = try temporaryDirectory(self).appendingPathComponent("a/b/c/runs.sqlite").path
        _ = try RunDatabase(path: path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
    }
}
