import Foundation
import RunStore
import TestSupport
import Workbench
import XCTest

// End to end on the tiny corpus: a SeqGAN run and an MLE run, a detector trained against the SeqGAN run's samples,
// scoring a file, the transfer evaluation, the attack, the privacy metrics of eval, and the bad inputs of each.

final class SecurityCommandTests: XCTestCase {
    nonisolated(unsafe) static var directory: URL!
    nonisolated(unsafe) static var setupFailure: String?
    nonisolated(unsafe) static var mleOutput = ""
    static var database: String { directory.appendingPathComponent("runs/textgan.sqlite").path }
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    override class func setUp() {
        super.setUp()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("textgan-security-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try! TinyRun.writeCorpus(to: directory.appendingPathComponent("tiny.txt"))
        try! TinyRun.seqganConfig.write(to: directory.appendingPathComponent("seqgan.json"), atomically: true, encoding: .utf8)
        let mle = """
            {"generator": {"embeddingSize": 8, "hiddenSize": 16},
             "mle": {"epochs": 3, "batchSize": 16, "logEvery": 5, "evaluateEvery": 1}, "evaluation": {"bleuSamples": 0},
             "canaries": {"count": 1, "length": 4}}
            """
        try! mle.write(to: directory.appendingPathComponent("mle.json"), atomically: true, encoding: .utf8)
        let detector = """
            {"discriminator": {"embeddingSize": 8, "widths": [{"width": 2, "filters": 8}, {"width": 3, "filters": 8}]},
             "detect": {"learningRate": 0.003, "batchSize": 16}}
            """
        try! detector.write(to: directory.appendingPathComponent("detect.json"), atomically: true, encoding: .utf8)
        for (algorithm, config, canaries) in [("seqgan", "seqgan.json", [String]()), ("mle", "mle.json", ["--canaries", "2", "--canary-repeats", "3"])] {
            let trained = try! run(["train", corpus, "--algo", algorithm, "--config", path(config), "--min-examples", "16"] + canaries)
            if trained.status != 0 { setupFailure = trained.stderr + trained.stdout.suffix(1500) }
            if algorithm == "mle" { mleOutput = trained.stdout }
        }
        let detect = try! run(["detect", "train", corpus, "--against", "1", "--samples", "100", "--epochs", "12",
                               "--config", path("detect.json")])
        if detect.status != 0 { setupFailure = detect.stderr + detect.stdout.suffix(1500) }
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(at: directory)
        super.tearDown()
    }

    override func setUpWithError() throws {
        XCTAssertNil(Self.setupFailure)
        try XCTSkipIf(Self.setupFailure != nil, "the tiny runs failed: \(Self.setupFailure ?? "")")
    }

    static var corpus: String { path("tiny.txt") }
    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    @discardableResult
    static func run(_ arguments: [String]) throws -> Finished {
        try runProcess("textgan", arguments + ["--db", database] + (["sql", "sample", "report"].contains(arguments[0]) || arguments.starts(with: ["detect", "score"]) ? [] : ["--root", packageRoot.path]))
    }

    private func file(_ name: String, _ text: String) throws -> String {
        try text.write(to: Self.directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        return Self.path(name)
    }

    func testDetectorIsARunWithItsMetricsAndProtocol() throws {
        let store = try RunDatabase(path: Self.database)
        let run = try store.run(3)
        XCTAssertEqual(run.algorithm, "detect")
        XCTAssertEqual(run.status, .finished)
        let rows = try store.evaluations(run: 3)
        let last = Dictionary(rows.filter { $0.step == 12 }.map { ($0.metric, $0) }, uniquingKeysWith: { $1 })
        XCTAssertEqual(Set(last.keys), ["accuracy", "roc_auc", "tpr_at_1pct_fpr"])
        XCTAssertGreaterThan(last["roc_auc"]!.value, 0.9, "3 MLE epochs on the tiny corpus are easy to tell from it")
        XCTAssertEqual(last["roc_auc"]!.referenceSet, "tiny:test vs samples of run 1")
        XCTAssertEqual(last["roc_auc"]!.sampleCount, 20, "20 of the 100 samples held out")
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.path("runs/3/best.safetensors")))
    }

    func testScoreFormatsAndBadInput() throws {
        let input = try file("score.txt", "the big cat runs .\nsmall jumps\n")
        let text = try Self.run(["detect", "score", "3", input])
        XCTAssertEqual(text.status, 0, text.stderr)
        let lines = text.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[0].hasSuffix("\tthe big cat runs ."))
        let probabilities = lines.map { Double($0.split(separator: "\t")[0])! }
        XCTAssertLessThan(probabilities[0], probabilities[1], "a corpus sentence looks less generated than a broken one")
        let csv = try Self.run(["detect", "score", "3", input, "--format", "csv"])
        XCTAssertTrue(csv.stdout.hasPrefix("line,p_generated,text\n1,"), csv.stdout)
        let json = try Self.run(["detect", "score", "3", input, "--format", "json"])
        let rows = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [[String: Any]]
        XCTAssertEqual(rows.map { $0["text"] as! String }, ["the big cat runs .", "small jumps"])
        XCTAssertEqual(rows[0]["p_generated"] as! Double, probabilities[0], accuracy: 1e-4)

