import Foundation
import TestSupport
import XCTest

@testable import textgan

/// The shared encoders, by hand.
final class StructuredOutputTests: XCTestCase {
    func testCSVFieldsFollowRFC4180() throws {
        XCTAssertEqual(CSV.field("plain"), "plain")
        XCTAssertEqual(CSV.field("a,b"), "\"a,b\"")
        XCTAssertEqual(CSV.field("say \"hi\""), "\"say \"\"hi\"\"\"")
        XCTAssertEqual(CSV.field("two\nlines"), "\"two\nlines\"")
        XCTAssertEqual(CSV.field("cr\rhere"), "\"cr\rhere\"")
        XCTAssertEqual(CSV.field(""), "")
        let table = DataTable(columns: ["k", "v"], rows: [[.string("x,y"), .number(.nan)], [.null, .number(-.infinity)],
                                                           [.integer(3), .number(0.25)], [.bool(true), .string("床前")]])
        XCTAssertEqual(table.csv(), "k,v\r\n\"x,y\",\r\n,-inf\r\n3,0.25\r\ntrue,床前\r\n")
        XCTAssertEqual(try readCSV(table.csv()), [["k", "v"], ["x,y", ""], ["", "-inf"], ["3", "0.25"], ["true", "床前"]])
    }

    func testJSONKeepsKeyOrderAndEscapes() throws {
        let value = JSONValue.object([("z", .string("q\"\\\n\t\u{1}/床")), ("a", .array([.number(.nan), .number(.infinity),
                                      .number(2), .number(0.1), .integer(-4), .null, .bool(false), .raw("{\"x\":[1]}")]))])
        XCTAssertEqual(value.rendered(), #"{"z":"q\"\\\n\t\u0001/床","a":[null,"inf",2,0.1,-4,null,false,{"x":[1]}]}"#)
        let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(value.rendered().utf8)) as? [String: Any])
        XCTAssertEqual(parsed["z"] as? String, "q\"\\\n\t\u{1}/床")
    }

    func testEveryTabularCommandTakesTheSameFormatOption() throws {
        for arguments in [["runs"], ["runs", "show", "1"], ["compare", "1", "2"], ["sql", "SELECT 1"], ["eval", "1"],
                          ["bleu", "h.txt", "r.txt"], ["corpus", "stats", "tang"], ["vocab", "build", "tang"],
                          ["bench", "core"]] {
            for format in OutputFormat.allCases {
                XCTAssertNoThrow(try TextGAN.parseAsRoot(arguments + ["--format", format.rawValue]), "\(arguments)")
            }
            XCTAssertThrowsError(try TextGAN.parseAsRoot(arguments + ["--format", "yaml"]), "\(arguments)")
            XCTAssertThrowsError(try TextGAN.parseAsRoot(arguments + ["--json", "--format", "csv"]), "\(arguments)")
        }
    }
}

