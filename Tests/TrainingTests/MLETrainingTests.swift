import Foundation
import Models
import NumericCore
import TestSupport
import Training
import XCTest

final class MLETrainingTests: XCTestCase {
    /// A small corpus with structure to learn: counting sequences "k, k+1, k+2, …" of varying length, ending in eos.
    private func countingCorpus(count: Int, seed: UInt64) -> SequenceDataset {
        var rng = SeededGenerator(seed: seed)
        let sequences: [[Int32]] = (0..<count).map { _ in
            let start = 4 + rng.nextInt(below: 6), length = 3 + rng.nextInt(below: 5)
            return (0..<length).map { Int32(start + $0) } + [2]
        }
        return SequenceDataset(sequences: sequences, length: 9)
    }

    private let generatorConfig = LSTMGeneratorConfig(
        vocabularySize: 16, embeddingSize: 8, hiddenSize: 16, maxLength: 9, startToken: 1, endToken: 2)

    private func trainer(_ dataset: SequenceDataset, epochs: Int, seed: UInt64, directory: URL? = nil) -> MLETrainer {
        var rng = SeededGenerator(seed: seed)
        let generator = LSTMGenerator(generatorConfig, using: &rng)
        var trainer = MLETrainer(
            generator: generator, loader: BatchLoader(dataset: dataset, batchSize: 16),
            config: MLEConfig(epochs: epochs, batchSize: 16, learningRate: 0.01, logEvery: 1, samplesPerEpoch: 2))
        trainer.checkpointDirectory = directory
        return trainer
    }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("textgan-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testLossFallsOnASmallSeededCorpus() throws {
        let t = trainer(countingCorpus(count: 320, seed: 1), epochs: 15, seed: 2)
        var state = MLEState(seed: 3)
        var trainNLL: [Double] = []
        var sampled = 0
        let outcome = try t.run(state: &state) { event in
            if case .evaluation(_, _, _, let metrics, _) = event { trainNLL.append(metrics["train_nll"]!) }
            if case .samples(_, _, let sequences, _) = event { sampled += sequences.count }
            return .proceed
        }
        XCTAssertEqual(outcome, .completed)
        XCTAssertEqual(trainNLL.count, 15)
        XCTAssertEqual(state.step, 15 * 20)
        XCTAssertEqual(sampled, 30)
        // Uniform guessing over 16 tokens costs ln 16 ≈ 2.77 nats; the counting rule leaves only the start and the
        // length uncertain (≈ 0.6 nats per token on this corpus).
        XCTAssertGreaterThan(trainNLL[0], 1.5)
        XCTAssertLessThan(trainNLL.last!, 0.75, "curve: \(trainNLL)")
    }

    /// A rate that blows the parameters up: the first non-finite loss or gradient norm stops training with a
    /// clear error, before its update, so the parameters (and any checkpoint) stay finite.
    func testANonFiniteLossStopsTrainingBeforeItsUpdate() throws {
        var rng = SeededGenerator(seed: 9)
        let generator = LSTMGenerator(generatorConfig, using: &rng)
        let dataset = countingCorpus(count: 160, seed: 4)
        var config = MLEConfig(epochs: 3, batchSize: 16, logEvery: 1, samplesPerEpoch: 0)
        config.learningRate = 3e38  // the largest Float is 3.4e38: the next products overflow
        var trainer = MLETrainer(generator: generator, loader: BatchLoader(dataset: dataset, batchSize: 16), config: config)
        let directory = try temporaryDirectory()
        trainer.checkpointDirectory = directory
        var state = MLEState(seed: 1)
        var steps: [Int] = []
        XCTAssertThrowsError(try trainer.run(state: &state) { event in
            if case .step(_, let step, _, _, _) = event { steps.append(step) }
            return .proceed
        }) { error in
            guard case .nonFinite(let phase, let step, _, let value)? = error as? TrainingError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(phase, "mle")
            XCTAssertEqual(step, state.step + 1, "the failing step is the one after the last applied")
            XCTAssertFalse(value.isFinite)
            XCTAssertTrue("\(error)".contains("became"), "\(error)")
        }
        XCTAssertLessThan(state.step, 3 * 10)
        XCTAssertEqual(steps, Array(1...state.step))
        // No checkpoint was written with the diverged values.
        let latest = directory.appendingPathComponent("latest.safetensors")
        if FileManager.default.fileExists(atPath: latest.path) {
            for (name, tensor) in try Checkpoint.load(from: latest).tensors {
                XCTAssertTrue(tensor.scalars.allSatisfy(\.isFinite), name)
            }
        }
    }

