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
        /// The phases of the kills that landed (a kill moved past lines an earlier child already printed may land
        /// in a later phase than planned).
        var landedPhases: [String] = []
        var description: String {
            "planned phases \(plannedPhases), \(landed) kills landed (in \(landedPhases)), \(midWrite) mid-write"
        }
    }

    /// A progress line of the straight run, `line` counting them in order.
    struct Candidate {
        var phase: String
        var trigger: String
        var line: Int
    }

    /// One kill: after `trigger` (the straight run's progress line number `line`) appears on the child's stdout, wait
    /// `delay`, or (`checkpointWrite`) until the next checkpoint's temporary file is created, then SIGKILL.
    struct Kill {
        var phase: String
        var trigger: String
        var line: Int
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
        let candidates = Self.candidates(from: straight.stdout)
        let plan = Self.plan(candidates, kills: kills, checkpointWrites: checkpointWrites, seed: seed)
        var report = Report(plannedPhases: plan.map(\.phase))
        let runDirectory = directory.appendingPathComponent("runs/2")

        var child = try Child(textgan, ["train"] + arguments + ["--name", "killed"] + common)
        var finished = false
        var reached = -1  // the last progress line of the straight run that an earlier child printed
        for kill in plan {
            // A resumed child starts from its last checkpoint, at or before the last progress line the killed child
            // printed, so it prints every later line again unless the run finishes first. A planned trigger that an
            // earlier child already passed (on a fast machine a delay or a wait for a checkpoint write can outrun
            // several lines) might lie before that checkpoint and never come again: move it to the next line.
            let target = kill.line > reached ? kill : candidates.first { $0.line > reached }.map {
                Kill(phase: $0.phase, trigger: $0.trigger, line: $0.line, delay: kill.delay, checkpointWrite: kill.checkpointWrite)
            }
            // Its line or any later one: a child resumed from a checkpoint written just after the line it was killed
            // at may not print the very next one.
            if let target, child.waitForOutput(anyOf: candidates.filter { $0.line >= target.line }.map(\.trigger),
                                               timeout: 120, orExit: true) {
                if target.checkpointWrite {
                    _ = waitForCreation(in: runDirectory, suffix: ".partial", timeout: 30) { child.process.isRunning }
                } else {
                    Thread.sleep(forTimeInterval: target.delay)
                }
            }
            Glibc.kill(child.process.processIdentifier, SIGKILL)
            let ended = child.wait()
            reached = max(reached, candidates.last { ended.stdout.contains($0.trigger) }?.line ?? -1)
            if child.process.terminationReason == .uncaughtSignal {
                report.landed += 1
                report.landedPhases.append(target?.phase ?? "end")
                if try FileManager.default.contentsOfDirectory(atPath: runDirectory.path).contains(where: { $0.hasSuffix(".partial") }) {
                    report.midWrite += 1
                }
            } else {
                // The kill came too late: the child finished the run, and there is nothing left to resume.
                XCTAssertEqual(ended.status, 0, "a child the kill missed failed: \(ended.stderr)")
                finished = true
                break
            }
            // A killed process leaves its heartbeat fresh for up to a minute, and a resume refuses a run that may
            // still be training elsewhere: age it, as that minute would.
            try RunDatabase(path: database).writer.write { db in
                try db.execute(sql: "UPDATE runs SET heartbeat_at = '2000-01-01 00:00:00.000' WHERE id = 2")
            }
            child = try Child(textgan, ["train", "--resume", "2"] + common)
        }
        if !finished {
            let last = child.wait()
            XCTAssertEqual(last.status, 0, last.stderr + last.stdout.suffix(500))
        }

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
        print("fault campaign: \(report)")
        return report
    }

    /// The progress lines of the straight run after its first checkpoint (a run killed before it has none to resume
    /// from), in order, each as the text up to its step counter ("adversarial step 3/5 "): what a resumed run prints
    /// again.
    static func candidates(from stdout: String) -> [Candidate] {
        let lines = stdout.split(separator: "\n").map(String.init)
        guard let first = lines.firstIndex(where: { $0.contains("evaluation at step") }) else { return [] }
        let found: [(phase: String, trigger: String)] = lines.dropFirst(first + 1).compactMap { line in
            let words = line.split(separator: " ")
            guard words.count > 2, ["mle", "discriminator", "adversarial"].contains(words[0]), words[1] == "step" else { return nil }
            return (String(words[0]), "\(words[0]) step \(words[2]) ")
        }
        // A trigger printed twice would match its first appearance: keep each once.
        var seen = Set<String>()
        return found.filter { seen.insert($0.trigger).inserted }.enumerated().map {
            Candidate(phase: $1.phase, trigger: $1.trigger, line: $0)
        }
    }

    /// Seeded kill moments drawn from `candidates`: one per phase first, then the rest anywhere; distinct lines, in
    /// order.
    static func plan(_ candidates: [Candidate], kills: Int, checkpointWrites: Int, seed: UInt64) -> [Kill] {
        var rng = SplitMix64(seed: seed)
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
            Kill(phase: candidates[c].phase, trigger: candidates[c].trigger, line: candidates[c].line,
                 delay: Double(rng.index(below: 40)) / 1000, checkpointWrite: writes.contains(n))
        }
    }
}

extension Child {
    /// As `waitForOutput`, for any of `texts`, and gives up as soon as the process has ended (`orExit`).
    func waitForOutput(anyOf texts: [String], timeout: TimeInterval, orExit: Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let running = process.isRunning
            let out = stdout
            if texts.contains(where: out.contains) { return true }
            if orExit && !running { return false }
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
