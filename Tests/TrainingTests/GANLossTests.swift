import Foundation
import Layers
import Models
import NumericCore
import TestSupport
import Training
import XCTest

/// Every GAN loss: its value on a hand-computed case, and its gradients against central differences; and D training
/// with paired batches.
final class GANLossTests: XCTestCase {
    private var rng = SeededGenerator(seed: 31)

    private func logits(_ rows: Int) -> Parameter { Parameter("logits", Tensor(randomNormal: [rows, 2], std: 1.5, using: &rng)) }

    func testCrossEntropyIsTheSoftmaxCrossEntropyAndItsGradient() {
        let loss = CrossEntropyGANLoss()
        XCTAssertFalse(loss.pairsExamples)
        let x = logits(6), labels: [Int32] = [1, 0, 0, 1, 1, 0]
        let (value, gradient) = loss.discriminatorLoss(logits: x.value, labels: labels)
        XCTAssertEqual(value, softmaxCrossEntropy(logits: x.value, targets: labels), accuracy: 1e-6)
        assertGradientsMatch([(x, gradient)]) { Double(loss.discriminatorLoss(logits: x.value, labels: labels).loss) }
        // The generator's side: −mean log D(fake) = the cross-entropy against "real".
        let fake = logits(4)
        let (g, dFake) = loss.generatorLoss(fake: fake.value, real: nil)
        XCTAssertEqual(g, softmaxCrossEntropy(logits: fake.value, targets: [1, 1, 1, 1]), accuracy: 1e-6)
        assertGradientsMatch([(fake, dFake)]) { Double(loss.generatorLoss(fake: fake.value, real: nil).loss) }
    }

    func testRelativisticLossOnAHandComputedCaseAndItsGradients() {
        let loss = RelativisticGANLoss()
        XCTAssertTrue(loss.pairsExamples)
        // Margins: real 2 − 0 = 2 and 0 − 1 = −1; fake 0.5 − 0 = 0.5 and 1 − 0 = 1.
        let x = Tensor(shape: [4, 2], scalars: [0, 2, 1, 0, 0, 0.5, 0, 1])
        let softplus = { (z: Double) in log(1 + exp(z)) }
        let expected = (softplus(-(2 - 0.5)) + softplus(-(-1 - 1))) / 2
        XCTAssertEqual(Double(loss.discriminatorLoss(logits: x, labels: [1, 1, 0, 0]).loss), expected, accuracy: 1e-6)
        let expectedG = (softplus(-(0.5 - 2)) + softplus(-(1 - -1))) / 2
        let fakeRows = Tensor(shape: [2, 2], scalars: [0, 0.5, 0, 1]), realRows = Tensor(shape: [2, 2], scalars: [0, 2, 1, 0])
        XCTAssertEqual(Double(loss.generatorLoss(fake: fakeRows, real: realRows).loss), expectedG, accuracy: 1e-6)

        let both = logits(6), labels: [Int32] = [1, 1, 1, 0, 0, 0]
        let (_, gradient) = loss.discriminatorLoss(logits: both.value, labels: labels)
        assertGradientsMatch([(both, gradient)]) { Double(loss.discriminatorLoss(logits: both.value, labels: labels).loss) }
        let fake = logits(3), real = logits(3).value
        let (_, dFake) = loss.generatorLoss(fake: fake.value, real: real)
        assertGradientsMatch([(fake, dFake)]) { Double(loss.generatorLoss(fake: fake.value, real: real).loss) }
        // A very confident discriminator: the loss is the margin, not an overflow.
        let confident = Tensor(shape: [2, 2], scalars: [0, -60, 0, 60])
        XCTAssertEqual(loss.discriminatorLoss(logits: confident, labels: [1, 0]).loss, 120, accuracy: 1e-3)
    }

