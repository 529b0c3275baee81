import GRDB
import RunStore
import TestSupport
import XCTest

/// Every way a run ends, in process (in-memory and on-disk) and in a child process ended by a signal.
final class StatusTests: XCTestCase {
    struct TrainingError: Error, CustomStringConvertible {
        var description: String { "generator loss is NaN at step 12" }
    }

    // MARK: - In process

    func testARunThatReturnsIsFinished() throws {
        let database = try RunDatabase.inMemory()
        let id = try database.startRun(makeRun())
        XCTAssertEqual(try database.run(id).status, .running)

        let lifecycle = RunLifecycle(database: database, run: id, heartbeatInterval: 60, signals: .ignore)
        let result = try lifecycle.run { _ in 42 }

        XCTAssertEqual(result, 42)
        let run = try database.run(id)
        XCTAssertEqual(run.status, .finished)
        XCTAssertNil(run.exitReason)
        XCTAssertNotNil(run.endedAt)
    }

    func testARunThatThrowsIsFailedWithTheErrorsMessage() throws {
        let database = try RunDatabase.inMemory()
        let id = try database.startRun(makeRun())

        let lifecycle = RunLifecycle(database: database, run: id, heartbeatInterval: 60, signals: .ignore)
        XCTAssertThrowsError(try lifecycle.run { _ in throw TrainingError() }) { XCTAssertTrue($0 is TrainingError) }

        let run = try database.run(id)
        XCTAssertEqual(run.status, .failed)
        XCTAssertEqual(run.exitReason, "generator loss is NaN at step 12")
    }

    func testAnInterruptedRunCanBeResumedButALiveOneCannot() throws {
        let database = try RunDatabase.inMemory()
        let id = try database.startRun(makeRun())
        XCTAssertThrowsError(try database.resumeRun(id)) { XCTAssertEqual($0 as? RunStoreError, .runStillRunning(id)) }
        try database.finish(run: id, status: .interrupted, reason: "interrupted by SIGINT (Ctrl-C)")

        try database.resumeRun(id)

        let run = try database.run(id)
        XCTAssertEqual(run.status, .running)
        XCTAssertNil(run.endedAt)
        XCTAssertNil(run.exitReason)
        XCTAssertThrowsError(try database.resumeRun(999)) { XCTAssertEqual($0 as? RunStoreError, .noSuchRun(999)) }
    }

    func testAnEndedRunCannotEndAgain() throws {
        let database = try RunDatabase.inMemory()
        let id = try database.startRun(makeRun())
        try database.finish(run: id, status: .interrupted, reason: "interrupted by SIGINT (Ctrl-C)")

        XCTAssertThrowsError(try database.finish(run: id, status: .finished)) {
            XCTAssertEqual($0 as? RunStoreError, .runNotRunning(id: id, status: "interrupted"))
        }
        XCTAssertEqual(try database.run(id).status, .interrupted)
    }

    func testASecondFinishReturnsOnlyOnceTheFirstHasWrittenTheStatus() throws {
        // Given a run on disk whose write lock another connection holds, so the first finish must wait for it
        let path = try temporaryDirectory(self).appendingPathComponent("t.sqlite").path
        let database = try RunDatabase(path: path)
        let id = try database.startRun(makeRun())
        let lifecycle = RunLifecycle(database: database, run: id, heartbeatInterval: 60, signals: .ignore)
        let blocker = try DatabaseQueue(path: path)
        let locked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? blocker.inTransaction(.immediate) { _ in
                locked.signal()
                release.wait()
                return .commit
            }
        }
        locked.wait()

        // when the signal handler's finish is waiting on that lock and the main thread's finish comes second
        let first = Thread { try? lifecycle.finish(.interrupted, reason: "interrupted by SIGTERM") }
        first.start()
        Thread.sleep(forTimeInterval: 0.2)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { release.signal() }
        try lifecycle.finish(.interrupted, reason: "interrupted by SIGTERM")

