import Foundation
import Layers
import Models
import NumericCore
import TestSupport
@testable import Training
import XCTest

/// TextGAN's autoencoder pretraining: the whole loss's gradient (encoder and decoder, noise and prior matching), a
/// seeded run whose reconstruction loss falls, greedy decodings that depend on the code where MLE's do not, and a
/// bit-identical resume in the middle of the pretraining.
final class AutoencoderPretrainingTests: XCTestCase {
    private static let generatorConfig = LatentLSTMGeneratorConfig(
        vocabularySize: 9, embeddingSize: 6, hiddenSize: 12, latentSize: 4, maxLength: 6, startToken: 1, endToken: 2)

    /// Six distinct sentences over tokens 3…8, each eight times.
    private static let corpus: SequenceDataset = {
        let distinct: [[Int32]] = [[3, 4, 5, 2], [6, 7, 8, 2], [3, 8, 2], [7, 6, 5, 4, 2], [5, 5, 3, 2], [8, 4, 6, 3, 7, 2]]
        return SequenceDataset(sequences: (0..<8).flatMap { _ in distinct })
    }()
    private static let distinct = Array(corpus.sequences.prefix(6))

    private func tinyAutoencoder(noise: Float, matching: Float, seed: UInt64 = 3) -> LatentAutoencoder {
        var rng = SeededGenerator(seed: seed)
        var config = Self.generatorConfig
        config.initStd = 0.3
        let generator = LatentLSTMGenerator(config, using: &rng)
        let encoder = SentenceEncoder(SentenceEncoderConfig(
            vocabularySize: 9, sequenceLength: 6, padToken: 0, latentSize: 4, prior: .uniform, embeddingSize: 5,
            widths: [ConvolutionWidth(width: 2, filters: 4), ConvolutionWidth(width: 3, filters: 3)], initStd: 0.5),
            using: &rng)
        return LatentAutoencoder(encoder: encoder, generator: generator, noise: noise, priorMatchingWeight: matching)
    }

    /// −log G(x | enc(x) + σε) + λ·MMD²(enc(x), prior draws), both drawn from the batch's seed, is differentiable in
    /// every tensor of the generator and of the encoder.
    func testTheWholeAutoencoderLossGradientMatchesCentralDifferences() {
        let autoencoder = tinyAutoencoder(noise: 0.3, matching: 2)
        var batch = TokenBatch(sequences: Array(Self.distinct.prefix(4)), length: 6)
        batch.noiseSeed = 41
        func loss() -> Double {
            let (nll, mmd) = autoencoder.loss(batch, normalizer: nil, backward: false)
            return Double(nll) + 2 * mmd!
        }
        autoencoder.zeroGrad()
        _ = autoencoder.loss(batch, normalizer: nil, backward: true)
        for p in autoencoder.parameters { XCTAssertGreaterThan(p.grad.squaredNorm, 0, "\(p.name) gets a gradient") }
        assertGradientsMatch(autoencoder.parameters.map { ($0, $0.grad) },
                             options: GradientCheckOptions(epsilon: 1e-3, relativeTolerance: 2e-2, absoluteTolerance: 1e-3,
                                                           maxEntriesPerTensor: 60)) { loss() }
        // Without a seed (evaluation) neither noise nor the prior term enters.
        batch.noiseSeed = nil
        XCTAssertNil(autoencoder.loss(batch, normalizer: nil, backward: false).priorMMD)
    }

    private let tinyDiscriminator = CNNDiscriminatorConfig(
        vocabularySize: 9, sequenceLength: 6, embeddingSize: 4,
        widths: [ConvolutionWidth(width: 2, filters: 3), ConvolutionWidth(width: 3, filters: 3)], keepProbability: 1)

