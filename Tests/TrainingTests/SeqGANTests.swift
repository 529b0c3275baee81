import Foundation
import Layers
import Models
import NumericCore
import TestSupport
import Training
import XCTest

final class RolloutTests: XCTestCase {
    private let config = LSTMGeneratorConfig(vocabularySize: 9, embeddingSize: 4, hiddenSize: 5, maxLength: 6,
                                             startToken: 0, endToken: nil, initStd: 0.5)

    /// A stand-in discriminator whose output is a known function of the sequence.
    private func knownScore(_ s: [Int32]) -> Float { Float(s.reduce(0) { $0 + Int($1) } % 11) / 11 + 0.01 }

    func testRewardsAreMeansOfCompletionsAndDOfTheFullSequence() {
        var rng = SeededGenerator(seed: 1)
        let generator = LSTMGenerator(config, using: &rng)
        let rollout = RolloutPolicy(copying: generator)
        let sequences = generator.sample(count: 3, using: &rng)
        var calls: [[[Int32]]] = []
        let rewards = rollout.rewards(for: sequences, rollouts: 4, score: { batch, _ in
            calls.append(batch)
            return batch.map(self.knownScore)
        }, using: &rng)

        XCTAssertEqual(calls.count, 6)  // prefix lengths 1…5, then the full sequences
        for (b, y) in sequences.enumerated() {
            XCTAssertEqual(rewards[b].count, 6)
            XCTAssertEqual(rewards[b][5], knownScore(y))
            for t in 1...5 {
                let completions = calls[t - 1][(b * 4)..<(b * 4 + 4)]
                for c in completions {
                    XCTAssertEqual(c.count, 6)
                    XCTAssertEqual(Array(c.prefix(t)), Array(y.prefix(t)), "completions keep the prefix")
                }
                let mean = completions.map(knownScore).reduce(0, +) / 4
                XCTAssertEqual(rewards[b][t - 1], mean, accuracy: 1e-6)
            }
        }
        // The completions are samples, not copies of the sequence.
        XCTAssertTrue(calls[0].contains { $0 != sequences[0] && $0.prefix(1) == sequences[0].prefix(1) })
    }

    func testVariableLengthSequencesGetRewardsForTheirOwnTokensOnly() {
        var rng = SeededGenerator(seed: 2)
        var textConfig = config
        textConfig.endToken = 2
        let generator = LSTMGenerator(textConfig, using: &rng)
        let rollout = RolloutPolicy(copying: generator)
        let sequences: [[Int32]] = [[3, 2], [4, 5, 6, 7, 8, 3], [5, 5, 2]]
        let rewards = rollout.rewards(for: sequences, rollouts: 3, score: { batch, _ in batch.map(self.knownScore) }, using: &rng)
        XCTAssertEqual(rewards.map(\.count), [2, 6, 3])
        XCTAssertEqual(rewards[0][1], knownScore([3, 2]))
        XCTAssertEqual(rewards[2][2], knownScore([5, 5, 2]))
    }

    func testRolloutUpdateRule() {
        var rng = SeededGenerator(seed: 3)
        let generator = LSTMGenerator(config, using: &rng)
        let rollout = RolloutPolicy(copying: generator, updateRate: 0.8)
        XCTAssertEqual(rollout.model.namedTensors, generator.namedTensors)
        let before = rollout.model.namedTensors
        for p in generator.parameters { p.value = Tensor(randomNormal: p.shape, using: &rng) }
        rollout.update(from: generator)
        for p in rollout.model.parameters {
            let g = generator.namedTensors[p.name]!, old = before[p.name]!
            for i in 0..<p.value.count {
                let expected = p.name.contains("embedding") ? g.scalars[i] : 0.8 * old.scalars[i] + 0.2 * g.scalars[i]
                XCTAssertEqual(p.value.scalars[i], expected, accuracy: 1e-6, "\(p.name)[\(i)]")
            }
        }
    }

    func testPolicyGradientLossOnAHandComputedCase() throws {
        var rng = SeededGenerator(seed: 4)
        let generator = LSTMGenerator(LSTMGeneratorConfig(vocabularySize: 3, embeddingSize: 2, hiddenSize: 2, maxLength: 2), using: &rng)
        let sequences: [[Int32]] = [[1, 2], [2, 0]]
        let rewards: [[Float]] = [[0.5, 2], [1, 0.25]]
        let lp = generator.tokenLogProbabilities(TokenBatch(sequences: sequences, length: 2))  // [b0t0, b0t1, b1t0, b1t1]
        let expected = -(0.5 * lp[0] + 2 * lp[1] + 1 * lp[2] + 0.25 * lp[3])
        let sgd = SGD(generator.parameters, config: .init(learningRate: 0))  // lr 0: the step leaves θ unchanged
        let (loss, meanReward) = try policyGradientStep(generator: generator, optimizer: sgd, sequences: sequences, rewards: rewards)
        XCTAssertEqual(loss, expected, accuracy: 1e-5)
        XCTAssertEqual(meanReward, 0.9375, accuracy: 1e-9)
        // With the baseline every reward is shifted by the mean.
        let shifted = -((0.5 - 0.9375) * lp[0] + (2 - 0.9375) * lp[1] + (1 - 0.9375) * lp[2] + (0.25 - 0.9375) * lp[3])
        let (baselineLoss, _) = try policyGradientStep(generator: generator, optimizer: sgd, sequences: sequences, rewards: rewards, baseline: true)
        XCTAssertEqual(baselineLoss, shifted, accuracy: 1e-5)
        // A positive reward raises the probability of its token.
        let adam = Adam(generator.parameters, config: .init(learningRate: 0.05))
        for _ in 0..<20 { try policyGradientStep(generator: generator, optimizer: adam, sequences: [[1, 2]], rewards: [[1, 1]]) }
        let after = generator.tokenLogProbabilities(TokenBatch(sequences: [[1, 2]], length: 2))
        XCTAssertGreaterThan(after[0], lp[0])
        XCTAssertGreaterThan(after[1], lp[1])
    }
}

