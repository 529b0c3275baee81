import Foundation
import Models
import NumericCore
import RunStore
import TestSupport
import Workbench
import XCTest

@testable import textgan

/// The seams are real: a generator kind registered from a test (`UnigramConfig`) trains by MLE and by SeqGAN
/// (rollouts included), samples and evaluates through the unchanged commands, run in this process.
final class ToyGeneratorTests: XCTestCase {
    func testAUnigramGeneratorTrainsSamplesAndEvaluatesThroughTheCommands() throws {
        Registry.shared.register(UnigramConfig.registration)
        let directory = try temporaryDirectory(self)
        let database = directory.appendingPathComponent("runs/textgan.sqlite").path
        var state: UInt64 = 5
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        let words = ["small", "big", "red", "quiet", "cat", "dog", "bird", "fox", "runs", "sleeps"]
        let lines = (0..<160).map { _ in "the \(words[next(10)]) \(words[next(10)]) ." }
        let corpus = directory.appendingPathComponent("toy.txt")
        try lines.joined(separator: "\n").write(to: corpus, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("toy.json")
        try """
            {"generator": {"kind": "unigram", "initStd": 0.01},
             "discriminator": {"embeddingSize": 6, "widths": [{"width": 2, "filters": 4}]},
             "mle": {"epochs": 12, "batchSize": 16, "logEvery": 20, "evaluateEvery": 4, "learningRate": 0.05},
             "seqgan": {"discriminatorPretrainRounds": 1, "discriminatorPretrainEpochs": 1, "adversarialSteps": 2,
                        "discriminatorRounds": 1, "discriminatorEpochs": 1, "rollouts": 2, "negatives": 32,
                        "generatorBatchSize": 8, "evaluateEvery": 1},
             "evaluation": {"bleuSamples": 40}}
            """.write(to: config, atomically: true, encoding: .utf8)

        // Train: SeqGAN with the unigram generator, recorded like any run.
        try TrainCommand.parse([corpus.path, "--config", config.path, "--db", database, "--root", packageRoot.path,
                                "--min-examples", "16", "--name", "toy"]).run()
        let store = try RunDatabase(path: database)
        let run = try store.run(1)
        XCTAssertEqual(run.status, .finished)
        XCTAssertEqual(run.generator, "unigram")
        XCTAssertEqual(run.discriminator, "cnn")
        XCTAssertTrue(run.configJSON.contains("\"kind\" : \"unigram\""), run.configJSON)
        let trainNLL = try store.metricHistory(run: 1, key: "train_nll").map(\.value)
        XCTAssertEqual(trainNLL.count, 12)
        XCTAssertLessThan(trainNLL.last!, trainNLL.first! - 0.3, "MLE lowers the unigram's NLL: \(trainNLL)")
        XCTAssertEqual(try store.metricHistory(run: 1, key: "pg_loss").count, 2, "two policy-gradient steps with rollouts")

        // Rebuilt from its checkpoint alone: a unigram that learned the corpus's most frequent tokens.
        let loaded = try LoadedRun.load("1", runsDirectory: directory.appendingPathComponent("runs"))
        XCTAssertTrue(loaded.generator is UnigramGenerator)
        let lp = loaded.generator.nextTokenLogProbabilities(after: [])
        let top = lp.indices.max { lp[$0] < lp[$1] }!
        XCTAssertTrue(["the", ".", "<eos>"].contains(loaded.tokenName(Int32(top))), loaded.tokenName(Int32(top)))
        var rng = SeededGenerator(seed: 1)
        let samples = loaded.generator.sample(count: 5, prefix: try loaded.encode("the").ids, using: &rng)
        XCTAssertTrue(samples.allSatisfy { $0.first == loaded.vocabulary!.id(of: "the") && $0.count <= loaded.generator.maxLength })

        // Sample and eval go through the roles too.
        try SampleCommand.parse(["1", "--db", database, "-n", "3", "--prefix", "the"]).run()
        try EvalCommand.parse(["1", "--db", database, "--root", packageRoot.path, "--samples", "60"]).run()
        let metrics = Set(try store.evaluations(run: 1).map(\.metric))
        for metric in ["bleu2", "self_bleu5", "rouge_l", "distinct2", "memorisation_rate", "nll_test"] {
            XCTAssertTrue(metrics.contains(metric), "eval recorded \(metric): \(metrics.sorted())")
        }
    }
}

/// An algorithm registered from a test trains through `textgan train --algo`, with its own config section, and its
/// runs load, sample and evaluate like any other.
final class ToyAlgorithmTests: XCTestCase {
    func testARegisteredAlgorithmTrainsWithItsOwnSection() throws {
        Registry.shared.register(SGDAlgorithm.self)
        let directory = try temporaryDirectory(self)
        let database = directory.appendingPathComponent("runs/textgan.sqlite").path
        let lines = (0..<80).map { "the cat number \($0 % 7) sleeps ." }
        let corpus = directory.appendingPathComponent("sgd.txt")
        try lines.joined(separator: "\n").write(to: corpus, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sgd.json")
        try #"{"generator": {"embeddingSize": 8, "hiddenSize": 8}, "sgd": {"steps": 30}, "evaluation": {"bleuSamples": 20}}"#
            .write(to: config, atomically: true, encoding: .utf8)
        // Another algorithm's section is not read by this one: an error, before anything is recorded.
        let wrong = directory.appendingPathComponent("wrong.json")
        try #"{"sgd": {"steps": 3}, "mle": {"epochs": 2}}"#.write(to: wrong, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainCommand.parse([corpus.path, "--algo", "sgd", "--config", wrong.path, "--db", database,
                                                     "--root", packageRoot.path]).run()) {
            XCTAssertTrue("\($0)".contains("unknown config key 'mle'"), "\($0)")
        }
        XCTAssertThrowsError(try TrainCommand.parse([corpus.path, "--algo", "sgd", "--epochs", "3", "--db", database,
                                                     "--root", packageRoot.path]).run()) {
            XCTAssertTrue("\($0)".contains("--epochs"), "\($0)")
        }

