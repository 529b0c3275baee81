import GRDB
@testable import RunStore
import TestSupport
import XCTest

/// A store nobody can write — a read-only mount, another user's file — is read all the same by the commands that
/// only read. The tests run as root, whom permissions do not stop, so the files are made immutable (`chattr +i`),
/// which stops root as a read-only mount does.
final class ReadOnlyStoreTests: XCTestCase {
    private var directory: URL!
    private var path = ""

    override func setUpWithError() throws {
        directory = try temporaryDirectory(self).appendingPathComponent("store")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("textgan.sqlite").path
        try makeFixture(at: path)  // closed again: SQLite removed its -wal and -shm files
    }

    func testCommandsThatOnlyReadWorkOnAStoreNoOneCanWrite() throws {
        // Given the fixture store in a directory where not even root can create a file (no -shm can be made)
        try makeImmutable(directory, self)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-wal"))

        // then the listing, one run, a comparison and SQL all read it.
        let runs = try runProcess("textgan", ["runs", "--db", path])
        XCTAssertEqual(runs.status, 0, runs.stderr)
        XCTAssertTrue(runs.stdout.contains("seqgan-5"), runs.stdout)
        let show = try runProcess("textgan", ["runs", "show", "1", "--db", path])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("run 1: seqgan-1"), show.stdout)
        let compare = try runProcess("textgan", ["compare", "1", "2", "--db", path])
        XCTAssertEqual(compare.status, 0, compare.stderr)
        XCTAssertTrue(compare.stdout.contains("mle.learningRate"), compare.stdout)
        let sql = try runProcess("textgan", ["sql", "SELECT count(*) AS n FROM runs", "--db", path, "--format", "csv"])
        XCTAssertEqual(sql.status, 0, sql.stderr)
        XCTAssertEqual(sql.stdout, "n\r\n5\r\n")

        // And through the API: a read-only store reads, and refuses writes with a message naming the file.
        let database = try RunDatabase(path: path, readOnly: true)
        XCTAssertEqual(try database.runs().count, 5)
        XCTAssertThrowsError(try database.heartbeat(run: 1)) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }

    func testAReadOnlyStoreWhoseLogHoldsChangesIsRefusedNotMisread() throws {
        // Given a copy of a store taken while a writer had it open: its -wal holds the last run, the -shm is absent
        let writer = try RunDatabase(path: path)
        try writer.startRun(makeRun(name: "only-in-the-log"))
        let copy = try temporaryDirectory(self).appendingPathComponent("copy")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        for suffix in ["", "-wal"] {
            try FileManager.default.copyItem(atPath: path + suffix, toPath: copy.appendingPathComponent("textgan.sqlite").path + suffix)
        }
        let copied = copy.appendingPathComponent("textgan.sqlite").path
        XCTAssertGreaterThan(try FileManager.default.attributesOfItem(atPath: copied + "-wal")[.size] as! Int, 0)
        try makeImmutable(copy, self)

        // then reading it without the log's changes is refused, saying why, rather than showing five runs of six.
        XCTAssertThrowsError(try RunDatabase(path: copied, readOnly: true)) { error in
            XCTAssertEqual(error as? RunStoreError, .unreadableWAL(path: copied))
        }
        let runs = try runProcess("textgan", ["runs", "--db", copied])
        XCTAssertNotEqual(runs.status, 0)
        XCTAssertTrue(runs.stderr.contains("\(copied)-wal holds changes"), runs.stderr)
        let sql = try runProcess("textgan", ["sql", "SELECT count(*) FROM runs", "--db", copied])
        XCTAssertNotEqual(sql.status, 0)
        XCTAssertTrue(sql.stderr.contains("-wal holds changes"), sql.stderr)
    }

    func testAReadOnlyOpenNeitherCreatesNorMigrates() throws {
        // A missing file is not created.
        let missing = directory.appendingPathComponent("missing.sqlite").path
        XCTAssertThrowsError(try RunDatabase(path: missing, readOnly: true)) { error in
            XCTAssertTrue("\(error)".contains(missing), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing))

        // A store of an older schema is not upgraded: reading it would need the upgrade, so it says so.
        let old = directory.appendingPathComponent("old.sqlite").path
        do {
            let queue = try DatabaseQueue(path: old)
            try RunDatabase.migrator.migrate(queue, upTo: "v3-eval-top-k-top-p")
        }
        XCTAssertThrowsError(try RunDatabase(path: old, readOnly: true)) { error in
            XCTAssertEqual(error as? RunStoreError, .schemaTooOld(path: old, version: 3, known: RunDatabase.schemaVersion))
        }
        XCTAssertEqual(try DatabaseQueue(path: old).read { try Int.fetchOne($0, sql: "PRAGMA user_version") }, 3)
    }

    func testAnOlderStoreThatCanBeWrittenIsUpgradedByAReadingCommand() throws {
        // Given a store written by schema version 4, with one run, that this user can write
        let old = directory.appendingPathComponent("v4.sqlite").path
        do {
            let queue = try DatabaseQueue(path: old)
            try RunDatabase.migrator.migrate(queue, upTo: "v4-run-step-and-phase-step")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO runs (name, algorithm, generator, corpus, seed, started_at, heartbeat_at, stale_after,
                                      config_json, status)
                    VALUES ('old-run', 'mle', 'lstm', 'coco', 1, '2026-01-01', '2026-01-01', 60, '{}', 'finished');
                    """)
            }
        }

        // then listing it upgrades it, as opening it always did, and reads it.
        let runs = try runProcess("textgan", ["runs", "--db", old])
        XCTAssertEqual(runs.status, 0, runs.stderr)
        XCTAssertTrue(runs.stdout.contains("old-run"), runs.stdout)
        XCTAssertEqual(try DatabaseQueue(path: old).read { try Int.fetchOne($0, sql: "PRAGMA user_version") },
                       RunDatabase.schemaVersion)
        // A file that is no run store at all is said to be one, not migrated into one.
        let foreign = directory.appendingPathComponent("foreign.sqlite").path
        try DatabaseQueue(path: foreign).write { try $0.execute(sql: "CREATE TABLE notes (x)") }
        let notes = try runProcess("textgan", ["runs", "--db", foreign])
        XCTAssertNotEqual(notes.status, 0)
        XCTAssertTrue(notes.stderr.contains("\(foreign) is not a textgan run store"), notes.stderr)
        XCTAssertEqual(try DatabaseQueue(path: foreign).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master") }, 1)
    }

    func testSQLiteErrorsNameTheFile() throws {
        // Given a "store" that is not an SQLite file
        let bad = directory.appendingPathComponent("notes.sqlite").path
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: bad))

        // then every way of opening it says which file is wrong.
        for readOnly in [false, true] {
            XCTAssertThrowsError(try RunDatabase(path: bad, readOnly: readOnly)) { error in
                XCTAssertTrue("\(error)".contains(bad) && "\(error)".contains("not a database"), "\(error)")
            }
        }
        let runs = try runProcess("textgan", ["runs", "--db", bad])
        XCTAssertNotEqual(runs.status, 0)
        XCTAssertTrue(runs.stderr.contains(bad), runs.stderr)
        XCTAssertEqual(runs.stderr.split(separator: "\n").count, 1, runs.stderr)
        let sql = try runProcess("textgan", ["sql", "SELECT 1 FROM runs", "--db", bad])
        XCTAssertNotEqual(sql.status, 0)
        XCTAssertTrue(sql.stderr.contains(bad), sql.stderr)
    }
}
