import Foundation
import Models
import NumericCore
import RunStore
import TestSupport
import Workbench
import XCTest

@testable import textgan

/// Two tiny runs trained once by the real binary: run 1 SeqGAN (with a discriminator), run 2 MLE (without), on
/// "the <adjective> <animal> <verb> ." sentences.
private struct TrainedRuns: Sendable {
    let directory: URL
    var database: String { directory.appendingPathComponent("runs/textgan.sqlite").path }
    var runs: URL { directory.appendingPathComponent("runs") }

    static func train() throws -> TrainedRuns {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("textgan-repl-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var state: UInt64 = 11
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        let adjectives = ["small", "big", "red", "quiet"], animals = ["cat", "dog", "bird", "fox"]
        let verbs = ["runs", "sleeps", "sings", "jumps"]
        let lines = (0..<200).map { _ in "the \(adjectives[next(4)]) \(animals[next(4)]) \(verbs[next(4)]) ." }
        let corpus = directory.appendingPathComponent("tiny.txt")
        try lines.joined(separator: "\n").write(to: corpus, atomically: true, encoding: .utf8)
        // Each algorithm reads its own sections (a section it does not read is an error), so MLE gets its own file.
        let common = """
            "generator": {"embeddingSize": 8, "hiddenSize": 16},
            "mle": {"epochs": 4, "batchSize": 16, "logEvery": 50, "evaluateEvery": 4}
            """
        let configs = [
            "seqgan": """
                {\(common),
                 "discriminator": {"embeddingSize": 8, "widths": [{"width": 2, "filters": 4}, {"width": 3, "filters": 4}]},
                 "seqgan": {"discriminatorPretrainRounds": 1, "discriminatorPretrainEpochs": 1, "adversarialSteps": 1,
                            "discriminatorRounds": 1, "discriminatorEpochs": 1, "rollouts": 2, "negatives": 32,
                            "generatorBatchSize": 8, "evaluateEvery": 1}}
                """,
            "mle": "{\(common)}",
        ]
        let runs = TrainedRuns(directory: directory)
        for (name, algorithm) in [("gan", "seqgan"), ("mle", "mle")] {
            let config = directory.appendingPathComponent("\(algorithm).json")
            try configs[algorithm]!.write(to: config, atomically: true, encoding: .utf8)
            let result = try runProcess("textgan", [
                "train", corpus.path, "--config", config.path, "--algo", algorithm, "--name", name,
                "--db", runs.database, "--root", packageRoot.path, "--min-examples", "16",
            ])
            guard result.status == 0 else {
                throw REPLError("training the \(algorithm) fixture failed: \(result.stderr) \(result.stdout.suffix(1000))")
            }
        }
        return runs
    }
}

final class REPLTests: XCTestCase {
    nonisolated(unsafe) private static var trained: Result<TrainedRuns, Error>?

    override class func setUp() {
        super.setUp()
        trained = Result { try TrainedRuns.train() }
    }

    override class func tearDown() {
        if case .success(let runs) = trained { try? FileManager.default.removeItem(at: runs.directory) }
        super.tearDown()
    }

    private var runs: TrainedRuns {
        get throws {
            guard let trained = Self.trained else { throw REPLError("fixture not set up") }
            return try trained.get()
        }
    }

    /// A session on run 1 (SeqGAN) whose output is collected in `output`.
    private final class Harness {
        var output: [String] = []
        var session: REPLSession!
        var cancelAfter: Int?
        private var checks = 0

        init(runs: TrainedRuns, reference: String = "1") throws {
            let database = try DatabaseOptions.parse(["--db", runs.database])
            let model = try LoadedRun.load(reference, runsDirectory: runs.runs)
            session = REPLSession(
                model: model, name: REPLSession.name(of: reference), database: database,
                write: { [unowned self] text in
                    // Plain text even when the tests run on a terminal (tables colour their headers there).
                    let plain = text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
                    output += plain.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                },
                isCancelled: { [unowned self] in
                    checks += 1
                    return cancelAfter.map { checks > $0 } ?? false
                })
        }

        /// Runs a line and returns what it printed.
        @discardableResult
        func run(_ line: String) throws -> [String] {
            output = []
            XCTAssertEqual(try session.handle(line), .proceed, line)
            return output
        }

