import GRDB
import RunStore
import TestSupport
import XCTest

/// One process trains a run at a time: the run's lease (`runs.owner`) passes to the process that resumes it, and
/// the one that held it — suspended past its stale window, then continued — writes nothing more and stops itself.
final class LeaseTests: XCTestCase {
    func testAProcessWhoseRunWasResumedElsewhereWritesNothingMore() throws {
        // Given a run held by process A, which went quiet until it read as crashed, then resumed by process B
        let database = try RunDatabase.inMemory()
        let id = try database.startRun(makeRun(staleAfter: 30), owner: "A", at: Date().addingTimeInterval(-45))
        try database.recordMetrics(run: id, phase: "mle", step: 1, values: ["loss": 1], owner: "A",
                                   at: Date().addingTimeInterval(-44))
        XCTAssertEqual(try database.run(id).status, .crashed)
        try database.resumeRun(id, owner: "B")

        // when A comes back and goes on writing, every write is refused, changes nothing, and says who holds it,
        let lost = RunStoreError.leaseLost(id: id, owner: "A", holder: "B")
        XCTAssertThrowsError(try database.recordMetrics(run: id, phase: "mle", step: 2, values: ["loss": 2], owner: "A")) {
            XCTAssertEqual($0 as? RunStoreError, lost)
        }
        XCTAssertThrowsError(try database.recordEvaluation(run: id, step: 2, values: ["bleu2": 0.1],
                                                           protocol: evaluationProtocol, owner: "A")) {
            XCTAssertEqual($0 as? RunStoreError, lost)
        }
        XCTAssertThrowsError(try database.recordSamples(run: id, step: 2, temperature: 1, texts: ["x"], owner: "A"))
        XCTAssertThrowsError(try database.recordCheckpoint(run: id, step: 2, path: "latest.safetensors",
                                                           sha256: String(repeating: "0", count: 64), bytes: 1, owner: "A"))
        XCTAssertThrowsError(try database.heartbeat(run: id, owner: "A")) { XCTAssertEqual($0 as? RunStoreError, lost) }
        XCTAssertThrowsError(try database.finish(run: id, status: .failed, reason: "A's error", owner: "A")) {
            XCTAssertEqual($0 as? RunStoreError, lost)
        }
        XCTAssertEqual(try database.metricHistory(run: id, key: "loss").map(\.step), [1])
        XCTAssertTrue(try database.evaluations(run: id).isEmpty)
        XCTAssertEqual(try database.run(id).status, .running, "A's failure does not end B's run")
        XCTAssertTrue("\(lost)".contains("taken over"), "\(lost)")

        // while B records and ends the run.
        try database.recordMetrics(run: id, phase: "mle", step: 2, values: ["loss": 2], owner: "B")
        try database.finish(run: id, status: .finished, owner: "B")
        XCTAssertEqual(try database.metricHistory(run: id, key: "loss").map(\.step), [1, 2])
        XCTAssertEqual(try database.run(id).status, .finished)
    }

    func testTheHeartbeatNoticesALostLease() throws {
        // Given a lifecycle beating every 0.05 s for owner A
        let database = try RunDatabase.inMemory()
        let id = try database.startRun(makeRun(), owner: "A")
        let lifecycle = RunLifecycle(database: database, run: id, owner: "A", heartbeatInterval: 0.05, signals: .ignore)
        Thread.sleep(forTimeInterval: 0.15)
        XCTAssertNil(lifecycle.lostLease)

        // when another process takes the run over (after it read as crashed)
        try database.writer.write { db in
            try db.execute(sql: "UPDATE runs SET owner = 'B' WHERE id = ?", arguments: [id])
        }
        Thread.sleep(forTimeInterval: 0.3)

        // then the lifecycle says so, and ending it writes nothing: the run stays B's.
        XCTAssertEqual(lifecycle.lostLease, .leaseLost(id: id, owner: "A", holder: "B"))
        XCTAssertThrowsError(try lifecycle.run { lifecycle in
            if let lost = lifecycle.lostLease { throw lost }
        })
        XCTAssertEqual(try database.run(id).status, .running)
    }

    func testASuspendedProcessWhoseRunIsResumedStopsItselfWhenContinued() throws {
        // Given a probe recording a step every 20 ms, beating every 0.1 s, stale after 0.5 s
        let path = try temporaryDirectory(self).appendingPathComponent("t.sqlite").path
        let child = try Child(executable("runstore-probe"),
                              ["--db", path, "--mode", "wait", "--heartbeat", "0.1", "--stale-after", "0.5"])
        XCTAssertTrue(child.waitForOutput("started"), "the probe never started")
        Thread.sleep(forTimeInterval: 0.2)

        // when it is suspended past its stale window, the run resumed by another process, then the probe continued,
        // (Stopped outside a write: a process suspended inside its write transaction would hold the file's lock, and
        // this test is about the lease, not about that lock.)
        try suspendOutsideAWrite(child.process.processIdentifier, path: path)
        defer { kill(child.process.processIdentifier, SIGKILL) }
        Thread.sleep(forTimeInterval: 1.0)
        let database = try RunDatabase(path: path)
        let id = try XCTUnwrap(database.runs().first?.run.id)
        XCTAssertEqual(try database.run(id).status, .crashed)
        try database.resumeRun(id, owner: "the resuming process")
        let rowsAtTakeover = try database.metricHistory(run: id, key: "loss").count
        kill(child.process.processIdentifier, SIGCONT)
        let deadline = Date().addingTimeInterval(10)
        while child.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if child.process.isRunning {
            kill(child.process.processIdentifier, SIGKILL)
            XCTFail("the probe went on after its run was taken over")
        }
        let finished = child.wait()

        // then the probe stops itself with a message saying why, having written no row after the takeover, and
        // the run is the resuming process's: still running, not failed by the probe.
        XCTAssertNotEqual(finished.status, 0)
        XCTAssertTrue(finished.stderr.contains("run \(id) was taken over by another process (the resuming process)"),
                      finished.stderr)
        XCTAssertEqual(try database.metricHistory(run: id, key: "loss").count, rowsAtTakeover)
        let run = try database.run(id)
        XCTAssertNil(run.exitReason)
        XCTAssertEqual(try database.writer.read { try String.fetchOne($0, sql: "SELECT status FROM runs") }, "running")
    }

    /// SIGSTOP at a moment the process holds no write lock on the store (retried until a write can begin at once).
    private func suspendOutsideAWrite(_ pid: pid_t, path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(0.05)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        for _ in 0..<100 {
            kill(pid, SIGSTOP)
            Thread.sleep(forTimeInterval: 0.01)
            if (try? queue.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE; ROLLBACK") }) != nil { return }
            kill(pid, SIGCONT)
            Thread.sleep(forTimeInterval: 0.007)
        }
        XCTFail("the probe always held the store's write lock when stopped")
    }
}
