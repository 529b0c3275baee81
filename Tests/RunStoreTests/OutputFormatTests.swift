import Foundation
import RunStore
import TestSupport
import XCTest

/// `--format table|json|csv` on the run store's views (`runs`, `runs show`, `compare`, `sql`), run as processes on
/// the fixture plus a run whose name needs quoting in CSV and escaping in JSON.
final class OutputFormatTests: XCTestCase {
    private var path = ""
    private let awkwardName = "a, \"quoted\"\nname 床前"

    override func setUpWithError() throws {
        path = try temporaryDirectory(self).appendingPathComponent("fixture.sqlite").path
        try makeFixture(at: path)
        let store = try RunDatabase(path: path)
        let id = try store.startRun(makeRun(name: awkwardName, algorithm: "mle", corpus: "coco"))
        try store.finish(run: id, status: .finished)
    }

    private func textgan(_ arguments: [String]) throws -> Finished {
        let result = try runProcess("textgan", arguments + ["--db", path])
        XCTAssertEqual(result.status, 0, "\(arguments): \(result.stderr)")
        return result
    }

    private func jsonObject(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    func testRunsListInEachFormat() throws {
        let table = try textgan(["runs"])
        XCTAssertTrue(table.stdout.hasPrefix("id  name"), table.stdout)

        let json = try XCTUnwrap(try jsonObject(textgan(["runs", "--format", "json"]).stdout) as? [[String: Any]])
        XCTAssertEqual(json.count, 6)
        XCTAssertEqual(json[0]["name"] as? String, awkwardName)
        XCTAssertEqual(json[0]["status"] as? String, "finished")
        let first = try XCTUnwrap(json.first { $0["id"] as? Int == 1 })
        XCTAssertEqual(first["best_bleu4"] as? Double, 0.3)
        XCTAssertEqual(first["nll_oracle"] as? Double, 8.7)
        XCTAssertTrue(first["nll_test"] is NSNull)

        let csv = try readCSVObjects(textgan(["runs", "--format", "csv"]).stdout)
        XCTAssertEqual(csv.columns, ["id", "name", "algorithm", "generator", "corpus", "status", "started_at",
                                     "ended_at", "duration_s", "best_bleu4", "nll_oracle", "nll_test", "tags", "note"])
        XCTAssertEqual(csv.rows.count, 6)
        XCTAssertEqual(csv.rows[0]["name"], awkwardName, "quoted field with comma, quote and newline round-trips")
        XCTAssertEqual(csv.rows.first { $0["id"] == "1" }?["best_bleu4"], "0.3")
        XCTAssertEqual(csv.rows.first { $0["id"] == "1" }?["nll_test"], "")

        // The old --json is --format json, with a note on stderr; both at once is refused.
        let old = try textgan(["runs", "--json"])
        XCTAssertEqual(try jsonObject(old.stdout) as? NSArray, try jsonObject(textgan(["runs", "--format", "json"]).stdout) as? NSArray)
        XCTAssertTrue(old.stderr.contains("--json is deprecated; use --format json"), old.stderr)
        let both = try runProcess("textgan", ["runs", "--json", "--format", "csv", "--db", path])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.hasPrefix("Error: "), both.stderr)
        XCTAssertNotEqual(try runProcess("textgan", ["runs", "--format", "xml", "--db", path]).status, 0)
        // No store: an empty list in every format, not a table's sentence.
        let missing = try runProcess("textgan", ["runs", "--format", "json", "--db", path + ".none"])
        XCTAssertEqual(missing.stdout, "[]\n")
        XCTAssertEqual(try runProcess("textgan", ["runs", "--format", "csv", "--db", path + ".none"]).stdout.split(separator: "\r\n").count, 1)
    }