        func error(_ line: String, file: StaticString = #filePath, lineNumber: UInt = #line) -> String {
            output = []
            do {
                _ = try session.handle(line)
                XCTFail("'\(line)' should have been refused; printed \(output)", file: file, line: lineNumber)
                return ""
            } catch let error as REPLError {
                XCTAssertFalse(error.description.contains("\n"), "errors are one line: \(error)", file: file, line: lineNumber)
                return error.description
            } catch {
                XCTFail("'\(line)' threw \(error), not a REPLError", file: file, line: lineNumber)
                return ""
            }
        }
    }

    // MARK: - The interpreter

    func testSettingCommandsChangeTheSettings() throws {
        let repl = try Harness(runs: runs)
        let maxLength = repl.session.model.generator.maxLength
        try repl.run("/n 3")
        try repl.run("/temperature 0.7")
        try repl.run("/top-k 4")
        try repl.run("/top-p 0.9")
        try repl.run("/max-len \(maxLength - 1)")
        let echoed = try repl.run("/seed 7")
        XCTAssertEqual(echoed, ["n 3 · temperature 0.7 · top-k 4 · top-p 0.9 · max-len \(maxLength - 1) · seed 7"])
        var expected = REPLSession.Settings()
        expected.count = 3
        expected.sampling = SamplingOptions(temperature: 0.7, topK: 4, topP: 0.9, maxLength: maxLength - 1)
        expected.seed = 7
        XCTAssertEqual(repl.session.settings, expected)
        let shown = try repl.run("/settings").joined(separator: "\n")
        for item in ["run 1: seqgan", "temperature  0.7", "top-k        4", "top-p        0.9", "seed         7"] {
            XCTAssertTrue(shown.contains(item), "/settings lacks '\(item)':\n\(shown)")
        }
        try repl.run("/top-k off")
        try repl.run("/top-p off")
        try repl.run("/max-len off")
        XCTAssertNil(repl.session.settings.sampling.topK)
        XCTAssertNil(repl.session.settings.sampling.topP)
        XCTAssertNil(repl.session.settings.sampling.maxLength)
    }

    func testGenerationConstraintsAreSettingsThatSamplingUses() throws {
        let repl = try Harness(runs: runs)
        let maxLength = repl.session.model.generator.maxLength
        try repl.run("/n 5")
        try repl.run("/min-len 4")
        try repl.run("/no-repeat-ngram 2")
        let echoed = try repl.run("/repetition-penalty 1.3")
        XCTAssertEqual(echoed.first?.hasSuffix("seed 0 · repetition-penalty 1.3 · no-repeat-ngram 2 · min-len 4"), true, "\(echoed)")
        XCTAssertEqual(repl.session.settings.sampling,
                       SamplingOptions(repetitionPenalty: 1.3, noRepeatNGramSize: 2, minLength: 4))
        // Other settings keep them; the samples are the generator's under the same options and seed.
        try repl.run("/temperature 0.8")
        XCTAssertEqual(repl.session.settings.sampling.noRepeatNGramSize, 2)
        try repl.run("/seed 3")
        let samples = try repl.run("")
        var rng = SeededGenerator(seed: 3)
        let generator = repl.session.model.generator
        XCTAssertEqual(samples, generator.sample(count: 5, options: repl.session.settings.sampling, using: &rng)
            .map { repl.session.model.render($0) })
        for (line, message) in [("/min-len \(maxLength)", "/min-len takes a whole number in 0…\(maxLength - 1)"),
                                ("/no-repeat-ngram 0", "/no-repeat-ngram takes a whole number ≥ 1 or 'off'"),
                                ("/repetition-penalty 0", "/repetition-penalty must be a number above 0"),
                                ("/repetition-penalty x", "/repetition-penalty takes a number or 'off'")] {
            XCTAssertTrue(repl.error(line).contains(message), "'\(line)' → '\(repl.error(line))'")
        }
        try repl.run("/min-len off")
        try repl.run("/no-repeat-ngram off")
        try repl.run("/repetition-penalty off")
        XCTAssertFalse(repl.session.settings.sampling.constrainsHistory)
        XCTAssertTrue(try repl.run("/help").joined().contains("/no-repeat-ngram 3"))
    }

