import Digest
import Foundation
import NumericCore
import RunStore
import TestSupport
import Training
import Workbench
import XCTest

@testable import textgan

/// Argument parsing and config layering, without running anything.
final class TrainCommandParsingTests: XCTestCase {
    func testPresetThenFlagsLayerOverTheDefaults() throws {
        let command = try TrainCommand.parse(["tang", "--preset", "quick", "--epochs", "3", "--rollouts", "2", "--g-lr", "0.005"])
        let config = try command.effectiveConfig(corpus: "tang")
        XCTAssertEqual(config.algorithm, "seqgan")
        XCTAssertEqual(config.mle.epochs, 3)  // flag over preset
        XCTAssertEqual(config.seqgan.rollouts, 2)
        XCTAssertEqual(config.seqgan.adversarialSteps, RunConfig.defaults(corpus: "tang", preset: .quick).seqgan.adversarialSteps)
        XCTAssertEqual(config.mle.learningRate, 0.005)
        XCTAssertEqual(config.seqgan.generatorLearningRate, 0.005)
        // The paper defaults: the reference's settings.
        let paper = try TrainCommand.parse(["oracle"]).effectiveConfig(corpus: "oracle")
        XCTAssertEqual(paper.mle.epochs, 120)
        XCTAssertEqual(paper.seqgan.rollouts, 16)
        XCTAssertEqual(paper.seqgan.adversarialSteps, 200)
        XCTAssertEqual(paper.seqgan.discriminatorPretrainRounds, 50)
        XCTAssertEqual(paper.cnn.widths.reduce(0) { $0 + $1.filters }, 1720)
    }

