import Foundation
import Metrics
import RunStore
import TestSupport
import TextPipeline
import Workbench
import XCTest

@testable import textgan

/// The scoring shared by training and `eval`, on hand-made samples: no model, no process.
final class EvaluationScoringTests: XCTestCase {
    // Given a vocabulary that lacks some test-split words (min count 2),
    let train = [["a", "cat", "sits"], ["a", "dog", "sits"], ["a", "cat", "runs"], ["a", "dog", "runs"],
                 ["the", "cat", "sits"], ["the", "dog", "runs"]]
    let test = [["a", "zebra", "sits", "here"], ["the", "cat", "runs"], ["a", "dog", "sits", "quietly", "zebra"]]
    lazy var vocabulary = Vocabulary.build(from: train, config: TokenizerConfig(mode: .space), minCount: 2)

    func testBLEUOfSamplesEqualsMetricsBLEUOnTheDecodedTokens() throws {
        XCTAssertFalse(vocabulary.contains("zebra"))
        let id = vocabulary.id(of:)
        let (pad, bos, eos, unk) = (Vocabulary.pad, Vocabulary.bos, Vocabulary.eos, Vocabulary.unk)
        // and samples as a generator emits them: <unk> where the reference has an unknown word, tokens after
        // <eos>, a stray <pad> and <bos>, one without <eos> at all, one empty,
        let samples: [[Int32]] = [
            [id("a"), unk, id("sits"), eos, id("cat"), id("cat")],
            [id("the"), pad, id("cat"), id("runs"), eos],
            [bos, id("a"), id("dog"), id("sits"), unk, unk],
            [eos, id("dog")],
            [id("a"), unk, id("sits"), id("the"), eos],
        ]
        let tokens = ScoringTokens(vocabulary: vocabulary)
        let evaluator = BLEUEvaluator(
            references: ReferenceSet(name: "t:test", sentences: tokens.corpus(test), maxOrder: 5),
            orders: [2, 3, 4, 5], smoothing: .method1)

        // when the evaluator scores them,
        let scores = evaluator.scores(samples.map(tokens.sample), selfBLEU: true, threads: 2)

        // then every score equals Metrics' BLEU and Self-BLEU of the decoded token strings.
        let decoded = samples.map { vocabulary.decode($0, stopAtEOS: true, skipPadAndBOS: true) }
        XCTAssertEqual(decoded[0], ["a", "<unk>", "sits"])
        let expected = Metrics.bleu(hypotheses: decoded, references: test)
        let expectedSelf = Metrics.selfBLEU(decoded)
        for (k, n) in [2, 3, 4, 5].enumerated() {
            XCTAssertEqual(scores["bleu\(n)"]!, expected[k].mean, accuracy: 1e-12, "BLEU-\(n)")
            XCTAssertEqual(scores["self_bleu\(n)"]!, expectedSelf[k].mean, accuracy: 1e-12, "Self-BLEU-\(n)")
        }
        XCTAssertEqual(Set(scores.keys).count, 8)
        // The mapping matters: encoding the references with the vocabulary (unknown words → <unk>) lets a sampled
        // <unk> match "zebra", and BLEU comes out higher.
        let naive = Metrics.bleu(hypotheses: samples.map(tokens.sample), references: test.map { vocabulary.encode($0) })
        XCTAssertGreaterThan(naive[0].mean, expected[0].mean + 1e-3)
    }

    func testUnknownReferenceWordsGetDistinctIDsAboveTheVocabulary() {
        let ids = ScoringTokens(vocabulary: vocabulary).corpus(test)
        let zebra = ids[0][1]
        XCTAssertGreaterThanOrEqual(Int(zebra), vocabulary.count)
        XCTAssertEqual(ids[2][4], zebra, "the same unknown word gets the same id")
        XCTAssertNotEqual(ids[2][3], zebra, "another unknown word gets another id")
        XCTAssertEqual(ids[1], vocabulary.encode(["the", "cat", "runs"]))
        // The oracle's ids are used as they are.
        XCTAssertEqual(ScoringTokens(vocabulary: nil).sample([5, 2, 0, 1]), [5, 2, 0, 1])
    }

