import Foundation
import RunStore
import TestSupport
import Workbench
import XCTest

@testable import textgan

/// `textgan train --set/--tag` and `textgan sweep`, run as processes on the tiny corpus.
final class SweepCommandTests: XCTestCase {
    private var directory: URL!
    private var database: String { directory.appendingPathComponent("runs/textgan.sqlite").path }
    private var corpus: String { directory.appendingPathComponent("tiny.txt").path }
    private var configFile: String { directory.appendingPathComponent("mle.json").path }

    override func setUpWithError() throws {
        directory = try temporaryDirectory(self)
        try TinyRun.writeCorpus(to: URL(fileURLWithPath: corpus))
        try """
            {"generator": {"embeddingSize": 8, "hiddenSize": 8},
             "mle": {"epochs": 2, "batchSize": 16, "logEvery": 5, "evaluateEvery": 1},
             "evaluation": {"bleuSamples": 20}}
            """.write(toFile: configFile, atomically: true, encoding: .utf8)
    }

    private func trainArguments(_ extra: [String] = []) -> [String] {
        [corpus, "--algo", "mle", "--config", configFile, "--root", packageRoot.path, "--min-examples", "16"] + extra
    }

    @discardableResult
    private func sweep(_ arguments: [String], status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> Finished {
        let result = try runProcess("textgan", ["sweep", "--db", database] + arguments)
        XCTAssertEqual(result.status, status, result.stderr + result.stdout.suffix(3000), file: file, line: line)
        return result
    }

    func testSetAppliesAfterTheFlagsAndTagsAreRecorded() throws {
        let command = try TrainCommand.parse(trainArguments(["--epochs", "5", "--set", "mle.epochs=7", "--set", "gan.loss=rsgan"]))
        XCTAssertThrowsError(try command.effectiveConfig(corpus: corpus), "mle reads no gan section") {
            XCTAssertTrue("\($0)".contains("--set") && "\($0)".contains("gan"), "\($0)")
        }
        let config = try TrainCommand.parse(trainArguments(["--epochs", "5", "--set", "mle.epochs=7", "--set", "mle.learningRate=0.02"]))
            .effectiveConfig(corpus: corpus)
        XCTAssertEqual(config.mle.epochs, 7, "--set is the last layer")
        XCTAssertEqual(config.mle.learningRate, 0.02)
        XCTAssertThrowsError(try TrainCommand.parse(trainArguments(["--set", "mle.epoch=7"])).effectiveConfig(corpus: corpus)) {
            XCTAssertTrue("\($0)".contains("unknown config key 'mle.epoch'"), "\($0)")
        }
        XCTAssertThrowsError(try TrainCommand.parse(["--resume", "1", "--set", "mle.epochs=2"]), "--set changes a recorded config")
        XCTAssertThrowsError(try TrainCommand.parse(trainArguments(["--tag", " padded"])))

        let result = try runProcess("textgan", ["train"] + trainArguments(["--set", "mle.epochs=1", "--tag", "a", "--tag", "b"]) + ["--db", database])
        XCTAssertEqual(result.status, 0, result.stderr)
        let store = try RunDatabase(path: database)
        XCTAssertEqual(try store.tags(of: 1), ["a", "b"])
        XCTAssertEqual(try RunConfig.decode(store.run(1).configJSON, source: "run 1").mle.epochs, 1)
    }

    func testASweepTrainsEveryPointTagsThemAndSummarisesOverSeeds() throws {
        let first = try sweep(["--seeds", "1,2", "--grid", "mle.learningRate=0.02,0.005", "--name", "lr"] + trainArguments())
        let store = try RunDatabase(path: database)
        let runs = try store.runs(RunFilter(tags: ["sweep:lr"])).map(\.run).sorted { $0.id! < $1.id! }
        XCTAssertEqual(runs.map(\.name), ["lr-1-s1", "lr-1-s2", "lr-2-s1", "lr-2-s2"])
        XCTAssertTrue(runs.allSatisfy { $0.status == .finished })
        let configs = try runs.map { try RunConfig.decode($0.configJSON, source: $0.name) }
        XCTAssertEqual(configs.map(\.seed), [1, 2, 1, 2])
        XCTAssertEqual(configs.map(\.mle.learningRate), [0.02, 0.02, 0.005, 0.005])
        XCTAssertTrue(configs.allSatisfy { $0.mle.epochs == 2 }, "the train arguments apply to every run")
        XCTAssertTrue(first.stdout.contains("sweep lr: 4 run(s) (4 finished), 2 grid point(s); over seed"), first.stdout)

        // The summary is the mean and sample standard deviation of each run's latest value, per grid point.
        let json = try runProcess("textgan", ["compare", "--sweep", "lr", "--format", "json", "--db", database])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let groups = try XCTUnwrap(object["groups"] as? [[String: Any]])
        XCTAssertEqual(groups.map { $0["runs"] as? [Int] }, [[1, 2], [3, 4]])
        let nll = try XCTUnwrap((object["evaluations"] as? [[String: Any]])?.first { $0["key"] as? String == "nll_test" })
        let cells = try XCTUnwrap(nll["groups"] as? [[String: Any]])
        for (group, ids) in [(0, [Int64(1), 2]), (1, [3, 4])] {
            let values = try ids.map { try XCTUnwrap(store.evaluations(run: $0).filter { $0.metric == "nll_test" }.max { $0.id! < $1.id! }?.value) }
            let mean = values.reduce(0, +) / 2
            XCTAssertEqual(cells[group]["n"] as? Int, 2)
            XCTAssertEqual(try XCTUnwrap(cells[group]["mean"] as? Double), mean, accuracy: 1e-12)
            XCTAssertEqual(try XCTUnwrap(cells[group]["std"] as? Double), abs(values[0] - values[1]) / 2.0.squareRoot(), accuracy: 1e-12)
        }

        // Again: nothing is retrained. With other train arguments under the same name: refused, nothing recorded.
        let again = try sweep(["--seeds", "1,2", "--grid", "mle.learningRate=0.02,0.005", "--name", "lr"] + trainArguments())
        XCTAssertTrue(again.stdout.contains("4 finished already") && !again.stdout.contains("→"), again.stdout)
        let changed = try sweep(["--seeds", "1,2", "--grid", "mle.learningRate=0.02,0.005", "--name", "lr"] + trainArguments(["--epochs", "3"]), status: 1)
        XCTAssertTrue(changed.stderr.contains("already has run 1") && changed.stderr.contains("mle.epochs"), changed.stderr)
        // A misspelt grid key is refused before any run starts.
        let typo = try sweep(["--seeds", "5", "--grid", "mle.learnRate=0.1", "--name", "typo"] + trainArguments(), status: 1)
        XCTAssertTrue(typo.stderr.contains("unknown config key 'mle.learnRate'"), typo.stderr)
        XCTAssertEqual(try store.runs().count, 4)
        let unknown = try runProcess("textgan", ["compare", "--sweep", "nope", "--db", database])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("no sweep nope") && unknown.stderr.contains("sweeps: lr"), unknown.stderr)
    }