    func testConfigFileOverridesNestedFieldsAndRejectsUnknownKeys() throws {
        let base = RunConfig.defaults(corpus: "coco", preset: nil)
        let merged = try base.merging(json: Data(#"{"mle": {"epochs": 7}, "generator": {"hiddenSize": 64}}"#.utf8), source: "a.json")
        XCTAssertEqual(merged.mle.epochs, 7)
        XCTAssertEqual(merged.mle.batchSize, base.mle.batchSize)  // untouched siblings keep their values
        XCTAssertEqual(merged.lstm.hiddenSize, 64)
        XCTAssertThrowsError(try base.merging(json: Data(#"{"mle": {"epoch": 7}}"#.utf8), source: "b.json")) {
            XCTAssertTrue("\($0)".contains("unknown config key 'mle.epoch'"), "\($0)")
        }
        XCTAssertThrowsError(try base.merging(json: Data(#"{"mle": {"epochs": "many"}}"#.utf8), source: "c.json")) {
            XCTAssertTrue("\($0)".contains("c.json") && "\($0)".contains("mle.epochs"), "\($0)")
        }
        XCTAssertThrowsError(try base.merging(json: Data("{not json".utf8), source: "d.json")) {
            XCTAssertTrue("\($0)".contains("not valid JSON"), "\($0)")
        }
        XCTAssertThrowsError(try base.merging(json: Data("[1, 2]".utf8), source: "e.json"))
    }

    func testValidationRejectsContradictoryOrBadFlags() throws {
        XCTAssertThrowsError(try TrainCommand.parse([]))
        XCTAssertThrowsError(try TrainCommand.parse(["tang", "--resume", "3"]))
        XCTAssertThrowsError(try TrainCommand.parse(["tang", "--epochs", "0"]))
        XCTAssertThrowsError(try TrainCommand.parse(["tang", "--g-lr", "-1"]))
        XCTAssertThrowsError(try TrainCommand.parse(["tang", "--algo", "leakgan"]))
        XCTAssertNoThrow(try TrainCommand.parse(["--resume", "3"]))
        XCTAssertThrowsError(try SampleCommand.parse(["1", "--top-p", "1.5"]))
        XCTAssertThrowsError(try SampleCommand.parse(["1", "-n", "0"]))
        // Values that used to trap: infinities, counts that overflow or exhaust memory.
        XCTAssertThrowsError(try TrainCommand.parse(["tang", "--g-lr", "inf"]))
        XCTAssertThrowsError(try TrainCommand.parse(["tang", "--g-lr", "nan"]))
        XCTAssertThrowsError(try SampleCommand.parse(["1", "-n", "1000000000000"]))
        XCTAssertThrowsError(try SampleCommand.parse(["1", "--temperature", "inf"]))
        XCTAssertThrowsError(try EvalCommand.parse(["1", "--samples", "1000000000000"]))
        XCTAssertThrowsError(try SQLCommand.parse(["SELECT 1", "--timeout", "inf"]))
        // A count past every range parses, then the config refuses it before anything runs.
        let huge = try TrainCommand.parse(["tang", "--epochs", "9223372036854775807"])
        XCTAssertThrowsError(try huge.effectiveConfig(corpus: "tang").validate()) {
            XCTAssertTrue("\($0)".contains("mle.epochs = 9223372036854775807"), "\($0)")
        }
        // A flag for a section the algorithm does not read is an error, not a silent no-op.
        XCTAssertThrowsError(try TrainCommand.parse(["tang", "--algo", "mle", "--rollouts", "4"]).effectiveConfig(corpus: "tang")) {
            XCTAssertTrue("\($0)".contains("--rollouts") && "\($0)".contains("seqgan"), "\($0)")
        }
        XCTAssertThrowsError(try TrainCommand.parse(["tang", "--algo", "mle", "--adversarial-steps", "4"]).effectiveConfig(corpus: "tang")) {
            XCTAssertTrue("\($0)".contains("no adversarial phase"), "\($0)")
        }
    }

    /// `--precision` sets the discriminator's precision (fp32 by default); an algorithm without a discriminator
    /// refuses it, naming the key.
    func testPrecisionSetsTheDiscriminatorsProducts() throws {
        XCTAssertEqual(try TrainCommand.parse(["oracle"]).effectiveConfig(corpus: "oracle").cnn.precision, .fp32)
        let bf16 = try TrainCommand.parse(["oracle", "--precision", "bf16"]).effectiveConfig(corpus: "oracle")
        XCTAssertEqual(bf16.cnn.precision, .bf16)
        XCTAssertThrowsError(try TrainCommand.parse(["tang", "--algo", "mle", "--precision", "bf16"]).effectiveConfig(corpus: "tang")) {
            XCTAssertTrue("\($0)".contains("discriminator"), "\($0)")
        }
        XCTAssertThrowsError(try TrainCommand.parse(["--resume", "3", "--precision", "bf16"]))
    }

    /// `--algo textgan` gets TextGAN's latent generator unless one is named, and the flags of its adversarial phase.
    func testTextGANGetsItsGeneratorAndItsFlags() throws {
        let config = try TrainCommand.parse(["tang", "--algo", "textgan", "--adversarial-steps", "7"]).effectiveConfig(corpus: "tang")
        XCTAssertEqual(config.generator.kind, "latent-lstm")
        XCTAssertEqual(config[section: TextGANConfig.self].adversarialSteps, 7)
        let seqgan = try TrainCommand.parse(["tang", "--adversarial-steps", "7"]).effectiveConfig(corpus: "tang")
        XCTAssertEqual(seqgan.generator.kind, "lstm")
        XCTAssertEqual(seqgan[section: SeqGANConfig.self].adversarialSteps, 7)
    }
}

/// `textgan train` end to end, as a user runs it: a tiny corpus, a tiny config, a real run store.
final class TrainEndToEndTests: XCTestCase {
    private var directory: URL!
    private var database: String { directory.appendingPathComponent("runs/textgan.sqlite").path }

    override func setUpWithError() throws {
        directory = try temporaryDirectory(self)
        try TinyRun.writeCorpus(to: directory.appendingPathComponent("tiny.txt"))
        try TinyRun.seqganConfig.write(to: directory.appendingPathComponent("tiny.json"), atomically: true, encoding: .utf8)
    }

    /// `textgan train` on the tiny corpus and config, as a child process to signal.
    private func startTinyRun(_ extra: [String]) throws -> Child {
        try Child(try executable("textgan"), [
            "train", directory.appendingPathComponent("tiny.txt").path, "--config", directory.appendingPathComponent("tiny.json").path,
        ] + extra + ["--db", database, "--root", packageRoot.path, "--min-examples", "16"])
    }

    private func train(_ extra: [String]) throws -> Finished {
        try runProcess("textgan", ["train"] + extra + ["--db", database, "--root", packageRoot.path, "--min-examples", "16"])
    }

    func testASeqGANRunIsRecordedAndCanBeSampled() throws {
        let tiny = directory.appendingPathComponent("tiny.txt").path
        let result = try train([tiny, "--config", directory.appendingPathComponent("tiny.json").path, "--name", "tiny"])
        XCTAssertEqual(result.status, 0, result.stderr + result.stdout.suffix(2000))
        XCTAssertTrue(result.stdout.contains("== adversarial finished"), result.stdout)
        // A short summary of what differs from the defaults, not the whole config.
        XCTAssertTrue(result.stdout.contains("config: seqgan defaults, with "), result.stdout)
        XCTAssertTrue(result.stdout.contains("mle.epochs = 3"), result.stdout)
        XCTAssertFalse(result.stdout.contains("effective config"), result.stdout)

        let store = try RunDatabase(path: database)
        let runs = try store.runs()
        XCTAssertEqual(runs.count, 1)
        let id = runs[0].run.id!
        XCTAssertEqual(runs[0].run.status, .finished)
        XCTAssertEqual(runs[0].run.name, "tiny")
        let details = try store.details(of: id)
        XCTAssertFalse(details.checkpoints.isEmpty)
        XCTAssertFalse(details.lastSamples.isEmpty)
        let nll = try store.metricHistory(run: id, key: "nll_test")
        XCTAssertGreaterThanOrEqual(nll.count, 3)
        // MLE lowers the test NLL from the first to the last pretraining epoch.
        let trainNLL = try store.metricHistory(run: id, key: "train_nll").map(\.value)
        XCTAssertLessThan(trainNLL.last!, trainNLL.first!)
        // Every evaluation, in pretraining and adversarial training, records NLL-test and BLEU-2..5 with Self-BLEU
        // (of evaluation.bleuSamples samples) in the evaluations table.
        let evaluations = try store.evaluations(run: id)
        let nllSteps = evaluations.filter { $0.metric == "nll_test" }.map(\.step)
        XCTAssertEqual(nllSteps.count, 3 + 3)  // 3 MLE epochs; the adversarial start and 2 steps
        for metric in ["bleu2", "bleu3", "bleu4", "bleu5", "self_bleu2", "self_bleu5"] {
            let rows = evaluations.filter { $0.metric == metric }
            XCTAssertEqual(rows.map(\.step), nllSteps, metric)
            XCTAssertTrue(rows.allSatisfy { $0.sampleCount == 200 && $0.temperature == 1 }, metric)
        }

        // One step count over the whole run: it never decreases in recording order, each row keeps its phase's own
        // step, and so the views' "latest" is the end of adversarial training, not of MLE.
        let all = try ["loss", "d_loss", "pg_loss", "nll_test"].flatMap { try store.metricHistory(run: id, key: $0) }
            .sorted { $0.id! < $1.id! }
        XCTAssertEqual(all.map(\.step), all.map(\.step).sorted(), "run steps never decrease")
        XCTAssertEqual(all.filter { $0.phase == "adversarial" && $0.key == "pg_loss" }.map(\.phaseStep), [1, 2])
        let lastAdversarialNLL = try XCTUnwrap(evaluations.filter { $0.metric == "nll_test" }.max { $0.id! < $1.id! })
        XCTAssertEqual(lastAdversarialNLL.phaseStep, 2)
        XCTAssertEqual(runs[0].latestNLLTest, lastAdversarialNLL.value, "runs shows the last adversarial NLL")
        XCTAssertEqual(try store.details(of: id).lastSamples.map(\.step).max(), lastAdversarialNLL.step,
                       "runs show prints the last samples of adversarial training")

        let samples = try runProcess("textgan", ["sample", "\(id)", "--db", database, "-n", "4", "--prefix", "the big"])
        XCTAssertEqual(samples.status, 0, samples.stderr)
        let lines = samples.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("the big") }, samples.stdout)
        try assertEveryRecordedMetricIsCatalogued(database)
    }

    func testAnInterruptedRunResumesWhereItStopped() throws {
        let child = try startTinyRun(["--adversarial-steps", "400"])
        XCTAssertTrue(child.waitForOutput("== adversarial (400 steps)", timeout: 120), child.stdout)
        // Into a pipe, stdout is line-buffered: what has arrived ends at a line's end, not wherever a 4 KiB block did.
        XCTAssertTrue(child.stdout.hasSuffix("\n"), String(child.stdout.suffix(200)))
        kill(child.process.processIdentifier, SIGINT)
        let interrupted = child.wait()
        XCTAssertEqual(interrupted.status, 130, interrupted.stderr)
        XCTAssertTrue(interrupted.stdout.contains("textgan train --resume 1"), interrupted.stdout)
        let store = try RunDatabase(path: database)
        XCTAssertEqual(try store.run(1).status, .interrupted)
        let stoppedAt = try store.metricHistory(run: 1, key: "pg_loss").count

        // Resume, with fewer remaining steps so the test ends: the recorded config says 400, so stop it again
        // after two more steps and check that it continued where it was, rather than starting over.
        let resumed = try Child(try executable("textgan"), ["train", "--resume", "1", "--db", database, "--root", packageRoot.path])
        XCTAssertTrue(resumed.waitForOutput("adversarial step \(stoppedAt + 2)/400", timeout: 120), resumed.stdout)
        kill(resumed.process.processIdentifier, SIGTERM)
        let second = resumed.wait()
        XCTAssertEqual(second.status, 143, second.stderr)
        XCTAssertFalse(second.stdout.contains("== mle"), "a resumed run does not pretrain again")
        XCTAssertEqual(try store.run(1).status, .interrupted)
        XCTAssertGreaterThan(try store.metricHistory(run: 1, key: "pg_loss").count, stoppedAt)
    }

    func testFollowingARunPrintsItsRowsUntilItStops() throws {
        let trainer = try startTinyRun(["--adversarial-steps", "400"])
        XCTAssertTrue(trainer.waitForOutput("== mle", timeout: 60), trainer.stdout)
        let follower = try Child(try executable("textgan"), ["runs", "show", "1", "--follow", "--interval", "0.1", "--db", database])
        XCTAssertTrue(follower.waitForOutput("following run 1", timeout: 30), follower.stdout)
        XCTAssertTrue(follower.waitForOutput(" adversarial 2  ", timeout: 120), follower.stdout)
        kill(trainer.process.processIdentifier, SIGINT)
        XCTAssertEqual(trainer.wait().status, 130)
        let followed = follower.wait()
        XCTAssertEqual(followed.status, 0, followed.stderr)
        XCTAssertTrue(followed.stdout.hasSuffix("run 1 interrupted: interrupted by SIGINT (Ctrl-C)\n"), String(followed.stdout.suffix(300)))
        // Every adversarial step recorded before the stop was printed once, in order.
        let store = try RunDatabase(path: database)
        let steps = try store.metricHistory(run: 1, key: "pg_loss").compactMap(\.phaseStep)
        let printed = followed.stdout.split(separator: "\n").filter { $0.contains(" adversarial ") && $0.contains("pg_loss") }
        let printedSteps = printed.compactMap { line in line.split(separator: " ").dropFirst(3).first.flatMap { Int($0) } }
        XCTAssertEqual(Array(printedSteps.suffix(steps.count)), steps.suffix(printedSteps.count).map { $0 }, followed.stdout)
        XCTAssertEqual(printedSteps.last, steps.last)

        // A run that has ended: the whole history as JSON lines, then its status, and no waiting.
        let lines = try runProcess("textgan", ["runs", "show", "1", "--follow", "--format", "json", "--db", database])
        XCTAssertEqual(lines.status, 0, lines.stderr)
        let objects = try lines.stdout.split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertEqual(objects.first?["type"] as? String, "run")
        XCTAssertEqual(objects.last?["status"] as? String, "interrupted")
        XCTAssertEqual(objects.filter { $0["type"] as? String == "metric" }.count, try store.metrics(run: 1).count)
        XCTAssertEqual(objects.filter { $0["type"] as? String == "evaluation" }.count, try store.evaluations(run: 1).count)
        XCTAssertNotEqual(try runProcess("textgan", ["runs", "show", "1", "--follow", "--format", "csv", "--db", database]).status, 0)
    }

    func testAClosedStdoutDoesNotKillTheRun() throws {
        // `textgan train … | head -n 1`: head exits after one line and the pipe closes under the run.
        let tiny = directory.appendingPathComponent("tiny.txt").path
        let command = [try executable("textgan").path, "train", tiny, "--config",
                       directory.appendingPathComponent("tiny.json").path, "--db", database, "--root", packageRoot.path,
                       "--min-examples", "16"].map { "'\($0)'" }.joined(separator: " ")
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "\(command) | head -n 1 > /dev/null"]
        try shell.run()
        shell.waitUntilExit()
        let store = try RunDatabase(path: database)
        XCTAssertEqual(try store.run(1).status, .finished, "the run went on after its stdout closed")
        XCTAssertFalse(try store.details(of: 1).checkpoints.isEmpty)
    }

    func testTwoSignalsStillWaitForTheCheckpoint() throws {
        // `timeout` sends SIGTERM twice: the second must not cut the clean stop short.
        let child = try startTinyRun(["--adversarial-steps", "400"])
        XCTAssertTrue(child.waitForOutput("== adversarial (400 steps)", timeout: 120), child.stdout)
        kill(child.process.processIdentifier, SIGTERM)
        // Two signals pending at once are one to the kernel: let the first be delivered.
        Thread.sleep(forTimeInterval: 0.005)
        kill(child.process.processIdentifier, SIGTERM)
        let stopped = child.wait()
        XCTAssertEqual(stopped.status, 143, stopped.stderr)
        XCTAssertTrue(stopped.stderr.contains("stopping after the checkpoint"), stopped.stderr)
        XCTAssertTrue(stopped.stdout.contains("textgan train --resume 1"), "the clean stop ran to its end: \(stopped.stdout.suffix(300))")
        let store = try RunDatabase(path: database)
        XCTAssertEqual(try store.run(1).status, .interrupted)
        // The checkpoint holds the last recorded step, so a resume continues from it.
        let steps = try store.metricHistory(run: 1, key: "pg_loss").count
        let state = try Checkpoint.load(from: directory.appendingPathComponent("runs/1/latest.safetensors")).state(SeqGANState.self)
        XCTAssertEqual(state.adversarialStep, steps)
    }

    func testAThirdSignalStopsAtOnceInsideALongStep() throws {
        // Adversarial steps of 10,000 discriminator rounds of 3 epochs: the next step boundary is minutes away.
        let child = try startTinyRun(["--set", "seqgan.discriminatorRounds=10000", "--set", "seqgan.discriminatorEpochs=3"])
        XCTAssertTrue(child.waitForOutput("== adversarial", timeout: 120), child.stdout)
        Thread.sleep(forTimeInterval: 0.3)
        let started = Date()
        for _ in 0..<3 {
            kill(child.process.processIdentifier, SIGTERM)
            Thread.sleep(forTimeInterval: 0.05)
        }
        let stopped = child.wait()
        XCTAssertLessThan(Date().timeIntervalSince(started), 15, "the third signal stops at once")
        XCTAssertEqual(stopped.status, 143, stopped.stderr)
        XCTAssertEqual(try RunDatabase(path: database).run(1).status, .interrupted)
    }

    func testWhatCannotBeResumedOrLoadedIsSaidAndChangesNothing() throws {
        let tiny = directory.appendingPathComponent("tiny.txt").path
        let trained = try train([tiny, "--config", directory.appendingPathComponent("tiny.json").path])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let store = try RunDatabase(path: database)
        XCTAssertEqual(try store.run(1).name, "tiny-seqgan", "a file corpus names the run by its stem")

        // A finished run has nothing to resume: said, and the run stays finished.
        let again = try train(["--resume", "1"])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("run 1 already finished"), again.stderr)
        XCTAssertEqual(try store.run(1).status, .finished)

        // A truncated checkpoint is refused before the run's status changes.
        try store.resumeRun(1)
        try store.finish(run: 1, status: .interrupted, reason: "test")
        let latest = directory.appendingPathComponent("runs/1/latest.safetensors")
        let bytes = try Data(contentsOf: latest)
        try bytes.prefix(bytes.count / 2).write(to: latest)
        let truncated = try train(["--resume", "1"])
        XCTAssertNotEqual(truncated.status, 0)
        XCTAssertTrue(truncated.stderr.contains("cannot be read"), truncated.stderr)
        XCTAssertEqual(try store.run(1).status, .interrupted)
        try FileManager.default.removeItem(at: latest)
        let missing = try train(["--resume", "1"])
        XCTAssertTrue(missing.stderr.contains("no checkpoint to resume"), missing.stderr)
        XCTAssertEqual(try store.run(1).status, .interrupted)
        XCTAssertEqual(try train(["--resume", "99"]).stderr.contains("no run 99"), true)

        // Loading: an unknown id is "no run", --best on a file is refused.
        let sample = try runProcess("textgan", ["sample", "99", "--db", database])
        XCTAssertNotEqual(sample.status, 0)
        XCTAssertTrue(sample.stderr.contains("no run 99"), sample.stderr)
        let best = try runProcess("textgan", ["sample", directory.appendingPathComponent("runs/1/best.safetensors").path,
                                              "--best", "--db", database])
        XCTAssertTrue(best.stderr.contains("--best picks a run's best checkpoint"), best.stderr)
    }

    /// A run stopped, then hit by a crash between recording a step and checkpointing it (rows recorded past the
    /// checkpoint), then resumed, ends with the history of an uninterrupted run: nothing lost, nothing doubled.
    func testAResumedRunsHistoryEqualsAnUninterruptedOne() throws {
        let tiny = directory.appendingPathComponent("tiny.txt").path
        let arguments = [tiny, "--config", directory.appendingPathComponent("tiny.json").path, "--adversarial-steps", "6"]
        XCTAssertEqual(try train(arguments + ["--name", "straight"]).status, 0)
        let child = try Child(try executable("textgan"), ["train"] + arguments + [
            "--name", "stopped", "--db", database, "--root", packageRoot.path, "--min-examples", "16"])
        XCTAssertTrue(child.waitForOutput("adversarial step 2/6", timeout: 120), child.stdout)
        kill(child.process.processIdentifier, SIGINT)
        XCTAssertEqual(child.wait().status, 130)
        let store = try RunDatabase(path: database)
        // The crash: a step's rows recorded, its checkpoint never written.
        let last = try XCTUnwrap(try store.metricHistory(run: 2, key: "pg_loss").last)
        try store.recordMetrics(run: 2, phase: "adversarial", step: last.step + 1, phaseStep: last.phaseStep! + 1,
                                values: ["pg_loss": 123, "d_loss": 4])
        try store.recordSamples(run: 2, step: last.step + 1, phaseStep: last.phaseStep! + 1, temperature: 1, texts: ["lost"])
        let resumed = try train(["--resume", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)

        let straight = try RunHistory(of: 1, in: store), stopped = try RunHistory(of: 2, in: store)
        XCTAssertEqual(stopped, straight, stopped.firstDifference(from: straight))
        XCTAssertFalse(stopped.samples.contains { $0.hasSuffix(" lost") })
        XCTAssertFalse(stopped.metrics.isEmpty)
    }

    /// The signal suite: SIGINT, SIGTERM, SIGTERM twice (as `timeout` sends), SIGHUP and a closed stdout (SIGPIPE,
    /// ignored). Each stop leaves a checkpoint, a status and exit code that say which signal it was, and a resume whose
    /// whole history equals an uninterrupted run's; a closed stdout does not stop the run at all.
    func testEverySignalLeavesAResumableRunThatContinuesBitIdentically() throws {
        let tiny = directory.appendingPathComponent("tiny.txt").path
        let arguments = [tiny, "--config", directory.appendingPathComponent("tiny.json").path, "--adversarial-steps", "6"]
        XCTAssertEqual(try train(arguments + ["--name", "straight"]).status, 0)
        let store = try RunDatabase(path: database)
        let straight = try RunHistory(of: 1, in: store)
        let cases: [(name: String, signals: [Int32], status: Int32, reason: String)] = [
            ("sigint", [SIGINT], 130, "SIGINT"), ("sigterm", [SIGTERM], 143, "SIGTERM"),
            ("sigterm-twice", [SIGTERM, SIGTERM], 143, "SIGTERM"), ("sighup", [SIGHUP], 129, "SIGHUP"),
        ]
        for (index, c) in cases.enumerated() {
            let id = Int64(index + 2)
            let child = try Child(try executable("textgan"), ["train"] + arguments + [
                "--name", c.name, "--db", database, "--root", packageRoot.path, "--min-examples", "16"])
            XCTAssertTrue(child.waitForOutput("adversarial step 2/6", timeout: 120), "\(c.name): \(child.stdout)")
            for signal in c.signals {
                kill(child.process.processIdentifier, signal)
                Thread.sleep(forTimeInterval: 0.005)
            }
            let stopped = child.wait()
            XCTAssertEqual(stopped.status, c.status, "\(c.name): \(stopped.stderr)")
            let run = try store.run(id)
            XCTAssertEqual(run.status, .interrupted, c.name)
            XCTAssertTrue(run.exitReason?.contains(c.reason) == true, "\(c.name): \(run.exitReason ?? "no reason")")
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("runs/\(id)/latest.safetensors").path), c.name)
            let resumed = try train(["--resume", String(id)])
            XCTAssertEqual(resumed.status, 0, "\(c.name): \(resumed.stderr)")
            let history = try RunHistory(of: id, in: store)
            XCTAssertEqual(history, straight, "\(c.name): " + history.firstDifference(from: straight))
        }
        // `train … | head -n 1`: the pipe closes under the run, which goes on to the end with the same history.
        let command = ([try executable("textgan").path, "train"] + arguments + ["--name", "sigpipe", "--db", database,
                       "--root", packageRoot.path, "--min-examples", "16"]).map { "'\($0)'" }.joined(separator: " ")
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "\(command) | head -n 1 > /dev/null"]
        try shell.run()
        shell.waitUntilExit()
        let piped = Int64(cases.count + 2)
        XCTAssertEqual(try store.run(piped).status, .finished)
        let history = try RunHistory(of: piped, in: store)
        XCTAssertEqual(history, straight, "sigpipe: " + history.firstDifference(from: straight))
    }

