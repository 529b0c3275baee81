import Layers
import Models
import NumericCore
import TestSupport
import Training
import XCTest

// FGSM and PGD on a discriminator's input embeddings, and the projection back to tokens.

final class EmbeddingAttackTests: XCTestCase {
    private let config = CNNDiscriminatorConfig(
        vocabularySize: 10, sequenceLength: 6, embeddingSize: 5,
        widths: [ConvolutionWidth(width: 1, filters: 4), ConvolutionWidth(width: 2, filters: 4),
                 ConvolutionWidth(width: 3, filters: 3)],
        keepProbability: 0.75, l2: 0.2, initStd: 0.5)
    private let sequences: [[Int32]] = [[4, 5, 6, 2], [7, 8, 9, 4, 5, 2], [6, 6, 2], [9, 4, 7, 8, 2]]
    private let labels: [Int32] = [1, 0, 1, 0]
    /// Ids 4…9 are words; 0…3 (pad, bos, eos, unk) never move.
    private let words: [Int32] = Array(4...9)

    private func discriminator(seed: UInt64 = 3) -> CNNDiscriminator {
        var rng = SeededGenerator(seed: seed)
        return CNNDiscriminator(config, using: &rng)
    }

    func testEmbeddedInputMatchesTokensAndItsGradientIsRight() throws {
        let d = discriminator()
        // No token repeats within a sequence, so no two windows tie for a max (where the loss has no gradient).
        let distinct: [[Int32]] = [[4, 5, 6, 7, 8, 2], [9, 3, 1, 0, 5, 6], [8, 4, 9, 5, 7, 6], [0, 1, 2, 3, 4, 5]]
        let batch = try EmbeddedBatch(distinct, discriminator: d, allowed: Set(words))
        var unused = SeededGenerator(seed: 0)
        let byTokens = d.forward(.tokens(batch.ids), training: false, using: &unused)
        let byRows = d.forward(.embedded(batch.embedded), training: false, using: &unused)
        XCTAssertEqual(byRows.logits.scalars.map(\.bitPattern), byTokens.logits.scalars.map(\.bitPattern))

        let x = Parameter("embedded", batch.embedded)
        let (_, gradient) = EmbeddingAttacks.lossAndGradient(d, embedded: x.value, labels: labels)
        XCTAssertTrue(d.parameters.allSatisfy { $0.grad.scalars.allSatisfy { $0 == 0 } }, "D's gradients are left zero")
        assertGradientsMatch([(x, gradient)], options: GradientCheckOptions(epsilon: 1e-3, relativeTolerance: 3e-2,
                                                                             absoluteTolerance: 1e-4)) {
            Double(EmbeddingAttacks.lossAndGradient(d, embedded: x.value, labels: labels).loss)
        }
    }

    func testFGSMIsSignOfTheGradientTimesEpsilonAndRaisesTheLoss() throws {
        let d = discriminator()
        let batch = try EmbeddedBatch(sequences, discriminator: d, allowed: Set(words))
        let (clean, gradient) = EmbeddingAttacks.lossAndGradient(d, embedded: batch.embedded, labels: labels)
        let epsilon: Float = 0.05
        let adversarial = EmbeddingAttacks.perturb(d, batch, labels: labels, attack: EmbeddingAttack(epsilon: epsilon))
        let W = batch.embedded.matrixShape.1
        for n in 0..<batch.ids.count {
            for j in 0..<W {
                let i = n * W + j
                let g = gradient.scalars[i]
                let expected: Float = batch.mask[n] ? (g > 0 ? epsilon : (g < 0 ? -epsilon : 0)) : 0
                XCTAssertEqual(adversarial.scalars[i] - batch.embedded.scalars[i], expected, accuracy: 1e-6,
                               "row \(n) (token \(batch.ids[n])), column \(j)")
            }
        }
        XCTAssertTrue(batch.mask.contains(false) && batch.mask.contains(true), "padding and eos stay, words move")
        let attacked = EmbeddingAttacks.lossAndGradient(d, embedded: adversarial, labels: labels).loss
        XCTAssertGreaterThan(attacked, clean + 1e-3, "FGSM raises D's loss")

        // L2: the step is ε along the gradient of each sequence's perturbable rows.
        let l2 = EmbeddingAttacks.perturb(d, batch, labels: labels, attack: EmbeddingAttack(norm: .l2, epsilon: 0.3))
        let T = batch.length
        for b in 0..<sequences.count {
            let rows = (b * T)..<((b + 1) * T)
            let norm = rows.filter { batch.mask[$0] }.flatMap { r in (0..<W).map { gradient.scalars[r * W + $0] } }
                .reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            for r in rows where batch.mask[r] {
                for j in 0..<W {
                    XCTAssertEqual(l2.scalars[r * W + j] - batch.embedded.scalars[r * W + j],
                                   0.3 * gradient.scalars[r * W + j] / norm, accuracy: 1e-5)
                }
            }
        }
        XCTAssertGreaterThan(EmbeddingAttacks.lossAndGradient(d, embedded: l2, labels: labels).loss, clean)
    }

