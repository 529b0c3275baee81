import Foundation
import RunStore
import TestSupport
import XCTest

/// Every `train` option, read from the command's own description (`--experimental-dump-help`, so a new option cannot
/// be left out), given bad values in a child process: a non-zero exit (never a trap), one error line naming the flag
/// or the config key it sets (ArgumentParser may add its usage lines after it), and no run recorded.
final class BadFlagTests: XCTestCase {
    /// What is bad for each option. Numbers get the standard bad values except those listed as valid; the others
    /// name their own bad values. `names` are what the error may name: the flag, or the config key it sets.
    private struct Expectation {
        var bad: [String]
        var names: [String]
        var extra: [String] = []
    }

    private static let standardBadNumbers = ["-1", "0", "inf", "-inf", "nan", "abc", "1e999", "99999999999999999999", ""]

    private static func numeric(_ names: [String], validAlso valid: [String] = [], alsoBad: [String] = [],
                                extra: [String] = []) -> Expectation {
        Expectation(bad: standardBadNumbers.filter { !valid.contains($0) } + alsoBad, names: names, extra: extra)
    }

    private static let table: [String: Expectation] = [
        "epochs": numeric(["--epochs", "mle.epochs"]),
        "adversarial-steps": numeric(["--adversarial-steps", "seqgan.adversarialSteps"], validAlso: ["0"]),
        "beta-max": numeric(["--beta-max", "gumbel.maximumInverseTemperature"], extra: ["--algo", "gumbel"]),
        "rollouts": numeric(["--rollouts", "seqgan.rollouts"]),
        "batch-size": numeric(["--batch-size", "mle.batchSize"]),
        "g-lr": numeric(["--g-lr", "mle.learningRate"]),
        "max-length": numeric(["--max-length", "maxLength"]),
        "max-length-limit": numeric(["--max-length-limit", "maxLengthLimit"]),
        "seed": numeric(["--seed"], validAlso: ["0", "99999999999999999999"].filter { UInt64($0) != nil }),
        "resume": numeric(["--resume", "run "]),
        "threads": numeric(["--threads"], alsoBad: ["100000"]),  // once accepted: it hung for minutes
        "min-examples": numeric(["--min-examples"]),
        "algo": Expectation(bad: ["leakgan", ""], names: ["--algo"]),
        "generator": Expectation(bad: ["gru", ""], names: ["--generator"]),
        "preset": Expectation(bad: ["fast", ""], names: ["--preset", "preset"]),
        "loss": Expectation(bad: ["wgan_gp", ""], names: ["--loss", "loss"], extra: ["--algo", "gumbel"]),
        "precision": Expectation(bad: ["fp16", "BF16", ""], names: ["--precision"]),
        "generator-precision": Expectation(bad: ["fp16", "BF16", ""], names: ["--generator-precision"]),
        "config": Expectation(bad: ["/nonexistent/c.json", "/"], names: ["config file", "c.json", "/"]),
        "init-from": Expectation(bad: ["/nonexistent/x.safetensors", "99"], names: ["--init-from"]),
        "root": Expectation(bad: ["/nonexistent/root"], names: ["/nonexistent/root"]),
        "shared-data": Expectation(bad: [], names: []),  // only read for named corpora; a missing one is said there
        // (a store in a directory that does not exist yet is created, with the directory)
        "db": Expectation(bad: ["@corpus/t.sqlite", "/"], names: ["t.sqlite", "run store /"]),
        // Any text names a run but a number (an id), a path and control characters.
        "name": Expectation(bad: ["12", "a/b", "two\nlines", ""], names: ["--name"]),
        "vocab": Expectation(bad: ["/nonexistent/x.vocab", "no-such-vocabulary", "/"], names: ["--vocab"]),
        "min-count": numeric(["--min-count"]),
        "canaries": numeric(["--canaries", "canaries.count"]),
        "canary-repeats": numeric(["--canary-repeats", "canaries.repeats"], extra: ["--canaries", "2"]),
        "set": Expectation(bad: ["mle.epoch=3", "mle.epochs", "mle.epochs=-1", "mle.epochs=abc", "=3", "mle..x=1", "gan.loss=x"],
                           names: ["--set", "mle.epochs"]),
        "tag": Expectation(bad: [" padded", ""], names: ["tag"]),
    ]