    private func trainer(_ pretraining: TextGANPretraining, epochs: Int, directory: URL? = nil,
                         adversarialSteps: Int = 0) -> TextGANTrainer {
        var rng = SeededGenerator(seed: 5)
        let g = LatentLSTMGenerator(Self.generatorConfig, using: &rng)
        let d = CNNDiscriminator(tinyDiscriminator, using: &rng)
        var config = TextGANConfig()
        config.pretraining = pretraining
        config.discriminatorPretrainRounds = adversarialSteps > 0 ? 1 : 0
        config.adversarialSteps = adversarialSteps
        config.batchSize = 8
        config.sharpness = 5
        config.reconstructionHidden = 5
        config.encoderEmbeddingSize = 8
        config.encoderWidths = [ConvolutionWidth(width: 2, filters: 8), ConvolutionWidth(width: 3, filters: 8)]
        let trainer = TextGANTrainer(generator: g, discriminator: d, positives: Self.corpus,
                                     pretrain: MLEConfig(epochs: epochs, batchSize: 8, learningRate: 0.02, logEvery: 1,
                                                         samplesPerEpoch: 0),
                                     config: config, using: &rng)
        trainer.checkpointDirectory = directory
        trainer.heldOut = SequenceDataset(sequences: Self.distinct)
        return trainer
    }

    /// Seeded on the tiny corpus, the pretraining runs as the `autoencoder` phase, records its MMD and held-out
    /// reconstruction loss, and the reconstruction loss falls to a fraction of where it started.
    func testSeededAutoencoderPretrainingLowersTheReconstructionLoss() throws {
        let trainer = trainer(.autoencoder, epochs: 40)
        let autoencoder = try XCTUnwrap(trainer.autoencoder)
        let heldOut = SequenceDataset(sequences: Self.distinct)
        let before = autoencoder.reconstructionNLL(of: heldOut)
        var phases = Set<String>(), losses: [Double] = [], evaluated: [Double] = [], mmd: [Double] = []
        var state = TextGANState(seed: 6)
        _ = try trainer.run(state: &state) { event in
            if case .step(let phase, _, _, let metrics, _) = event, phase == Phase.autoencoder {
                phases.insert(phase)
                losses.append(metrics["loss"]!)
                mmd.append(metrics["latent_mmd"]!)
            }
            if case .evaluation(_, _, _, let metrics, _) = event, let value = metrics["reconstruction_nll_test"] {
                evaluated.append(value)
            }
            return .proceed
        }
        XCTAssertEqual(phases, [Phase.autoencoder])
        XCTAssertEqual(losses.count, 40 * 6)
        XCTAssertTrue(mmd.allSatisfy { $0.isFinite })
        let after = autoencoder.reconstructionNLL(of: heldOut)
        XCTAssertEqual(evaluated.last!, after, accuracy: 1e-9, "the last evaluation scored the final model")
        XCTAssertLessThan(after, 0.2 * before, "reconstruction NLL \(before) → \(after)")
        XCTAssertLessThan(losses.suffix(6).reduce(0, +), 0.3 * losses.prefix(6).reduce(0, +))
    }

    /// Greedy decodings of 32 prior codes, and of each distinct sentence's own code (autoencoder only).
    private func greedy(_ generator: any SequenceGenerator, codes: Tensor) -> [[Int32]] {
        let Z = codes.matrixShape.1
        return (0..<codes.matrixShape.0).map { b in
            var unused = SeededGenerator(seed: 0)
            let code = Array(codes.scalars[(b * Z)..<((b + 1) * Z)])
            return generator.sample(count: 1, options: SamplingOptions(temperature: 0, latent: code), using: &unused)[0]
        }
    }