    func testPGDStaysInItsBallAndBeatsFGSM() throws {
        let d = discriminator()
        let batch = try EmbeddedBatch(sequences, discriminator: d, allowed: Set(words))
        let W = batch.embedded.matrixShape.1, T = batch.length
        for norm in AttackNorm.allCases {
            let epsilon: Float = norm == .linf ? 0.1 : 0.5
            let attack = EmbeddingAttack(norm: norm, epsilon: epsilon, steps: 10)
            let x = EmbeddingAttacks.perturb(d, batch, labels: labels, attack: attack)
            for b in 0..<sequences.count {
                var squared: Float = 0, largest: Float = 0
                for i in (b * T * W)..<((b + 1) * T * W) {
                    let delta = x.scalars[i] - batch.embedded.scalars[i]
                    squared += delta * delta
                    largest = max(largest, abs(delta))
                    if !batch.mask[i / W] { XCTAssertEqual(delta, 0, "a fixed row moved") }
                }
                if norm == .linf { XCTAssertLessThanOrEqual(largest, epsilon + 1e-6) }
                else { XCTAssertLessThanOrEqual(squared.squareRoot(), epsilon * (1 + 1e-5)) }
            }
            let pgd = EmbeddingAttacks.lossAndGradient(d, embedded: x, labels: labels).loss
            let fgsm = EmbeddingAttacks.lossAndGradient(
                d, embedded: EmbeddingAttacks.perturb(d, batch, labels: labels, attack: EmbeddingAttack(norm: norm, epsilon: epsilon)),
                labels: labels).loss
            XCTAssertGreaterThanOrEqual(pgd, fgsm - 1e-4, "\(norm): 10 steps of PGD reach at least FGSM's loss")
        }
        // The projection itself: a point outside is pulled onto the sphere, one inside is left alone.
        let center = Tensor(zeros: [1, 2])
        let ball = EmbeddedBatch(ids: [4], embedded: center, mask: [true], batchSize: 1)
        let far = EmbeddingAttacks.projectOntoBall(Tensor(shape: [1, 2], scalars: [3, 4]), center: center, batch: ball,
                                                   norm: .l2, radius: 1)
        XCTAssertEqual(far.scalars[0], 0.6, accuracy: 1e-6)
        XCTAssertEqual(far.scalars[1], 0.8, accuracy: 1e-6)
        let near = EmbeddingAttacks.projectOntoBall(Tensor(shape: [1, 2], scalars: [0.3, 0.4]), center: center,
                                                    batch: ball, norm: .l2, radius: 1)
        XCTAssertEqual(near.scalars, [0.3, 0.4])
        let clipped = EmbeddingAttacks.projectOntoBall(Tensor(shape: [1, 2], scalars: [3, -0.5]), center: center,
                                                       batch: ball, norm: .linf, radius: 1)
        XCTAssertEqual(clipped.scalars, [1, -0.5])
    }

    func testNearestTokenProjection() {
        // Token rows: 0 (0, 0), 1 (1, 0), 2 (0, 1), 3 (1, 1), 4 (5, 5).
        let table = Tensor(shape: [5, 2], scalars: [0, 0, 1, 0, 0, 1, 1, 1, 5, 5])
        let rows = Tensor(shape: [4, 2], scalars: [0.9, 0.2, 0.4, 0.9, 4, 3.9, 0.1, 0.1])
        let all = EmbeddingAttacks.nearestTokens(rows, table: table, allowed: [0, 1, 2, 3, 4], mask: [true, true, true, true],
                                                 ids: [0, 0, 0, 0])
        XCTAssertEqual(all, [1, 2, 4, 0])
        // Only allowed tokens, only masked rows; an exact tie goes to the smaller id.
        let some = EmbeddingAttacks.nearestTokens(rows, table: table, allowed: [3, 1, 2], mask: [true, true, false, true],
                                                  ids: [9, 9, 9, 9])
        XCTAssertEqual(some, [1, 2, 9, 1])
        let tie = EmbeddingAttacks.nearestTokens(Tensor(shape: [1, 2], scalars: [0.5, 0.5]), table: table,
                                                 allowed: [3, 2, 1, 0], mask: [true], ids: [9])
        XCTAssertEqual(tie, [0], "(0.5, 0.5) is as near to 0, 1, 2 and 3: the smallest id wins")
    }

    func testEvaluateCountsAccuracyUnderAttack() throws {
        // A D that tells these sequences apart (trained on them), then attacked.
        let d = discriminator()
        var rng = SeededGenerator(seed: 8)
        _ = try trainDiscriminator(d, optimizer: Adam(d.parameters, config: .init(learningRate: 0.01)),
                                   positives: zip(sequences, labels).filter { $0.1 == 1 }.map(\.0),
                                   negatives: zip(sequences, labels).filter { $0.1 == 0 }.map(\.0),
                                   epochs: 60, batchSize: 4, using: &rng)
        let none = try EmbeddingAttacks.evaluate(d, sequences: sequences, labels: labels,
                                                 attack: EmbeddingAttack(epsilon: 0), allowed: words)
        XCTAssertEqual(none.cleanAccuracy, none.robustAccuracy)
        XCTAssertEqual(none.cleanAccuracy, none.projectedAccuracy)
        XCTAssertEqual(none.changedTokenRate, 0)
        let attacked = try EmbeddingAttacks.evaluate(d, sequences: sequences, labels: labels,
                                                     attack: EmbeddingAttack(epsilon: 0.3, steps: 10), allowed: words)
        XCTAssertEqual(attacked.cleanAccuracy, 1)
        XCTAssertLessThan(attacked.robustAccuracy, attacked.cleanAccuracy)
        // Embeddings are spread over (−1, 1)^5: a small ball keeps every row nearest its own token, a large one not.
        XCTAssertEqual(attacked.changedTokenRate, 0)
        XCTAssertEqual(attacked.projectedAccuracy, 1)
        let large = try EmbeddingAttacks.evaluate(d, sequences: sequences, labels: labels,
                                                  attack: EmbeddingAttack(epsilon: 1.5, steps: 10), allowed: words)
        XCTAssertGreaterThan(large.changedTokenRate, 0)
        for example in large.flipped {
            XCTAssertNotEqual(example.clean, example.adversarial, "a flipped sentence has other tokens")
        }
    }
}