    func testAnInterruptedSweepStopsItsRunsCleanlyAndContinues() throws {
        // Long enough to be stopped mid-run: 400 epochs.
        let arguments = ["--seeds", "1-3", "--parallel", "2", "--name", "long"] + trainArguments(["--epochs", "400"])
        let child = try Child(try executable("textgan"), ["sweep", "--db", database] + arguments)
        XCTAssertTrue(child.waitForOutput("→ long-s2", timeout: 60), child.stdout)
        let store = try RunDatabase(path: database)
        let deadline = Date().addingTimeInterval(60)
        // Both runs past their start (a step recorded, so their signal handlers are in place).
        func bothTraining() throws -> Bool {
            let running = try store.runs().filter { $0.run.status == .running }.map { $0.run.id! }
            return try running.count == 2 && running.allSatisfy { try !store.metricHistory(run: $0, key: "loss").isEmpty }
        }
        while try !bothTraining(), Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(child.process.processIdentifier, SIGINT)
        let stopped = child.wait()
        XCTAssertEqual(stopped.status, 130, stopped.stderr + stopped.stdout)
        XCTAssertTrue(stopped.stdout.contains("interrupted: run the same command again"), stopped.stdout)
        XCTAssertFalse(stopped.stdout.contains("→ long-s3"), "no run starts after the signal")
        // Both runs in progress got the signal once each, wrote their checkpoints and can be resumed.
        let runs = try store.runs().map(\.run)
        XCTAssertEqual(runs.count, 2)
        for run in runs {
            XCTAssertEqual(run.status, .interrupted, run.name)
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("runs/\(run.id!)/latest.safetensors").path))
        }
        let log = try String(contentsOf: directory.appendingPathComponent("runs/sweeps/long/long-s1.log"), encoding: .utf8)
        XCTAssertTrue(log.contains("continue with `textgan train --resume"), log)
        XCTAssertFalse(log.contains("stopping after the checkpoint"), "a single signal reached the run: \(log)")

        // The same command continues: the two runs resume, the third starts. (Shortened: stop it again at once.)
        let plan = try sweep(["--dry-run"] + arguments)
        // (Which of the two parallel runs the store numbered first is not fixed.)
        for name in ["long-s1", "long-s2"] {
            XCTAssertNotNil(plan.stdout.range(of: name + #"  \[run [12], interrupted\]"#, options: .regularExpression), plan.stdout)
        }
        XCTAssertTrue(plan.stdout.contains("long-s3  [new]"), plan.stdout)

        // A run stopped before its first checkpoint (signalled while starting) has nothing to resume: trained anew.
        let s1 = try XCTUnwrap(runs.first { $0.name == "long-s1" })
        try FileManager.default.removeItem(at: directory.appendingPathComponent("runs/\(s1.id!)/latest.safetensors"))
        let replanned = try sweep(["--dry-run"] + arguments)
        XCTAssertTrue(replanned.stdout.contains("run \(s1.id!) (interrupted) has no checkpoint to resume; training the point anew")
                      && replanned.stdout.contains("long-s1  [new]"), replanned.stdout)
    }
}