    func testBadArgumentsAndUnknownCommandsAreOneLineErrorsThatChangeNothing() throws {
        let repl = try Harness(runs: runs)
        let before = repl.session.settings
        let maxLength = repl.session.model.generator.maxLength
        let refused: [(String, String)] = [
            ("/n 0", "/n takes a whole number in 1…100000"), ("/n abc", "not 'abc'"), ("/n", "/n takes"),
            ("/n 100001", "/n takes"), ("/temperature -1", "≥ 0"), ("/temperature nan", "/temperature takes a number"),
            ("/temperature", "/temperature takes"), ("/top-k 0", "/top-k takes a whole number ≥ 1 or 'off'"),
            ("/top-k 2.5", "/top-k"), ("/top-p 1.5", "(0, 1]"), ("/top-p 0", "(0, 1]"), ("/top-p x", "/top-p takes"),
            ("/max-len \(maxLength + 1)", "in 1…\(maxLength)"), ("/max-len 0", "/max-len"), ("/seed -1", "/seed"),
            ("/seed", "/seed"), ("/settings now", "takes no argument"), ("/runs 3", "takes no argument"),
            ("/bogus", "unknown command /bogus"), ("/", "unknown command"), ("/score", "usage: /score"),
            ("/score   ", "usage: /score"), ("/load", "usage: /load"), ("/sql", "usage: /sql"),
            ("/latent 1,2", "has no latent code"), ("/latent seed:x", "/latent seed:N needs a whole number"),
        ]
        for (line, message) in refused {
            let error = repl.error(line)
            XCTAssertTrue(error.contains(message), "'\(line)' → '\(error)', expected '\(message)'")
        }
        XCTAssertEqual(repl.session.settings, before)
    }

    func testPromptsSampleContinuationsAndASeedReplaysThem() throws {
        let repl = try Harness(runs: runs)
        try repl.run("/n 6")
        let continued = try repl.run("the big")
        XCTAssertEqual(continued.count, 6)
        XCTAssertTrue(continued.allSatisfy { $0.hasPrefix("the big") }, "\(continued)")

        try repl.run("/seed 7")
        let first = try repl.run("")
        XCTAssertEqual(first.count, 6, "an empty line samples unconditionally")
        let following = try repl.run("")
        try repl.run("/seed 7")
        XCTAssertEqual(try repl.run(""), first, "the same seed and settings give the same samples")
        XCTAssertNotEqual(following, first, "the random stream continues between prompts")
        // The generator agrees: the REPL samples exactly what the model samples from that seed.
        var rng = SeededGenerator(seed: 7)
        let direct = repl.session.model.generator.sample(count: 6, using: &rng).map { repl.session.model.render($0) }
        XCTAssertEqual(first, direct)

        // /max-len cuts every sample; greedy decoding is deterministic.
        try repl.run("/max-len 2")
        let short = try repl.run("")
        XCTAssertEqual(short.count, 6)
        XCTAssertTrue(short.allSatisfy { $0.split(separator: " ").count <= 2 }, "\(short)")
        var limited = SeededGenerator(seed: 1)
        let generator = repl.session.model.generator
        XCTAssertEqual(generator.sample(count: 50, options: SamplingOptions(maxLength: 2), using: &limited).map(\.count).max(), 2)
        XCTAssertGreaterThan(generator.sample(count: 50, using: &limited).map(\.count).max()!, 2, "without the cap, longer")
        try repl.run("/temperature 0")
        let greedy = try repl.run("the")
        XCTAssertEqual(Set(greedy).count, 1, "greedy samples are all the same: \(greedy)")
        XCTAssertTrue(repl.error("the big cat").contains("samples have at most 2"))
    }