    func testEveryTrainOptionRefusesBadValuesInOneLine() throws {
        let directory = try temporaryDirectory(self)
        let corpus = directory.appendingPathComponent("tiny.txt")
        try TinyRun.writeCorpus(to: corpus)
        let config = directory.appendingPathComponent("tiny.json")
        try TinyRun.seqganConfig.write(to: config, atomically: true, encoding: .utf8)
        let database = directory.appendingPathComponent("runs/textgan.sqlite").path

        let dump = try runProcess("textgan", ["train", "--experimental-dump-help"])
        let tool = try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any]
        let arguments = try XCTUnwrap((tool?["command"] as? [String: Any])?["arguments"] as? [[String: Any]])
        let options = arguments.filter { $0["kind"] as? String == "option" }
            .compactMap { (($0["names"] as? [[String: Any]])?.first { $0["kind"] as? String == "long" })?["name"] as? String }
        XCTAssertGreaterThan(options.count, 15)
        var tried = 0
        for option in options {
            guard let expectation = Self.table[option] else {
                XCTFail("train --\(option) has no row in BadFlagTests.table: say what a bad value of it is")
                continue
            }
            for value in expectation.bad {
                // `--flag=value`, so "-1" reaches the option as its value rather than as another flag.
                var command = option == "resume" ? ["train"] : ["train", corpus.path, "--config", config.path]
                // Options that pick another algorithm train its defaults: the tiny SeqGAN config is not theirs.
                if !expectation.extra.isEmpty { command.removeLast(2) }
                command += expectation.extra + ["--\(option)=\(value.replacingOccurrences(of: "@corpus", with: corpus.path))"]
                if option != "db" { command += ["--db", database] }
                if option != "root" { command += ["--root", packageRoot.path] }
                if option != "min-examples" { command += ["--min-examples", "16"] }
                let child = try Child(try executable("textgan"), command)
                let result = child.wait(timeout: 60)
                let what = "train --\(option)=\(value)"
                tried += 1
                XCTAssertEqual(child.process.terminationReason, .exit, "\(what) trapped: \(result.stderr)")
                XCTAssertNotEqual(result.status, 0, "\(what) was accepted: \(result.stdout.suffix(300))")
                let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: true)
                XCTAssertTrue(lines.first?.hasPrefix("Error: ") == true, "\(what): \(result.stderr)")
                // After the one error line, only ArgumentParser's hints: the valid choices (indented), the option's
                // help and the usage.
                for line in lines.dropFirst() {
                    XCTAssertTrue(line.hasPrefix("Help:") || line.hasPrefix("Usage:") || line.hasPrefix("  "),
                                  "\(what): a second error line: \(result.stderr)")
                }
                let first = String(lines.first ?? "")
                XCTAssertTrue(expectation.names.contains { first.contains($0) }, "\(what) does not name the flag: \(first)")
                XCTAssertFalse(result.stdout.contains("textgan train — run"), "\(what) started a run")
            }
        }
        XCTAssertGreaterThan(tried, 80)
        // Nothing was recorded by any of them.
        if FileManager.default.fileExists(atPath: database) {
            XCTAssertEqual(try RunDatabase(path: database).runs().count, 0)
        }
    }
}

/// TextGAN's pretraining settings, bad in each way a user can get them wrong: one error line naming the key, a
/// non-zero exit, no run. An encoder width longer than the corpus's sentences is only known once the corpus is read.
final class TextGANPretrainingSettingsTests: XCTestCase {
    func testBadPretrainingSettingsAreOneLineErrorsNamingTheKey() throws {
        let directory = try temporaryDirectory(self)
        let corpus = directory.appendingPathComponent("tiny.txt")
        try TinyRun.writeCorpus(to: corpus)
        let database = directory.appendingPathComponent("runs/textgan.sqlite").path
        let bad: [(String, String)] = [
            ("textgan.pretraining=vae", "textgan.pretraining"), ("textgan.pretraining=3", "textgan.pretraining"),
            ("textgan.latentNoise=-0.5", "textgan.latentNoise"), ("textgan.latentMatchingWeight=-1", "textgan.latentMatchingWeight"),
            ("textgan.encoderEmbeddingSize=0", "textgan.encoderEmbeddingSize"), ("textgan.encoderWidths=[]", "textgan.encoderWidths"),
            (#"textgan.encoderWidths=[{"width": 0, "filters": 4}]"#, "textgan.encoderWidths.0.width"),
            (#"textgan.encoderWidths=[{"width": 2, "filters": 0}]"#, "textgan.encoderWidths.0.filters"),
            (#"textgan.encoderWidths=[{"width": 40, "filters": 4}]"#, "textgan.encoderWidths.0.width"),
        ]
        for (setting, key) in bad {
            let result = try runProcess("textgan", ["train", corpus.path, "--algo", "textgan", "--set", setting, "--db", database,
                                                    "--root", packageRoot.path, "--min-examples", "16"])
            XCTAssertNotEqual(result.status, 0, "\(setting) was accepted")
            let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: true)
            XCTAssertEqual(lines.count, 1, "\(setting): \(result.stderr)")
            XCTAssertTrue(lines.first?.hasPrefix("Error: ") == true && lines.first!.contains(key), "\(setting): \(result.stderr)")
            XCTAssertFalse(result.stdout.contains("textgan train — run"), "\(setting) started a run")
        }
        if FileManager.default.fileExists(atPath: database) {
            XCTAssertEqual(try RunDatabase(path: database).runs().count, 0)
        }
    }
}

extension Child {
    /// `wait()`, but SIGKILLs the child first if it is still running after `timeout` (a value that made it hang).
    func wait(timeout: TimeInterval) -> Finished {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        return wait()
    }
}
