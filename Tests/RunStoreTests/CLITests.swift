import Foundation
import RunStore
import TestSupport
import XCTest

/// `textgan runs`, `runs show` and `compare` on the fixture, run as processes.
final class CLITests: XCTestCase {
    private var path = ""

    override func setUpWithError() throws {
        path = try temporaryDirectory(self).appendingPathComponent("fixture.sqlite").path
        try makeFixture(at: path)
    }

    func testRunsListsNewestFirstWithBestBLEUAndAppliesFilters() throws {
        let all = try runProcess("textgan", ["runs", "--db", path])
        XCTAssertEqual(all.status, 0, all.stderr)
        let lines = all.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("id  name"), lines[0])
        XCTAssertEqual(lines.count, 2 + 5)
        XCTAssertTrue(lines[2].contains("seqgan-5") && lines[2].contains("0.4"), lines[2])
        XCTAssertTrue(lines[6].contains("seqgan-1") && lines[6].contains("0.3") && lines[6].contains("8.7"), lines[6])

        let filtered = try runProcess("textgan", ["runs", "--db", path, "--algo", "seqgan", "--corpus", "coco", "--limit", "1"])
        XCTAssertEqual(filtered.stdout.split(separator: "\n").count, 3)
        XCTAssertTrue(filtered.stdout.contains("seqgan-5"))

        let none = try runProcess("textgan", ["runs", "--db", path, "--status", "crashed"])
        XCTAssertEqual(none.stdout, "No runs match.\n")
        let bad = try runProcess("textgan", ["runs", "--db", path, "--status", "exploded"])
        XCTAssertNotEqual(bad.status, 0)
        let missing = try runProcess("textgan", ["runs", "--db", path + ".missing"])
        XCTAssertTrue(missing.stdout.hasPrefix("No runs recorded yet"), missing.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".missing"), "listing must not create a store")
    }

    func testRunsShowPrintsTheRunParamsEvaluationsSamplesAndConfig() throws {
        let show = try runProcess("textgan", ["runs", "show", "1", "--db", path])
        XCTAssertEqual(show.status, 0, show.stderr)
        for expected in ["run 1: seqgan-1  finished", "mle.learningRate", "generator.hidden", "bleu4", "nll_oracle", "8.7",
                         "a, \"quoted\" sample", "protocol: 1000 samples, references test (10000)", "0123abc"] {
            XCTAssertTrue(show.stdout.contains(expected), "missing \(expected) in\n\(show.stdout)")
        }
        let config = try runProcess("textgan", ["runs", "show", "1", "--config", "--db", path])
        XCTAssertTrue(config.stdout.contains("\"learningRate\" : 0.01"), config.stdout)
        let unknown = try runProcess("textgan", ["runs", "show", "77", "--db", path])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("no run 77"), unknown.stderr)
    }

    func testCompareShowsDifferingParamsAndFoldsIdenticalOnes() throws {
        let compare = try runProcess("textgan", ["compare", "1", "2", "--db", path])
        XCTAssertEqual(compare.status, 0, compare.stderr)
        XCTAssertTrue(compare.stdout.contains("params that differ (1)"), compare.stdout)
        let fields = compare.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertTrue(fields.contains(["mle.learningRate", "0.01", "0.001"]), compare.stdout)
        XCTAssertTrue(fields.contains(["bleu4", "0.28", "0.35"]), "latest scores side by side\n\(compare.stdout)")
        XCTAssertTrue(compare.stdout.contains("2 identical param(s) folded"), compare.stdout)
        XCTAssertFalse(compare.stdout.contains("generator.hidden"))
        let all = try runProcess("textgan", ["compare", "1", "2", "--all", "--db", path])
        XCTAssertTrue(all.stdout.contains("generator.hidden"), all.stdout)

        let one = try runProcess("textgan", ["compare", "1", "--db", path])
        XCTAssertNotEqual(one.status, 0)
        XCTAssertTrue(one.stderr.contains("at least two"), one.stderr)
        let twice = try runProcess("textgan", ["compare", "1", "1", "--db", path])
        XCTAssertNotEqual(twice.status, 0)
    }
}