    func testUnknownTokensAreShownAndNeverFatal() throws {
        let repl = try Harness(runs: runs)
        try repl.run("/n 2")
        let sampled = try repl.run("the zebra")
        XCTAssertEqual(sampled.first, "note: not in the vocabulary, read as <unk>: ⟨unk:zebra⟩")
        XCTAssertEqual(sampled.count, 3)
        let slash = try repl.run("//the")
        XCTAssertTrue(slash.first?.contains("⟨unk:/⟩") ?? false, "'//the' is the text '/the': \(slash)")
        let scored = try repl.run("/score the zebra flies").joined(separator: "\n")
        XCTAssertTrue(scored.contains("⟨unk:zebra⟩") && scored.contains("⟨unk:flies⟩"), scored)
        XCTAssertTrue(try repl.run("/next the zebra").first?.contains("⟨unk:zebra⟩") ?? false)
    }

    func testNextListsTheModelsMostLikelyTokens() throws {
        let repl = try Harness(runs: runs)
        let model = repl.session.model
        let lines = try repl.run("/next the big")
        XCTAssertEqual(lines.first, "next token after 2 tokens, top 10 of \(model.generator.vocabularySize):")
        let rows = lines.dropFirst(3).map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(rows.count, 10)
        let expected = model.generator.nextTokenLogProbabilities(after: try model.encode("the big").ids)
        let best = expected.indices.max { expected[$0] < expected[$1] }!
        XCTAssertEqual(rows[0][1], model.tokenName(Int32(best)))
        XCTAssertEqual(Double(rows[0][3])!, exp(Double(expected[best])), accuracy: 1e-4)
        let probabilities = rows.map { Double($0[3])! }
        XCTAssertEqual(probabilities, probabilities.sorted(by: >))
        XCTAssertEqual(Double(rows[9][5])!, probabilities.reduce(0, +), accuracy: 1e-3)
        try repl.run("/top-k 3")
        XCTAssertEqual(try repl.run("/next").count, 3 + 3, "top-k rows after the header, rule and title")
    }

    /// /next's distribution is the one teacher forcing scores: log G(s_t | s_<t) both ways.
    func testNextTokenDistributionAgreesWithTeacherForcedLikelihood() throws {
        let model = try LoadedRun.load("1", runsDirectory: runs.runs)
        let ids = try model.encode("the red fox sings .").ids + [model.generator.endToken!]
        let teacherForced = model.generator.tokenLogProbabilities(TokenBatch(sequences: [ids], length: ids.count))
        for t in ids.indices {
            let next = model.generator.nextTokenLogProbabilities(after: Array(ids[..<t]))
            XCTAssertEqual(next[Int(ids[t])], teacherForced[t], accuracy: 1e-5, "token \(t)")
            XCTAssertEqual(next.reduce(0) { $0 + Double(exp($1)) }, 1, accuracy: 1e-4)
        }
    }

    func testScoreReportsLikelihoodAndTheDiscriminatorsVerdict() throws {
        let repl = try Harness(runs: runs)
        let model = repl.session.model
        let lines = try repl.run("/score the big cat runs .")
        let ids = try model.encode("the big cat runs .").ids + [model.generator.endToken!]
        XCTAssertEqual(lines.dropFirst(2).prefix(ids.count).map { $0.split(separator: " ")[0] },
                       ["the", "big", "cat", "runs", ".", "<eos>"])
        // The mean NLL is the generator's own masked MLE loss on that sequence.
        let nll = model.generator.weightedNLL(TokenBatch(sequences: [ids], length: ids.count), backward: false)
        let summary = try XCTUnwrap(lines.first { $0.hasPrefix("mean NLL") })
        XCTAssertEqual(Double(summary.split(separator: " ")[2])!, Double(nll), accuracy: 1e-3, summary)
        XCTAssertTrue(summary.contains("over 6 tokens"), summary)
        let probability = model.discriminator!.probabilityReal([ids])[0]
        XCTAssertEqual(lines.last, "D(real) \(String(format: "%.4f", probability))")

        try repl.run("/load 2")
        XCTAssertEqual(try repl.run("/score the big cat").last, "D(real) — (mle run: no discriminator)")
    }

