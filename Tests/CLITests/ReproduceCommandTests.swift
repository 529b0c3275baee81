import Foundation
import RunStore
import TestSupport
import Workbench
import XCTest

@testable import textgan

/// `textgan reproduce`: the registry as data, a tiny experiment end to end into a store, reuse on a second run, and
/// a mistyped name.
final class ReproduceCommandTests: XCTestCase {
    func testTheRegistrysExperimentsParseAndNameExistingProtocolsAlgorithmsAndRuns() throws {
        let registry = PublishedExperiment.registry
        XCTAssertEqual(registry.map(\.name), ["seqgan-oracle", "texygen-coco", "relgan-coco", "gfs-temperature"])
        for experiment in registry {
            // validate() builds both budgets' configs and checks the protocol, algorithms, sources and metrics.
            XCTAssertNoThrow(try experiment.validate(), experiment.name)
            XCTAssertTrue(NamedProtocol.all.contains { $0.name == experiment.protocolName }, experiment.name)
            XCTAssertEqual(try JSONDecoder().decode(PublishedExperiment.self, from: JSONEncoder().encode(experiment)), experiment)
            for run in experiment.runs {
                XCTAssertNotNil(Registry.shared.algorithm(run.algorithm), "\(experiment.name) \(run.label)")
                XCTAssertEqual(Set(run.schedules.keys), Set(Budget.allCases.map(\.rawValue)), "\(experiment.name) \(run.label)")
            }
        }
        // The published numbers the issue names.
        XCTAssertEqual(PublishedExperiment.seqganOracle.runs.map { $0.published["nll_oracle"] }, [9.038, 8.736])
        let texygen = PublishedExperiment.texygenCOCO.runs
        XCTAssertEqual(texygen.map(\.label), ["MLE", "SeqGAN", "TextGAN"])
        XCTAssertEqual(texygen.map { $0.published["bleu2"] }, [0.731, 0.745, 0.593])
        XCTAssertEqual(texygen.map { $0.published["bleu5"] }, [0.189, 0.180, 0.207])
        XCTAssertEqual(PublishedExperiment.relganCOCO.protocolName, "relgan")
        XCTAssertTrue(PublishedExperiment.relganCOCO.metrics.contains("nll_gen_train"))
        let relgan = PublishedExperiment.relganCOCO.runs
        XCTAssertEqual(relgan.map(\.label), ["MLE", "RelGAN (100)", "RelGAN (1000)"])
        XCTAssertEqual(relgan.map { $0.published["bleu2"] }, [nil, 0.849, 0.814])
        XCTAssertEqual(relgan.map { $0.published["bleu5"] }, [nil, 0.331, 0.303])

        // A registry entry naming what does not exist is refused.
        var broken = PublishedExperiment.seqganOracle
        broken.runs[1].algorithm = "seqgann"
        XCTAssertThrowsError(try broken.validate()) { XCTAssertTrue("\($0)".contains("algorithm seqgann, which is not registered"), "\($0)") }
        broken = PublishedExperiment.seqganOracle
        broken.protocolName = "texygen2"
        XCTAssertThrowsError(try broken.validate())
        broken = PublishedExperiment.seqganOracle
        broken.runs[1].initFrom = "RL"
        XCTAssertThrowsError(try broken.validate()) { XCTAssertTrue("\($0)".contains("starts from RL, which is not an earlier run"), "\($0)") }
    }

