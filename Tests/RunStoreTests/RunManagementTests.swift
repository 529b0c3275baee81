import Foundation
import GRDB
@testable import RunStore
import TestSupport
import XCTest

/// Run management in the store: tags, notes, renames and deletion, and the migration that added them.
final class RunManagementStoreTests: XCTestCase {
    func testTagsNotesAndRenamesAreDataAndFilterTheList() throws {
        let store = try RunDatabase.inMemory()
        let a = try store.startRun(makeRun(name: "alpha"))
        let b = try store.startRun(makeRun(name: "beta"))
        // Hostile text is only data: bound as parameters, never spliced.
        let hostile = "x'); DROP TABLE runs; --"
        try store.rename(run: a, to: hostile)
        try store.setNote(run: a, "tried\n\"lr\" 0.01; DELETE FROM runs")
        XCTAssertEqual(try store.changeTags(run: a, adding: ["baseline", "'; DROP TABLE run_tags; --", "baseline"]),
                       ["'; DROP TABLE run_tags; --", "baseline"])
        try store.changeTags(run: b, adding: ["baseline", "sweep-1"])
        XCTAssertEqual(try store.run(a).name, hostile)
        XCTAssertEqual(try store.run(a).note, "tried\n\"lr\" 0.01; DELETE FROM runs")
        XCTAssertEqual(try store.runs().count, 2)

        func ids(_ filter: RunFilter) throws -> [Int64] { try store.runs(filter).map { $0.run.id! }.sorted() }
        XCTAssertEqual(try ids(RunFilter(tags: ["baseline"])), [a, b])
        XCTAssertEqual(try ids(RunFilter(tags: ["baseline", "sweep-1"])), [b], "every tag must match")
        XCTAssertEqual(try ids(RunFilter(namePattern: "x'*")), [a])
        XCTAssertEqual(try ids(RunFilter(namePattern: "*a")), [b])
        XCTAssertEqual(try ids(RunFilter(namePattern: "B*")), [], "GLOB is case-sensitive")
        XCTAssertEqual(try ids(RunFilter(tags: ["'; DROP TABLE run_tags; --"])), [a])
        XCTAssertEqual(try store.runs(RunFilter(tags: ["sweep-1"])).first?.tags, ["baseline", "sweep-1"])

        XCTAssertEqual(try store.changeTags(run: b, removing: ["sweep-1", "absent"]), ["baseline"])
        try store.setNote(run: a, nil)
        XCTAssertNil(try store.run(a).note)
        XCTAssertThrowsError(try store.rename(run: 99, to: "n")) { XCTAssertEqual($0 as? RunStoreError, .noSuchRun(99)) }
        XCTAssertThrowsError(try store.changeTags(run: 99, adding: ["t"])) { XCTAssertEqual($0 as? RunStoreError, .noSuchRun(99)) }
    }

