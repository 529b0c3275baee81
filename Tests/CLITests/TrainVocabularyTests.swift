import Foundation
import RunStore
import TestSupport
import XCTest

/// `train --vocab` (a vocabulary `vocab build` wrote) and `--min-count`: the run uses that vocabulary, records
/// which one, and refuses missing, mismatched or changed files with one line.
final class TrainVocabularyTests: XCTestCase {
    private var directory: URL!
    /// A package root of its own (Package.swift, corpora/, vocab/), so names in vocab/ resolve there.
    private var root: URL!
    private var corpus: String { directory.appendingPathComponent("tiny.txt").path }
    private var database: String { directory.appendingPathComponent("runs/textgan.sqlite").path }
    private let config = #"{"generator": {"embeddingSize": 8, "hiddenSize": 8}, "mle": {"epochs": 1, "batchSize": 16, "evaluateEvery": 1}, "evaluation": {"bleuSamples": 0}}"#

    override func setUpWithError() throws {
        directory = try temporaryDirectory(self)
        root = directory.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("corpora"), withIntermediateDirectories: true)
        try Data().write(to: root.appendingPathComponent("Package.swift"))
        try TinyRun.writeCorpus(to: directory.appendingPathComponent("tiny.txt"))
        try config.write(to: directory.appendingPathComponent("mle.json"), atomically: true, encoding: .utf8)
    }

    private func textgan(_ arguments: [String], root withRoot: Bool = true) throws -> Finished {
        try runProcess("textgan", arguments + (withRoot ? ["--root", root.path] : []))
    }

    private func train(_ extra: [String]) throws -> Finished {
        try textgan(["train", corpus, "--algo", "mle", "--config", directory.appendingPathComponent("mle.json").path,
                     "--db", database, "--min-examples", "16"] + extra)
    }

    /// `vocab build` of the tiny corpus into vocab/<name>.vocab under the test's root.
    private func buildVocabulary(_ name: String, _ options: [String]) throws -> String {
        let path = root.appendingPathComponent("vocab/\(name).vocab").path
        let built = try textgan(["vocab", "build", corpus, "--min-examples", "16", "--output", path] + options)
        XCTAssertEqual(built.status, 0, built.stderr)
        return path
    }

    func testARunTrainsOnABuiltVocabularyAndRecordsIt() throws {
        // Given a vocabulary of the 8 most frequent entries (4 special, 4 words), built apart from training,
        let path = try buildVocabulary("small", ["--max-size", "8"])
        let sha256 = try XCTUnwrap(Child(URL(fileURLWithPath: "/usr/bin/sha256sum"), [path]).wait().stdout.split(separator: " ").first.map(String.init))

        // when a run trains on it by name,
        let result = try train(["--vocab", "small"])
        XCTAssertEqual(result.status, 0, result.stderr + result.stdout.suffix(1000))

        // then its vocabulary is the file's (8 entries; built from the corpus it would have 4 + 14 words),
        XCTAssertTrue(result.stdout.contains("vocabulary 8;"), result.stdout)
        XCTAssertTrue(result.stdout.contains("vocabulary from \(path); "), result.stdout)
        XCTAssertTrue(result.stdout.contains("% of training tokens are <unk>"), result.stdout)
        // the run records which file (with its hash) in its row and its params, and `runs show` says so,
        let store = try RunDatabase(path: database)
        let run = try store.run(1)
        XCTAssertEqual(run.vocabulary, "8 tokens, mode=word lowercase=false normalization=nfc max-length=none; file \(path) sha256 \(sha256.prefix(16))")
        let params = try store.details(of: 1).params
        XCTAssertEqual(params.first { $0.key == "vocabulary.file" }?.text, path)
        XCTAssertEqual(params.first { $0.key == "vocabulary.sha256" }?.text, sha256)
        let show = try textgan(["runs", "show", "1", "--db", database], root: false)
        XCTAssertTrue(show.stdout.contains("vocabulary      8 tokens, mode=word") && show.stdout.contains("file \(path)"), show.stdout)
        // and a run without --vocab says its vocabulary was built from the corpus.
        let built = try train(["--min-count", "3"])
        XCTAssertEqual(built.status, 0, built.stderr)
        let second = try store.run(2).vocabulary ?? ""
        XCTAssertTrue(second.hasSuffix("; built from tiny:train, min-count 3"), second)
        XCTAssertEqual(try store.details(of: 2).params.first { $0.key == "vocabulary.minCount" }?.text, "3")

        // The checkpoint holds the vocabulary: sampling and evaluating do not need the file any more.
        try FileManager.default.removeItem(atPath: path)
        let sample = try textgan(["sample", "1", "-n", "3", "--db", database], root: false)
        XCTAssertEqual(sample.status, 0, sample.stderr)
        let eval = try textgan(["eval", "1", "--samples", "20", "--no-record", "--db", database])
        XCTAssertEqual(eval.status, 0, eval.stderr)
    }

    func testMissingMismatchedAndChangedVocabulariesAreOneLineErrors() throws {
        // (A contradiction among the flags is a usage error, which ArgumentParser follows with the usage lines.)
        func refused(_ extra: [String], _ expected: String, usage: Bool = false, file: StaticString = #filePath,
                     line: UInt = #line) throws {
            let result = try train(extra)
            XCTAssertNotEqual(result.status, 0, file: file, line: line)
            let first = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
            XCTAssertTrue(first.hasPrefix("Error: ") && first.contains(expected), result.stderr, file: file, line: line)
            if !usage { XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr, file: file, line: line) }
        }
        // A name that is neither a file nor in vocab/ lists what vocab/ holds;
        _ = try buildVocabulary("tiny", [])
        try refused(["--vocab", "coco"], "--vocab coco: no such file, and no \(root.path)/vocab/coco.vocab (vocab/ holds tiny)")
        // a vocabulary built with other tokenizer settings is refused, naming both;
        let chars = try buildVocabulary("chars", ["--mode", "char"])
        try refused(["--vocab", chars], "was built with tokenizer settings mode=char")
        // --min-count and --vocab contradict each other; the synthetic benchmark has no vocabulary to choose;
        try refused(["--vocab", "tiny", "--min-count", "2"], "give one of them", usage: true)
        let oracle = try textgan(["train", "oracle", "--algo", "mle", "--vocab", "tiny", "--db", database])
        XCTAssertTrue(oracle.stderr.contains("--vocab and --min-count apply to text corpora"), oracle.stderr)
        // a file that changed since the run's config recorded its hash is refused;
        let path = root.appendingPathComponent("vocab/tiny.vocab").path
        let stale = #"{"vocabulary": {"file": "\#(path)", "sha256": "\#(String(repeating: "0", count: 64))"}}"#
        try stale.write(to: directory.appendingPathComponent("stale.json"), atomically: true, encoding: .utf8)
        let changed = try textgan(["train", corpus, "--algo", "mle", "--config", directory.appendingPathComponent("stale.json").path,
                                   "--db", database, "--min-examples", "16"])
        XCTAssertTrue(changed.stderr.contains("changed since the run started"), changed.stderr)
        // and a vocabulary of another corpus (no token in common) is refused.
        let other = directory.appendingPathComponent("other.txt")
        try (0..<40).map { "zz\($0 % 5) qq\($0 % 3)" }.joined(separator: "\n").write(to: other, atomically: true, encoding: .utf8)
        let foreign = root.appendingPathComponent("vocab/other.vocab").path
        XCTAssertEqual(try textgan(["vocab", "build", other.path, "--min-examples", "16", "--output", foreign]).status, 0)
        try refused(["--vocab", "other"], "knows none of the")
        XCTAssertEqual(try RunDatabase(path: database).runs().count, 0, "no refused run is recorded")
    }
}