/// `--format` end to end on the commands that need no run store: bleu, corpus stats, vocab build, bench.
final class FileCommandFormatTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try temporaryDirectory(self)
    }

    private func textgan(_ arguments: [String]) throws -> Finished {
        let result = try runProcess("textgan", arguments)
        XCTAssertEqual(result.status, 0, "\(arguments): \(result.stderr)")
        return result
    }

    private func file(_ name: String, _ lines: [String]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testBleuInEachFormat() throws {
        let hypotheses = try file("h.txt", ["the cat sat on the mat .", "a dog ran ."])
        let references = try file("r.txt", ["the cat sat on a mat .", "the dog ran away .", "a bird sang ."])
        let arguments = ["bleu", hypotheses, references, "--n", "2,3", "--self"]
        XCTAssertTrue(try textgan(arguments).stdout.contains("BLEU-2"))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(textgan(arguments + ["--format", "json"]).stdout.utf8)) as? [String: Any])
        let bleu = try XCTUnwrap(json["bleu"] as? [String: Double])
        let csv = try readCSVObjects(textgan(arguments + ["--format", "csv"]).stdout)
        XCTAssertEqual(csv.columns, ["metric", "order", "score"])
        XCTAssertEqual(csv.rows.map { [$0["metric"]!, $0["order"]!] },
                       [["bleu", "2"], ["bleu", "3"], ["self_bleu", "2"], ["self_bleu", "3"]])
        XCTAssertEqual(Double(csv.rows[0]["score"]!)!, bleu["2"]!, accuracy: 1e-12)
    }

    func testCorpusStatsAndVocabBuildInEachFormat() throws {
        let corpus = try file("tiny.txt", (0..<80).map { "line \($0 % 7) has, words \($0 % 3)" })
        let common = [corpus, "--mode", "space", "--min-examples", "10", "--root", packageRoot.path]
        XCTAssertTrue(try textgan(["corpus", "stats"] + common).stdout.contains("vocabulary"))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(textgan(["corpus", "stats"] + common + ["--format", "json"]).stdout.utf8)) as? [String: Any])
        let statistics = try XCTUnwrap(json["statistics"] as? [String: Any])
        let csv = try readCSVObjects(textgan(["corpus", "stats"] + common + ["--format", "csv"]).stdout)
        XCTAssertEqual(csv.columns, ["key", "value"])
        let stats = Dictionary(uniqueKeysWithValues: csv.rows.map { ($0["key"]!, $0["value"]!) })
        XCTAssertEqual(stats["vocabulary.size"].flatMap(Int.init), statistics["vocabularySize"] as? Int)
        XCTAssertEqual(Int(stats["train.examples"]!)! + Int(stats["test.examples"]!)!, 80)
        XCTAssertEqual(stats["name"], "tiny")

        let output = directory.appendingPathComponent("tiny.vocab").path
        let build = ["vocab", "build"] + common + ["--output", output]
        XCTAssertTrue(try textgan(build).stdout.contains("written    \(output)"))
        let vocab = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(textgan(build + ["--format", "json"]).stdout.utf8)) as? [String: Any])
        XCTAssertEqual(vocab["path"] as? String, output)
        XCTAssertEqual(vocab["entries"] as? Int, Int(stats["vocabulary.size"]!))
        let facts = try readCSVObjects(textgan(build + ["--format", "csv"]).stdout)
        XCTAssertEqual(facts.columns, ["key", "value"])
        XCTAssertEqual(facts.rows.first { $0["key"] == "entries" }?["value"], stats["vocabulary.size"])
    }

    func testBenchInEachFormat() throws {
        let arguments = ["bench", "core", "--repeats", "1", "--warmup", "0", "--threads", "1"]
        XCTAssertTrue(try textgan(arguments).stdout.contains("measurement"))
        let lines = try textgan(arguments + ["--format", "json"]).stdout.split(separator: "\n")
        XCTAssertFalse(lines.isEmpty)
        let objects = try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertTrue(objects.allSatisfy { $0["median_s"] is Double && $0["phase"] as? String == "core" })
        let csv = try readCSVObjects(textgan(arguments + ["--format", "csv"]).stdout)
        XCTAssertEqual(Array(csv.columns.prefix(5)), ["phase", "name", "threads", "repeats", "median_s"])
        XCTAssertEqual(csv.rows.map { $0["name"] }, objects.map { $0["name"] as? String })
        // The old spelling still works (scripts/bench-vs-torch.sh used it).
        XCTAssertEqual(try textgan(arguments + ["--json"]).stdout.split(separator: "\n").count, lines.count)
    }
}

/// `textgan --version`: the release and the commit of the checkout the binary was built from.
final class VersionTests: XCTestCase {
    func testVersionNamesTheCommitAndABinaryOlderThanIt() throws {
        let head = try Child(URL(fileURLWithPath: "/usr/bin/env"), ["git", "-C", packageRoot.path, "rev-parse", "HEAD"])
            .wait().stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try XCTSkipIf(head.isEmpty, "not a git checkout")
        let version = try runProcess("textgan", ["--version"])
        XCTAssertEqual(version.status, 0, version.stderr)
        XCTAssertTrue(version.stdout.hasPrefix("textgan 0.1.0-dev (commit \(head), checkout "), version.stdout)
        XCTAssertFalse(version.stdout.contains("older than"), version.stdout)

        // A copy of the binary dated before HEAD's commit says it was built from an older one.
        let copy = try temporaryDirectory(self).appendingPathComponent("textgan")
        try FileManager.default.copyItem(at: executable("textgan"), to: copy)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 0)], ofItemAtPath: copy.path)
        let old = try Child(copy, ["--version"]).wait()
        XCTAssertTrue(old.stdout.contains("commit \(head)") && old.stdout.contains("this binary is older than that commit"), old.stdout)
    }
}