        // then by the time the second returns (and the process would exit) the run is recorded as interrupted.
        let run = try RunDatabase(path: path).run(id)
        XCTAssertEqual(run.status, .interrupted)
        XCTAssertEqual(run.exitReason, "interrupted by SIGTERM")
    }

    func testARunningRunWithAStaleHeartbeatReadsAsCrashed() throws {
        // Given a running run whose heartbeat is older than its stale_after
        let database = try RunDatabase.inMemory()
        let id = try database.startRun(makeRun(staleAfter: 30), at: Date().addingTimeInterval(-45))

        // then it reads as crashed — in the API, in the status filter and in runs_view — while the stored status
        // stays running (a reader never writes).
        XCTAssertEqual(try database.run(id).status, .crashed)
        XCTAssertEqual(try database.runs(RunFilter(status: .crashed)).map(\.run.id), [id])
        XCTAssertEqual(try database.runs(RunFilter(status: .running)).count, 0)
        try database.writer.read { db in
            XCTAssertEqual(try String.fetchOne(db, sql: "SELECT status FROM runs_view"), "crashed")
            XCTAssertEqual(try String.fetchOne(db, sql: "SELECT status FROM runs"), "running")
        }

        // when it beats again, it is running again.
        try database.heartbeat(run: id)
        XCTAssertEqual(try database.run(id).status, .running)
    }

    func testTheHeartbeatTimerKeepsALongStepAlive() throws {
        // Given a run that reads as crashed after 0.6 s of silence, beating every 0.1 s
        let path = try temporaryDirectory(self).appendingPathComponent("beat.sqlite").path
        let database = try RunDatabase(path: path)
        let id = try database.startRun(makeRun(staleAfter: 0.6))
        let lifecycle = RunLifecycle(database: database, run: id, heartbeatInterval: 0.1, signals: .ignore)

        // when the training blocks for 1.5 s without recording anything, it still reads as running
        Thread.sleep(forTimeInterval: 1.5)
        XCTAssertEqual(try database.run(id).status, .running)
        XCTAssertGreaterThan(try database.run(id).heartbeatAt.timeIntervalSince(try database.run(id).startedAt), 1)

        // and once it finishes the heartbeat stops (the run stays finished, never crashed).
        try lifecycle.finish(.finished)
        Thread.sleep(forTimeInterval: 0.8)
        XCTAssertEqual(try database.run(id).status, .finished)
    }

    // MARK: - Child processes

    func testAProcessThatEndsNormallyIsFinished() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("t.sqlite").path
        let probe = try runProcess("runstore-probe", ["--db", path, "--mode", "finish", "--steps", "5"])
        XCTAssertEqual(probe.status, 0, probe.stderr)
        let run = try XCTUnwrap(RunDatabase(path: path).runs().first?.run)
        XCTAssertEqual(run.status, .finished)
        XCTAssertEqual(try RunDatabase(path: path).metricHistory(run: run.id!, key: "loss").count, 5)
    }

    func testAProcessThatFailsIsFailedWithItsMessage() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("t.sqlite").path
        let probe = try runProcess("runstore-probe", ["--db", path, "--mode", "fail", "--steps", "3"])
        XCTAssertEqual(probe.status, 1)
        let run = try XCTUnwrap(RunDatabase(path: path).runs().first?.run)
        XCTAssertEqual(run.status, .failed)
        XCTAssertEqual(run.exitReason, "probe failure: the loss exploded at step 3")
    }

    func testSIGINTMarksTheRunInterruptedAndExits130() throws {
        try checkSignal(SIGINT, mode: "wait", exitStatus: 130, reason: "interrupted by SIGINT (Ctrl-C)")
    }

    func testSIGTERMMarksTheRunInterruptedAndExits143() throws {
        try checkSignal(SIGTERM, mode: "wait", exitStatus: 143, reason: "interrupted by SIGTERM")
    }

    func testSIGINTWithStopAtNextStepLetsTheLoopEndCleanly() throws {
        try checkSignal(SIGINT, mode: "graceful", exitStatus: 130, reason: "interrupted by SIGINT (Ctrl-C)")
    }

    func testAProcessKilledWithSIGKILLReadsAsCrashedOnceItsHeartbeatIsStale() throws {
        // Given a probe recording steps and beating every 0.2 s, stale after 1 s
        let path = try temporaryDirectory(self).appendingPathComponent("t.sqlite").path
        let child = try Child(executable("runstore-probe"),
                              ["--db", path, "--mode", "wait", "--heartbeat", "0.2", "--stale-after", "1"])
        XCTAssertTrue(child.waitForOutput("started"), "the probe never started")
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(try RunDatabase(path: path).runs().first?.run.status, .running)

        // when it is killed with SIGKILL, which it cannot catch,
        kill(child.process.processIdentifier, SIGKILL)
        let finished = child.wait()
        XCTAssertEqual(finished.status, SIGKILL)
        XCTAssertEqual(child.process.terminationReason, .uncaughtSignal)

        // then the stored status is still running, but after its stale_after it reads as crashed.
        Thread.sleep(forTimeInterval: 1.5)
        let database = try RunDatabase(path: path)
        let run = try XCTUnwrap(database.runs().first?.run)
        XCTAssertEqual(run.status, .crashed)
        XCTAssertNil(run.endedAt)
        let cli = try StatusTests.textgan(["runs", "--db", path, "--status", "crashed"])
        XCTAssertTrue(cli.stdout.contains("crashed"), cli.stdout)
    }

    private func checkSignal(_ signo: Int32, mode: String, exitStatus: Int32, reason: String) throws {
        // Given a probe that records a step every 20 ms
        let path = try temporaryDirectory(self).appendingPathComponent("t.sqlite").path
        let child = try Child(executable("runstore-probe"), ["--db", path, "--mode", mode])
        XCTAssertTrue(child.waitForOutput("started"), "the probe never started")
        Thread.sleep(forTimeInterval: 0.2)

        // when it receives the signal
        kill(child.process.processIdentifier, signo)
        let finished = child.wait()

        // then it exits as a shell reports that signal, and the run is interrupted with the signal as reason.
        XCTAssertEqual(finished.status, exitStatus, finished.stderr)
        XCTAssertEqual(child.process.terminationReason, .exit)
        let run = try XCTUnwrap(RunDatabase(path: path).runs().first?.run)
        XCTAssertEqual(run.status, .interrupted)
        XCTAssertEqual(run.exitReason, reason)
        XCTAssertNotNil(run.endedAt)
        XCTAssertGreaterThan(try RunDatabase(path: path).metricHistory(run: run.id!, key: "loss").count, 0)
    }

    static func textgan(_ arguments: [String]) throws -> Finished { try runProcess("textgan", arguments) }
}
