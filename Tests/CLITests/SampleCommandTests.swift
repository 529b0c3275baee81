import Foundation
import TestSupport
import XCTest

/// `textgan sample --prefixes FILE`, on a tiny MLE run.
final class SampleCommandTests: XCTestCase {
    private var directory: URL!
    private var database: String { directory.appendingPathComponent("runs/textgan.sqlite").path }

    override func setUpWithError() throws {
        directory = try temporaryDirectory(self)
        let corpus = directory.appendingPathComponent("tiny.txt")
        try TinyRun.writeCorpus(to: corpus)
        let config = directory.appendingPathComponent("mle.json")
        try #"{"generator": {"embeddingSize": 8, "hiddenSize": 8}, "mle": {"epochs": 1, "batchSize": 16}, "evaluation": {"bleuSamples": 0}}"#
            .write(to: config, atomically: true, encoding: .utf8)
        let trained = try runProcess("textgan", ["train", corpus.path, "--algo", "mle", "--config", config.path, "--db", database,
                                                 "--root", packageRoot.path, "--min-examples", "16"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
    }

    private func sample(_ arguments: [String]) throws -> Finished {
        try runProcess("textgan", ["sample", "1", "--db", database, "--seed", "3"] + arguments)
    }

    private func write(_ text: String, _ name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func testEachPrefixOfTheFileIsContinuedInOrder() throws {
        let file = try write("the big\n\n  \nthe small cat\n", "prefixes.txt")
        let result = try sample(["--prefixes", file, "-n", "3"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, 6, "blank lines are skipped: \(result.stdout)")
        XCTAssertTrue(lines.prefix(3).allSatisfy { $0.hasPrefix("the big") }, result.stdout)
        XCTAssertTrue(lines.suffix(3).allSatisfy { $0.hasPrefix("the small cat") }, result.stdout)

        // A file of one line samples what --prefix with that line does.
        let one = try write("the big\n", "one.txt")
        XCTAssertEqual(try sample(["--prefixes", one, "-n", "4"]).stdout, try sample(["--prefix", "the big", "-n", "4"]).stdout)

        let jsonl = try sample(["--prefixes", file, "-n", "2", "--format", "jsonl"])
        XCTAssertEqual(jsonl.status, 0, jsonl.stderr)
        let objects = try jsonl.stdout.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(objects.map { $0["index"] as? Int }, [0, 1, 2, 3])
        XCTAssertEqual(objects.map { $0["prefix_line"] as? Int }, [1, 1, 4, 4])
        XCTAssertEqual(objects.map { $0["prefix"] as? String }, ["the big", "the big", "the small cat", "the small cat"])
    }

    func testBadPrefixFilesGetOneLineErrors() throws {
        let cases: [(String, String)] = [
            (directory.appendingPathComponent("absent.txt").path, "no such file"),
            (try write("", "empty.txt"), "empty"),
            (try write("\n \n", "blank.txt"), "only whitespace"),
            (directory.path, "directory"),
        ]
        var invalid = Data("the big\n".utf8)
        invalid.append(contentsOf: [0xC3, 0x28, 0x0A])
        let invalidURL = directory.appendingPathComponent("invalid.txt")
        try invalid.write(to: invalidURL)
        for (path, message) in cases + [(invalidURL.path, "invalid UTF-8")] {
            let result = try sample(["--prefixes", path])
            XCTAssertEqual(result.status, 1, path)
            XCTAssertTrue(result.stderr.hasPrefix("Error: --prefixes ") && result.stderr.contains(message), result.stderr)
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
            XCTAssertEqual(result.stdout, "")
        }
        let both = try sample(["--prefixes", try write("a\n", "a.txt"), "--prefix", "the"])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("not both"), both.stderr)
    }
}