    func testScoreOfAHugeLineIsRefusedWithItsBound() throws {
        // A line of 20,000 tokens (its log-probabilities would be 20,000 × the vocabulary), and one of 1M bytes.
        let repl = try Harness(runs: runs)
        let long = Array(repeating: "cat", count: 20_000).joined(separator: " ")
        XCTAssertEqual(repl.error("/score " + long), "/score reads at most 10,000 tokens (this text has 20,001): one "
            + "log-probability per vocabulary entry per token must fit in 512 MiB; score a shorter piece")
        let blob = repl.error("/score " + String(repeating: "catdog ", count: 150_000))
        XCTAssertTrue(blob.contains("at most 10,000 tokens, and this text is 1,049,999 bytes"), blob)
        XCTAssertEqual(REPLSession.scoreLimit(vocabularySize: 50_000), 2_684)
        // Up to the bound it scores.
        let lines = try repl.run("/score " + Array(repeating: "cat", count: 300).joined(separator: " "))
        XCTAssertTrue(lines.contains { $0.hasPrefix("mean NLL") && $0.contains("over 301 tokens") }, "\(lines.suffix(3))")
    }

    func testCtrlCCancelsAGeneration() throws {
        let repl = try Harness(runs: runs)
        try repl.run("/n 5000")
        repl.cancelAfter = 3  // the sampler checks between steps: stop during the first batch
        XCTAssertEqual(try repl.run(""), ["cancelled"])
        repl.cancelAfter = nil
        try repl.run("/n 2")
        XCTAssertEqual(try repl.run("the").count, 2, "the session goes on after a cancellation")
    }

    func testLoadSwitchesModelsAndRefusesWhatIsNotThere() throws {
        let runs = try self.runs
        let repl = try Harness(runs: runs)
        try repl.run("/max-len 3")
        let loaded = try repl.run("/load 2")
        XCTAssertEqual(loaded.last?.hasPrefix("run 2: mle on"), true, "\(loaded)")
        XCTAssertEqual(repl.session.modelName, "run 2")
        XCTAssertNil(repl.session.model.discriminator)
        XCTAssertEqual(repl.session.settings.sampling.maxLength, 3, "settings survive a /load")

        // A run without a checkpoint (an empty run directory), a missing run, a missing or bogus file.
        try FileManager.default.createDirectory(at: runs.runs.appendingPathComponent("9"), withIntermediateDirectories: true)
        XCTAssertTrue(repl.error("/load 9").contains("run 9 has no latest checkpoint"))
        XCTAssertTrue(repl.error("/load 77").contains("cannot load 77"))
        XCTAssertTrue(repl.error("/load \(runs.directory.path)/nope.safetensors").contains("cannot load"))
        XCTAssertTrue(repl.error("/load \(runs.directory.appendingPathComponent("tiny.json").path)").contains("cannot load"))
        XCTAssertEqual(repl.session.modelName, "run 2", "a failed /load keeps the model")
        try repl.run("/load \(runs.runs.appendingPathComponent("1/latest.safetensors").path)")
        XCTAssertEqual(repl.session.modelName, "latest.safetensors")
        XCTAssertNotNil(repl.session.model.discriminator)
    }

    func testRunsAndReadOnlySQL() throws {
        let repl = try Harness(runs: runs)
        let table = try repl.run("/runs")
        XCTAssertTrue(table[0].hasPrefix("id  name"), "\(table)")
        XCTAssertEqual(table.dropFirst(2).map { $0.split(separator: " ")[0] }, ["2", "1"], "newest first")
        XCTAssertEqual(try repl.run("/sql SELECT name, algorithm FROM runs ORDER BY id"),
                       ["name  algorithm", "----  ---------", "gan   seqgan", "mle   mle", "(2 rows)"])
        XCTAssertTrue(repl.error("/sql DELETE FROM runs").contains("read-only"))
        XCTAssertTrue(repl.error("/sql SELEC 1").contains("syntax error"))
        XCTAssertEqual(try repl.run("/sql SELECT count(*) AS n FROM runs").dropFirst(2).first, "2")
    }

    func testInvalidUTF8IsReportedAndNotDecoded() throws {
        let repl = try Harness(runs: runs)
        XCTAssertThrowsError(try repl.session.handle(bytes: [0x74, 0x68, 0xC3, 0x28, 0x65])) {
            XCTAssertEqual("\($0)", "the line is not valid UTF-8 (byte 2 of 5); ignored")
        }
        XCTAssertThrowsError(try repl.session.handle(bytes: [0x2F, 0x6E, 0x20, 0xFF]))
        XCTAssertEqual(repl.session.settings.count, REPLSession.Settings().count)
        XCTAssertEqual(try repl.session.handle(bytes: Array("/n 2".utf8)), .proceed)
        XCTAssertEqual(repl.session.settings.count, 2)
    }

