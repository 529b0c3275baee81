import Foundation
import Layers
import Models
import NumericCore
import TestSupport
@testable import Training
import XCTest

/// TextGAN: its objectives' gradients, the direction of each player's feature-matching term, and a seeded run with a
/// bit-identical resume.
final class TextGANTests: XCTestCase {
    private func features(_ seed: UInt64, _ n: Int, shift: Float = 0) -> Parameter {
        var rng = SeededGenerator(seed: seed)
        return Parameter("f\(seed)", Tensor(randomNormal: [n, 3], mean: shift, using: &rng))
    }

    /// √MMD² and first-moment matching against central differences in both sets (MMD² itself: MMDTests).
    func testFeatureDistanceGradientsMatchCentralDifferences() {
        for kind in FeatureMatching.allCases {
            let (fake, real) = (features(1, 5, shift: 0.5), features(2, 4))
            let distance = FeatureDistance(kind: kind, mmd: GaussianMMD(bandwidths: [0.5, 2]))
            let (_, dFake, dReal) = distance(fake.value, real.value)
            assertGradientsMatch([(fake, dFake), (real, dReal)],
                                 options: GradientCheckOptions(epsilon: 1e-2, relativeTolerance: 1e-2)) {
                distance(fake.value, real.value).value
            }
        }
    }