final class SeqGANTests: XCTestCase {
    private func tinyTrainer(seed: UInt64, directory: URL?) -> SeqGANTrainer {
        var rng = SeededGenerator(seed: seed)
        let g = LSTMGenerator(LSTMGeneratorConfig(vocabularySize: 10, embeddingSize: 4, hiddenSize: 6, maxLength: 6), using: &rng)
        let d = CNNDiscriminator(CNNDiscriminatorConfig(
            vocabularySize: 10, sequenceLength: 6, embeddingSize: 4,
            widths: [ConvolutionWidth(width: 2, filters: 4), ConvolutionWidth(width: 3, filters: 4)]), using: &rng)
        var data = SeededGenerator(seed: 77)
        let positives = SequenceDataset(sequences: (0..<48).map { _ in
            let s = data.nextInt(below: 4)
            return (0..<6).map { Int32(s + $0) }
        })
        let pretrain = MLEConfig(epochs: 2, batchSize: 16, logEvery: 1, samplesPerEpoch: 1)
        var config = SeqGANConfig()
        config.discriminatorPretrainRounds = 2
        config.discriminatorPretrainEpochs = 1
        config.adversarialSteps = 3
        config.discriminatorRounds = 1
        config.discriminatorEpochs = 1
        config.generatorBatchSize = 8
        config.rollouts = 2
        config.negatives = 48
        config.discriminatorBatchSize = 16
        config.evaluateEvery = 1
        let trainer = SeqGANTrainer(generator: g, discriminator: d, positives: positives, pretrain: pretrain, config: config)
        trainer.checkpointDirectory = directory
        trainer.evaluate = { generator, rng in
            let lengths = generator.sample(count: 4, using: &rng).map(\.count)
            return ["sample_mean_length": Double(lengths.reduce(0, +)) / 4]
        }
        return trainer
    }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("textgan-seqgan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testAllPhasesRunAndReport() throws {
        let trainer = tinyTrainer(seed: 1, directory: nil)
        var state = SeqGANState(seed: 2)
        var phases: [String] = [], adversarial: [[String: Double]] = []
        let outcome = try trainer.run(state: &state) { event in
            if case .phaseStarted(let phase, _) = event { phases.append(phase) }
            if case .step("adversarial", _, _, let metrics, _) = event { adversarial.append(metrics) }
            return .proceed
        }
        XCTAssertEqual(outcome, .completed)
        XCTAssertEqual(phases, ["mle", "discriminator", "adversarial"])
        XCTAssertEqual(state.phase, .done)
        XCTAssertEqual(adversarial.count, 3)
        for m in adversarial {
            XCTAssertTrue((0...1).contains(m["mean_reward"]!))
            XCTAssertNotNil(m["d_accuracy_real"])
            XCTAssertNotNil(m["pg_loss"])
        }
    }

    /// Stopping in the middle of adversarial training and resuming in a fresh trainer ends bit-identical.
    func testMidAdversarialResumeIsBitIdentical() throws {
        let straight = tinyTrainer(seed: 1, directory: nil)
        var straightState = SeqGANState(seed: 2)
        _ = try straight.run(state: &straightState) { _ in .proceed }

        let directory = try temporaryDirectory()
        let first = tinyTrainer(seed: 1, directory: directory)
        var state = SeqGANState(seed: 2)
        let outcome = try first.run(state: &state) { event in
            if case .step("adversarial", 1, _, _, _) = event { return .stop }
            return .proceed
        }
        XCTAssertEqual(outcome, .stopped)
        let second = tinyTrainer(seed: 99, directory: directory)
        var resumed = try second.restore(from: directory.appendingPathComponent("latest.safetensors"))
        XCTAssertEqual(resumed.phase, .adversarial)
        XCTAssertEqual(resumed.adversarialStep, 1)
        _ = try second.run(state: &resumed) { _ in .proceed }
        XCTAssertEqual(resumed, straightState)
        XCTAssertEqual(second.generator.namedTensors, straight.generator.namedTensors)
        XCTAssertEqual(second.discriminator.namedTensors, straight.discriminator.namedTensors)
        XCTAssertEqual(second.rollout.model.namedTensors, straight.rollout.model.namedTensors)
    }