    func testEvaluationSettingsDecodeOldConfigsWithoutBLEUAndValidate() throws {
        // A config stored before BLEU evaluation existed keeps training without it.
        let old = try JSONDecoder().decode(EvaluationSettings.self, from: Data(#"{"nllOracleSamples": 7, "testNLL": true}"#.utf8))
        XCTAssertEqual(old.nllOracleSamples, 7)
        XCTAssertEqual(old.bleuSamples, 0)
        XCTAssertEqual(old.bleuOrders, [2, 3, 4, 5])
        // New configs score 2,000 samples (1,000 with the quick preset), and round-trip.
        let fresh = EvaluationSettings()
        XCTAssertEqual(fresh.bleuSamples, 2_000)
        XCTAssertEqual(RunConfig.defaults(corpus: "coco", preset: .quick).evaluation.bleuSamples, 1_000)
        XCTAssertEqual(try JSONDecoder().decode(EvaluationSettings.self, from: JSONEncoder().encode(fresh)), fresh)
        var bad = fresh
        bad.bleuOrders = [2, 12]
        XCTAssertThrowsError(try bad.validate())
        bad = fresh
        bad.bleuSamples = -1
        XCTAssertThrowsError(try bad.validate())
        XCTAssertNoThrow(try fresh.validate())
        // A --config file may set them.
        let merged = try RunConfig.defaults(corpus: "coco", preset: nil).merging(
            json: Data(#"{"evaluation": {"bleuSamples": 500, "bleuSmoothing": "method0", "selfBLEU": false}}"#.utf8),
            source: "e.json")
        XCTAssertEqual(merged.evaluation.bleuSamples, 500)
        XCTAssertEqual(merged.evaluation.bleuSmoothing, .method0)
        XCTAssertFalse(merged.evaluation.selfBLEU)
    }

    func testEvalArgumentsParseAndContradictionsAreRejected() throws {
        let sweep = try EvalCommand.parse(["3", "--sweep", "0.5, 0.7,1.0"])
        XCTAssertEqual(sweep.temperatures, [0.5, 0.7, 1.0])
        XCTAssertEqual(sweep.sampleCount, 10_000)
        XCTAssertEqual(sweep.references, "test")
        XCTAssertEqual(try EvalCommand.parse(["3"]).temperatures, [1])
        XCTAssertEqual(try EvalCommand.parse(["3", "--temperature", "0.8"]).temperatures, [0.8])
        XCTAssertThrowsError(try EvalCommand.parse(["3", "--sweep", "0.5", "--temperature", "1"]))
        XCTAssertThrowsError(try EvalCommand.parse(["3", "--sweep", "0.5,hot"]))
        XCTAssertThrowsError(try EvalCommand.parse(["3", "--sweep", "0.5,0.5"]))
        XCTAssertThrowsError(try EvalCommand.parse(["3", "--temperature", "-1"]))
        XCTAssertThrowsError(try EvalCommand.parse(["3", "--samples", "0"]))
        XCTAssertThrowsError(try EvalCommand.parse(["3", "--top-p", "1.5"]))
        XCTAssertThrowsError(try EvalCommand.parse(["3", "--smoothing", "method7"]))
    }
}

/// Training with BLEU evaluation, then `textgan eval`, end to end on one tiny MLE run (trained once for the class).
final class EvalEndToEndTests: XCTestCase {
    nonisolated(unsafe) static var directory: URL!
    nonisolated(unsafe) static var trainResult: Finished!
    /// What training recorded, before any test evaluated the run.
    nonisolated(unsafe) static var trainingRows: [Evaluation] = []
    static var database: String { directory.appendingPathComponent("runs/textgan.sqlite").path }
    var database: String { Self.database }
    let bleuSamples = 40

    override class func setUp() {
        super.setUp()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("textgan-eval-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // "the <adjective> <animal> <verb> ." sentences, as in TrainEndToEndTests.
        var state: UInt64 = 11
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        let adjectives = ["small", "big", "red", "quiet"], animals = ["cat", "dog", "bird", "fox"]
        let verbs = ["runs", "sleeps", "sings", "jumps"]
        let lines = (0..<240).map { _ in "the \(adjectives[next(4)]) \(animals[next(4)]) \(verbs[next(4)]) ." }
        try! lines.joined(separator: "\n").write(to: directory.appendingPathComponent("tiny.txt"), atomically: true, encoding: .utf8)
        let config = """
            {"generator": {"embeddingSize": 8, "hiddenSize": 16},
             "mle": {"epochs": 30, "batchSize": 16, "logEvery": 50, "evaluateEvery": 10},
             "evaluation": {"bleuSamples": 40}}
            """
        try! config.write(to: directory.appendingPathComponent("tiny.json"), atomically: true, encoding: .utf8)
        trainResult = try! runProcess("textgan", [
            "train", directory.appendingPathComponent("tiny.txt").path, "--algo", "mle",
            "--config", directory.appendingPathComponent("tiny.json").path,
            "--db", database, "--root", packageRoot.path, "--min-examples", "16",
        ])
        trainingRows = (try? RunDatabase(path: database).evaluations(run: 1)) ?? []
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(at: directory)
        super.tearDown()
    }

    override func setUpWithError() throws {
        XCTAssertEqual(Self.trainResult.status, 0, Self.trainResult.stderr + Self.trainResult.stdout.suffix(2000))
        try XCTSkipIf(Self.trainResult.status != 0, "the tiny training run failed")
    }

    private func eval(_ arguments: [String]) throws -> Finished {
        try runProcess("textgan", ["eval"] + arguments + ["--db", database, "--root", packageRoot.path])
    }

    private var store: RunDatabase { get throws { try RunDatabase(path: database) } }

    /// The split sizes the training run printed ("216 training sequences, 24 test").
    private var splits: (train: Int, test: Int) {
        let line = Self.trainResult.stdout.split(separator: "\n").first { $0.contains(" training sequences, ") }!
        let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        return (numbers[0], numbers[1])
    }

    func testTrainingRecordsBLEUAndSelfBLEUWithTheirProtocolAtEveryEvaluation() throws {
        let rows = Self.trainingRows
        let nllSteps = rows.filter { $0.metric == "nll_test" }.map(\.step)
        XCTAssertEqual(nllSteps.count, 3, "one evaluation every 10 epochs")
        let testCount = rows.first { $0.metric == "nll_test" }!.referenceCount!
        for n in 2...5 {
            let bleu = rows.filter { $0.metric == "bleu\(n)" }
            XCTAssertEqual(bleu.map(\.step), nllSteps, "bleu\(n) at every evaluation")
            for row in bleu {
                XCTAssertEqual(row.evaluationProtocol, EvaluationProtocol(
                    sampleCount: bleuSamples, referenceSet: "tiny:test", referenceCount: testCount,
                    tokenizer: "mode=word lowercase=false normalization=nfc max-length=none", smoothing: "method1",
                    seed: 2017, temperature: 1))
                XCTAssertTrue((0...1).contains(row.value), "\(row.value)")
            }
            let selfBLEU = rows.filter { $0.metric == "self_bleu\(n)" }
            XCTAssertEqual(selfBLEU.map(\.step), nllSteps)
            XCTAssertEqual(selfBLEU.first?.referenceSet, "self")
            XCTAssertEqual(selfBLEU.first?.referenceCount, bleuSamples - 1)
        }
        // The structured corpus is learnt: BLEU-2 ends far above an untrained generator's (about 0.2 here).
        let bleu2 = rows.filter { $0.metric == "bleu2" }.map(\.value)
        XCTAssertGreaterThan(bleu2.last!, 0.8)
        // The console shows them too.
        XCTAssertTrue(Self.trainResult.stdout.contains("bleu4 "), Self.trainResult.stdout.suffix(2000).description)
    }

    func testEvalScoresEveryMetricAndStoresItWithItsProtocol() throws {
        let before = try store.evaluations(run: 1)
        let lastTrainingStep = before.map(\.step).max()!

        let result = try eval(["1", "--samples", "200", "--seed", "5"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let (trainCount, testCount) = splits
        for text in ["bleu2", "bleu5", "self_bleu4", "rouge_l", "distinct1", "distinct4", "memorisation_rate",
                     "longest_copied", "nll_test", "T=1", "references    tiny:test (\(testCount) sentences)",
                     "ms_jaccard4", "nll_gen_train", "recorded 22 scores"] {
            XCTAssertTrue(result.stdout.contains(text), "missing \(text) in\n\(result.stdout)")
        }

        let added = try store.evaluations(run: 1).filter { row in !before.contains { $0.id == row.id } }
        XCTAssertEqual(added.count, 22)  // bleu 4, self-bleu 4, rouge_l, ms-jaccard 4, distinct 4, memorisation 3, nll_test, nll_gen_train
        XCTAssertTrue(added.allSatisfy { $0.step == lastTrainingStep }, "at the latest checkpoint's step")
        try assertEveryRecordedMetricIsCatalogued(database)
        func row(_ metric: String) -> Evaluation { added.first { $0.metric == metric }! }
        let tokenizer = "mode=word lowercase=false normalization=nfc max-length=none"
        XCTAssertEqual(row("bleu4").evaluationProtocol, EvaluationProtocol(
            sampleCount: 200, referenceSet: "tiny:test", referenceCount: testCount, tokenizer: tokenizer,
            smoothing: "method1", seed: 5, temperature: 1))
        XCTAssertEqual(row("self_bleu4").evaluationProtocol, EvaluationProtocol(
            sampleCount: 200, referenceSet: "self", referenceCount: 199, tokenizer: tokenizer,
            smoothing: "method1", seed: 5, temperature: 1))
        XCTAssertEqual(row("rouge_l").evaluationProtocol, EvaluationProtocol(
            sampleCount: 200, referenceSet: "tiny:test", referenceCount: testCount, tokenizer: tokenizer, seed: 5, temperature: 1))
        for n in 2...5 {
            XCTAssertEqual(row("ms_jaccard\(n)").evaluationProtocol, row("rouge_l").evaluationProtocol, "ms_jaccard\(n)")
            XCTAssertTrue((0...1).contains(row("ms_jaccard\(n)").value), "ms_jaccard\(n) \(row("ms_jaccard\(n)").value)")
        }
        XCTAssertEqual(row("distinct2").evaluationProtocol, EvaluationProtocol(
            sampleCount: 200, referenceSet: "self", tokenizer: tokenizer, seed: 5, temperature: 1))
        XCTAssertEqual(row("memorisation_rate").evaluationProtocol, EvaluationProtocol(
            sampleCount: 200, referenceSet: "tiny:train", referenceCount: trainCount, tokenizer: tokenizer, seed: 5, temperature: 1))
        XCTAssertEqual(row("nll_test").evaluationProtocol, EvaluationProtocol(
            sampleCount: testCount, referenceSet: "tiny:test", referenceCount: testCount, tokenizer: tokenizer))
        XCTAssertEqual(row("nll_gen_train").evaluationProtocol, EvaluationProtocol(
            sampleCount: trainCount, referenceSet: "tiny:train", referenceCount: trainCount, tokenizer: tokenizer))
        XCTAssertLessThan(row("nll_gen_train").value, row("nll_test").value + 1, "the training split is no harder")
        // NLL-test does not depend on sampling: eval reproduces what training recorded at the same step.
        let trainingNLL = before.first { $0.metric == "nll_test" && $0.step == lastTrainingStep }!.value
        XCTAssertEqual(row("nll_test").value, trainingNLL, accuracy: 1e-9)
        for metric in ["bleu2", "self_bleu2", "rouge_l", "distinct1", "memorisation_rate"] {
            XCTAssertTrue((0...1).contains(row(metric).value), "\(metric) \(row(metric).value)")
        }
        // A 64-sentence language: only a few distinct words, and some samples repeat training sentences.
        XCTAssertLessThan(row("distinct1").value, 0.1)
        XCTAssertGreaterThanOrEqual(row("longest_copied").value, 3)
        XCTAssertGreaterThanOrEqual(row("longest_copied").value, row("longest_copied_mean").value)

        // The same seed gives the same scores; JSON output parses; --no-record records nothing.
        let again = try eval(["1", "--samples", "200", "--seed", "5", "--format", "json", "--no-record"])
        XCTAssertEqual(again.status, 0, again.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["run"] as? Int, 1)
        XCTAssertEqual(json["step"] as? Int, lastTrainingStep)
        XCTAssertEqual((json["references"] as? [String: Any])?["count"] as? Int, testCount)
        let temperatures = try XCTUnwrap(json["temperatures"] as? [[String: Any]])
        XCTAssertEqual(temperatures.count, 1)
        let metrics = try XCTUnwrap(temperatures[0]["metrics"] as? [String: Double])
        XCTAssertEqual(metrics["bleu4"]!, row("bleu4").value, accuracy: 1e-12)
        XCTAssertEqual(metrics["memorisation_rate"]!, row("memorisation_rate").value, accuracy: 1e-12)
        XCTAssertEqual(try store.evaluations(run: 1).count, before.count + 22)
    }

    func testEvalPrintsCSVWithOneScorePerRow() throws {
        let json = try eval(["1", "--samples", "60", "--seed", "3", "--sweep", "0.5,1.0", "--no-record", "--format", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let temperatures = try XCTUnwrap(object["temperatures"] as? [[String: Any]])
        let csv = try eval(["1", "--samples", "60", "--seed", "3", "--sweep", "0.5,1.0", "--no-record", "--format", "csv"])
        XCTAssertEqual(csv.status, 0, csv.stderr)
        let table = try readCSVObjects(csv.stdout)
        XCTAssertEqual(table.columns, ["temperature", "metric", "value"])
        for (t, entry) in zip(["0.5", "1"], temperatures) {
            let metrics = try XCTUnwrap(entry["metrics"] as? [String: Double])
            let rows = table.rows.filter { $0["temperature"] == t }
            XCTAssertEqual(Set(rows.map { $0["metric"]! }), Set(metrics.keys), "T=\(t)")
            for row in rows {
                XCTAssertEqual(Double(row["value"]!)!, metrics[row["metric"]!]!, accuracy: 1e-12)
            }
        }
        let nll = try XCTUnwrap(table.rows.first { $0["metric"] == "nll_test" })
        XCTAssertEqual(nll["temperature"], "")
        XCTAssertEqual(Double(nll["value"]!)!, object["nll_test"] as! Double, accuracy: 1e-12)
    }

    func testSampleWritesTextOrJSONLinesUnderGenerationConstraints() throws {
        func sample(_ arguments: [String]) throws -> Finished {
            try runProcess("textgan", ["sample", "1", "--db", database] + arguments)
        }
        let file = Self.directory.appendingPathComponent("samples.jsonl").path
        let written = try sample(["-n", "30", "--seed", "4", "--format", "jsonl", "--output", file, "--no-repeat-ngram", "1",
                                  "--min-length", "3", "--repetition-penalty", "1.2"])
        XCTAssertEqual(written.status, 0, written.stderr)
        XCTAssertEqual(written.stdout, "")
        XCTAssertTrue(written.stderr.contains("wrote 30 samples to \(file)"), written.stderr)
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 30)
        let eos: Int64 = 2
        for (i, line) in lines.enumerated() {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(object["index"] as? Int, i)
            let ids = try XCTUnwrap(object["token_ids"] as? [Int64])
            // No token twice (no-repeat 1-grams), and the end token only after 3 tokens.
            XCTAssertEqual(Set(ids).count, ids.count, "\(ids)")
            if let end = ids.firstIndex(of: eos) { XCTAssertGreaterThanOrEqual(end, 3, "\(ids)") }
            XCTAssertNotNil(object["text"] as? String)
        }
        // The text format is the texts, one per line, the same samples.
        let text = try sample(["-n", "30", "--seed", "4", "--no-repeat-ngram", "1", "--min-length", "3", "--repetition-penalty", "1.2"])
        XCTAssertEqual(text.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init),
                       try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["text"] as? String })
        for bad in [["--repetition-penalty", "0"], ["--repetition-penalty", "nan"], ["--no-repeat-ngram", "0"],
                    ["--min-length", "-1"], ["--min-length", "9999"], ["--format", "csv"]] {
            let result = try sample(bad)
            XCTAssertNotEqual(result.status, 0, "\(bad)")
            XCTAssertTrue(result.stderr.hasPrefix("Error: "), "\(bad): \(result.stderr)")
        }
        // eval scores the model's own distribution and records its protocol: it takes no constraints.
        XCTAssertNotEqual(try eval(["1", "--no-repeat-ngram", "2", "--no-record"]).status, 0)
    }

    func testSweepStoresOneRowPerTemperaturePerMetric() throws {
        let result = try eval(["1", "--samples", "150", "--sweep", "0.5,1.0,1.5", "--format", "json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let temperatures = try XCTUnwrap(json["temperatures"] as? [[String: Any]])
        XCTAssertEqual(temperatures.compactMap { $0["temperature"] as? Double }, [0.5, 1.0, 1.5])

        let sampled = try store.evaluations(run: 1).filter { $0.sampleCount == 150 }
        XCTAssertEqual(sampled.count, 3 * 20)
        for metric in Set(sampled.map(\.metric)) {
            XCTAssertEqual(sampled.filter { $0.metric == metric }.compactMap(\.temperature).sorted(), [0.5, 1.0, 1.5], metric)
        }
        // The quality–diversity curve, with the query of docs/run-store.md: hotter sampling gives more distinct
        // bigrams, cooler a higher BLEU.
        let query = """
            SELECT temperature,
                   max(CASE WHEN metric = 'bleu2' THEN value END) AS bleu2,
                   max(CASE WHEN metric = 'self_bleu2' THEN value END) AS self_bleu2,
                   max(CASE WHEN metric = 'distinct2' THEN value END) AS distinct2
            FROM evaluations
            WHERE run_id = 1 AND sample_count = 150 AND temperature IS NOT NULL
            GROUP BY temperature
            ORDER BY temperature;
            """
        let sql = try runProcess("textgan", ["sql", query, "--db", database, "--format", "json"])
        XCTAssertEqual(sql.status, 0, sql.stderr)
        let curve = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(sql.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(curve.compactMap { $0["temperature"] as? Double }, [0.5, 1.0, 1.5])
        let distinct2 = curve.compactMap { $0["distinct2"] as? Double }, bleu2 = curve.compactMap { $0["bleu2"] as? Double }
        XCTAssertLessThan(distinct2[0], distinct2[2])
        XCTAssertGreaterThan(bleu2[0], bleu2[2])
    }

    func testACheckpointFileIsScoredButNotRecorded() throws {
        let before = try store.evaluations(run: 1).count
        let checkpoint = Self.directory.appendingPathComponent("runs/1/latest.safetensors").path
        let result = try eval([checkpoint, "--samples", "50"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("bleu4"), result.stdout)
        XCTAssertTrue(result.stdout.contains("not recorded: a checkpoint file"), result.stdout)
        XCTAssertEqual(try store.evaluations(run: 1).count, before)
    }

    func testTopKAndTopPAreRecordedWithTheProtocol() throws {
        let before = try store.evaluations(run: 1)
        let filtered = try eval(["1", "--samples", "40", "--top-k", "3", "--top-p", "0.9"])
        XCTAssertEqual(filtered.status, 0, filtered.stderr)
        let added = try store.evaluations(run: 1).filter { row in !before.contains { $0.id == row.id } }
        XCTAssertFalse(added.isEmpty, filtered.stdout)
        for row in added where !["nll_test", "nll_gen_train"].contains(row.metric) {
            XCTAssertEqual(row.evaluationProtocol.topK, 3, row.metric)
            XCTAssertEqual(row.evaluationProtocol.topP, 0.9, row.metric)
        }
        // Unfiltered scores keep NULL, so SQL can keep the two kinds of sampling apart.
        XCTAssertTrue(before.allSatisfy { $0.topK == nil && $0.topP == nil })
        let sql = try runProcess("textgan", ["sql", "SELECT count(*) AS n FROM latest_evaluations WHERE top_k = 3 AND top_p = 0.9",
                                             "--db", database, "--format", "csv"])
        XCTAssertEqual(sql.status, 0, sql.stderr)
        XCTAssertNotEqual(sql.stdout, "n\r\n0\r\n", sql.stdout)
    }

    func testReferencesFromTheTrainingSplitOrAFile() throws {
        let references = Self.directory.appendingPathComponent("refs.txt")
        try "the big cat runs .\nthe red fox sings .\n".write(to: references, atomically: true, encoding: .utf8)
        let file = try eval(["1", "--samples", "60", "--references", references.path, "--no-record", "--format", "json"])
        XCTAssertEqual(file.status, 0, file.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(file.stdout.utf8)) as? [String: Any])
        let named = try XCTUnwrap(json["references"] as? [String: Any])
        XCTAssertEqual(named["count"] as? Int, 2)
        XCTAssertTrue((named["name"] as? String ?? "").hasPrefix("file:\(references.standardizedFileURL.path) sha256:"), "\(named)")

        let train = try eval(["1", "--samples", "60", "--references", "train", "--no-record"])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("references    tiny:train (\(splits.train) sentences)"), train.stdout)
    }

    func testARunInAStoreNoOneCanWriteIsSampledScoredAndProbed() throws {
        // Given a copy of the run store and its run directories where not even root can write (as on a read-only
        // mount: no -shm file can be made beside the store)
        let copy = try temporaryDirectory(self).appendingPathComponent("runs")
        try FileManager.default.copyItem(at: Self.directory.appendingPathComponent("runs"), to: copy)
        let readOnly = copy.appendingPathComponent("textgan.sqlite").path
        try makeImmutable(copy, self)
        func textgan(_ arguments: [String], input: String? = nil) throws -> Finished {
            try runProcess("textgan", arguments + ["--db", readOnly], input: input.map { Data($0.utf8) })
        }

        // then sample, eval --no-record and the REPL read the run from it, its checkpoint verified,
        let sample = try textgan(["sample", "1", "-n", "3"])
        XCTAssertEqual(sample.status, 0, sample.stderr)
        XCTAssertEqual(sample.stdout.split(separator: "\n").count, 3, sample.stdout)
        let scored = try textgan(["eval", "1", "--samples", "30", "--no-record", "--root", packageRoot.path])
        XCTAssertEqual(scored.status, 0, scored.stderr)
        XCTAssertTrue(scored.stdout.contains("not recorded (--no-record)"), scored.stdout)
        let repl = try textgan(["repl", "1"], input: "/score the big cat runs .\n/runs\n/sql SELECT count(*) AS n FROM runs\n")
        XCTAssertEqual(repl.status, 0, repl.stderr)
        XCTAssertTrue(repl.stdout.contains("tiny-mle"), repl.stdout)

        // and an eval that would record says it cannot, naming the store, and changes nothing.
        let recording = try textgan(["eval", "1", "--samples", "30", "--root", packageRoot.path])
        XCTAssertNotEqual(recording.status, 0)
        XCTAssertTrue(recording.stderr.contains("cannot record in the run store \(readOnly)"), recording.stderr)
        XCTAssertTrue(recording.stderr.contains("--no-record"), recording.stderr)
    }

    func testBadRunsAndCheckpointsGiveOneClearError() throws {
        let missingRun = try eval(["99"])
        XCTAssertNotEqual(missingRun.status, 0)
        XCTAssertTrue(missingRun.stderr.contains("no run 99 in the run store"), missingRun.stderr)

        let missingFile = try eval([Self.directory.appendingPathComponent("nope.safetensors").path])
        XCTAssertNotEqual(missingFile.status, 0)
        XCTAssertTrue(missingFile.stderr.contains("neither a run id nor a checkpoint file"), missingFile.stderr)

        // A run whose checkpoint is gone (here: a run that never wrote one).
        let other = Self.directory.appendingPathComponent("other/textgan.sqlite").path
        let id = try RunDatabase(path: other).startRun(NewRun(
            name: "empty", algorithm: "mle", generator: "lstm", corpus: "tiny", seed: 1, configJSON: "{}"))
        let noCheckpoint = try runProcess("textgan", ["eval", "\(id)", "--db", other, "--root", packageRoot.path])
        XCTAssertNotEqual(noCheckpoint.status, 0)
        XCTAssertTrue(noCheckpoint.stderr.contains("run \(id) has no latest checkpoint"), noCheckpoint.stderr)

        let noStore = try runProcess("textgan", ["eval", "1", "--db", Self.directory.appendingPathComponent("none/x.sqlite").path])
        XCTAssertNotEqual(noStore.status, 0)
        XCTAssertTrue(noStore.stderr.contains("no run store at"), noStore.stderr)

    }
}
