import Foundation
import GRDB
import RunStore
import TestSupport
import XCTest

@testable import textgan

/// Two real runs on the tiny corpus, trained once for the plot and report tests: SeqGAN (run 1, with an eval
/// temperature sweep) and MLE (run 2).
enum PlottedRuns {
    nonisolated(unsafe) static var directory: URL!
    nonisolated(unsafe) static var failure: String?
    static var database: String { directory.appendingPathComponent("runs/textgan.sqlite").path }

    static func prepare() {
        guard directory == nil else { return }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("textgan-plot-tests-\(UUID().uuidString)")
        atexit { if let directory = PlottedRuns.directory { try? FileManager.default.removeItem(at: directory) } }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let corpus = directory.appendingPathComponent("tiny.txt"), config = directory.appendingPathComponent("tiny.json")
            try TinyRun.writeCorpus(to: corpus)
            try TinyRun.seqganConfig.write(to: config, atomically: true, encoding: .utf8)
            let common = ["--db", database, "--root", packageRoot.path]
            for arguments in [
                ["train", corpus.path, "--config", config.path, "--name", "tiny-seqgan", "--min-examples", "16"],
                ["eval", "1", "--samples", "60", "--sweep", "0.6,1.0,1.4"],
                ["train", corpus.path, "--algo", "mle", "--epochs", "2", "--name", "tiny-mle", "--min-examples", "16"],
            ] {
                let result = try runProcess("textgan", arguments + common)
                if result.status != 0 {
                    failure = "\(arguments.prefix(2)) failed: \(result.stderr)"
                    return
                }
            }
        } catch {
            failure = "\(error)"
        }
    }

    static func textgan(_ arguments: [String]) throws -> Finished {
        try runProcess("textgan", arguments + ["--db", database])
    }
}

final class PlotCommandTests: XCTestCase {
    override func setUpWithError() throws {
        PlottedRuns.prepare()
        if let failure = PlottedRuns.failure { XCTFail(failure) }
        try XCTSkipIf(PlottedRuns.failure != nil)
    }

    private func rows(_ sql: String) throws -> [Row] {
        try RunDatabase(path: PlottedRuns.database, readOnly: true).writer.read { try Row.fetchAll($0, sql: sql) }
    }

    func testArgumentsParse() throws {
        let metric = try PlotCommand.Metric.parse(["loss,nll_test", "1", "tiny-mle", "--phase", "mle", "-o", "x.svg"])
        XCTAssertEqual(metric.keys, ["loss", "nll_test"])
        XCTAssertEqual(metric.runs, ["1", "tiny-mle"])
        XCTAssertEqual(metric.output.output, "x.svg")
        XCTAssertThrowsError(try PlotCommand.Metric.parse(["loss", "1", "--phase", "warmup"]))
        XCTAssertThrowsError(try PlotCommand.Metric.parse(["loss"]))
        XCTAssertEqual(try PlotCommand.QualityDiversity.parse(["1"]).order, 5)
        XCTAssertThrowsError(try PlotCommand.QualityDiversity.parse(["1", "--order", "0"]))
    }

    func testEachChartIsWrittenAndCarriesTheRecordedRows() throws {
        let svgPath = PlottedRuns.directory.appendingPathComponent("loss.svg").path
        let written = try PlottedRuns.textgan(["plot", "metric", "loss", "1", "tiny-mle", "--output", svgPath])
        XCTAssertEqual(written.status, 0, written.stderr)
        XCTAssertTrue(written.stdout.hasPrefix("wrote \(svgPath) (2 series"), written.stdout)
        let root = try parseXML(String(contentsOfFile: svgPath, encoding: .utf8))
        let series = root.elements("g", class: "series")
        XCTAssertEqual(series.map { $0["data-name"] }, ["#1 tiny-seqgan", "#2 tiny-mle"])
        for (index, run) in [1, 2].enumerated() {
            let count = try rows("SELECT count(*) FROM metrics WHERE run_id = \(run) AND key = 'loss'")[0][0] as Int
            let drawn = series[index].elements("polyline").map { ($0["points"] ?? "").split(separator: " ").count }.reduce(0, +)
            XCTAssertEqual(drawn, count, "run \(run): one vertex per recorded loss")
        }

        // Printed when no --output: D's accuracy, phases shaded (runs 1 only has a D).
        let accuracy = try PlottedRuns.textgan(["plot", "d-accuracy", "1"])
        XCTAssertEqual(accuracy.status, 0, accuracy.stderr)
        let dRoot = try parseXML(accuracy.stdout)
        XCTAssertEqual(dRoot.elements("g", class: "band").compactMap { $0["data-label"] }, ["discriminator", "adversarial"])
        let dRows = try rows("SELECT count(*) FROM metrics WHERE run_id = 1 AND key = 'd_accuracy_real'")[0][0] as Int
        XCTAssertEqual(dRoot.elements("g", class: "series")[0].elements("polyline").map {
            ($0["points"] ?? "").split(separator: " ").count }.reduce(0, +), dRows)

        // The quality–diversity plane: one point per temperature of the sweep.
        let qd = try PlottedRuns.textgan(["plot", "quality-diversity", "tiny-seqgan", "--order", "4"])
        XCTAssertEqual(qd.status, 0, qd.stderr)
        let qdRoot = try parseXML(qd.stdout)
        XCTAssertEqual(qdRoot.elements("text", class: "point-label").map(\.text), ["T=0.6", "T=1.0", "T=1.4"])
    }

    func testBadInputIsOneLineAndANonZeroExit() throws {
        for (arguments, message) in [
            (["plot", "metric", "blue4", "1"], "Error: run 1 (tiny-seqgan) recorded no metric blue4; it has "),
            (["plot", "metric", "loss", "42"], "Error: no run 42 in the run store "),
            (["plot", "metric", "loss", "no-such-name"], "Error: no-such-name is neither a run id nor a run name"),
            (["plot", "d-accuracy", "2"], "Error: run 2 (tiny-mle) recorded no metric d_accuracy_real"),
            (["plot", "quality-diversity", "2", "--samples", "60"],
             "Error: run 2 (tiny-mle) has no bleu5 and self_bleu5 scored on the same samples (60 samples)"),
            (["plot", "metric", "loss", "1", "1"], "Error: each run may appear only once"),
            (["plot", "metric", "loss", "1", "-o", "/nonexistent-dir/x.svg"], "Error: cannot write /nonexistent-dir/x.svg"),
        ] {
            let result = try PlottedRuns.textgan(arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertTrue(result.stderr.hasPrefix(message), "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
        }
    }
}