    /// Every kernel sums in an order that does not depend on how work is split, so a whole SeqGAN run — MLE, sampling,
    /// discriminator training, rollouts, the policy gradient — ends with the same bits on one thread and on two. The
    /// sizes are large enough that products, softmax rows, convolution filters and sampled rows are all split.
    func testASeqGANRunIsBitIdenticalOnOneAndTwoThreads() throws {
        guard GEMMBackend.current != .openblas else {
            throw XCTSkip("products go through OpenBLAS here (no AVX-512 or TEXTGAN_GEMM=openblas), whose splits round differently")
        }
        func run(threads: Int) throws -> (SeqGANState, [String: Tensor], [String: Tensor]) {
            let saved = Parallel.threads
            BLAS.setThreads(threads)
            defer { BLAS.setThreads(saved) }
            var rng = SeededGenerator(seed: 5)
            let g = LSTMGenerator(LSTMGeneratorConfig(vocabularySize: 300, embeddingSize: 16, hiddenSize: 32,
                                                      maxLength: 10), using: &rng)
            let d = CNNDiscriminator(CNNDiscriminatorConfig(
                vocabularySize: 300, sequenceLength: 10, embeddingSize: 16,
                widths: [ConvolutionWidth(width: 2, filters: 32), ConvolutionWidth(width: 3, filters: 32),
                         ConvolutionWidth(width: 5, filters: 48)]), using: &rng)
            var data = SeededGenerator(seed: 6)
            let positives = SequenceDataset(sequences: (0..<128).map { _ in
                (0..<10).map { _ in Int32(3 + data.nextInt(below: 297)) }
            })
            let pretrain = MLEConfig(epochs: 1, batchSize: 64, logEvery: 1, samplesPerEpoch: 1)
            var config = SeqGANConfig()
            config.discriminatorPretrainRounds = 1
            config.discriminatorPretrainEpochs = 1
            config.adversarialSteps = 1
            config.discriminatorRounds = 1
            config.discriminatorEpochs = 1
            config.generatorBatchSize = 64
            config.rollouts = 4
            config.negatives = 128
            config.discriminatorBatchSize = 64
            let trainer = SeqGANTrainer(generator: g, discriminator: d, positives: positives, pretrain: pretrain, config: config)
            var state = SeqGANState(seed: 7)
            _ = try trainer.run(state: &state) { _ in .proceed }
            return (state, g.namedTensors, d.namedTensors)
        }
        let one = try run(threads: 1), two = try run(threads: 2)
        XCTAssertEqual(one.0, two.0)
        for (name, tensor) in one.1 { XCTAssertEqual(tensor.scalars.map(\.bitPattern), two.1[name]?.scalars.map(\.bitPattern), name) }
        for (name, tensor) in one.2 { XCTAssertEqual(tensor.scalars.map(\.bitPattern), two.2[name]?.scalars.map(\.bitPattern), name) }
    }

    /// Every latest checkpoint is at a run step of its own (a phase change is a step), and the adversarial start's
    /// evaluation is at the step of the phase change, after the last discriminator round's: a resume from either
    /// checkpoint tells what was recorded after it.
    func testEveryLatestCheckpointHasARunStepOfItsOwn() throws {
        let trainer = tinyTrainer(seed: 1, directory: try temporaryDirectory())
        var state = SeqGANState(seed: 2)
        var latest: [Int] = [], rounds: [Int] = [], start: Int?
        _ = try trainer.run(state: &state) { event in
            switch event {
            case .checkpoint(let step, "latest", _): latest.append(step)
            case .step("discriminator", _, _, _, let runStep): rounds.append(runStep)
            case .evaluation("adversarial", 0, _, _, let runStep): start = runStep
            default: break
            }
            return .proceed
        }
        XCTAssertEqual(latest, latest.sorted())
        XCTAssertEqual(Set(latest).count, latest.count, "no two latest checkpoints share a run step: \(latest)")
        XCTAssertEqual(start, rounds.last! + 1)
        XCTAssertEqual(state.runStep, latest.last)
    }

    func testResumeDuringGeneratorPretraining() throws {
        let straight = tinyTrainer(seed: 1, directory: nil)
        var straightState = SeqGANState(seed: 2)
        _ = try straight.run(state: &straightState) { _ in .proceed }
        let directory = try temporaryDirectory()
        let first = tinyTrainer(seed: 1, directory: directory)
        var state = SeqGANState(seed: 2)
        _ = try first.run(state: &state) { event in
            if case .step("mle", 4, _, _, _) = event { return .stop }
            return .proceed
        }
        let second = tinyTrainer(seed: 5, directory: directory)
        var resumed = try second.restore(from: directory.appendingPathComponent("latest.safetensors"))
        XCTAssertEqual(resumed.phase, .mle)
        _ = try second.run(state: &resumed) { _ in .proceed }
        XCTAssertEqual(resumed, straightState)
        XCTAssertEqual(second.generator.namedTensors, straight.generator.namedTensors)
    }
}
