import Foundation
import RunStore
import TestSupport
import XCTest

@testable import textgan

/// The messages of #21 item 9: "no run N", run names where run ids are accepted, "did you mean" for a mistyped
/// subcommand, bad temperatures named as such, and no Swift type names in errors.
final class MessagesTests: XCTestCase {
    /// One tiny MLE run named "tiny-mle" (run 1), trained once by the real binary.
    nonisolated(unsafe) private static var store: Result<String, Error>?
    nonisolated(unsafe) private static var directory: URL?

    override class func setUp() {
        super.setUp()
        store = Result {
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("textgan-messages-tests-\(UUID().uuidString)", isDirectory: true)
            Self.directory = directory
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let words = ["the", "cat", "dog", "runs", "sleeps", "."]
            let lines = (0..<200).map { i in (0..<5).map { words[(i * 7 + $0 * 3) % words.count] }.joined(separator: " ") }
            let corpus = directory.appendingPathComponent("tiny.txt")
            try lines.joined(separator: "\n").write(to: corpus, atomically: true, encoding: .utf8)
            let config = directory.appendingPathComponent("mle.json")
            try #"{"generator": {"embeddingSize": 4, "hiddenSize": 8}, "mle": {"epochs": 1, "batchSize": 16}}"#
                .write(to: config, atomically: true, encoding: .utf8)
            let path = directory.appendingPathComponent("runs/textgan.sqlite").path
            let trained = try runProcess("textgan", [
                "train", corpus.path, "--config", config.path, "--algo", "mle", "--name", "tiny-mle", "--db", path,
                "--root", packageRoot.path, "--min-examples", "16",
            ])
            guard trained.status == 0 else { throw InputError("training the fixture failed: \(trained.stderr)") }
            return path
        }
    }

    override class func tearDown() {
        if let directory { try? FileManager.default.removeItem(at: directory) }
        super.tearDown()
    }

    private func textgan(_ arguments: [String]) throws -> Finished {
        try runProcess("textgan", arguments + ["--db", Self.store!.get()])
    }

    /// Every command with --threads bounds it (more threads than any machine has only costs memory and time).
    func testThreadCountsAreBoundedEverywhere() throws {
        let dir = try temporaryDirectory(self)
        let file = dir.appendingPathComponent("s.txt")
        try "a b c\n".write(to: file, atomically: true, encoding: .utf8)
        for command in [["bench", "core"], ["bleu", file.path, file.path], ["eval", "1", "--db", dir.appendingPathComponent("x.sqlite").path]] {
            let result = try runProcess("textgan", command + ["--threads", "100000"])
            XCTAssertNotEqual(result.status, 0, command.joined(separator: " "))
            XCTAssertTrue(result.stderr.contains("--threads must be from 1 to 1024, not 100000"), result.stderr)
        }
    }