    func testMomentMatchingIsTheSquaredDistanceOfTheMeans() {
        let fake = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), real = Tensor(shape: [1, 2], scalars: [0, 1])
        // means (2, 3) and (0, 1): ‖(2, 2)‖² = 8
        XCTAssertEqual(FeatureDistance(kind: .moment)(fake, real).value, 8, accuracy: 1e-12)
        let mmd2 = FeatureDistance(kind: .mmd2)(fake, real).value
        XCTAssertEqual(FeatureDistance(kind: .mmd)(fake, real).value, mmd2.squareRoot(), accuracy: 1e-12)
    }

    func testSmoothedClassificationLossGradientMatchesCentralDifferences() {
        var rng = SeededGenerator(seed: 4)
        let real = Parameter("real", Tensor(randomNormal: [5, 2], using: &rng))
        let fake = Parameter("fake", Tensor(randomNormal: [3, 2], using: &rng))
        for eps: Float in [0, 0.01, 0.2] {
            let (_, dReal, dFake) = smoothedClassificationLoss(real: real.value, fake: fake.value, smoothing: eps)
            assertGradientsMatch([(real, dReal), (fake, dFake)]) {
                smoothedClassificationLoss(real: real.value, fake: fake.value, smoothing: eps).value
            }
        }
        // Certain and right: the loss is the smoothing's floor, −2·log(1 − ε).
        let sure = Tensor(shape: [1, 2], scalars: [-30, 30]), sureFake = Tensor(shape: [1, 2], scalars: [30, -30])
        XCTAssertEqual(smoothedClassificationLoss(real: sure, fake: sureFake, smoothing: 0.01).value,
                       -2 * Foundation.log(0.99 + 1e-6), accuracy: 1e-6)
    }

    func testReconstructionHeadGradientsMatchCentralDifferences() {
        for prior in LatentPrior.allCases {
            var rng = SeededGenerator(seed: 6)
            let head = ReconstructionHead(features: 4, hiddenSize: 3, latentSize: 2, prior: prior, using: &rng)
            for p in head.parameters { p.value = Tensor(randomNormal: p.value.shape, std: 0.8, using: &rng) }
            let f = Parameter("features", Tensor(randomNormal: [5, 4], using: &rng))
            let z = Tensor(randomUniform: [5, 2], low: -1, high: 1, using: &rng)
            head.zeroGrad()
            let (_, dFeatures) = head.loss(features: f.value, codes: z, backward: true)
            assertGradientsMatch(head.parameters.map { ($0, $0.grad) } + [(f, dFeatures!)]) {
                head.loss(features: f.value, codes: z, backward: false).value
            }
        }
    }

    private let tinyDiscriminator = CNNDiscriminatorConfig(
        vocabularySize: 7, sequenceLength: 5, embeddingSize: 4,
        widths: [ConvolutionWidth(width: 2, filters: 3), ConvolutionWidth(width: 3, filters: 3)], keepProbability: 1)

    private func tinyTrainer(directory: URL? = nil, configure: (inout TextGANConfig) -> Void = { _ in }) -> TextGANTrainer {
        var rng = SeededGenerator(seed: 3)
        let g = LatentLSTMGenerator(LatentLSTMGeneratorConfig(vocabularySize: 7, embeddingSize: 4, hiddenSize: 6,
                                                              latentSize: 3, maxLength: 5, startToken: 1, endToken: 2),
                                    using: &rng)
        let d = CNNDiscriminator(tinyDiscriminator, using: &rng)
        var data = SeededGenerator(seed: 7)
        let positives = SequenceDataset(sequences: (0..<32).map { _ in
            let s = data.nextInt(below: 3)
            return (0..<4).map { Int32(3 + (s + $0) % 4) } + [2]
        })
        var config = TextGANConfig()
        config.discriminatorPretrainRounds = 1
        config.adversarialSteps = 4
        config.batchSize = 8
        config.evaluateEvery = 2
        config.sharpness = 5
        config.reconstructionHidden = 5
        configure(&config)
        let trainer = TextGANTrainer(generator: g, discriminator: d, positives: positives,
                                     pretrain: MLEConfig(epochs: 2, batchSize: 8, logEvery: 1, samplesPerEpoch: 0),
                                     config: config, using: &rng)
        trainer.checkpointDirectory = directory
        return trainer
    }

    /// With the adversarialTraining section on, TextGAN's D steps (pretraining rounds and adversarial steps) train on
    /// adversarial examples of the real batch and of the soft-argmax decodings and record D's clean and robust
    /// accuracy; with it off the run is bit for bit the plain one.
    func testAdversarialTrainingReachesBothOfItsDSteps() throws {
        func run(_ adversarial: AdversarialTrainingConfig?) throws -> (TextGANTrainer, [String: Set<String>]) {
            let trainer = tinyTrainer()
            trainer.adversarialExamples = adversarial.flatMap { AdversarialExamples($0, fixedTokens: [0, 1, 2]) }
            var state = TextGANState(seed: 4), keys: [String: Set<String>] = [:]
            _ = try trainer.run(state: &state) { event in
                if case .step(let phase, _, _, let metrics, _) = event { keys[phase, default: []].formUnion(metrics.keys) }
                return .proceed
            }
            return (trainer, keys)
        }
        let (plain, plainKeys) = try run(nil)
        let (off, _) = try run(AdversarialTrainingConfig(rate: 0.5, epsilon: 0))
        XCTAssertEqual(off.discriminator.namedTensors, plain.discriminator.namedTensors)
        XCTAssertEqual(off.generator.namedTensors, plain.generator.namedTensors)
        let (on, keys) = try run(AdversarialTrainingConfig(rate: 0.5, attack: .pgd, epsilon: 0.3, steps: 2))
        XCTAssertNotEqual(on.discriminator.namedTensors, plain.discriminator.namedTensors)
        for phase in ["discriminator", "adversarial"] {
            XCTAssertTrue(keys[phase, default: []].isSuperset(of: ["d_accuracy_clean", "d_accuracy_robust"]), phase)
            XCTAssertFalse(plainKeys[phase, default: []].contains("d_accuracy_robust"), phase)
        }
    }

    /// The MMD's gradient reaches every generator tensor through the soft-argmax decoding (TextBox samples under
    /// no_grad, so its generator gets none): one G step moves each of them.
    func testTheGeneratorReceivesTheFeatureMatchingGradient() throws {
        let trainer = tinyTrainer { $0.generatorLearningRate = 1e-3 }
        var rng = SeededGenerator(seed: 9)
        let before = trainer.generator.namedTensors
        let real = Array(trainer.positives.sequences.prefix(8))
        let codes = trainer.latentGenerator.drawLatents(count: 8, using: &rng)
        let metrics = try trainer.generatorStep(real: real, codes: codes, step: 1, rng: &rng)
        XCTAssertGreaterThan(metrics["g_gradient_norm"]!, 0)
        let after = trainer.generator.namedTensors
        for (name, value) in before { XCTAssertNotEqual(after[name], value, "\(name) moved") }
    }

    /// D's step follows −λ_fm·d: with the feature term dominating, it raises the discrepancy between the same real
    /// batch and the same codes' decodings (Texygen's sign would lower it); the opposite weight lowers it.
    func testTheDiscriminatorStepMaximisesTheFeatureDistance() throws {
        for (weight, grows) in [(Float(50), true), (-50, false)] {
            let trainer = tinyTrainer {
                $0.featureMatchingWeight = weight
                $0.reconstructionWeight = 0
                $0.discriminatorLearningRate = 1e-2
                $0.featureMatching = .mmd2
                $0.bandwidths = [0.5, 1, 2]
            }
            var rng = SeededGenerator(seed: 10)
            let real = Array(trainer.positives.sequences.prefix(8))
            let codes = trainer.latentGenerator.drawLatents(count: 8, using: &rng)
            let start = trainer.featureDistance(real: real, codes: codes)
            for _ in 0..<5 { _ = try trainer.discriminatorStep(real: real, codes: codes, step: 1, rng: &rng) }
            let end = trainer.featureDistance(real: real, codes: codes)
            if grows { XCTAssertGreaterThan(end, start) } else { XCTAssertLessThan(end, start) }
        }
    }

    /// Against a fixed D, G's steps lower the feature distance it minimises.
    func testGeneratorStepsLowerTheFeatureDistanceToAFixedDiscriminator() throws {
        let trainer = tinyTrainer {
            $0.generatorLearningRate = 2e-2
            $0.featureMatching = .mmd2
            $0.bandwidths = [0.5, 1, 2]
        }
        var rng = SeededGenerator(seed: 12)
        let real = Array(trainer.positives.sequences.prefix(8))
        let codes = trainer.latentGenerator.drawLatents(count: 8, using: &rng)
        let start = trainer.featureDistance(real: real, codes: codes)
        for step in 1...30 { _ = try trainer.generatorStep(real: real, codes: codes, step: step, rng: &rng) }
        XCTAssertLessThan(trainer.featureDistance(real: real, codes: codes), 0.7 * start)
    }

    /// A seeded run goes MLE → D pretraining → adversarial → done with finite losses; stopped after its first
    /// adversarial step and resumed in a fresh trainer (reconstruction head and optimizers included), it ends
    /// bit-identical.
    func testASeededRunAndItsMidAdversarialResumeAreBitIdentical() throws {
        let straight = tinyTrainer()
        var straightState = TextGANState(seed: 4)
        var steps = 0
        _ = try straight.run(state: &straightState) { event in
            if case .step("adversarial", _, _, let metrics, _) = event {
                steps += 1
                for key in ["g_loss", "d_loss", "d_reconstruction", "d_feature_distance"] {
                    XCTAssertTrue(metrics[key]!.isFinite, key)
                }
            }
            return .proceed
        }
        XCTAssertEqual(straightState.phase, .done)
        XCTAssertEqual(steps, 4)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("textgan-textgan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let first = tinyTrainer(directory: directory)
        var state = TextGANState(seed: 4)
        let outcome = try first.run(state: &state) { event in
            if case .step("adversarial", 1, _, _, _) = event { return .stop }
            return .proceed
        }
        XCTAssertEqual(outcome, .stopped)
        let second = tinyTrainer(directory: directory)
        var resumed = try second.restore(from: directory.appendingPathComponent("latest.safetensors"))
        XCTAssertEqual(resumed.adversarialStep, 1)
        _ = try second.run(state: &resumed) { _ in .proceed }
        XCTAssertEqual(resumed, straightState)
        XCTAssertEqual(second.generator.namedTensors, straight.generator.namedTensors)
        XCTAssertEqual(second.discriminator.namedTensors, straight.discriminator.namedTensors)
        XCTAssertEqual(second.reconstruction.namedTensors, straight.reconstruction.namedTensors)
    }
}
