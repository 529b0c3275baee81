import Foundation
import Layers
import Models
import NumericCore
import TestSupport
import Training
import XCTest

// Adversarial training of D: the loss on perturbed embeddings and its gradients (D's parameters, the embedding
// table through the perturbed rows, δ), the mixing rate, "off" meaning off, the recorded accuracies, and a resume.

final class AdversarialTrainingTests: XCTestCase {
    private let config = CNNDiscriminatorConfig(
        vocabularySize: 10, sequenceLength: 6, embeddingSize: 5,
        widths: [ConvolutionWidth(width: 1, filters: 4), ConvolutionWidth(width: 2, filters: 4),
                 ConvolutionWidth(width: 3, filters: 3)],
        keepProbability: 0.75, l2: 0.2, initStd: 0.5)
    /// No token repeats within a sequence, so no two windows tie for a max (where the loss has no gradient).
    private let distinct: [[Int32]] = [[4, 5, 6, 7, 8, 2], [9, 3, 1, 0, 5, 6], [8, 4, 9, 5, 7, 6], [0, 1, 2, 3, 4, 5]]
    private let labels: [Int32] = [1, 0, 1, 0]
    private let fixed: Set<Int32> = [0, 1, 2, 3]

    private func discriminator(seed: UInt64 = 3, representations: Int = 1) -> CNNDiscriminator {
        var rng = SeededGenerator(seed: seed)
        var c = config
        c.representations = representations
        return CNNDiscriminator(c, using: &rng)
    }