    /// The point of the autoencoder: after it, G's arg-max decoding depends on z — prior codes give several
    /// sentences and each sentence's code gives that sentence back — where after MLE with a prior code per sentence
    /// the codes give one or two (the collapse to one sentence measured on COCO, docs/textgan.md).
    func testAfterAutoencoderPretrainingGreedyDecodingsDependOnTheCode() throws {
        var rng = SeededGenerator(seed: 12)
        let codes = LatentLSTMGenerator(Self.generatorConfig, using: &rng).drawLatents(count: 32, using: &rng)
        func pretrained(_ pretraining: TextGANPretraining) throws -> TextGANTrainer {
            let trainer = trainer(pretraining, epochs: 40)
            var state = TextGANState(seed: 6)
            _ = try trainer.run(state: &state) { _ in .proceed }
            return trainer
        }
        let autoencoded = try pretrained(.autoencoder), mle = try pretrained(.mle)
        let fromPrior = Set(greedy(autoencoded.generator, codes: codes)), mleFromPrior = Set(greedy(mle.generator, codes: codes))
        // Most of the corpus's six sentences among the decodings of 32 prior codes: the autoencoder's G reaches them
        // all; MLE's reaches at most the two its first token leaves a near tie between.
        let covers = { (decodings: Set<[Int32]>) in decodings.count >= 5 && decodings.isSubset(of: Set(Self.distinct)) }
        XCTAssertTrue(covers(fromPrior), "the autoencoder's decodings of 32 prior codes: \(fromPrior)")
        XCTAssertFalse(covers(mleFromPrior), "MLE's decodings of 32 prior codes: \(mleFromPrior)")
        XCTAssertLessThanOrEqual(mleFromPrior.count, 2)
        let own = greedy(autoencoded.generator, codes: autoencoded.autoencoder!.encode(Self.distinct))
        XCTAssertEqual(own, Self.distinct, "each sentence decoded from its own code")
    }

    /// Stopped at the fourth autoencoder step (inside its first epoch) and resumed by a fresh trainer from the
    /// checkpoint alone, the run (pretraining, D pretraining, adversarial steps) ends bit-identical, encoder included.
    func testAStopInTheMiddleOfThePretrainingResumesBitIdentical() throws {
        let straight = trainer(.autoencoder, epochs: 2, adversarialSteps: 2)
        var straightState = TextGANState(seed: 6)
        XCTAssertEqual(try straight.run(state: &straightState) { _ in .proceed }, .completed)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("textgan-ae-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let first = trainer(.autoencoder, epochs: 2, directory: directory, adversarialSteps: 2)
        var state = TextGANState(seed: 6)
        let outcome = try first.run(state: &state) { event in
            if case .step(Phase.autoencoder, 4, _, _, _) = event { return .stop }
            return .proceed
        }
        XCTAssertEqual(outcome, .stopped)
        XCTAssertEqual(state.mle.step, 4)
        let checkpoint = directory.appendingPathComponent("latest.safetensors")
        let stored = try Checkpoint.load(from: checkpoint).tensors.keys
        XCTAssertTrue(first.autoencoder!.encoder.parameters.allSatisfy { stored.contains($0.name) }, "the encoder is stored")

        let resumed = trainer(.autoencoder, epochs: 2, directory: directory, adversarialSteps: 2)
        var resumedState = try resumed.restore(from: checkpoint)
        XCTAssertEqual(try resumed.run(state: &resumedState) { _ in .proceed }, .completed)
        XCTAssertEqual(resumedState, straightState)
        XCTAssertEqual(resumed.generator.namedTensors, straight.generator.namedTensors)
        XCTAssertEqual(resumed.autoencoder!.encoder.namedTensors, straight.autoencoder!.encoder.namedTensors)
        XCTAssertEqual(resumed.discriminator.namedTensors, straight.discriminator.namedTensors)
        XCTAssertEqual(resumed.reconstruction.namedTensors, straight.reconstruction.namedTensors)
    }

    /// New configs pretrain as an autoencoder; a config recorded before the field existed pretrained by MLE and
    /// still reads so.
    func testConfigsRecordedBeforeAutoencoderPretrainingReadAsMLE() throws {
        XCTAssertEqual(TextGANConfig().pretraining, .autoencoder)
        let old = try JSONDecoder().decode(TextGANConfig.self, from: Data(#"{"adversarialSteps": 7}"#.utf8))
        XCTAssertEqual(old.pretraining, .mle)
        XCTAssertEqual(old.adversarialSteps, 7)
        XCTAssertNil(trainer(.mle, epochs: 1).autoencoder)
    }
}