    func testAMistypedExperimentGetsADidYouMeanInOneLine() throws {
        let result = try runProcess("textgan", ["reproduce", "seqgan-oracel", "--db", try temporaryDirectory(self).appendingPathComponent("s.sqlite").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stderr, "Error: no experiment seqgan-oracel; did you mean seqgan-oracle? the experiments are "
                       + "seqgan-oracle, texygen-coco, relgan-coco, gfs-temperature\n")
    }

    func testATinyExperimentRunsEndToEndIntoTheStoreAndARerunTrainsNothing() throws {
        // Given a tiny experiment in a file: MLE, then SeqGAN from MLE's model, on the tiny corpus under Texygen's
        // protocol (its lowercase words and final " ." are nltk's tokens, and every test word occurs in training)
        let directory = try temporaryDirectory(self)
        let corpus = directory.appendingPathComponent("tiny.txt")
        try TinyRun.writeCorpus(to: corpus)
        let sizes = #""generator": {"embeddingSize": 8, "hiddenSize": 16}"#
        let mleShort: String = "{" + sizes + #", "mle": {"epochs": 1, "batchSize": 16}, "evaluation": {"bleuSamples": 0}}"#
        let mleFull: String = "{" + sizes + #", "mle": {"epochs": 3, "batchSize": 16}}"#
        let seqganShort: String = "{" + sizes
            + #", "discriminator": {"embeddingSize": 8, "widths": [{"width": 2, "filters": 8}]}, "#
            + #""mle": {"epochs": 0, "batchSize": 16}, "seqgan": {"discriminatorPretrainRounds": 1, "#
            + #""discriminatorPretrainEpochs": 1, "adversarialSteps": 1, "rollouts": 2, "negatives": 64, "#
            + #""generatorBatchSize": 16, "evaluateEvery": 1}, "evaluation": {"bleuSamples": 0}}"#
        let mle = PublishedExperiment.Run(label: "MLE", algorithm: "mle", published: ["bleu2": 0.5, "nll_test": 1.0],
                                          full: mleFull, short: mleShort)
        let seqgan = PublishedExperiment.Run(label: "SeqGAN", algorithm: "seqgan", initFrom: "MLE", published: ["bleu2": 0.6],
                                             full: "{}", short: seqganShort)
        let experiment = PublishedExperiment(
            name: "tiny", title: "A tiny experiment", citation: "nobody 2026", source: "a test", corpus: corpus.path,
            protocolName: "texygen", metrics: ["bleu2", "self_bleu2", "nll_test"], runs: [mle, seqgan],
            notes: "for the tests")
        let file = directory.appendingPathComponent("experiments.json")
        try JSONEncoder().encode([experiment]).write(to: file)
        let database = directory.appendingPathComponent("runs/textgan.sqlite").path
        func reproduce(_ format: String) throws -> Finished {
            try runProcess("textgan", ["reproduce", "tiny", "--experiments", file.path, "--budget", "short", "--seed", "3",
                                       "--format", format, "--db", database, "--root", packageRoot.path])
        }

        // when it is reproduced
        let first = try reproduce("json")

        // then both runs are ordinary finished runs of the store, named for the experiment, scored under the protocol,
        // and every row has ours beside the published value
        XCTAssertEqual(first.status, 0, first.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any], first.stdout)
        XCTAssertEqual(object["budget"] as? String, "short")
        let runs = try XCTUnwrap(object["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.map { $0["name"] as? String }, ["tiny-mle-short-seed3", "tiny-seqgan-short-seed3"])
        XCTAssertEqual(runs.map { $0["reused"] as? Bool }, [false, false])
        let scores = try XCTUnwrap(object["scores"] as? [[String: Any]])
        XCTAssertEqual(scores.count, 6)
        let mleBLEU = try XCTUnwrap(scores.first { $0["run"] as? String == "MLE" && $0["metric"] as? String == "bleu2" })
        XCTAssertEqual(mleBLEU["published"] as? Double, 0.5)
        XCTAssertTrue((0...1).contains(try XCTUnwrap(mleBLEU["ours"] as? Double)))
        XCTAssertTrue(scores.allSatisfy { $0["ours"] is Double }, "\(scores)")
        let store = try RunDatabase(path: database, readOnly: true)
        let stored = try store.runs()
        XCTAssertEqual(stored.count, 2)
        XCTAssertTrue(stored.allSatisfy { $0.run.status == .finished })
        let seqganID = try XCTUnwrap(runs[1]["run_id"] as? Int)
        XCTAssertEqual(try store.run(Int64(seqganID)).algorithm, "seqgan")
        let evaluations = try store.evaluations(run: Int64(seqganID)).filter { $0.protocolName == "texygen" }
        XCTAssertEqual(Set(evaluations.map(\.sampleCount)).subtracting([try XCTUnwrap(evaluations.first { $0.metric == "nll_test" }?.sampleCount)]), [10_000])
        let config = try RunConfig.decode(try store.run(Int64(seqganID)).configJSON, source: "run")
        XCTAssertEqual(config.initFrom?.run, Int64(try XCTUnwrap(runs[0]["run_id"] as? Int)), "SeqGAN starts from the MLE run")
        XCTAssertEqual(config.seed, 3)

        // when it is reproduced again, as a table, then nothing is trained or scored again and the table has both columns.
        let evaluationCount = try store.evaluations(run: Int64(seqganID)).count
        let again = try reproduce("table")
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try RunDatabase(path: database, readOnly: true).runs().count, 2)
        XCTAssertEqual(try RunDatabase(path: database, readOnly: true).evaluations(run: Int64(seqganID)).count, evaluationCount)
        XCTAssertTrue(again.stdout.contains("reused (finished before); scores read back"), again.stdout)
        XCTAssertFalse(again.stdout.contains("training mle"), again.stdout)
        let header = try XCTUnwrap(again.stdout.split(separator: "\n").first { $0.hasPrefix("run ") && $0.contains("metric") })
        XCTAssertTrue(header.contains("ours") && header.contains("published"), String(header))
        XCTAssertTrue(again.stdout.contains("budget     short, seed 3; protocol texygen"), again.stdout)
        XCTAssertTrue(again.stdout.contains("published  nobody 2026"), again.stdout)

        // The report shows the experiment's table, ours beside published.
        let page = try ReportPage(runs: [1, 2], in: RunDatabase(path: database, readOnly: true), source: "test",
                                  experiments: [experiment])
        XCTAssertTrue(page.html.contains("<h2>Reproduced experiments</h2>"), page.html)
        XCTAssertTrue(page.html.contains("<h3>A tiny experiment</h3>"))
        XCTAssertTrue(page.html.contains("<td><code>bleu2</code></td><td class=\"num\">") && page.html.contains("0.500</td>"))
        XCTAssertFalse(try ReportPage(runs: [1, 2], in: RunDatabase(path: database, readOnly: true), source: "test")
            .html.contains("Reproduced experiments"), "the tiny experiment is not in the registry")
        // A later attempt at the MLE run that failed, and one still running, are not what the table shows: it keeps
        // the finished run 1 (it once showed the latest of any status, with no scores).
        let writable = try RunDatabase(path: database)
        for failing in [true, false] {
            let attempt = try writable.startRun(NewRun(name: "tiny-mle-short-seed3", algorithm: "mle", generator: "lstm",
                                                       corpus: corpus.path, seed: 3, configJSON: "{}"))
            if failing { try writable.finish(run: attempt, status: .failed, reason: "a test") }
        }
        let later = try ReportPage(runs: [1, 2, 3, 4], in: RunDatabase(path: database, readOnly: true), source: "test",
                                   experiments: [experiment])
        let table = try XCTUnwrap(later.html.components(separatedBy: "id=\"reproduced\"").last?
            .components(separatedBy: "</section>").first)
        XCTAssertTrue(table.contains("href=\"#run-1\">MLE</a>") && table.contains("href=\"#run-2\">SeqGAN</a>"), table)
        XCTAssertFalse(table.contains("#run-3") || table.contains("#run-4"), table)

        // CSV has one row per run and metric.
        let csv = try readCSVObjects(try reproduce("csv").stdout)
        XCTAssertEqual(csv.rows.count, 6)
        XCTAssertEqual(csv.columns.suffix(3), ["metric", "ours", "published"])
    }

    /// Two runs in one process: a signal during the second still stops it cleanly at its next step, recorded as
    /// interrupted (it once did nothing: the second run's new signal sources never fired), and running the
    /// experiment again resumes it, where SIGINT stops it the same way.
    func testASignalStopsTheSecondRunOfAnExperiment() throws {
        let directory = try temporaryDirectory(self)
        let corpus = directory.appendingPathComponent("tiny.txt")
        try TinyRun.writeCorpus(to: corpus)
        let sizes = #""generator": {"embeddingSize": 8, "hiddenSize": 16}, "evaluation": {"bleuSamples": 0}"#
        func mle(_ label: String, epochs: Int) -> PublishedExperiment.Run {
            let overlay = "{" + sizes + #", "mle": {"epochs": \#(epochs), "batchSize": 16, "logEvery": 1}}"#
            return PublishedExperiment.Run(label: label, algorithm: "mle", published: [:], full: overlay, short: overlay)
        }
        let experiment = PublishedExperiment(
            name: "two", title: "Two runs", citation: "nobody 2026", source: "a test", corpus: corpus.path,
            protocolName: "texygen", metrics: ["nll_test"], runs: [mle("A", epochs: 1), mle("B", epochs: 100_000)],
            notes: "for the tests")
        let file = directory.appendingPathComponent("experiments.json")
        try JSONEncoder().encode([experiment]).write(to: file)
        let database = directory.appendingPathComponent("runs/textgan.sqlite").path
        for (signo, status) in [(SIGTERM, Int32(143)), (SIGINT, Int32(130))] {
            let child = try Child(try executable("textgan"), ["reproduce", "two", "--experiments", file.path, "--budget", "short",
                                                              "--threads", "1", "--db", database, "--root", packageRoot.path])
            // The first time A trains and then B in the same process; the second time A is reused and B resumed.
            let started = signo == SIGTERM ? "run 2 (two-b-short-seed1): training mle" : "run 2 (two-b-short-seed1) was interrupted: resuming it"
            XCTAssertTrue(child.waitForOutput(started, timeout: 120), child.stdout)
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, child.stdout.components(separatedBy: started).last!.components(separatedBy: "mle step").count < 3 {
                Thread.sleep(forTimeInterval: 0.05)
            }
            kill(child.process.processIdentifier, signo)
            // A signal that does nothing must fail the test, not hang it.
            let stopDeadline = Date().addingTimeInterval(60)
            while child.process.isRunning && Date() < stopDeadline { Thread.sleep(forTimeInterval: 0.05) }
            if child.process.isRunning {
                kill(child.process.processIdentifier, SIGKILL)
                XCTFail("signal \(signo) did not stop the second run within 60 s")
            }
            let stopped = child.wait()
            XCTAssertEqual(stopped.status, status, "signal \(signo): " + stopped.stderr + String(stopped.stdout.suffix(300)))
            let store = try RunDatabase(path: database, readOnly: true)
            let runs = try store.runs().map(\.run).sorted { $0.id! < $1.id! }
            XCTAssertEqual(runs.map(\.status), [.finished, .interrupted], "signal \(signo)")
        }
    }
}