        let empty = try Self.run(["detect", "score", "3", try file("empty.txt", "")])
        XCTAssertNotEqual(empty.status, 0)
        XCTAssertTrue(empty.stderr.contains("no sentences"), empty.stderr)
        let foreign = try Self.run(["detect", "score", "3", try file("foreign.txt", "le chien noir\nun deux trois\n")])
        XCTAssertNotEqual(foreign.status, 0)
        XCTAssertTrue(foreign.stderr.contains("not in the detector's vocabulary"), foreign.stderr)
        let notADetector = try Self.run(["detect", "score", "1", input])
        XCTAssertNotEqual(notADetector.status, 0)
        XCTAssertTrue(notADetector.stderr.contains("not a detector's"), notADetector.stderr)
        let sample = try Self.run(["sample", "3"])
        XCTAssertNotEqual(sample.status, 0)
        XCTAssertTrue(sample.stderr.contains("detector's checkpoint"), sample.stderr)
    }

    func testTransferEvaluationIsRecordedAndQueryable() throws {
        let evaluated = try Self.run(["detect", "eval", "3", "--against", "1", "--against", "2", "--samples", "40"])
        XCTAssertEqual(evaluated.status, 0, evaluated.stderr)
        XCTAssertTrue(evaluated.stdout.contains("run 2"), evaluated.stdout)
        let sql = try Self.run(["sql", "select reference_set, value from evaluations where run_id = 3 and metric = 'roc_auc' and sample_count = 40 order by reference_set",
                                "--format", "json"])
        XCTAssertEqual(sql.status, 0, sql.stderr)
        XCTAssertTrue(sql.stdout.contains("tiny:test vs samples of run 1") && sql.stdout.contains("tiny:test vs samples of run 2"),
                      sql.stdout)

        // The transfer matrix: detector 3 on generators 1 and 2, each its latest AUC; the report shows it.
        let store = try RunDatabase(path: Self.database)
        let transfer = try DetectionTransfer(detectors: [3, 1], in: store)
        XCTAssertEqual(transfer.detectors, [3], "run 1 is no detector")
        XCTAssertEqual(transfer.generators, [1, 2])
        let latest = try [1, 2].map { run in
            try store.evaluations(run: 3).filter { $0.metric == "roc_auc" && $0.referenceSet.hasSuffix("samples of run \(run)") }
                .max { $0.id! < $1.id! }!.value
        }
        XCTAssertEqual(transfer.values, [latest])
        let report = try Self.run(["report", "1", "2", "3", "-o", Self.directory.appendingPathComponent("r.html").path])
        XCTAssertEqual(report.status, 0, report.stderr)
        let page = try String(contentsOf: Self.directory.appendingPathComponent("r.html"), encoding: .utf8)
        XCTAssertTrue(page.contains("Detection transfer (ROC-AUC)") && page.contains("<th>run 2</th>"), String(page.prefix(3000)))
    }

    func testAttackReportsAccuracyUnderAttack() throws {
        let attacked = try Self.run(["attack", "3", "--eps", "0,0.5", "--steps", "1,5", "--samples", "20"])
        XCTAssertEqual(attacked.status, 0, attacked.stderr)
        let rows = attacked.stdout.split(separator: "\n").filter { $0.hasPrefix("  0") || $0.hasPrefix("0.5") }
        XCTAssertEqual(rows.count, 4, attacked.stdout)
        // ε = 0 changes nothing: robust and projected accuracy are the clean one.
        let zero = rows[0].split(separator: " ").map(String.init)
        XCTAssertEqual(zero[2], zero[3])
        XCTAssertEqual(zero[2], zero[4])
        let gan = try Self.run(["attack", "1", "--eps", "0.5", "--samples", "20"])
        XCTAssertEqual(gan.status, 0, gan.stderr)
        let noDiscriminator = try Self.run(["attack", "2", "--eps", "0.5"])
        XCTAssertNotEqual(noDiscriminator.status, 0)
        XCTAssertTrue(noDiscriminator.stderr.contains("has no discriminator"), noDiscriminator.stderr)
    }

    func testSwapAttackReportsAccuracyOnSwappedSentences() throws {
        let attacked = try Self.run(["attack", "3", "--attack", "swap", "--swaps", "1,3", "--samples", "20"])
        XCTAssertEqual(attacked.status, 0, attacked.stderr)
        XCTAssertTrue(attacked.stdout.contains("greedy gradient-guided word swaps"), attacked.stdout)
        let rows = attacked.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            .filter { $0.count == 5 && ["1", "3"].contains($0[0]) }
        XCTAssertEqual(rows.count, 2, attacked.stdout)
        for row in rows {
            XCTAssertLessThanOrEqual(Double(row[2])!, Double(row[1])!, "swaps never help D")
            XCTAssertLessThanOrEqual(Double(row[3])!, Double(row[0])!, "at most K swaps a sentence")
        }
        let bad = try Self.run(["attack", "3", "--attack", "swap", "--swaps", "0"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--swaps takes swap counts from 1 to 1000"), bad.stderr)
    }

    /// A SeqGAN run and a detector with the adversarialTraining section record D's clean and robust accuracy with
    /// their other D metrics; a bad value is refused in one line before anything is recorded.
    func testAdversarialTrainingIsRecordedInSeqGANAndDetectorRuns() throws {
        let config = try file("hardened.json", String(TinyRun.seqganConfig.dropLast()) + #", "adversarialTraining": {"rate": 0.5, "attack": "pgd", "epsilon": 0.3, "steps": 2}}"#)
        let trained = try Self.run(["train", Self.corpus, "--config", config, "--min-examples", "16", "--name", "hardened"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let detector = try file("hardened-detect.json", #"{"discriminator": {"embeddingSize": 8, "widths": [{"width": 2, "filters": 8}]}, "detect": {"batchSize": 16}, "adversarialTraining": {"rate": 0.25, "epsilon": 0.2}}"#)
        let detected = try Self.run(["detect", "train", Self.corpus, "--against", "1", "--samples", "60", "--epochs", "2",
                                     "--config", detector, "--name", "hardened-detector"])
        XCTAssertEqual(detected.status, 0, detected.stderr)
        for (name, phases) in [("hardened", "adversarial,discriminator"), ("hardened-detector", "detect")] {
            let sql = try Self.run(["sql", "select group_concat(distinct phase) from (select phase from metrics where key = 'd_accuracy_robust' and run_id = (select id from runs where name = '\(name)') order by phase)",
                                    "--format", "csv"])
            XCTAssertEqual(sql.stdout.split(separator: "\r\n").last?.replacingOccurrences(of: "\"", with: ""), phases,
                           "\(name): \(sql.stdout)")
        }
        let bad = try file("bad-adversarial.json", #"{"adversarialTraining": {"rate": 1.5}}"#)
        let refused = try Self.run(["train", Self.corpus, "--config", bad, "--min-examples", "16"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("adversarialTraining.rate = 1.5 is out of range"), refused.stderr)
    }

    func testPrivacyMetricsOfEval() throws {
        let store = try RunDatabase(path: Self.database)
        let config = try store.run(2).configJSON
        XCTAssertTrue(config.contains("\"count\" : 2") && config.contains("\"repeats\" : 3") && config.contains("\"length\" : 4"),
                      "the flags set the canaries over the config file's, recorded with the run: \(config)")
        XCTAssertTrue(Self.mleOutput.contains("222 training sequences"), "216 sentences and 2 canaries × 3: \(Self.mleOutput.prefix(400))")
        let evaluated = try Self.run(["eval", "2", "--privacy", "--samples", "20", "--membership-sentences", "20",
                                      "--canary-candidates", "300", "--reference-run", "1"])
        XCTAssertEqual(evaluated.status, 0, evaluated.stderr)
        let rows = try store.evaluations(run: 2).filter { $0.metric.hasPrefix("membership") || $0.metric.hasPrefix("canary") }
        XCTAssertEqual(Set(rows.map(\.metric)), ["membership_auc", "membership_auc_reference", "canary_exposure_0",
                                                 "canary_exposure_1", "canary_exposure_mean"])
        for row in rows where row.metric.hasPrefix("canary") {
            XCTAssertEqual(row.sampleCount, 300)
            XCTAssertTrue((0...log2(301.0)).contains(row.value), "\(row.metric) \(row.value)")
        }
        XCTAssertEqual(rows.first { $0.metric == "membership_auc" }!.referenceSet, "tiny:train vs tiny:test")
        let noReference = try Self.run(["eval", "2", "--reference-run", "1"])
        XCTAssertNotEqual(noReference.status, 0)
        XCTAssertTrue(noReference.stderr.contains("add --privacy"), noReference.stderr)
        try assertEveryRecordedMetricIsCatalogued(Self.database)
    }

    func testREPLScoreShowsTheDetectorsProbability() throws {
        let repl = try runProcess("textgan", ["repl", "1", "--detector", "3", "--db", Self.database],
                                  input: Data("/score the big cat runs .\n".utf8))
        XCTAssertEqual(repl.status, 0, repl.stderr)
        XCTAssertTrue(repl.stdout.contains("P(generated) 0.") && repl.stdout.contains("(detector run 3)"), repl.stdout)
        let notADetector = try runProcess("textgan", ["repl", "1", "--detector", "2", "--db", Self.database], input: Data())
        XCTAssertNotEqual(notADetector.status, 0)
        XCTAssertTrue(notADetector.stderr.contains("not a detector's"), notADetector.stderr)
    }
}