    func testRunsShowInEachFormat() throws {
        XCTAssertTrue(try textgan(["runs", "show", "1"]).stdout.contains("run 1: seqgan-1"))

        let json = try XCTUnwrap(try jsonObject(textgan(["runs", "show", "1", "--format", "json"]).stdout) as? [String: Any])
        let run = try XCTUnwrap(json["run"] as? [String: Any])
        XCTAssertEqual(run["id"] as? Int, 1)
        XCTAssertEqual(run["seed"] as? String, "42")
        XCTAssertEqual((json["config"] as? [String: Any]).flatMap { $0["mle"] as? [String: Any] }?["learningRate"] as? Double, 0.01)
        XCTAssertEqual((json["params"] as? [String: Any])?["mle.learningRate"] as? Double, 0.01)
        let evaluations = try XCTUnwrap(json["evaluations"] as? [[String: Any]])
        XCTAssertEqual(evaluations.first { $0["key"] as? String == "bleu4" }?["last"] as? Double, 0.28)
        let latest = try XCTUnwrap(json["latest_evaluations"] as? [[String: Any]])
        XCTAssertEqual(latest.first { $0["metric"] as? String == "nll_oracle" }?["value"] as? Double, 8.7)
        XCTAssertEqual((json["last_samples"] as? [[String: Any]])?.first?["text"] as? String, "a, \"quoted\" sample")

        let csv = try readCSVObjects(textgan(["runs", "show", "1", "--format", "csv"]).stdout)
        XCTAssertEqual(csv.columns, ["section", "key", "phase", "step", "value"])
        func value(_ section: String, _ key: String) -> String? {
            csv.rows.first { $0["section"] == section && $0["key"] == key }?["value"]
        }
        XCTAssertEqual(value("run", "name"), "seqgan-1")
        XCTAssertEqual(value("param", "mle.learningRate"), "0.01")
        XCTAssertEqual(value("evaluation", "bleu4"), "0.28")
        XCTAssertEqual(csv.rows.first { $0["key"] == "bleu4" }?["step"], "200")
        XCTAssertEqual(value("sample", "0"), "a, \"quoted\" sample")

        let awkward = try readCSVObjects(textgan(["runs", "show", "6", "--format", "csv"]).stdout)
        XCTAssertEqual(awkward.rows.first { $0["key"] == "name" }?["value"], awkwardName)
    }

    func testCompareInEachFormat() throws {
        XCTAssertTrue(try textgan(["compare", "1", "2"]).stdout.contains("params that differ (1)"))

        let json = try XCTUnwrap(try jsonObject(textgan(["compare", "1", "2", "--format", "json"]).stdout) as? [String: Any])
        XCTAssertEqual((json["runs"] as? [[String: Any]])?.map { $0["id"] as? Int }, [1, 2])
        let params = try XCTUnwrap(json["params"] as? [[String: Any]])
        XCTAssertEqual(params.map { $0["key"] as? String }, ["mle.learningRate"], "only those that differ")
        XCTAssertEqual(params[0]["values"] as? [String], ["0.01", "0.001"])
        let evaluations = try XCTUnwrap(json["evaluations"] as? [[String: Any]])
        let bleu4 = try XCTUnwrap(evaluations.first { $0["key"] as? String == "bleu4" })
        XCTAssertEqual(bleu4["values"] as? [Double], [0.28, 0.35])
        XCTAssertTrue((bleu4["protocol"] as? String)?.contains("1000 samples") == true)
        let nll = try XCTUnwrap(evaluations.first { $0["key"] as? String == "nll_oracle" }?["values"] as? [Any])
        XCTAssertEqual(nll.first as? Double, 8.7)
        XCTAssertTrue(nll.last is NSNull, "run 2 has no NLL-oracle")
        let all = try XCTUnwrap(try jsonObject(textgan(["compare", "1", "2", "--all", "--format", "json"]).stdout) as? [String: Any])
        XCTAssertEqual((all["params"] as? [Any])?.count, 3)

        let csv = try readCSVObjects(textgan(["compare", "1", "2", "--format", "csv"]).stdout)
        XCTAssertEqual(csv.columns, ["section", "key", "protocol", "run_1", "run_2"])
        let row = try XCTUnwrap(csv.rows.first { $0["section"] == "evaluation" && $0["key"] == "bleu4" })
        XCTAssertEqual([row["run_1"], row["run_2"]], ["0.28", "0.35"])
        XCTAssertEqual(csv.rows.first { $0["key"] == "nll_oracle" }?["run_2"], "")
        XCTAssertEqual(csv.rows.first { $0["section"] == "param" }?["run_2"], "0.001")
    }

    func testSQLInEachFormatSharesTheEncoders() throws {
        let query = "SELECT id, name, 1.5 AS x FROM runs ORDER BY id DESC LIMIT 1"
        XCTAssertTrue(try textgan(["sql", query]).stdout.contains("(1 row)"))
        let json = try XCTUnwrap(try jsonObject(textgan(["sql", query, "--format", "json"]).stdout) as? [[String: Any]])
        XCTAssertEqual(json.first?["name"] as? String, awkwardName)
        XCTAssertEqual(json.first?["x"] as? Double, 1.5)
        let csv = try readCSV(textgan(["sql", query, "--format", "csv"]).stdout)
        XCTAssertEqual(csv, [["id", "name", "x"], ["6", awkwardName, "1.5"]])
    }
}