    func testHelpListsEveryCommandAndQuitEnds() throws {
        let repl = try Harness(runs: runs)
        let help = try repl.run("/help").joined(separator: "\n")
        for command in ["/n", "/temperature", "/top-k", "/top-p", "/max-len", "/latent", "/seed", "/settings", "/next", "/score",
                        "/load", "/runs", "/sql", "/help", "/quit", "Ctrl-C"] {
            XCTAssertTrue(help.contains(command), "/help lacks \(command)")
        }
        XCTAssertEqual(try repl.session.handle("/quit"), .quit)
        XCTAssertEqual(try repl.session.handle("/exit\r\n"), .quit)
    }

    func testTabCompletesEveryCommandOfTheHelpAndOnlyCommands() throws {
        let repl = try Harness(runs: runs)
        // The words Tab offers are the commands /help lists, each of which the REPL knows.
        let listed = REPLSession.help.split(separator: "\n").compactMap { line -> String? in
            let word = line.trimmingCharacters(in: .whitespaces).prefix { !$0.isWhitespace }
            return word.hasPrefix("/") && !word.hasPrefix("//") ? String(word) : nil
        }
        XCTAssertEqual(Set(REPLSession.commandWords), Set(listed))
        XCTAssertEqual(REPLSession.commandWords.count, listed.count)
        for word in REPLSession.commandWords where word != "/quit" {
            do { _ = try repl.session.handle(word) } catch {
                XCTAssertFalse("\(error)".contains("unknown command"), "\(word): \(error)")
            }
        }
    }

    // MARK: - End to end

    func testAScriptThroughAPipe() throws {
        let runs = try self.runs
        let script = "/n 3\nthe big\n/score the big cat runs .\r\n/seed 3\n/quit\nthe small\n"
        let result = try runProcess("textgan", ["repl", "1", "--db", runs.database], input: Data(script.utf8))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertFalse(result.stdout.contains("\u{1B}["), "no ANSI when not a terminal")
        XCTAssertFalse(lines.contains { $0.hasSuffix("> ") || $0.contains("/help lists") }, "no prompt or banner")
        XCTAssertEqual(lines.filter { $0.hasPrefix("the big") && !$0.hasPrefix("the big cat runs") }.count, 3, result.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("D(real) 0.") }, result.stdout)
        XCTAssertTrue(lines.last!.hasSuffix("seed 3"), "nothing runs after /quit: \(result.stdout)")

        // Without a run id: the most recent finished run (2). A failing line is reported, the rest still runs,
        // and the exit status says something failed.
        var bad = Data("/bogus\n".utf8)
        bad.append(contentsOf: [0x74, 0xFF, 0x0A])
        bad.append(Data("/settings".utf8))  // a last line without a newline counts
        let failing = try runProcess("textgan", ["repl", "--db", runs.database], input: bad)
        XCTAssertEqual(failing.status, 1)
        XCTAssertEqual(failing.stderr.split(separator: "\n").count, 2, failing.stderr)
        XCTAssertTrue(failing.stderr.contains("Error: unknown command /bogus"), failing.stderr)
        XCTAssertTrue(failing.stderr.contains("not valid UTF-8 (byte 1 of 2)"), failing.stderr)
        XCTAssertTrue(failing.stdout.hasPrefix("run 2: mle"), failing.stdout)
    }