    private func randomTensor(_ shape: [Int], scale: Float, seed: UInt64) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in scale * (2 * rng.nextFloat() - 1) })
    }

    /// L(θ, δ) = D's loss on embedding(x) + δ: the analytic gradients of every parameter — the
    /// embedding table's being the gradient at the perturbed rows scattered to their tokens — and of δ match central
    /// differences, for token inputs and for soft rows, with one representation and with RelGAN's several.
    func testTheLossOnPerturbedEmbeddingsHasTheRightGradients() throws {
        for (representations, soft) in [(1, false), (1, true), (2, false)] {
            let d = discriminator(representations: representations)
            let ids = d.pack(distinct)
            let W = config.embeddingSize * representations
            let delta = Parameter("delta", randomTensor([ids.count, W], scale: 0.05, seed: 9))
            let rows: Tensor? = soft ? {
                var r = randomTensor([ids.count, config.vocabularySize], scale: 0.1, seed: 11)
                for (n, id) in ids.enumerated() { r[n, Int(id)] += 1 }
                return r
            }() : nil
            func base() -> DiscriminatorInput { rows.map { .rows($0) } ?? .tokens(ids) }
            func loss(backward: Bool) -> (Float, Tensor?) {
                var unused = SeededGenerator(seed: 0)
                let pass = d.forward(.perturbed(base(), delta: delta.value), training: false, using: &unused)
                let (value, dLogits) = CrossEntropyGANLoss().discriminatorLoss(logits: pass.viewLogits,
                                                                               labels: pass.viewLabels(labels))
                return (value, backward ? d.backward(pass, logitGradient: dLogits, featureGradient: nil) : nil)
            }
            d.zeroGrad()
            let (_, dDelta) = loss(backward: true)
            let targets = d.parameters.map { ($0, analytic: $0.grad) } + [(delta, analytic: try XCTUnwrap(dDelta))]
            // The entries are well above the tolerance: a gradient missing from the table or δ would fail the check.
            XCTAssertGreaterThan(d.embedding.table.grad.scalars.map(abs).max()!, 1e-2, "the perturbed rows' gradient reaches the table")
            XCTAssertGreaterThan(dDelta!.scalars.map(abs).max()!, 1e-2)
            assertGradientsMatch(targets, options: GradientCheckOptions(epsilon: 1e-3, relativeTolerance: 3e-2,
                                                                        absoluteTolerance: 4e-4)) {
                Double(loss(backward: false).0)
            }
            // δ = 0 is the clean input, bit for bit.
            var unused = SeededGenerator(seed: 0)
            let clean = d.forward(base(), training: false, using: &unused).logits
            let zero = d.forward(.perturbed(base(), delta: Tensor(zeros: [ids.count, W])), training: false, using: &unused).logits
            XCTAssertEqual(zero.scalars.map(\.bitPattern), clean.scalars.map(\.bitPattern))
        }
    }

    /// ⌊B·rate⌋ members are attacked, spread over the batch; δ is zero outside them and on special tokens, inside the
    /// ball on them, and the accuracies are counted on exactly them.
    func testTheMixingRateIsRespected() throws {
        let d = discriminator()
        var rng = SeededGenerator(seed: 5)
        let batch: [[Int32]] = (0..<20).map { _ in (0..<5).map { _ in Int32(4 + rng.nextInt(below: 6)) } + [2] }
        let batchLabels = (0..<20).map { Int32($0 % 2) }
        // Decimal rates whose products are not exact in binary still attack ⌊B·rate⌋ (100 · 0.29 is 28.999…996).
        for (rate, expected) in [(0.29, 29), (0.57, 57)] {
            let mixer = try XCTUnwrap(AdversarialExamples(AdversarialTrainingConfig(rate: rate, epsilon: 0.2), fixedTokens: fixed))
            XCTAssertEqual(mixer.attackedMembers(count: 100).count, expected, "rate \(rate)")
        }
        for (rate, expected) in [(0.25, 5), (0.3, 6), (0.5, 10), (1.0, 20), (0.04, 0)] {
            for attack in [AdversarialTrainingConfig(rate: rate, epsilon: 0.2),
                           AdversarialTrainingConfig(rate: rate, attack: .pgd, norm: .l2, epsilon: 0.5, steps: 3)] {
                let mixer = try XCTUnwrap(AdversarialExamples(attack, fixedTokens: fixed))
                let members = mixer.attackedMembers(count: batch.count)
                XCTAssertEqual(members.count, expected, "rate \(rate)")
                if rate == 0.5 { XCTAssertEqual(members, Array(stride(from: 1, to: 20, by: 2))) }
                var tally = RobustnessTally()
                let ids = d.pack(batch)
                let mixed = try mixer.mix(.tokens(ids), labels: batchLabels, discriminator: d, tally: &tally)
                XCTAssertEqual(tally.attacked, expected)
                guard expected > 0 else {
                    guard case .tokens = mixed else { return XCTFail("nothing attacked: the input is left as it is") }
                    continue
                }
                guard case .perturbed(.tokens(let base), let delta) = mixed else { return XCTFail("\(mixed)") }
                XCTAssertEqual(base, ids)
                let (T, W) = (config.sequenceLength, config.embeddingSize)
                for b in 0..<batch.count {
                    let entries = (b * T * W)..<((b + 1) * T * W)
                    let moved = entries.contains { delta.scalars[$0] != 0 }
                    XCTAssertEqual(moved, members.contains(b), "member \(b) at rate \(rate)")
                    if attack.norm == .linf {
                        XCTAssertTrue(entries.allSatisfy { abs(delta.scalars[$0]) <= attack.epsilon })
                    } else {
                        let norm = entries.reduce(Float(0)) { $0 + delta.scalars[$1] * delta.scalars[$1] }.squareRoot()
                        XCTAssertLessThanOrEqual(norm, attack.epsilon * (1 + 1e-5))
                    }
                    for t in 0..<T where fixed.contains(ids[b * T + t]) {
                        XCTAssertTrue((0..<W).allSatisfy { delta.scalars[(b * T + t) * W + $0] == 0 }, "a special token moved")
                    }
                }
                XCTAssertLessThanOrEqual(tally.robustCorrect, tally.attacked)
            }
        }
    }

    /// The attack lowers D's accuracy on the members it attacks (its robust accuracy is below the clean one on a D
    /// that gets most of them right), and soft rows (a relaxed generator's) are attacked as tokens are.
    func testRobustAccuracyFallsBelowCleanAndSoftRowsAreAttacked() throws {
        let d = discriminator()
        var rng = SeededGenerator(seed: 8)
        let real: [[Int32]] = (0..<64).map { _ in (0..<5).map { _ in Int32(4 + rng.nextInt(below: 3)) } + [2] }
        let fake: [[Int32]] = (0..<64).map { _ in (0..<5).map { _ in Int32(7 + rng.nextInt(below: 3)) } + [2] }
        let optimizer = Adam(d.parameters, config: .init(learningRate: 0.01))
        _ = try trainDiscriminator(d, optimizer: optimizer, positives: real, negatives: fake, epochs: 6, batchSize: 16,
                                   using: &rng)
        let mixer = try XCTUnwrap(AdversarialExamples(AdversarialTrainingConfig(rate: 1, epsilon: 1), fixedTokens: fixed))
        var tally = RobustnessTally()
        let labels = [Int32](repeating: 1, count: 32) + [Int32](repeating: 0, count: 32)
        _ = try mixer.mix(.tokens(d.pack(Array(real.prefix(32)) + Array(fake.prefix(32)))), labels: labels,
                          discriminator: d, tally: &tally)
        XCTAssertGreaterThan(tally.metrics["d_accuracy_clean"]!, 0.9)
        XCTAssertLessThan(tally.metrics["d_accuracy_robust"]!, tally.metrics["d_accuracy_clean"]! - 0.3)

        var rows = Tensor(zeros: [32 * config.sequenceLength, config.vocabularySize])
        for (n, id) in d.pack(Array(fake.prefix(32))).enumerated() { rows[n, Int(id)] = 1 }
        var soft = RobustnessTally()
        let mixed = try mixer.mix(.rows(rows), labels: [Int32](repeating: 0, count: 32), discriminator: d, tally: &soft)
        guard case .perturbed(.rows, let delta) = mixed else { return XCTFail("\(mixed)") }
        XCTAssertGreaterThan(delta.squaredNorm, 0)
        XCTAssertEqual(soft.attacked, 32)
        XCTAssertLessThanOrEqual(soft.robustCorrect, soft.cleanCorrect)
        func loss(_ input: DiscriminatorInput) -> Float {
            var unused = SeededGenerator(seed: 0)
            let logits = d.forward(input, training: false, using: &unused).logits
            return CrossEntropyGANLoss().discriminatorLoss(logits: logits, labels: [Int32](repeating: 0, count: 32)).loss
        }
        XCTAssertGreaterThan(loss(mixed), loss(.rows(rows)) + 0.01, "the attack raises D's loss on the soft rows")
    }

    func testRateZeroOrEpsilonZeroIsOff() {
        XCTAssertNil(AdversarialExamples(AdversarialTrainingConfig(rate: 0, epsilon: 0.5), fixedTokens: []))
        XCTAssertNil(AdversarialExamples(AdversarialTrainingConfig(rate: 0.5, epsilon: 0), fixedTokens: []))
        XCTAssertNotNil(AdversarialExamples(AdversarialTrainingConfig(rate: 0.5, epsilon: 0.1), fixedTokens: []))
        XCTAssertEqual(RobustnessTally().metrics, [:], "no accuracies are recorded when nothing was attacked")
    }

    // MARK: - In the trainers

    /// A tiny generator and this file's discriminator, seeded.
    private func models(seed: UInt64) -> (LSTMGenerator, CNNDiscriminator) {
        var rng = SeededGenerator(seed: seed)
        let g = LSTMGenerator(LSTMGeneratorConfig(vocabularySize: 10, embeddingSize: 4, hiddenSize: 6, maxLength: 6,
                                                  startToken: 1, endToken: 2), using: &rng)
        return (g, CNNDiscriminator(config, using: &rng))
    }

    private func gumbelTrainer(directory: URL?, adversarial: AdversarialTrainingConfig?) -> GumbelTrainer {
        let (g, d) = models(seed: 3)
        var data = SeededGenerator(seed: 7)
        let positives = SequenceDataset(sequences: (0..<32).map { _ in
            let s = data.nextInt(below: 3)
            return (0..<4).map { Int32(4 + (s + $0) % 6) } + [2]
        })
        var gumbel = GumbelConfig()
        gumbel.adversarialSteps = 4
        gumbel.discriminatorSteps = 2
        gumbel.batchSize = 8
        gumbel.maximumInverseTemperature = 10
        gumbel.evaluateEvery = 2
        let trainer = GumbelTrainer(generator: g, discriminator: d, positives: positives,
                                    pretrain: MLEConfig(epochs: 1, batchSize: 8, logEvery: 1, samplesPerEpoch: 0),
                                    config: gumbel)
        trainer.checkpointDirectory = directory
        trainer.adversarialExamples = adversarial.flatMap { AdversarialExamples($0, fixedTokens: fixed) }
        return trainer
    }

    private func seqganTrainer(directory: URL?, adversarial: AdversarialTrainingConfig?) -> SeqGANTrainer {
        let (g, d) = models(seed: 4)
        let positives = SequenceDataset(sequences: (0..<32).map { i in (0..<4).map { Int32(4 + (i + $0) % 6) } + [2] })
        var seqgan = SeqGANConfig()
        (seqgan.discriminatorPretrainRounds, seqgan.discriminatorPretrainEpochs, seqgan.adversarialSteps) = (1, 1, 2)
        (seqgan.discriminatorRounds, seqgan.discriminatorEpochs, seqgan.rollouts, seqgan.negatives) = (1, 1, 2, 32)
        (seqgan.generatorBatchSize, seqgan.discriminatorBatchSize, seqgan.evaluateEvery) = (8, 8, 1)
        let trainer = SeqGANTrainer(generator: g, discriminator: d, positives: positives,
                                    pretrain: MLEConfig(epochs: 1, batchSize: 8, logEvery: 1, samplesPerEpoch: 0),
                                    config: seqgan)
        trainer.checkpointDirectory = directory
        trainer.adversarialExamples = adversarial.flatMap { AdversarialExamples($0, fixedTokens: fixed) }
        return trainer
    }

    /// Off (rate 0, or ε = 0) trains bit for bit as without the section; on, it trains differently and records D's
    /// clean and robust accuracy on the attacked members at every D step.
    func testOffIsBitIdenticalAndOnRecordsCleanAndRobustAccuracy() throws {
        func run(_ adversarial: AdversarialTrainingConfig?) throws -> (GumbelTrainer, [[String: Double]]) {
            let trainer = gumbelTrainer(directory: nil, adversarial: adversarial)
            var state = GumbelState(seed: 4), steps: [[String: Double]] = []
            _ = try trainer.run(state: &state) { event in
                if case .step("adversarial", _, _, let metrics, _) = event { steps.append(metrics) }
                return .proceed
            }
            return (trainer, steps)
        }
        let (plain, plainSteps) = try run(nil)
        for off in [AdversarialTrainingConfig(rate: 0, epsilon: 0.5), AdversarialTrainingConfig(rate: 0.5, epsilon: 0)] {
            let (trainer, steps) = try run(off)
            XCTAssertEqual(trainer.discriminator.namedTensors, plain.discriminator.namedTensors)
            XCTAssertEqual(trainer.generator.namedTensors, plain.generator.namedTensors)
            XCTAssertEqual(steps, plainSteps)
        }
        let (hardened, steps) = try run(AdversarialTrainingConfig(rate: 0.5, attack: .pgd, epsilon: 0.3, steps: 2))
        XCTAssertNotEqual(hardened.discriminator.namedTensors, plain.discriminator.namedTensors)
        XCTAssertEqual(steps.count, 4)
        for metrics in steps {
            XCTAssertNotNil(metrics["d_accuracy_clean"])
            XCTAssertNotNil(metrics["d_accuracy_robust"])
        }
        XCTAssertNil(plainSteps[0]["d_accuracy_robust"])

        // SeqGAN's D rounds (the shared `trainDiscriminator`): the same.
        func seqgan(_ adversarial: AdversarialTrainingConfig?) throws -> (SeqGANTrainer, [String]) {
            let trainer = seqganTrainer(directory: nil, adversarial: adversarial)
            var state = SeqGANState(seed: 6), keys: [String] = []
            _ = try trainer.run(state: &state) { event in
                if case .step("discriminator", _, _, let metrics, _) = event { keys += metrics.keys.sorted() }
                return .proceed
            }
            return (trainer, keys)
        }
        let (plainSeqGAN, plainKeys) = try seqgan(nil)
        let (offSeqGAN, _) = try seqgan(AdversarialTrainingConfig(rate: 0, epsilon: 1))
        XCTAssertEqual(offSeqGAN.discriminator.namedTensors, plainSeqGAN.discriminator.namedTensors)
        let (onSeqGAN, keys) = try seqgan(AdversarialTrainingConfig(rate: 0.25, epsilon: 0.5))
        XCTAssertNotEqual(onSeqGAN.discriminator.namedTensors, plainSeqGAN.discriminator.namedTensors)
        XCTAssertFalse(plainKeys.contains("d_accuracy_robust"))
        XCTAssertTrue(keys.contains("d_accuracy_robust") && keys.contains("d_accuracy_clean"))
    }

    /// With PGD examples in every D step, a run stopped after its first adversarial step and resumed in a fresh
    /// trainer ends bit-identical to one that ran straight through.
    func testAResumeWithAdversarialTrainingIsBitIdentical() throws {
        let adversarial = AdversarialTrainingConfig(rate: 0.5, attack: .pgd, norm: .l2, epsilon: 0.5, steps: 2)
        let straight = gumbelTrainer(directory: nil, adversarial: adversarial)
        var straightState = GumbelState(seed: 4)
        _ = try straight.run(state: &straightState) { _ in .proceed }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("textgan-adv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let first = gumbelTrainer(directory: directory, adversarial: adversarial)
        var state = GumbelState(seed: 4)
        let outcome = try first.run(state: &state) { event in
            if case .step("adversarial", 1, _, _, _) = event { return .stop }
            return .proceed
        }
        XCTAssertEqual(outcome, .stopped)
        let second = gumbelTrainer(directory: directory, adversarial: adversarial)
        var resumed = try second.restore(from: directory.appendingPathComponent("latest.safetensors"))
        XCTAssertEqual(resumed.adversarialStep, 1)
        _ = try second.run(state: &resumed) { _ in .proceed }
        XCTAssertEqual(resumed, straightState)
        XCTAssertEqual(second.discriminator.namedTensors, straight.discriminator.namedTensors)
        XCTAssertEqual(second.generator.namedTensors, straight.generator.namedTensors)
    }
}
