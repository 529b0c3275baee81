import Foundation
import RunStore
import TestSupport
import Workbench
import XCTest

@testable import textgan

/// `textgan eval RUN --match-self-bleu TARGET`, end to end on two tiny MLE runs of one corpus (trained once for the
/// class): run 1 trained 30 epochs (its samples alike: Self-BLEU-4 near 1 at T=1), run 2 only 3 (varied samples, a
/// low Self-BLEU-4), and run 3 on another corpus.
final class MatchSelfBLEUTests: XCTestCase {
    nonisolated(unsafe) static var directory: URL!
    nonisolated(unsafe) static var trained: [Finished] = []
    static var database: String { directory.appendingPathComponent("runs/textgan.sqlite").path }
    var database: String { Self.database }
    /// Small samples make Self-BLEU coarse: a tolerance to match it.
    let common = ["--samples", "200", "--seed", "3", "--match-tolerance", "0.02", "--match-max-probes", "12"]

    override class func setUp() {
        super.setUp()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("textgan-match-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let corpus = directory.appendingPathComponent("tiny.txt"), other = directory.appendingPathComponent("other.txt")
        try! TinyRun.writeCorpus(to: corpus)
        try! (0..<120).map { "a \(["green", "blue"][$0 % 2]) boat \(["sails", "sinks", "waits"][$0 % 3]) ." }
            .joined(separator: "\n").write(to: other, atomically: true, encoding: .utf8)
        func config(epochs: Int) -> String {
            let url = directory.appendingPathComponent("e\(epochs).json")
            try! #"{"generator": {"embeddingSize": 8, "hiddenSize": 16}, "mle": {"epochs": \#(epochs), "batchSize": 16, "logEvery": 50}, "evaluation": {"bleuSamples": 0}}"#
                .write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        for (file, epochs, seed) in [(corpus, 30, 1), (corpus, 3, 9), (other, 2, 1)] {
            trained.append(try! runProcess("textgan", [
                "train", file.path, "--algo", "mle", "--config", config(epochs: epochs), "--seed", "\(seed)",
                "--db", database, "--root", packageRoot.path, "--min-examples", "16",
            ]))
        }
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(at: directory)
        super.tearDown()
    }

    override func setUpWithError() throws {
        for run in Self.trained { XCTAssertEqual(run.status, 0, run.stderr + run.stdout.suffix(2000)) }
        try XCTSkipIf(Self.trained.count != 3 || Self.trained.contains { $0.status != 0 }, "a tiny training run failed")
    }

    private func eval(_ arguments: [String]) throws -> Finished {
        try runProcess("textgan", ["eval"] + arguments + ["--db", database, "--root", packageRoot.path])
    }

    private func json(_ result: Finished) throws -> [String: Any] {
        XCTAssertEqual(result.status, 0, result.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout)
    }

    /// Self-BLEU-n of a plain `eval` at one temperature, recording nothing.
    private func plainSelfBLEU(run: Int, temperature: Double, order: Int = 4) throws -> Double {
        let object = try json(eval(["\(run)", "--samples", "200", "--seed", "3", "--temperature", "\(temperature)",
                                    "--no-record", "--format", "json"]))
        let metrics = try XCTUnwrap((object["temperatures"] as? [[String: Any]])?.first?["metrics"] as? [String: Double])
        return try XCTUnwrap(metrics["self_bleu\(order)"])
    }

    private var store: RunDatabase { get throws { try RunDatabase(path: database) } }

    func testTheRunIsScoredAtTheTemperatureWhereItsSelfBLEUMeetsTheTargetRunsAndEveryProbeIsRecorded() throws {
        let before = try store.evaluations(run: 1).count + store.evaluations(run: 2).count
        // When the under-trained run 2 is matched to run 1,
        let object = try json(eval(["2", "--match-self-bleu", "1", "--format", "json"] + common))
        let match = try XCTUnwrap(object["match"] as? [String: Any])
        let target = try XCTUnwrap(match["target"] as? [String: Any])
        let closest = try XCTUnwrap(match["closest"] as? [String: Double])
        let probes = try XCTUnwrap(match["probes"] as? [[String: Double]])

        // then the target is run 1's Self-BLEU-4 at T=1 under the same protocol (what a plain eval of it gives),
        XCTAssertEqual(match["outcome"] as? String, "matched", "\(match)")
        XCTAssertEqual(target["run"] as? Int, 1)
        XCTAssertEqual(target["metric"] as? String, "self_bleu4")
        let targetValue = try XCTUnwrap(target["value"] as? Double)
        XCTAssertEqual(targetValue, try plainSelfBLEU(run: 1, temperature: 1), accuracy: 1e-12)
        // run 2's matched probe is within tolerance of it, far from where run 2 stands at T=1, and cooler: the
        // under-trained run must sample colder to be as alike as run 1,
        XCTAssertLessThanOrEqual(abs(closest["value"]! - targetValue), 0.02)
        let atOne = try plainSelfBLEU(run: 2, temperature: 1)
        XCTAssertGreaterThan(targetValue - atOne, 0.1, "the runs' diversity differs at T=1")
        XCTAssertLessThan(closest["temperature"]!, 1)
        // each probe is an ordinary evaluation from the same seed (a plain eval at its temperature gives its score),
        XCTAssertEqual(try plainSelfBLEU(run: 2, temperature: closest["temperature"]!), closest["value"]!, accuracy: 1e-12)
        XCTAssertLessThanOrEqual(probes.count, 12)
        XCTAssertEqual(probes.first?["temperature"], 1)
        XCTAssertEqual(probes.first.map { $0["value"]! } ?? .nan, atOne, accuracy: 1e-12)
        let temperatures = try XCTUnwrap(object["temperatures"] as? [[String: Any]])
        XCTAssertEqual(temperatures.compactMap { $0["temperature"] as? Double }, probes.map { $0["temperature"]! })

        // and the store holds every probe of run 2 (20 scores each, with their temperature) and the target's row
        // of run 1 at T=1 (22 with its likelihoods), each under its protocol.
        let run2 = try store.evaluations(run: 2).filter { $0.sampleCount == 200 && $0.evaluationProtocol.seed == 3 }
        for probe in probes {
            let rows = run2.filter { $0.temperature == probe["temperature"]! }
            XCTAssertEqual(rows.count, 20, "T=\(probe["temperature"]!)")
            XCTAssertEqual(rows.first { $0.metric == "self_bleu4" }?.value ?? .nan, probe["value"]!, accuracy: 1e-12)
            XCTAssertEqual(rows.first { $0.metric == "self_bleu4" }?.referenceCount, 199)
        }
        XCTAssertEqual(try store.evaluations(run: 2).filter { $0.metric == "nll_test" && $0.recordedBy == "eval" }.count, 1)
        let run1 = try store.evaluations(run: 1).filter { $0.evaluationProtocol.seed == 3 && $0.sampleCount == 200 }
        XCTAssertEqual(run1.count, 20)
        XCTAssertTrue(run1.allSatisfy { $0.temperature == 1 })
        XCTAssertEqual(run1.first { $0.metric == "self_bleu4" }?.value ?? .nan, targetValue, accuracy: 1e-12)
        let after = try store.evaluations(run: 1).count + store.evaluations(run: 2).count
        XCTAssertEqual(after - before, 20 * probes.count + 2 + 22)
        try assertEveryRecordedMetricIsCatalogued(database)

        // The query of docs/run-store.md (for runs 2 and 1 and this protocol) finds the matched probe first.
        let doc = try String(contentsOf: packageRoot.appendingPathComponent("docs/run-store.md"), encoding: .utf8)
        let opening = try XCTUnwrap(doc.range(of: "`textgan eval 5 --match-self-bleu 12` stores"))
        let block = try XCTUnwrap(doc[opening.upperBound...].range(of: "```sql\n"))
        let end = try XCTUnwrap(doc[block.upperBound...].range(of: "```"))
        var query = String(doc[block.upperBound..<end.lowerBound])
        for (documented, here) in [("run_id = 12", "run_id = 1"), ("run_id = 5", "run_id = 2"),
                                   ("sample_count = 10000", "sample_count = 200"), ("seed = 0", "seed = 3")] {
            XCTAssertTrue(query.contains(documented), documented)
            query = query.replacingOccurrences(of: documented, with: here)
        }
        let sql = try runProcess("textgan", ["sql", query, "--db", database, "--format", "json"])
        XCTAssertEqual(sql.status, 0, sql.stderr)
        let found = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(sql.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(found.count, probes.count)
        XCTAssertEqual(found.first?["temperature"] as? Double, closest["temperature"])
        XCTAssertEqual(found.first?["self_bleu4"] as? Double ?? .nan, closest["value"]!, accuracy: 1e-12)
    }

    func testTheTablePutsTheMatchedRowBesideTheTargetsAndCSVNamesEachRowsRole() throws {
        let table = try eval(["2", "--match-self-bleu", "1", "--no-record"] + common)
        XCTAssertEqual(table.status, 0, table.stderr)
        for text in ["target        Self-BLEU-4 ", ": run 1 (mle, ", "result        matched at T=", "probe", "− target",
                     "run 1 T=1", " (matched)", "samples of run 1 at T=1:", "not recorded (--no-record)"] {
            XCTAssertTrue(table.stdout.contains(text), "missing \(text) in\n\(table.stdout)")
        }
        XCTAssertTrue(table.stderr.contains("match: probe 1 of at most 12: T=1, self_bleu4 "), table.stderr)

        let csv = try eval(["2", "--match-self-bleu", "1", "--no-record", "--format", "csv"] + common)
        XCTAssertEqual(csv.status, 0, csv.stderr)
        let rows = try readCSVObjects(csv.stdout)
        XCTAssertEqual(rows.columns, ["role", "run", "temperature", "metric", "value"])
        let byRole = Dictionary(grouping: rows.rows) { $0["role"]! }
        XCTAssertEqual(byRole["target"]?.count, 22, "20 scores at T=1 and 2 likelihoods of run 1")
        XCTAssertTrue(byRole["target"]!.allSatisfy { $0["run"] == "1" })
        XCTAssertEqual(byRole["matched"]?.count, 22, "the matched probe's 20 scores and run 2's likelihoods")
        XCTAssertEqual((byRole["probe"]?.count ?? 0) % 20, 0)
        XCTAssertTrue(rows.rows.filter { $0["role"] != "target" }.allSatisfy { $0["run"] == "2" })
        let targetValue = Double(byRole["target"]!.first { $0["metric"] == "self_bleu4" }!["value"]!)!
        let matchedValue = Double(byRole["matched"]!.first { $0["metric"] == "self_bleu4" }!["value"]!)!
        XCTAssertLessThanOrEqual(abs(matchedValue - targetValue), 0.02)
    }

    func testATargetOutOfReachIsSaidSoAndAWiderRangeReachesIt() throws {
        // Run 2's varied samples are out of reach of run 1 up to T=2: it stays more alike.
        let table = try eval(["1", "--match-self-bleu", "2", "--no-record"] + common)
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("result        out of reach: even T=2, the hottest searched, gives Self-BLEU-4 "), table.stdout)
        XCTAssertTrue(table.stdout.contains("(closest)"), table.stdout)
        let object = try json(eval(["1", "--match-self-bleu", "2", "--no-record", "--format", "json"] + common))
        let match = try XCTUnwrap(object["match"] as? [String: Any])
        XCTAssertEqual(match["outcome"] as? String, "below-reach")
        let probes = try XCTUnwrap(match["probes"] as? [[String: Double]])
        XCTAssertEqual(probes.map { $0["temperature"]! }, [1, 1.25, 1.75, 2])
        XCTAssertGreaterThan(probes.last!["value"]!, (match["target"] as! [String: Any])["value"] as! Double + 0.02)
        // with a warning on stderr when the output is for programs,
        let csv = try eval(["1", "--match-self-bleu", "2", "--no-record", "--format", "csv"] + common)
        XCTAssertTrue(csv.stderr.contains("warning: --match-self-bleu out of reach"), csv.stderr)
        XCTAssertTrue(csv.stdout.contains("\r\nclosest,1,2,"), csv.stdout)

        // and hotter sampling than 2 gets there.
        let wider = try json(eval(["1", "--match-self-bleu", "2", "--match-max-temperature", "8", "--no-record",
                                   "--format", "json"] + common))
        let widerMatch = try XCTUnwrap(wider["match"] as? [String: Any])
        XCTAssertEqual(widerMatch["outcome"] as? String, "matched", "\(widerMatch)")
        XCTAssertGreaterThan((widerMatch["closest"] as? [String: Double])?["temperature"] ?? 0, 2)
    }

    func testAValueIsATargetOfItsOwnAtAnyOrder() throws {
        let object = try json(eval(["1", "--match-self-bleu", "0.95:3", "--no-record", "--format", "json"] + common))
        let match = try XCTUnwrap(object["match"] as? [String: Any])
        let target = try XCTUnwrap(match["target"] as? [String: Any])
        XCTAssertEqual(target["metric"] as? String, "self_bleu3")
        XCTAssertEqual(target["value"] as? Double, 0.95)
        XCTAssertTrue(target["run"] is NSNull)
        XCTAssertEqual(match["outcome"] as? String, "matched", "\(match)")
        let closest = try XCTUnwrap(match["closest"] as? [String: Double])
        XCTAssertLessThanOrEqual(abs(closest["value"]! - 0.95), 0.02)
        XCTAssertEqual(try plainSelfBLEU(run: 1, temperature: closest["temperature"]!, order: 3), closest["value"]!, accuracy: 1e-12)
    }

    func testBadMatchFlagsGiveOneLineErrorsAndRecordNothing() throws {
        let before = try (1...3).map { try store.evaluations(run: $0).count }
        for (arguments, expected) in [
            (["--match-self-bleu", "2", "--sweep", "0.5,1"], "give --sweep or --match-self-bleu, not both"),
            (["--match-self-bleu", "99"], "--match-self-bleu: no run 99 in the run store"),
            (["--match-self-bleu", "no-such-run"], "--match-self-bleu: no-such-run is neither a run id"),
            (["--match-self-bleu", "1.5"], "target Self-BLEU must be in (0, 1), not 1.5"),
            (["--match-self-bleu", "0.0"], "target Self-BLEU must be in (0, 1), not 0.0"),
            (["--match-self-bleu", "2:7"], "one of 2, 3, 4, 5, not :7"),
            (["--match-self-bleu", ":4"], "needs a run or a Self-BLEU value"),
            (["--match-self-bleu", "2", "--temperature", "0.9"], "drop --temperature"),
            (["--match-self-bleu", "2", "--protocol", "gfs"], "drop --match-self-bleu"),
            (["--match-self-bleu", "2", "--match-tolerance", "0"], "--match-tolerance must be in (0, 1)"),
            (["--match-self-bleu", "2", "--match-max-probes", "1"], "--match-max-probes must be from 2 to 100"),
            (["--match-self-bleu", "2", "--match-max-temperature", "inf"], "--match-max-temperature must be in"),
            (["--match-self-bleu", "2", "--samples", "1"], "--samples of at least 2"),
            (["--match-tolerance", "0.01"], "--match-tolerance needs --match-self-bleu"),
            (["--match-self-bleu", "3"], "their Self-BLEU would compare different texts"),
        ] {
            let result = try eval(["1"] + arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            let first = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
            XCTAssertTrue(first.hasPrefix("Error: ") && first.contains(expected), "\(arguments): \(result.stderr)")
        }
        XCTAssertEqual(try (1...3).map { try store.evaluations(run: $0).count }, before)
    }

    func testTargetsParseAsRunsOrValuesWithAnOrder() throws {
        func parse(_ text: String) throws -> SelfBLEUTarget { try SelfBLEUTarget(parsing: text) }
        XCTAssertEqual(try parse("12"), SelfBLEUTarget(subject: .run("12"), order: 4))
        XCTAssertEqual(try parse("12:3"), SelfBLEUTarget(subject: .run("12"), order: 3))
        XCTAssertEqual(try parse("coco-gumbel:5"), SelfBLEUTarget(subject: .run("coco-gumbel"), order: 5))
        XCTAssertEqual(try parse("runs/12/latest.safetensors"), SelfBLEUTarget(subject: .run("runs/12/latest.safetensors"), order: 4))
        XCTAssertEqual(try parse("0.42"), SelfBLEUTarget(subject: .value(0.42), order: 4))
        XCTAssertEqual(try parse(".42:2"), SelfBLEUTarget(subject: .value(0.42), order: 2))
        XCTAssertEqual(try parse("1e-1"), SelfBLEUTarget(subject: .value(0.1), order: 4))
        for bad in ["1.0", "0.0", "-0.5", "2:1", "2:6", ":3", ""] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
        let command = try EvalCommand.parse(["5", "--match-self-bleu", "12:3"])
        XCTAssertEqual(command.matchSelfBLEU, SelfBLEUTarget(subject: .run("12"), order: 3))
        XCTAssertEqual(command.temperatureSearch(target: 0.4),
                       TemperatureSearch(target: 0.4, tolerance: 0.005, maximumTemperature: 2, maximumProbes: 8))
        XCTAssertThrowsError(try EvalCommand.parse(["5", "--match-self-bleu", "12", "--sweep", "1"]))
    }
}