    func testAnEmptyStoreOrModelDirectoryIsAClearError() throws {
        let empty = try temporaryDirectory(self)
        let noStore = try runProcess("textgan", ["repl", "--db", empty.appendingPathComponent("textgan.sqlite").path],
                                     input: Data())
        XCTAssertNotEqual(noStore.status, 0)
        XCTAssertTrue(noStore.stderr.contains("no run store at"), noStore.stderr)
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("4"), withIntermediateDirectories: true)
        let noCheckpoint = try runProcess("textgan", ["repl", "4", "--db", empty.appendingPathComponent("textgan.sqlite").path],
                                          input: Data())
        XCTAssertNotEqual(noCheckpoint.status, 0)
        XCTAssertTrue(noCheckpoint.stderr.contains("run 4 has no latest checkpoint"), noCheckpoint.stderr)
    }

    /// Under a pseudo-terminal (util-linux `script`): line editing with history kept in runs/.repl_history, Ctrl-C
    /// cancelling the typed line and a running generation without leaving, Ctrl-D leaving.
    func testATerminalSessionKeepsHistoryAndSurvivesCtrlC() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            throw XCTSkip("util-linux `script` is not installed; the pseudo-terminal test needs it")
        }
        let runs = try self.runs
        let history = runs.runs.appendingPathComponent(".repl_history")
        try? FileManager.default.removeItem(at: history)
        // `script` runs the command through $SHELL -c. The shell must exec textgan rather than wait for it: a waiting
        // shell (dash, when SHELL is unset) shares the terminal's foreground group, receives the Ctrl-C itself, and
        // exits 130 after textgan has ended normally.
        let command = "exec " + [try executable("textgan").path, "repl", "1", "--db", runs.database].map { "'\($0)'" }.joined(separator: " ")
        /// Types each step's keys, then waits for its text to appear (or, when nil, half a second).
        func session(_ steps: [(keys: String, waitFor: String?)]) throws -> (Finished, String) {
            let input = Pipe()
            let child = try Child(URL(fileURLWithPath: "/usr/bin/script"), ["-qfec", command, "/dev/null"],
                                  environment: ["TERM": "xterm", "NO_COLOR": "1", "SHELL": "/bin/sh"], input: input)
            XCTAssertTrue(child.waitForOutput("run 1> "), child.stdout)
            for (keys, waitFor) in steps {
                try input.fileHandleForWriting.write(contentsOf: Data(keys.utf8))
                if let waitFor {
                    XCTAssertTrue(child.waitForOutput(waitFor, timeout: 60), "waiting for \(waitFor): \(child.stdout)")
                } else {
                    Thread.sleep(forTimeInterval: 0.5)
                }
            }
            let finished = child.wait()
            try? input.fileHandleForWriting.close()
            return (finished, finished.stdout.replacingOccurrences(of: "\r", with: ""))
        }

        let (first, transcript) = try session([
            ("/n 2\r", "seed 0"),
            ("/quit\u{03}", "^C"),                 // Ctrl-C drops the typed line (it would have ended the session)…
            ("/settings\r", "seed         0"),     // …and the prompt goes on
            ("/n 100000\r", "n 100000"),
            ("\r", "sampling 100000 sequences"),    // announced once sampling, not the prompt, has the terminal
            ("\u{03}", "cancelled"),               // Ctrl-C stops the long generation
            ("/score the cat\r", "D(real)"),
            ("\u{04}", nil),                       // Ctrl-D leaves
        ])
        XCTAssertEqual(first.status, 0, "exit status \(first.status): \(transcript)")
        XCTAssertLessThan(transcript.split(separator: "\n").count, 100, "the generation was cut short: \(transcript.prefix(2000))")
        let saved = try String(contentsOf: history, encoding: .utf8)
        XCTAssertTrue(saved.contains("/settings") && saved.contains("/score"), saved)
        XCTAssertFalse(saved.contains("/quit"), "a cancelled line is not kept: \(saved)")

        // A new session recalls the previous one's lines: Up, Enter runs "/score the cat" again.
        let (second, recalled) = try session([("\u{1B}[A\r", "D(real)"), ("/quit\r", nil)])
        XCTAssertEqual(second.status, 0, "exit status \(second.status): \(recalled)")
        XCTAssertEqual(recalled.components(separatedBy: "D(real)").count - 1, 1, recalled)

        // Tab completes a slash command at the start of the line: "/repe" is no command, "/repetition-penalty" is.
        let (third, completed) = try session([("/repe\t1.3\r", "repetition-penalty 1.3"), ("/quit\r", nil)])
        XCTAssertEqual(third.status, 0, completed)
        XCTAssertFalse(completed.contains("unknown command"), completed)
    }
}