    func testACheckpointIsNeverOverwrittenWithNonFiniteValues() throws {
        var rng = SeededGenerator(seed: 10)
        let generator = LSTMGenerator(generatorConfig, using: &rng)
        let url = try temporaryDirectory().appendingPathComponent("latest.safetensors")
        try Checkpoint.save(to: url, models: [("", generator)], optimizers: [:], state: MLEState(seed: 1), metadata: [:])
        let good = try Checkpoint.load(from: url).tensors
        generator.output.bias!.value[3] = .nan
        XCTAssertThrowsError(try Checkpoint.save(to: url, models: [("", generator)], optimizers: [:], state: MLEState(seed: 2),
                                                 metadata: [:])) {
            XCTAssertEqual($0 as? CheckpointError, .nonFinite("latest.safetensors", tensor: "generator.output.bias"))
        }
        XCTAssertEqual(try Checkpoint.load(from: url).tensors, good)
    }

    /// At an improved epoch the best checkpoint is written before the latest one, whose state records it, so no
    /// crash can leave a state that names a best the best file does not hold.
    func testTheBestCheckpointIsWrittenBeforeTheLatestThatRecordsIt() throws {
        let directory = try temporaryDirectory()
        var t = trainer(countingCorpus(count: 64, seed: 3), epochs: 3, seed: 4, directory: directory)
        t.evaluate = { _, _ in ["nll_test": 1] }  // improves once, at the first epoch
        var state = MLEState(seed: 5)
        var kinds: [String] = []
        _ = try t.run(state: &state) { event in
            if case .checkpoint(_, let kind, _) = event { kinds.append(kind) }
            return .proceed
        }
        XCTAssertEqual(kinds, ["best", "latest", "latest", "latest"])
    }