        // What a kill during a checkpoint write leaves behind is removed when the run (re)starts.
        let runDirectory = directory.appendingPathComponent("runs/1")
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        let orphan = runDirectory.appendingPathComponent(".latest.safetensors.0D1B1E2A.partial")
        try Data(count: 100).write(to: orphan)
        try TrainCommand.parse([corpus.path, "--algo", "sgd", "--config", config.path, "--g-lr", "0.4", "--db", database,
                                "--root", packageRoot.path, "--min-examples", "16"]).run()
        XCTAssertFalse(FileManager.default.fileExists(atPath: orphan.path))
        let store = try RunDatabase(path: database)
        XCTAssertEqual(try store.runs().count, 1, "the refused configs recorded nothing")
        let run = try store.run(1)
        XCTAssertEqual(run.algorithm, "sgd")
        XCTAssertEqual(run.status, .finished)
        let stored = try RunConfig.decode(run.configJSON, source: "run 1")
        XCTAssertEqual(stored[section: SGDConfig.self].steps, 30)
        XCTAssertEqual(stored[section: SGDConfig.self].learningRate, 0.4)
        XCTAssertNil(stored.discriminator)
        let losses = try store.metricHistory(run: 1, key: "loss").map(\.value)
        XCTAssertEqual(losses.count, 30)
        XCTAssertLessThan(losses.suffix(5).reduce(0, +), losses.prefix(5).reduce(0, +) * 0.9, "\(losses)")

        let loaded = try LoadedRun.load("1", runsDirectory: directory.appendingPathComponent("runs"))
        XCTAssertEqual(loaded.position, TrainingPosition(runStep: 30, phaseStep: 30, description: "SGD step 30"))
        try EvalCommand.parse(["1", "--db", database, "--root", packageRoot.path, "--samples", "30"]).run()
        XCTAssertTrue(try store.evaluations(run: 1).contains { $0.metric == "bleu3" && $0.step == 30 })
    }
}