    /// RelGAN's family: each D and G loss against its formula on hand-picked margins, and its gradients against
    /// central differences (away from the hinge's kinks).
    func testEveryObjectiveOfTheFamilyAndItsGradients() {
        let softplus = { (z: Double) in log(1 + exp(z)) }
        // rows: real with margin 0.5, real −2, fake 0.25, fake −1.5 (margins l1 − l0)
        let x = Tensor(shape: [4, 2], scalars: [0, 0.5, 1, -1, 0, 0.25, 0.5, -1])
        let labels: [Int32] = [1, 1, 0, 0]
        let (r, f): ([Double], [Double]) = ([0.5, -2], [0.25, -1.5])
        func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
        let expectedD: [GANObjective: Double] = [
            .standard: mean(r.map { softplus(-$0) }) + mean(f.map { softplus($0) }),
            .js: mean(r.map { softplus(-$0) }) + mean(f.map { softplus($0) }),
            .kl: mean(r.map { softplus(-$0) }) + mean(f.map { softplus($0) }),
            .hinge: mean(r.map { max(1 - $0, 0) }) + mean(f.map { max(1 + $0, 0) }),
            .tv: mean(f.map { tanh($0) }) - mean(r.map { tanh($0) }),
            .ls: mean(r.map { ($0 - 1) * ($0 - 1) }) + mean(f.map { $0 * $0 }),
            .wgan: mean(f) - mean(r),
            .wganGP: mean(f) - mean(r),  // the penalty is the trainer's, on D's input rows
        ]
        let expectedG: [GANObjective: Double] = [
            .standard: mean(f.map { softplus(-$0) }), .js: -mean(f.map { softplus($0) }), .kl: -mean(f),
            .hinge: -mean(f), .tv: -mean(f.map { tanh($0) }), .ls: mean(f.map { ($0 - 1) * ($0 - 1) }), .wgan: -mean(f),
            .wganGP: -mean(f),
        ]
        let fakeRows = Tensor(shape: [2, 2], scalars: [0, 0.25, 0.5, -1])
        for objective in GANObjective.allCases where objective != .rsgan {
            let loss = objective.makeLoss()
            XCTAssertEqual(loss.name, objective.rawValue)
            XCTAssertFalse(loss.pairsExamples)
            XCTAssertEqual(Double(loss.discriminatorLoss(logits: x, labels: labels).loss), expectedD[objective]!,
                           accuracy: 1e-6, "\(objective) D")
            XCTAssertEqual(Double(loss.generatorLoss(fake: fakeRows, real: nil).loss), expectedG[objective]!,
                           accuracy: 1e-6, "\(objective) G")
            let both = logits(6), mixed: [Int32] = [1, 0, 0, 1, 1, 0]
            let (_, gradient) = loss.discriminatorLoss(logits: both.value, labels: mixed)
            assertGradientsMatch([(both, gradient)]) { Double(loss.discriminatorLoss(logits: both.value, labels: mixed).loss) }
            let fake = logits(3)
            let (_, dFake) = loss.generatorLoss(fake: fake.value, real: nil)
            assertGradientsMatch([(fake, dFake)]) { Double(loss.generatorLoss(fake: fake.value, real: nil).loss) }
        }
        XCTAssertTrue(GANObjective.rsgan.makeLoss() is RelativisticGANLoss)
        XCTAssertTrue(GANObjective.wgan.clipsDiscriminatorWeights)
        XCTAssertEqual(GANObjective.allCases.filter(\.penalizesGradient), [.wganGP])
        XCTAssertEqual(GANObjective(rawValue: "wgan-gp"), .wganGP)
    }

    /// A loss that records the batches D trains on, then defers to RSGAN.
    private final class RecordingLoss: GANLoss, @unchecked Sendable {
        var labels: [[Int32]] = []
        var name: String { "recording" }
        var pairsExamples: Bool { true }
        func discriminatorLoss(logits: Tensor, labels: [Int32]) -> (loss: Float, gradient: Tensor) {
            self.labels.append(labels)
            return RelativisticGANLoss().discriminatorLoss(logits: logits, labels: labels)
        }
        func generatorLoss(fake: Tensor, real: Tensor?) -> (loss: Float, gradient: Tensor) {
            RelativisticGANLoss().generatorLoss(fake: fake, real: real)
        }
    }

    func testPairedBatchesHoldHalfRealHalfGeneratedAndDLearns() throws {
        var rng = SeededGenerator(seed: 32)
        let d = CNNDiscriminator(CNNDiscriminatorConfig(
            vocabularySize: 12, sequenceLength: 8, embeddingSize: 8,
            widths: [ConvolutionWidth(width: 2, filters: 8), ConvolutionWidth(width: 3, filters: 8)]), using: &rng)
        // Real: counting runs; generated: noise. 70 real and 90 generated: pairs run to the shorter side.
        let real: [[Int32]] = (0..<70).map { _ in let s = rng.nextInt(below: 4); return (0..<8).map { Int32(s + $0) } }
        let fake: [[Int32]] = (0..<90).map { _ in (0..<8).map { _ in Int32(rng.nextInt(below: 12)) } }
        let optimizer = Adam(d.parameters, config: .init(learningRate: 1e-2))
        let loss = RecordingLoss()
        let first = try trainDiscriminator(d, loss: loss, optimizer: optimizer, positives: real, negatives: fake,
                                       epochs: 1, batchSize: 16, using: &rng)
        XCTAssertEqual(loss.labels.count, 70 / 8)
        XCTAssertTrue(loss.labels.allSatisfy { $0 == [Int32](repeating: 1, count: 8) + [Int32](repeating: 0, count: 8) })
        var last = first
        for _ in 0..<8 {
            last = try trainDiscriminator(d, loss: RelativisticGANLoss(), optimizer: optimizer, positives: real,
                                      negatives: fake, epochs: 1, batchSize: 16, using: &rng)
        }
        XCTAssertLessThan(last.loss, first.loss * 0.5, "RSGAN's loss falls: \(first.loss) → \(last.loss)")
        XCTAssertLessThan(last.loss, 0.2)
    }
}
