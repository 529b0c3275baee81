import Digest
import Foundation
import Glibc
import RunStore
import TestSupport
import XCTest

/// Fault injection: a `textgan train` child is killed with SIGKILL at seeded moments spread over its phases (MLE,
/// discriminator pretraining, adversarial steps, and while a checkpoint file is being written), resumed after each
/// kill with `train --resume`, and must end exactly where an uninterrupted run of the same config ends: the same
/// checkpoint bytes, the same recorded history, an intact store and no orphan files. `scripts/fault-campaign.sh` is
/// the long version of this, on the release binary.
final class FaultInjectionTests: XCTestCase {
    private var directory: URL!
    private var database: String { directory.appendingPathComponent("runs/textgan.sqlite").path }
    private var corpus: String { directory.appendingPathComponent("tiny.txt").path }

    override func setUpWithError() throws {
        directory = try temporaryDirectory(self)
        try TinyRun.writeCorpus(to: directory.appendingPathComponent("tiny.txt"))
        try TinyRun.seqganConfig.write(to: directory.appendingPathComponent("seqgan.json"), atomically: true, encoding: .utf8)
        try TinyRun.gumbelConfig.write(to: directory.appendingPathComponent("gumbel.json"), atomically: true, encoding: .utf8)
    }

    func testSeqGANSurvivesSIGKILLInEveryPhaseAndDuringCheckpointWrites() throws {
        let arguments = [corpus, "--config", directory.appendingPathComponent("seqgan.json").path, "--adversarial-steps", "5"]
        let report = try campaign(arguments, kills: 8, checkpointWrites: 2, seed: 22)
        // The plan reaches every phase; most kills land on a live process (a late one may find the run finished).
        XCTAssertEqual(Set(report.plannedPhases), ["mle", "discriminator", "adversarial"], "\(report)")
        XCTAssertGreaterThanOrEqual(report.landed, 6, "\(report)")
    }

    func testGumbelSoftmaxTrainingSurvivesSIGKILL() throws {
        let arguments = [corpus, "--algo", "gumbel", "--config", directory.appendingPathComponent("gumbel.json").path]
        let report = try campaign(arguments, kills: 3, checkpointWrites: 1, seed: 7)
        XCTAssertTrue(report.plannedPhases.contains("adversarial"), "\(report)")
        XCTAssertGreaterThanOrEqual(report.landed, 2, "\(report)")
    }

    // MARK: - The campaign

    struct Report: CustomStringConvertible {
        var plannedPhases: [String] = []
        /// Kills that hit a live training process (the others found the run already finished).
        var landed = 0
        /// Kills that left a checkpoint's temporary file behind (killed between its creation and its rename).
        var midWrite = 0
        var description: String { "phases \(plannedPhases), \(landed) kills landed, \(midWrite) mid-write" }
    }

    /// One kill: after `trigger` appears on the child's stdout, wait `delay`, or (`checkpointWrite`) until the next
    /// checkpoint's temporary file is created, then SIGKILL.
    struct Kill {
        var phase: String
        var trigger: String
        var delay: TimeInterval
        var checkpointWrite: Bool
    }