    func testWarmUpThenCosineDecayAndOldConfigs() throws {
        var config = MLEConfig(learningRate: 0.01)
        config.warmupSteps = 4
        config.schedule = .cosine
        XCTAssertEqual(config.learningRate(step: 1, of: 24), 0.0025, accuracy: 1e-9)
        XCTAssertEqual(config.learningRate(step: 4, of: 24), 0.01, accuracy: 1e-9)
        XCTAssertEqual(config.learningRate(step: 14, of: 24), 0.0055, accuracy: 1e-6, "half way down the cosine")
        XCTAssertEqual(config.learningRate(step: 24, of: 24), 0.001, accuracy: 1e-7, "the floor: 10 % of the rate")
        XCTAssertEqual(MLEConfig().learningRate(step: 7, of: 24), 0.01, "the default is SeqGAN's constant rate")
        XCTAssertFalse(MLEConfig().schedulesLearningRate)
        // Training follows it and records it.
        config.epochs = 3
        config.batchSize = 16
        config.logEvery = 1
        config.samplesPerEpoch = 0
        config.weightDecay = 0.01
        var rng = SeededGenerator(seed: 7)
        let t = MLETrainer(generator: LSTMGenerator(generatorConfig, using: &rng),
                           loader: BatchLoader(dataset: countingCorpus(count: 64, seed: 2), batchSize: 16), config: config)
        XCTAssertTrue(t.optimizer.config.decoupledWeightDecay)
        var state = MLEState(seed: 1)
        var rates: [Double] = []
        _ = try t.run(state: &state) { event in
            if case .step(_, _, _, let metrics, _) = event { rates.append(metrics["learning_rate"]!) }
            return .proceed
        }
        XCTAssertEqual(rates.count, 12)
        XCTAssertEqual(rates.map { Float($0) }, (1...12).map { config.learningRate(step: $0, of: 12) })
        // A config stored before these fields existed decodes with them off.
        let old = try JSONDecoder().decode(MLEConfig.self, from: Data(#"{"epochs": 3, "batchSize": 8, "learningRate": 0.02, "gradientClip": 5, "evaluateEvery": 1, "logEvery": 10, "samplesPerEpoch": 3, "sampleTemperature": 1}"#.utf8))
        XCTAssertEqual(old.epochs, 3)
        XCTAssertEqual(old.schedule, .constant)
        XCTAssertEqual(old.weightDecay, 0)
    }

    /// 10 epochs straight and 4 epochs + resume for 6 end bit-identical; so does a stop in the middle of an epoch.
    func testResumeIsBitIdentical() throws {
        let data = countingCorpus(count: 100, seed: 4)
        let straight = trainer(data, epochs: 10, seed: 5)
        var straightState = MLEState(seed: 6)
        _ = try straight.run(state: &straightState) { _ in .proceed }

        for stopAt in [4 * 6, 4 * 6 + 3] {  // after epoch 4; 3 steps into epoch 5 (6 batches per epoch)
            let directory = try temporaryDirectory()
            let first = trainer(data, epochs: 10, seed: 5, directory: directory)
            var state = MLEState(seed: 6)
            let outcome = try first.run(state: &state) { event in
                if case .step(_, let step, _, _, _) = event, step == stopAt { return .stop }
                return .proceed
            }
            XCTAssertEqual(outcome, .stopped)
            // A fresh process: new model with other initial values, everything restored from the checkpoint.
            let second = trainer(data, epochs: 10, seed: 999, directory: directory)
            var resumed = try second.restore(from: directory.appendingPathComponent("latest.safetensors"))
            XCTAssertEqual(resumed.step, stopAt)
            _ = try second.run(state: &resumed) { _ in .proceed }
            XCTAssertEqual(resumed, straightState, "stop at step \(stopAt)")
            XCTAssertEqual(second.generator.namedTensors, straight.generator.namedTensors, "stop at step \(stopAt)")
            for (a, b) in zip(second.optimizer.stateTensors.sorted(by: { $0.key < $1.key }),
                              straight.optimizer.stateTensors.sorted(by: { $0.key < $1.key })) {
                XCTAssertEqual(a.value, b.value, a.key)
            }
        }
    }

    func testTruncatedCheckpointGivesAClearErrorAndLeavesTheBestUsable() throws {
        let directory = try temporaryDirectory()
        let t = trainer(countingCorpus(count: 64, seed: 7), epochs: 2, seed: 8, directory: directory)
        var state = MLEState(seed: 9)
        _ = try t.run(state: &state) { _ in .proceed }
        let latest = directory.appendingPathComponent("latest.safetensors")
        let bytes = try Data(contentsOf: latest)
        try bytes.prefix(bytes.count / 2).write(to: latest)
        XCTAssertThrowsError(try t.restore(from: latest)) { error in
            XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
        }
        XCTAssertThrowsError(try t.restore(from: directory.appendingPathComponent("nope.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("no checkpoint"), "\(error)")
        }
        XCTAssertNoThrow(try t.restore(from: directory.appendingPathComponent("best.safetensors")))
    }

    func testEarlyStoppingWhenTheMetricStopsImproving() throws {
        var t = trainer(countingCorpus(count: 64, seed: 10), epochs: 50, seed: 11)
        t = MLETrainer(generator: t.generator, loader: t.loader,
                       config: MLEConfig(epochs: 50, batchSize: 16, earlyStoppingPatience: 2, samplesPerEpoch: 0))
        var calls = 0
        // A metric that improves twice and then gets worse.
        t.evaluate = { _, _ in
            calls += 1
            return ["nll_test": [3.0, 2.0, 2.5, 2.6, 1.0][min(calls - 1, 4)]]
        }
        var state = MLEState(seed: 12)
        XCTAssertEqual(try t.run(state: &state) { _ in .proceed }, .earlyStopped(epoch: 4))
        XCTAssertEqual(state.best, 2.0)
        XCTAssertEqual(state.bestEpoch, 2)
    }

    /// A stop in the epoch that triggers early stopping: the resumed run stops there too, not one epoch later.
    func testAResumeAfterTheEarlyStoppingEpochDoesNotTrainOn() throws {
        let directory = try temporaryDirectory()
        func make() -> MLETrainer {
            var t = trainer(countingCorpus(count: 64, seed: 10), epochs: 50, seed: 11, directory: directory)
            t = MLETrainer(generator: t.generator, loader: t.loader,
                           config: MLEConfig(epochs: 50, batchSize: 16, earlyStoppingPatience: 2, samplesPerEpoch: 0))
            t.checkpointDirectory = directory
            var calls = 0
            t.evaluate = { _, _ in
                calls += 1
                return ["nll_test": [3.0, 2.0, 2.5, 2.6, 1.0][min(calls - 1, 4)]]
            }
            return t
        }
        var state = MLEState(seed: 12)
        // Stop at the evaluation of epoch 4, the one that exhausts the patience.
        XCTAssertEqual(try make().run(state: &state) { event in
            if case .evaluation(_, _, 4, _, _) = event { return .stop }
            return .proceed
        }, .stopped)
        let resumed = make()
        var again = try resumed.restore(from: directory.appendingPathComponent("latest.safetensors"))
        XCTAssertEqual(again.epochsSinceBest, 2)
        XCTAssertEqual(try resumed.run(state: &again) { _ in .proceed }, .earlyStopped(epoch: 4))
        XCTAssertEqual(again.epoch, 4)
    }
}