    func testOneHugeCorpusLineIsRefusedRatherThanSettingEveryLength() throws {
        // Given the tiny corpus (five tokens a sentence) with one line of 3,000 tokens
        let tiny = try String(contentsOf: directory.appendingPathComponent("tiny.txt"), encoding: .utf8)
        let huge = directory.appendingPathComponent("huge.txt")
        try (tiny + "\n" + Array(repeating: "the cat", count: 1_500).joined(separator: " ") + "\n")
            .write(to: huge, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("tiny.json").path

        // then training on it is refused before anything is recorded, saying what the other examples are like
        let refused = try train([huge.path, "--config", config])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("the longest training example of huge has 3000 tokens (\"the cat the cat the cat …\"), "
            + "so every sequence would be 3001 tokens long, more than maxLengthLimit 1000; 1 of"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("99% have at most 5 tokens. Cut longer examples with --max-length 6"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--max-length-limit 3001"), refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        XCTAssertTrue(try RunDatabase(path: database).runs().isEmpty)
        // (the limit is a config field with a range, like any other),
        let low = directory.appendingPathComponent("low.json")
        try #"{"maxLengthLimit": 1}"#.write(to: low, atomically: true, encoding: .utf8)
        let range = try train([huge.path, "--config", low.path])
        XCTAssertTrue(range.stderr.contains("maxLengthLimit"), range.stderr)

        // and with a length given, the long example is cut and the run trains.
        let cut = try train([huge.path, "--config", config, "--max-length", "6", "--adversarial-steps", "1"])
        XCTAssertEqual(cut.status, 0, cut.stderr)
        XCTAssertTrue(cut.stdout.contains("max length 6"), cut.stdout)
    }

    func testASuspendedRunIsNotResumedByASecondProcess() throws {
        // Given a training process suspended (SIGSTOP) past its stale window, so its run reads as crashed
        let child = try startTinyRun(["--adversarial-steps", "400"])
        XCTAssertTrue(child.waitForOutput("== adversarial (400 steps)", timeout: 120), child.stdout)
        let pid = child.process.processIdentifier
        defer { kill(pid, SIGKILL) }
        let store = try RunDatabase(path: database)
        // A process stopped inside one of its write transactions holds the store's lock (every other writer then
        // waits out the busy timeout): it is let go and stopped again until it was stopped between them.
        for attempt in 1... {
            kill(pid, SIGSTOP)
            do {
                try store.writer.write { db in  // as 60 s without a heartbeat would leave it
                    try db.execute(sql: "UPDATE runs SET heartbeat_at = '2000-01-01 00:00:00.000' WHERE id = 1")
                }
                break
            } catch where attempt < 5 && "\(error)".contains("database is locked") {
                kill(pid, SIGCONT)
                usleep(50_000)
            }
        }
        XCTAssertEqual(try store.run(1).status, .crashed)
        let rows = try store.metricHistory(run: 1, key: "pg_loss").count

        // when a second process tries to resume it
        let second = try train(["--resume", "1"])

        // then it is refused, naming the process that holds the run, and changes nothing;
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.stderr.contains("run 1 is being trained by process pid \(pid)"), second.stderr)
        XCTAssertTrue(second.stderr.contains("kill -CONT"), second.stderr)
        XCTAssertEqual(try store.metricHistory(run: 1, key: "pg_loss").count, rows)
        XCTAssertEqual(try store.writer.read { try String.fetchOne($0, sql: "SELECT status FROM runs WHERE id = 1") },
                       "running")

        // and the first, continued, goes on as the run's only writer and stops cleanly.
        kill(pid, SIGCONT)
        XCTAssertTrue(child.waitForOutput("adversarial step \(rows + 2)/400", timeout: 120), child.stdout)
        kill(pid, SIGINT)
        XCTAssertEqual(child.wait().status, 130)
        XCTAssertEqual(try store.run(1).status, .interrupted)
    }

    func testARecordingThatFailsStopsTheRunBeforeTheStepsCheckpoint() throws {
        let tiny = directory.appendingPathComponent("tiny.txt").path
        let arguments = [tiny, "--config", directory.appendingPathComponent("tiny.json").path, "--adversarial-steps", "6"]
        XCTAssertEqual(try train(arguments + ["--name", "straight"]).status, 0)
        // Given a store that fails to record run 2's third adversarial step (as a full disk would)
        try RunDatabase(path: database).writer.write { db in
            try db.execute(sql: """
                CREATE TRIGGER simulated_full_disk BEFORE INSERT ON metrics
                WHEN NEW.run_id = 2 AND NEW.phase = 'adversarial' AND NEW.phase_step = 3
                BEGIN SELECT RAISE(ABORT, 'database or disk is full (simulated)'); END;
                """)
        }

        // when the run gets there
        let failed = try train(arguments + ["--name", "failing"])

        // then it stops with an error saying what was not recorded, as failed, and its checkpoint is no further
        // than its recorded history: the last checkpoint recorded is the file on disk, at adversarial step 2.
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertTrue(failed.stderr.contains("recording the adversarial step at run step"), failed.stderr)
        XCTAssertTrue(failed.stderr.contains("database or disk is full (simulated)"), failed.stderr)
        let store = try RunDatabase(path: database)
        let run = try store.run(2)
        XCTAssertEqual(run.status, .failed)
        let adversarial = try store.metricHistory(run: 2, key: "pg_loss")
        XCTAssertEqual(adversarial.map(\.phaseStep), [1, 2])
        let checkpoints = try store.details(of: 2).checkpoints
        XCTAssertEqual(checkpoints.last?.step, adversarial.last?.step, "no checkpoint past the recorded steps")
        let latest = directory.appendingPathComponent("runs/2/latest.safetensors")
        XCTAssertEqual(try SHA256.hex(ofFile: latest), checkpoints.last?.sha256, "the file is the last one recorded")

        // and once the store records again, the resumed run's history is an uninterrupted one's.
        try store.writer.write { try $0.execute(sql: "DROP TRIGGER simulated_full_disk") }
        let resumed = try train(["--resume", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let failedThenResumed = try RunHistory(of: 2, in: store), straight = try RunHistory(of: 1, in: store)
        XCTAssertEqual(failedThenResumed, straight, failedThenResumed.firstDifference(from: straight))
    }

    /// On a terminal the progress line fits its width (a wrapped line is not cleared by the next carriage return),
    /// shows an ETA, and the closing message starts a line of its own.
    func testTheProgressLineFitsTheTerminal() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            throw XCTSkip("util-linux `script` is not installed; the pseudo-terminal test needs it")
        }
        let tiny = directory.appendingPathComponent("tiny.txt").path
        let command = "exec " + [try executable("textgan").path, "train", tiny, "--config",
                                 directory.appendingPathComponent("tiny.json").path, "--adversarial-steps", "6",
                                 "--db", database, "--root", packageRoot.path, "--min-examples", "16"]
            .map { "'\($0)'" }.joined(separator: " ")
        let child = try Child(URL(fileURLWithPath: "/usr/bin/script"), ["-qfec", command, "/dev/null"],
                              environment: ["TERM": "xterm", "COLUMNS": "60", "SHELL": "/bin/sh"])
        let finished = child.wait()
        XCTAssertEqual(finished.status, 0, finished.stdout.suffix(500) + finished.stderr)
        // The terminal turns "\n" into "\r\n" (one Character in Swift): split on the scalars.
        let lines = finished.stdout.replacingOccurrences(of: "\r\n", with: "\n")
        let segments = lines.components(separatedBy: "\n").flatMap { $0.components(separatedBy: "\r") }
            .map { $0.replacingOccurrences(of: "\u{1B}[2K", with: "") }
        let progress = segments.filter { $0.hasPrefix("[") && $0.contains("adversarial") }
        XCTAssertFalse(progress.isEmpty, finished.stdout)
        for line in progress { XCTAssertLessThanOrEqual(line.count, 60, line) }
        XCTAssertTrue(progress.contains { $0.contains(" eta ") }, "\(progress)")
        XCTAssertTrue(lines.contains("\nrun 1: completed"), "the closing line starts a line: \(lines.suffix(300))")
    }

    /// A checkpoint changed after training wrote it is refused by sample, eval and resume: its hash no longer matches
    /// the one the run store recorded.
    func testAModifiedCheckpointIsRefused() throws {
        let tiny = directory.appendingPathComponent("tiny.txt").path
        XCTAssertEqual(try train([tiny, "--config", directory.appendingPathComponent("tiny.json").path]).status, 0)
        let latest = directory.appendingPathComponent("runs/1/latest.safetensors")
        var (tensors, metadata) = try Safetensors.read(from: latest)
        tensors["generator.output.bias"]![0] += 1
        try Safetensors.write(tensors, metadata: metadata, to: latest)
        for command in [["sample", "1"], ["eval", "1", "--samples", "20", "--root", packageRoot.path]] {
            let result = try runProcess("textgan", command + ["--db", database])
            XCTAssertNotEqual(result.status, 0, command.joined(separator: " "))
            XCTAssertTrue(result.stderr.contains("is not the checkpoint run 1 wrote"), result.stderr)
        }
        let store = try RunDatabase(path: database)
        try store.resumeRun(1)
        try store.finish(run: 1, status: .interrupted, reason: "test")
        let resumed = try train(["--resume", "1"])
        XCTAssertTrue(resumed.stderr.contains("is not the checkpoint run 1 wrote"), resumed.stderr)
        XCTAssertEqual(try store.run(1).status, .interrupted)
    }

    /// `--generator transformer` trains by MLE and SeqGAN (rollouts included), samples and evaluates through the
    /// same commands; its config section is the Transformer's own.
    /// Training-time evaluations record distinct-1..4 beside BLEU and Self-BLEU, and warn when Self-BLEU-4 passes
    /// `evaluation.selfBLEUAlarm` (null: never).
    func testEvaluationsRecordDistinctNAndWarnOfModeCollapse() throws {
        let tiny = directory.appendingPathComponent("tiny.txt").path
        for (alarm, warns) in [("0.0", true), ("null", false)] {
            let config = directory.appendingPathComponent("alarm.json")
            try """
                {"generator": {"embeddingSize": 8, "hiddenSize": 8},
                 "mle": {"epochs": 2, "batchSize": 16, "logEvery": 5, "evaluateEvery": 1},
                 "evaluation": {"bleuSamples": 20, "selfBLEUAlarm": \(alarm)}}
                """.write(to: config, atomically: true, encoding: .utf8)
            let trained = try train([tiny, "--algo", "mle", "--config", config.path])
            XCTAssertEqual(trained.status, 0, trained.stderr)
            XCTAssertEqual(trained.stdout.contains("warning: Self-BLEU-4"), warns, trained.stdout)
        }
        let store = try RunDatabase(path: database)
        for run in [Int64(1), 2] {
            let distinct = try store.metricHistory(run: run, key: "distinct2").map(\.value)
            XCTAssertEqual(distinct.count, 2)
            XCTAssertTrue(distinct.allSatisfy { $0 > 0 && $0 <= 1 }, "\(distinct)")
        }
        XCTAssertTrue(try store.run(2).configJSON.contains(#""selfBLEUAlarm":null"#) || (try store.run(2).configJSON.contains(#""selfBLEUAlarm" : null"#)))
    }

    /// `--algo gumbel` with each generator: MLE, then Gumbel-softmax adversarial steps with β recorded per step;
    /// `sample` reads the result (the mid-adversarial resume is GumbelTests').
    func testGumbelSoftmaxTrainingWithEitherGeneratorRecordsBetaAndSamples() throws {
        let tiny = directory.appendingPathComponent("tiny.txt").path
        let config = directory.appendingPathComponent("gumbel.json")
        try """
            {"generator": {"width": 16, "heads": 2, "layers": 1, "embeddingSize": 8, "hiddenSize": 8},
             "discriminator": {"embeddingSize": 8, "widths": [{"width": 2, "filters": 8}]},
             "mle": {"epochs": 2, "batchSize": 16, "logEvery": 5, "evaluateEvery": 2},
             "gumbel": {"adversarialSteps": 4, "discriminatorSteps": 2, "batchSize": 8, "evaluateEvery": 2,
                        "maximumInverseTemperature": 10, "annealing": "lin"},
             "evaluation": {"bleuSamples": 20}}
            """.write(to: config, atomically: true, encoding: .utf8)
        for (id, kind) in [(1, "lstm"), (2, "transformer")] {
            var generatorConfig = try String(contentsOf: config, encoding: .utf8)
            if kind == "lstm" { generatorConfig = generatorConfig.replacingOccurrences(of: #""width": 16, "heads": 2, "layers": 1, "#, with: "") }
            else { generatorConfig = generatorConfig.replacingOccurrences(of: #", "embeddingSize": 8, "hiddenSize": 8"#, with: "") }
            let file = directory.appendingPathComponent("gumbel-\(kind).json")
            try generatorConfig.write(to: file, atomically: true, encoding: .utf8)
            let trained = try train([tiny, "--algo", "gumbel", "--generator", kind, "--config", file.path, "--loss", "standard"])
            XCTAssertEqual(trained.status, 0, trained.stderr + trained.stdout.suffix(1000))
            let store = try RunDatabase(path: database)
            XCTAssertEqual(try store.run(Int64(id)).algorithm, "gumbel")
            let betas = try store.metricHistory(run: Int64(id), key: "inverse_temperature").map(\.value)
            XCTAssertEqual(betas, [1, 4, 7, 10], kind)
            XCTAssertEqual(try store.metricHistory(run: Int64(id), key: "g_loss").count, 4, kind)
            XCTAssertTrue(trained.stdout.contains(#"gan.loss = "standard""#), trained.stdout)
            let samples = try runProcess("textgan", ["sample", "\(id)", "--db", database, "-n", "2"])
            XCTAssertEqual(samples.status, 0, samples.stderr)
        }
        // SeqGAN's D trains with any objective but WGAN's; MLE has no D, so --loss is an error there.
        let seqgan = try train([tiny, "--config", directory.appendingPathComponent("tiny.json").path, "--loss", "hinge"])
        XCTAssertEqual(seqgan.status, 0, seqgan.stderr)
        XCTAssertTrue(seqgan.stdout.contains(#"gan.loss = "hinge""#), seqgan.stdout)
        let store = try RunDatabase(path: database)
        XCTAssertGreaterThan(try store.metricHistory(run: 3, key: "d_loss").count, 0)
        let wgan = try train([tiny, "--loss", "wgan"])
        XCTAssertNotEqual(wgan.status, 0)
        XCTAssertTrue(wgan.stderr.contains("gan.loss"), wgan.stderr)
        let wrong = try train([tiny, "--algo", "mle", "--loss", "hinge"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("gan section"), wrong.stderr)
    }

    /// `--loss wgan-gp` with `--algo gumbel`: D's loss holds the gradient penalty (recorded per step, with ‖∇D(x̂)‖),
    /// and a run interrupted mid-adversarial and resumed ends with the history of an uninterrupted one. SeqGAN
    /// refuses the loss, saying why.
    func testWGANGPGumbelRunRecordsThePenaltyAndResumesToTheSameHistory() throws {
        let tiny = directory.appendingPathComponent("tiny.txt").path
        let config = directory.appendingPathComponent("gumbel.json")
        try TinyRun.gumbelConfig.write(to: config, atomically: true, encoding: .utf8)
        let arguments = [tiny, "--algo", "gumbel", "--config", config.path, "--loss", "wgan-gp", "--adversarial-steps", "80"]
        let straight = try train(arguments + ["--name", "straight"])
        XCTAssertEqual(straight.status, 0, straight.stderr)
        XCTAssertTrue(straight.stdout.contains(#"gan.loss = "wgan-gp""#), straight.stdout)
        let store = try RunDatabase(path: database)
        XCTAssertTrue(try store.run(1).configJSON.contains("gpWeight"), "λ is stored with the run")
        let penalties = try store.metricHistory(run: 1, key: "gradient_penalty").map(\.value)
        XCTAssertEqual(penalties.count, 80)
        XCTAssertTrue(penalties.allSatisfy { $0.isFinite && $0 > 0 }, "\(penalties)")
        XCTAssertEqual(try store.metricHistory(run: 1, key: "gradient_norm_interpolates").count, 80)
        try assertEveryRecordedMetricIsCatalogued(database)
        let dLosses = try store.metricHistory(run: 1, key: "d_loss").map(\.value)
        XCTAssertGreaterThan(dLosses.max()! - dLosses.min()!, 1e-3, "D's loss moves: \(dLosses)")

        let child = try Child(try executable("textgan"), ["train"] + arguments + [
            "--name", "stopped", "--db", database, "--root", packageRoot.path, "--min-examples", "16"])
        XCTAssertTrue(child.waitForOutput("adversarial step 2/80", timeout: 120), child.stdout)
        kill(child.process.processIdentifier, SIGINT)
        XCTAssertEqual(child.wait().status, 130)
        XCTAssertLessThan(try store.metricHistory(run: 2, key: "gradient_penalty").count, 80)
        let resumed = try train(["--resume", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let first = try RunHistory(of: 1, in: store), second = try RunHistory(of: 2, in: store)
        XCTAssertEqual(second, first, second.firstDifference(from: first))

        let seqgan = try train([tiny, "--config", directory.appendingPathComponent("tiny.json").path, "--loss", "wgan-gp"])
        XCTAssertNotEqual(seqgan.status, 0)
        XCTAssertTrue(seqgan.stderr.contains("gan.loss") && seqgan.stderr.contains("wgan-gp"), seqgan.stderr)
    }

    func testATransformerGeneratorTrainsSamplesAndEvaluates() throws {
        let tiny = directory.appendingPathComponent("tiny.txt").path
        let config = directory.appendingPathComponent("transformer.json")
        try """
            {"generator": {"width": 16, "heads": 2, "layers": 1},
             "discriminator": {"embeddingSize": 8, "widths": [{"width": 2, "filters": 8}]},
             "mle": {"epochs": 4, "batchSize": 16, "logEvery": 5, "evaluateEvery": 4, "learningRate": 0.01},
             "seqgan": {"discriminatorPretrainRounds": 1, "discriminatorPretrainEpochs": 1, "adversarialSteps": 2,
                        "discriminatorRounds": 1, "discriminatorEpochs": 1, "rollouts": 2, "negatives": 32,
                        "generatorBatchSize": 8, "evaluateEvery": 1},
             "evaluation": {"bleuSamples": 40}}
            """.write(to: config, atomically: true, encoding: .utf8)
        let trained = try train([tiny, "--generator", "transformer", "--config", config.path])
        XCTAssertEqual(trained.status, 0, trained.stderr + trained.stdout.suffix(1000))
        XCTAssertTrue(trained.stdout.contains("generator.kind = transformer"), trained.stdout)
        let store = try RunDatabase(path: database)
        XCTAssertEqual(try store.run(1).generator, "transformer")
        let trainNLL = try store.metricHistory(run: 1, key: "train_nll").map(\.value)
        XCTAssertLessThan(trainNLL.last!, trainNLL.first!, "\(trainNLL)")
        XCTAssertEqual(try store.metricHistory(run: 1, key: "pg_loss").count, 2)
        let samples = try runProcess("textgan", ["sample", "1", "--db", database, "-n", "3", "--prefix", "the"])
        XCTAssertEqual(samples.status, 0, samples.stderr)
        XCTAssertTrue(samples.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix("the") }, samples.stdout)
        let eval = try runProcess("textgan", ["eval", "1", "--db", database, "--root", packageRoot.path, "--samples", "50"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(try store.evaluations(run: 1).contains { $0.metric == "rouge_l" })
        // Text longer than its context is an error in the REPL, not a trap; text that fits is scored.
        let repl = try runProcess("textgan", ["repl", "1", "--db", database],
                                  input: Data("/score the big cat runs .\n/score the big cat runs . the big cat runs .\n".utf8))
        XCTAssertEqual(repl.status, 1, repl.stderr)
        XCTAssertTrue(repl.stdout.contains("mean NLL"), repl.stdout)
        XCTAssertTrue(repl.stderr.contains("more than this transformer generator reads at once"), repl.stderr)
        // A key of the LSTM's is not the Transformer's.
        let wrong = try train([tiny, "--generator", "transformer", "--config", directory.appendingPathComponent("tiny.json").path])
        XCTAssertTrue(wrong.stderr.contains("unknown config key 'generator.embeddingSize'"), wrong.stderr)
    }

    /// `--init-from` starts a run's generator from another run's: pretrain by MLE, then train adversarially. The
    /// lineage is recorded, and a generator of other sizes is refused before anything is recorded.
    func testARunCanStartFromAnotherRunsGenerator() throws {
        let tiny = directory.appendingPathComponent("tiny.txt").path
        let config = directory.appendingPathComponent("tiny.json").path
        let mleConfig = directory.appendingPathComponent("mle.json")
        try #"{"generator": {"embeddingSize": 8, "hiddenSize": 16}, "mle": {"epochs": 6, "batchSize": 16, "logEvery": 1}}"#
            .write(to: mleConfig, atomically: true, encoding: .utf8)
        XCTAssertEqual(try train([tiny, "--algo", "mle", "--config", mleConfig.path]).status, 0)
        let pretrained = try train([tiny, "--config", config, "--init-from", "1", "--epochs", "1"])
        XCTAssertEqual(pretrained.status, 0, pretrained.stderr)
        // The summary names the checkpoint as a path, not as JSON-escaped text.
        XCTAssertTrue(pretrained.stdout.contains(#"initFrom.checkpoint = "/"#), pretrained.stdout)
        let store = try RunDatabase(path: database)
        let first = try store.metricHistory(run: 1, key: "loss").map(\.value)
        let second = try store.metricHistory(run: 2, key: "loss").map(\.value)
        XCTAssertLessThan(second.first!, first.first! - 0.3, "run 2 starts where run 1 ended: \(first) vs \(second)")
        let params = try store.details(of: 2).params.filter { $0.key.hasPrefix("initFrom") }
        XCTAssertEqual(Set(params.map(\.key)), ["initFrom.run", "initFrom.checkpoint", "initFrom.sha256"])
        // Other sizes: said, and nothing recorded.
        let wrong = directory.appendingPathComponent("wrong.json")
        try #"{"generator": {"hiddenSize": 12}}"#.write(to: wrong, atomically: true, encoding: .utf8)
        let refused = try train([tiny, "--config", wrong.path, "--init-from", "1"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--init-from: run 1's generator has other sizes"), refused.stderr)
        XCTAssertEqual(try store.runs().count, 2)
    }

    /// SIGHUP stops a run cleanly, unless it was already ignored (`nohup`): then the run goes on.
    func testNohupKeepsARunGoingAfterSIGHUP() throws {
        let tiny = directory.appendingPathComponent("tiny.txt").path
        let command = "trap '' HUP; exec " + [try executable("textgan").path, "train", tiny, "--config",
                                             directory.appendingPathComponent("tiny.json").path, "--adversarial-steps", "30",
                                             "--db", database, "--root", packageRoot.path, "--min-examples", "16"]
            .map { "'\($0)'" }.joined(separator: " ")
        let child = try Child(URL(fileURLWithPath: "/bin/sh"), ["-c", command])
        XCTAssertTrue(child.waitForOutput("== adversarial (30 steps)", timeout: 120), child.stdout)
        kill(child.process.processIdentifier, SIGHUP)
        let finished = child.wait()
        XCTAssertEqual(finished.status, 0, finished.stderr + finished.stdout.suffix(300))
        XCTAssertEqual(try RunDatabase(path: database).run(1).status, .finished)
    }

    func testBadCorporaGiveOneClearErrorAndNoRun() throws {
        let missing = try train([directory.appendingPathComponent("nope.txt").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nope.txt"), missing.stderr)

        let binary = directory.appendingPathComponent("bad.txt")
        try Data([0x61, 0x62, 0x0A, 0xC3, 0x28, 0x0A]).write(to: binary)
        let invalid = try train([binary.path])
        XCTAssertNotEqual(invalid.status, 0)
        XCTAssertTrue(invalid.stderr.contains("UTF-8"), invalid.stderr)

        let badConfig = directory.appendingPathComponent("bad.json")
        try Data(#"{"mle": {"epochz": 1}}"#.utf8).write(to: badConfig)
        let config = try train([directory.appendingPathComponent("tiny.txt").path, "--config", badConfig.path])
        XCTAssertNotEqual(config.status, 0)
        XCTAssertTrue(config.stderr.contains("unknown config key 'mle.epochz'"), config.stderr)

        let range = directory.appendingPathComponent("range.json")
        try Data(#"{"mle": {"batchSize": 0}}"#.utf8).write(to: range)
        let refused = try train([directory.appendingPathComponent("tiny.txt").path, "--config", range.path])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("mle.batchSize = 0 is out of range"), refused.stderr)

        // Nothing was recorded for any of them.
        if FileManager.default.fileExists(atPath: database) {
            XCTAssertEqual(try RunDatabase(path: database).runs().count, 0)
        }
    }
}