    func testDeletingRemovesEveryRowOfTheRunsAndRefusesALiveOne() throws {
        let store = try RunDatabase.inMemory()
        let done = try store.startRun(makeRun(name: "done"))
        try store.recordMetrics(run: done, phase: "mle", step: 1, values: ["loss": 1])
        try store.recordEvaluation(run: done, step: 1, values: ["bleu4": 0.2], protocol: evaluationProtocol)
        try store.recordSamples(run: done, step: 1, temperature: 1, texts: ["a"])
        try store.recordCheckpoint(run: done, step: 1, path: "/x/latest.safetensors", sha256: String(repeating: "a", count: 64), bytes: 1)
        try store.changeTags(run: done, adding: ["t"])
        try store.finish(run: done, status: .finished)
        let live = try store.startRun(makeRun(name: "live"))

        // A live run among those asked refuses the whole deletion;
        XCTAssertThrowsError(try store.deleteRuns([done, live])) { XCTAssertEqual($0 as? RunStoreError, .runIsLive(live)) }
        XCTAssertEqual(try store.runs().count, 2)
        XCTAssertThrowsError(try store.deleteRuns([done, 42])) { XCTAssertEqual($0 as? RunStoreError, .noSuchRun(42)) }

        // without it, the run and every row about it go.
        try store.deleteRuns([done])
        try store.writer.read { db in
            for table in ["runs", "params", "metrics", "evaluations", "samples", "checkpoints", "run_tags"] {
                let column = table == "runs" ? "id" : "run_id"
                XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table) WHERE \(column) = ?", arguments: [done]), 0, table)
            }
        }
        XCTAssertEqual(try store.runs().map(\.run.name), ["live"])
    }

    func testAVersion6StoreUpgradesToNotesAndTags() throws {
        // Given a store written by schema version 6, with a finished run and its evaluations,
        let path = try temporaryDirectory(self).appendingPathComponent("textgan.sqlite").path
        do {
            let queue = try DatabaseQueue(path: path)
            try RunDatabase.migrator.migrate(queue, upTo: "v6-run-owner")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO runs (name, algorithm, generator, corpus, seed, started_at, heartbeat_at, stale_after,
                                      config_json, status, ended_at)
                    VALUES ('old', 'mle', 'lstm', 'coco', 1, '2026-01-01', '2026-01-01', 60, '{}', 'finished', '2026-01-02');
                    INSERT INTO evaluations (run_id, step, metric, value, kind, sample_count, reference_set, tokenizer,
                                             time, temperature)
                    VALUES (1, 5, 'bleu4', 0.25, 'finite', 100, 'coco:test', 'ids', '2026-01-01', 1);
                    """)
            }
        }
        // when this build opens it, the run reads as before, with no note or tags; both can be added; the views
        // that read runs_view still work; and the file is at this build's version, readable read-only.
        let store = try RunDatabase(path: path)
        let summary = try XCTUnwrap(store.runs().first)
        XCTAssertEqual(summary.run.name, "old")
        XCTAssertNil(summary.run.note)
        XCTAssertEqual(summary.tags, [])
        XCTAssertEqual(summary.bestBLEU4, 0.25)
        try store.setNote(run: 1, "from before")
        try store.changeTags(run: 1, adding: ["legacy"])
        XCTAssertEqual(try store.runs(RunFilter(tags: ["legacy"])).first?.run.note, "from before")
        try store.writer.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), RunDatabase.schemaVersion)
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT count(*) FROM leaderboard"), 1)
            XCTAssertEqual(try String.fetchOne(db, sql: "SELECT note FROM runs_view"), "from before")
        }
        XCTAssertEqual(try RunDatabase(path: path, readOnly: true).run(1).note, "from before")
        XCTAssertEqual(RunDatabase.schemaVersion, 12)
    }
}

/// `textgan runs rename | note | tag | untag | delete | export`, run as processes on the fixture.
final class RunManagementCLITests: XCTestCase {
    private var directory: URL!
    private var path: String { directory.appendingPathComponent("fixture.sqlite").path }

    override func setUpWithError() throws {
        directory = try temporaryDirectory(self)
        try makeFixture(at: path)
    }

    @discardableResult
    private func textgan(_ arguments: [String], status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> Finished {
        let result = try runProcess("textgan", arguments + ["--db", path])
        XCTAssertEqual(result.status, status, "\(arguments): \(result.stdout) \(result.stderr)", file: file, line: line)
        return result
    }

    func testRenameNoteTagAndFilter() throws {
        let hostile = "seqgan'; DROP TABLE runs; --"
        XCTAssertEqual(try textgan(["runs", "rename", "seqgan-1", hostile]).stdout, "run 1: renamed seqgan-1 → \(hostile)\n")
        try textgan(["runs", "note", hostile, "first try,\nwith \"quotes\""])
        XCTAssertEqual(try textgan(["runs", "tag", "1", "baseline", "coco"]).stdout, "run 1: tags baseline, coco\n")
        try textgan(["runs", "tag", "5", "baseline"])

        let tagged = try textgan(["runs", "--tag", "baseline"]).stdout.split(separator: "\n")
        XCTAssertEqual(tagged.count, 2 + 2, tagged.joined(separator: "\n"))
        XCTAssertTrue(tagged[0].hasSuffix("tags"), String(tagged[0]))
        let both = try readCSVObjects(textgan(["runs", "--tag", "baseline", "--tag", "coco", "--format", "csv"]).stdout)
        XCTAssertEqual(both.rows.map { $0["id"] }, ["1"])
        XCTAssertEqual(both.rows[0]["tags"], #"["baseline","coco"]"#)
        XCTAssertEqual(both.rows[0]["note"], "first try,\nwith \"quotes\"")
        XCTAssertEqual(try readCSVObjects(textgan(["runs", "--name", "seqgan'*", "--format", "csv"]).stdout).rows.map { $0["id"] }, ["1"])
        XCTAssertEqual(try readCSVObjects(textgan(["runs", "--name", "seqgan-?", "--format", "csv"]).stdout).rows.map { $0["id"] }, ["5", "4"])
        XCTAssertEqual(try textgan(["runs", "--name", "nothing*"]).stdout, "No runs match.\n")

        let show = try textgan(["runs", "show", "1"]).stdout
        XCTAssertTrue(show.contains("run 1: \(hostile)") && show.contains("baseline, coco") && show.contains("first try,\nwith"), show)
        XCTAssertEqual(try textgan(["runs", "untag", "1", "coco"]).stdout, "run 1: tags baseline\n")
        let untag = try textgan(["runs", "untag", "1", "coco"], status: 1)
        XCTAssertTrue(untag.stderr.hasPrefix("Error: run 1 has no tag coco"), untag.stderr)
        try textgan(["runs", "note", "1", ""])
        XCTAssertFalse(try textgan(["runs", "show", "1"]).stdout.contains("first try"))
        XCTAssertEqual(try RunDatabase(path: path).runs().count, 5, "the hostile name dropped nothing")

        // Names that would read as something else, and bad tags, are refused.
        for bad in [["rename", "2", "17"], ["rename", "2", "a/b"], ["rename", "2", ""], ["rename", "2", "two\nlines"],
                    ["tag", "2", " padded"], ["tag", "2"], ["rename", "77", "x"]] {
            let result = try runProcess("textgan", ["runs"] + bad + ["--db", path])
            XCTAssertNotEqual(result.status, 0, "\(bad)")
            XCTAssertTrue(result.stderr.hasPrefix("Error: "), "\(bad): \(result.stderr)")
        }
        XCTAssertNotEqual(try runProcess("textgan", ["train", "tang", "--name", "12", "--db", path]).status, 0)
    }

    func testDeleteListsAsksAndRemovesTheRunWithItsDirectory() throws {
        // Given run 1's directory beside the store with its checkpoints, a recorded checkpoint outside it,
        let runDirectory = directory.appendingPathComponent("1")
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        try Data(repeating: 1, count: 1000).write(to: runDirectory.appendingPathComponent("latest.safetensors"))
        try Data(repeating: 2, count: 24).write(to: runDirectory.appendingPathComponent("vocab.txt"))
        let outside = directory.appendingPathComponent("elsewhere.safetensors")
        try Data([1]).write(to: outside)
        let store = try RunDatabase(path: path)
        try store.recordCheckpoint(run: 1, step: 3, path: runDirectory.appendingPathComponent("latest.safetensors").path,
                                   sha256: String(repeating: "a", count: 64), bytes: 1000)
        try store.recordCheckpoint(run: 1, step: 4, path: outside.path, sha256: String(repeating: "b", count: 64), bytes: 1)

        // without a terminal or --yes, delete prints what it would remove, deletes nothing and fails;
        let asked = try textgan(["runs", "delete", "seqgan-1", "2"], status: 1)
        for expected in ["run 1: seqgan-1 (seqgan on coco, finished)", "\(runDirectory.path)/ (2 files, 1,024 bytes)",
                         "latest.safetensors", "kept (outside the run's directory): \(outside.path)", "run 2: leakgan-2",
                         "no directory beside the store"] {
            XCTAssertTrue(asked.stdout.contains(expected), "missing \(expected) in\n\(asked.stdout)")
        }
        XCTAssertTrue(asked.stderr.hasPrefix("Error: nothing deleted: stdin is not a terminal"), asked.stderr)
        XCTAssertTrue(try textgan(["runs", "delete", "1", "--dry-run"]).stdout.contains("dry run: would delete 1 run and 2 files"))
        XCTAssertEqual(try store.runs().count, 5)
        XCTAssertTrue(FileManager.default.fileExists(atPath: runDirectory.path))

        // a running run, or one whose directory a process has locked (a suspended train), is refused;
        let live = try store.startRun(makeRun(name: "live"))
        let refused = try textgan(["runs", "delete", "1", String(live), "--yes"], status: 1)
        XCTAssertTrue(refused.stderr.contains("run \(live) is running"), refused.stderr)
        let lockFile = runDirectory.appendingPathComponent(".lock").path
        let descriptor = open(lockFile, O_RDWR | O_CREAT, 0o644)
        XCTAssertEqual(flock(descriptor, LOCK_EX), 0)
        let locked = try textgan(["runs", "delete", "1", "--yes"], status: 1)
        XCTAssertTrue(locked.stderr.contains("run 1 is being trained by"), locked.stderr)
        close(descriptor)
        XCTAssertEqual(try store.runs().count, 6, "nothing deleted")

        // and with --yes the runs, their rows and their directory go; the file outside stays.
        let deleted = try textgan(["runs", "delete", "1", "2", "--yes"])
        XCTAssertTrue(deleted.stdout.hasSuffix("deleted 2 runs and 3 files (1,024 bytes)\n"), deleted.stdout)
        XCTAssertEqual(Set(try store.runs().map { $0.run.id! }), [3, 4, 5, live])
        XCTAssertFalse(FileManager.default.fileExists(atPath: runDirectory.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: outside.path))
        XCTAssertEqual(try store.writer.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM evaluations WHERE run_id IN (1, 2)") }, 0)
        let gone = try textgan(["runs", "delete", "1", "--yes"], status: 1)
        XCTAssertTrue(gone.stderr.contains("no run 1"), gone.stderr)
    }

    func testExportAsCSVAndJSONLines() throws {
        let store = try RunDatabase(path: path)
        try store.recordMetrics(run: 1, phase: "mle", step: 7, phaseStep: 7, epoch: 0, values: ["loss": .nan, "grad_norm": 2.5])

        let csv = try readCSVObjects(textgan(["runs", "export", "1", "seqgan-5"]).stdout)
        XCTAssertEqual(csv.columns, ["run_id", "run_name", "record", "phase", "step", "phase_step", "epoch", "key", "value",
                                     "kind", "sample_count", "reference_set", "reference_count", "tokenizer", "smoothing",
                                     "seed", "temperature", "top_k", "top_p", "time"])
        let one = csv.rows.filter { $0["run_id"] == "1" }
        XCTAssertEqual(one.first { $0["record"] == "param" && $0["key"] == "mle.learningRate" }?["value"], "0.01")
        let loss = try XCTUnwrap(one.first { $0["record"] == "metric" && $0["key"] == "loss" })
        XCTAssertEqual([loss["value"], loss["kind"], loss["phase"], loss["step"]], ["", "nan", "mle", "7"])
        let bleu = one.filter { $0["record"] == "evaluation" && $0["key"] == "bleu4" }
        XCTAssertEqual(bleu.map { $0["value"] }, ["0.21", "0.3", "0.28"])
        XCTAssertEqual(bleu.first?["sample_count"], "1000")
        XCTAssertEqual(bleu.first?["temperature"], "1")
        XCTAssertEqual(Set(csv.rows.map { $0["run_id"] }), ["1", "5"])
        XCTAssertTrue(csv.rows.allSatisfy { $0["run_name"] == ($0["run_id"] == "1" ? "seqgan-1" : "seqgan-5") })

        let output = directory.appendingPathComponent("export.jsonl").path
        let written = try textgan(["runs", "export", "1", "--format", "jsonl", "--output", output])
        XCTAssertEqual(written.stdout, "")
        XCTAssertTrue(written.stderr.contains("exported 1 run to \(output)"))
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        let objects = try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertEqual(objects[0]["record"] as? String, "run")
        XCTAssertEqual(((objects[0]["config"] as? [String: Any])?["mle"] as? [String: Any])?["learningRate"] as? Double, 0.01)
        XCTAssertEqual(objects.filter { $0["record"] as? String == "metric" }.count, 2)
        XCTAssertEqual(objects.filter { $0["record"] as? String == "evaluation" }.count, 6)
        XCTAssertTrue(objects.first { $0["key"] as? String == "loss" }?["value"] is NSNull)

        XCTAssertNotEqual(try runProcess("textgan", ["runs", "export", "99", "--db", path]).status, 0)
        XCTAssertNotEqual(try runProcess("textgan", ["runs", "export", "1", "--format", "xml", "--db", path]).status, 0)
    }
}