    func testAnUnknownRunIdIsNoRunNEverywhere() throws {
        for command in [["sample", "99"], ["eval", "99", "--root", packageRoot.path], ["repl", "99"], ["runs", "show", "99"]] {
            let result = try textgan(command)
            XCTAssertNotEqual(result.status, 0, "\(command)")
            XCTAssertTrue(result.stderr.hasPrefix("Error: no run 99"), "\(command): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("Usage:"), "a run-time error is not a usage error: \(result.stderr)")
        }
        let noStore = try runProcess("textgan", ["sample", "99", "--db", try temporaryDirectory(self).appendingPathComponent("x.sqlite").path])
        XCTAssertTrue(noStore.stderr.hasPrefix("Error: no run 99: there is no run store at"), noStore.stderr)
    }

    func testARunNameIsAcceptedWhereARunIdIs() throws {
        let byID = try textgan(["sample", "1", "-n", "3", "--seed", "5"])
        XCTAssertEqual(byID.status, 0, byID.stderr)
        let byName = try textgan(["sample", "tiny-mle", "-n", "3", "--seed", "5"])
        XCTAssertEqual(byName.status, 0, byName.stderr)
        XCTAssertEqual(byName.stdout, byID.stdout)
        XCTAssertEqual(byName.stdout.split(separator: "\n").count, 3)

        let show = try textgan(["runs", "show", "tiny-mle"])
        XCTAssertTrue(show.stdout.hasPrefix("run 1: tiny-mle"), show.stdout + show.stderr)
        // The run records the CPU and the matrix kernels it started with (schema v12).
        let environment = show.stdout.split(separator: "\n").filter { $0.contains("cpu") || $0.contains("kernels") }
        XCTAssertEqual(environment.count, 2, show.stdout)
        XCTAssertTrue(environment.allSatisfy { !$0.contains("—") }, show.stdout)
        XCTAssertTrue(show.stdout.contains("fp32 gemm"), show.stdout)
        let repl = try runProcess("textgan", ["repl", "tiny-mle", "--db", Self.store!.get()], input: Data("/quit\n".utf8))
        XCTAssertEqual(repl.status, 0, repl.stderr)

        let unknown = try textgan(["sample", "eng-mle"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("eng-mle is neither a run id, a run name nor a checkpoint file"), unknown.stderr)
        let unknownCompare = try textgan(["compare", "1", "eng-mle"])
        XCTAssertTrue(unknownCompare.stderr.contains("eng-mle is neither a run id nor a run name"), unknownCompare.stderr)
    }

    func testAnAmbiguousRunNameListsTheIds() throws {
        // Given a store where two runs have the same name
        let copy = try temporaryDirectory(self).appendingPathComponent("textgan.sqlite").path
        let database = try RunDatabase(path: copy)
        var ids: [Int64] = []
        for _ in 0..<2 {
            let id = try database.startRun(NewRun(name: "tiny-mle", algorithm: "mle", generator: "lstm", corpus: "tiny",
                                                  seed: 1, configJSON: "{}"))
            try database.finish(run: id, status: .finished)
            ids.append(id)
        }
        for command in [["sample", "tiny-mle"], ["runs", "show", "tiny-mle"], ["compare", "tiny-mle", "\(ids[0])"]] {
            let result = try runProcess("textgan", command + ["--db", copy])
            XCTAssertNotEqual(result.status, 0, "\(command)")
            XCTAssertTrue(result.stderr.contains("2 runs are named tiny-mle (ids \(ids[0]), \(ids[1]))"), "\(command): \(result.stderr)")
        }
    }

    func testAMistypedSubcommandGetsDidYouMean() throws {
        let typo = try runProcess("textgan", ["trian", "tang"])
        XCTAssertEqual(typo.status, 64)
        XCTAssertTrue(typo.stderr.hasPrefix("Error: 'trian' is not a textgan command; did you mean 'train'?"), typo.stderr)
        let nested = try runProcess("textgan", ["runs", "shwo", "3"])
        XCTAssertTrue(nested.stderr.hasPrefix("Error: 'shwo' is not a textgan runs command; did you mean 'show'?"), nested.stderr)
        let far = try runProcess("textgan", ["xyzzy"])
        XCTAssertTrue(far.stderr.contains("the commands are train, sweep, sample, eval"), far.stderr)

        XCTAssertEqual(CommandSuggestion.closest(to: "smaple", among: ["sample", "sql"]), "sample")
        XCTAssertEqual(CommandSuggestion.closest(to: "comp", among: ["compare", "corpus"]), "compare")
        XCTAssertNil(CommandSuggestion.closest(to: "xyzzy", among: ["train", "sample"]))
        XCTAssertNil(CommandSuggestion.message(for: ["sample", "trian"], root: TextGAN.self), "a run name, not a command")
        XCTAssertNil(CommandSuggestion.message(for: ["--help"], root: TextGAN.self))
    }

    func testBadTemperaturesAreNamedNotMissing() throws {
        for value in ["nan", "inf", "-1", "-0.5"] {
            let result = try textgan(["sample", "1", "--temperature", value])
            XCTAssertNotEqual(result.status, 0, value)
            XCTAssertTrue(result.stderr.hasPrefix("Error: --temperature must be a finite number ≥ 0"), "\(value): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("Missing value"), result.stderr)
        }
        let sweep = try textgan(["eval", "1", "--sweep", "-1,0.5"])
        XCTAssertTrue(sweep.stderr.hasPrefix("Error: --sweep temperatures must be finite numbers ≥ 0"), sweep.stderr)
        let topP = try textgan(["sample", "1", "--top-p", "-0.1"])
        XCTAssertTrue(topP.stderr.hasPrefix("Error: --top-p must be in (0, 1]"), topP.stderr)
    }

    func testConfigErrorsSpeakJSONNotSwift() throws {
        let directory = try temporaryDirectory(self)
        for (json, expected) in [("[1, 2]", "must hold a JSON object (of config fields), not an array"),
                                 (#"{"mle": {"epochs": "x"}}"#, "'mle.epochs': expected an integer")] {
            let file = directory.appendingPathComponent("config.json")
            try json.write(to: file, atomically: true, encoding: .utf8)
            let result = try runProcess("textgan", ["train", "tang", "--algo", "mle", "--config", file.path, "--print-config",
                                                    "--db", directory.appendingPathComponent("x.sqlite").path])
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.stderr.contains(expected), result.stderr)
            XCTAssertFalse(result.stderr.contains("Array<") || result.stderr.contains("decode Int"), result.stderr)
        }
    }
}