    /// Trains `arguments` once straight (run 1), then again (run 2) with `kills` seeded SIGKILLs, `checkpointWrites`
    /// of them timed to a checkpoint write, resuming after each; then compares the two runs.
    private func campaign(_ arguments: [String], kills: Int, checkpointWrites: Int, seed: UInt64) throws -> Report {
        let textgan = try executable("textgan")
        let common = ["--db", database, "--root", packageRoot.path, "--min-examples", "16"]
        let straight = try Child(textgan, ["train"] + arguments + ["--name", "straight"] + common).wait()
        XCTAssertEqual(straight.status, 0, straight.stderr)
        let plan = Self.plan(from: straight.stdout, kills: kills, checkpointWrites: checkpointWrites, seed: seed)
        var report = Report(plannedPhases: plan.map(\.phase))
        let runDirectory = directory.appendingPathComponent("runs/2")

        var child = try Child(textgan, ["train"] + arguments + ["--name", "killed"] + common)
        for kill in plan {
            // A resumed child starts from its last checkpoint, at or before the previous trigger, so it prints this
            // (later) trigger again unless the run finishes first.
            if child.waitForOutput(kill.trigger, timeout: 120, orExit: true) {
                if kill.checkpointWrite {
                    _ = waitForCreation(in: runDirectory, suffix: ".partial", timeout: 30) { child.process.isRunning }
                } else {
                    Thread.sleep(forTimeInterval: kill.delay)
                }
            }
            Glibc.kill(child.process.processIdentifier, SIGKILL)
            let ended = child.wait()
            if child.process.terminationReason == .uncaughtSignal {
                report.landed += 1
                if try FileManager.default.contentsOfDirectory(atPath: runDirectory.path).contains(where: { $0.hasSuffix(".partial") }) {
                    report.midWrite += 1
                }
            } else {
                XCTAssertEqual(ended.status, 0, "a child the kill missed finished the run: \(ended.stderr)")
            }
            // A killed process leaves its heartbeat fresh for up to a minute, and a resume refuses a run that may
            // still be training elsewhere: age it, as that minute would.
            try RunDatabase(path: database).writer.write { db in
                try db.execute(sql: "UPDATE runs SET heartbeat_at = '2000-01-01 00:00:00.000' WHERE id = 2")
            }
            child = try Child(textgan, ["train", "--resume", "2"] + common)
        }
        let last = child.wait()
        XCTAssertTrue(last.status == 0 || last.stderr.contains("run 2 already finished"), last.stderr + last.stdout.suffix(500))

        let store = try RunDatabase(path: database)
        XCTAssertEqual(try store.run(2).status, .finished)
        XCTAssertEqual(try store.writer.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }, "ok")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: runDirectory.path).filter { $0.hasSuffix(".partial") }
        XCTAssertEqual(leftovers, [], "orphan temporary files")
        for file in ["latest.safetensors", "best.safetensors"] {
            let reference = directory.appendingPathComponent("runs/1/\(file)")
            guard FileManager.default.fileExists(atPath: reference.path) else { continue }
            XCTAssertEqual(try SHA256.hex(ofFile: runDirectory.appendingPathComponent(file)), try SHA256.hex(ofFile: reference),
                           "\(file) after \(report)")
        }
        let killed = try RunHistory(of: 2, in: store), reference = try RunHistory(of: 1, in: store)
        XCTAssertFalse(reference.metrics.isEmpty || reference.evaluations.isEmpty || reference.samples.isEmpty)
        XCTAssertTrue(killed == reference, "after \(report): \(killed.firstDifference(from: reference))")
        return report
    }

    /// Seeded kill moments: triggers drawn from the progress lines of the straight run after its first checkpoint (a
    /// run killed before it has none to resume from), in the order they appear, spread over the phases.
    static func plan(from stdout: String, kills: Int, checkpointWrites: Int, seed: UInt64) -> [Kill] {
        let lines = stdout.split(separator: "\n").map(String.init)
        guard let first = lines.firstIndex(where: { $0.contains("evaluation at step") }) else { return [] }
        // The text up to the step counter ("adversarial step 3/5 "): what a resumed run prints again.
        let candidates: [(index: Int, phase: String, trigger: String)] = lines.indices.dropFirst(first + 1).compactMap { i in
            let words = lines[i].split(separator: " ")
            guard words.count > 2, ["mle", "discriminator", "adversarial"].contains(words[0]), words[1] == "step" else { return nil }
            return (i, String(words[0]), "\(words[0]) step \(words[2]) ")
        }
        var rng = SplitMix64(seed: seed)
        // One per phase first, then the rest anywhere; distinct lines, in order.
        var chosen = Set<Int>()
        for phase in ["mle", "discriminator", "adversarial"] {
            let ofPhase = candidates.indices.filter { candidates[$0].phase == phase }
            if !ofPhase.isEmpty { chosen.insert(ofPhase[rng.index(below: ofPhase.count)]) }
        }
        while chosen.count < min(kills, candidates.count) { chosen.insert(rng.index(below: candidates.count)) }
        let ordered = chosen.sorted()
        var writes = Set<Int>()
        while writes.count < min(checkpointWrites, ordered.count) { writes.insert(rng.index(below: ordered.count)) }
        return ordered.enumerated().map { n, c in
            Kill(phase: candidates[c].phase, trigger: candidates[c].trigger,
                 delay: Double(rng.index(below: 40)) / 1000, checkpointWrite: writes.contains(n))
        }
    }
}

extension Child {
    /// As `waitForOutput`, but gives up as soon as the process has ended (`orExit`).
    func waitForOutput(_ text: String, timeout: TimeInterval, orExit: Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdout.contains(text) { return true }
            if orExit && !process.isRunning { return stdout.contains(text) }
            Thread.sleep(forTimeInterval: 0.002)
        }
        return false
    }
}

/// Blocks until a file whose name ends in `suffix` is created in `directory` (inotify: no polling gap), while `alive`
/// holds, for at most `timeout`; returns whether one was.
func waitForCreation(in directory: URL, suffix: String, timeout: TimeInterval, while alive: () -> Bool) -> Bool {
    let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
    guard fd >= 0 else { return false }
    defer { close(fd) }
    guard inotify_add_watch(fd, directory.path, UInt32(IN_CREATE)) >= 0 else { return false }
    let deadline = Date().addingTimeInterval(timeout)
    var buffer = [UInt8](repeating: 0, count: 4096)
    while Date() < deadline && alive() {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, 20) > 0 else { continue }
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { continue }
        var offset = 0
        while offset + MemoryLayout<inotify_event>.size <= count {
            let (length, name) = buffer.withUnsafeBytes { raw -> (Int, String) in
                let event = raw.load(fromByteOffset: offset, as: inotify_event.self)
                let start = offset + MemoryLayout<inotify_event>.size
                let bytes = raw[start..<(start + Int(event.len))].prefix { $0 != 0 }
                return (Int(event.len), String(decoding: bytes, as: UTF8.self))
            }
            if name.hasSuffix(suffix) { return true }
            offset += MemoryLayout<inotify_event>.size + length
        }
    }
    return false
}
