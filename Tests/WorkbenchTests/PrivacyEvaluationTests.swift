import Metrics
import Models
import NumericCore
import Training
@testable import Workbench
import XCTest

// The membership attack on real generators: chance for a model that has seen neither set, well above it for one
// overfit on its training set; and per-sentence NLLs against the generator's own batch NLL.

final class PrivacyEvaluationTests: XCTestCase {
    /// Two disjoint sets of 150 random sequences over 12 tokens, of the same distribution (lengths 5…8).
    private func sets() -> (train: [[Int32]], heldOut: [[Int32]]) {
        var rng = SeededGenerator(seed: 21)
        var seen = Set<[Int32]>()
        var all: [[Int32]] = []
        while all.count < 300 {
            let s = (0..<Int.random(in: 5...8, using: &rng)).map { _ in Int32.random(in: 0..<12, using: &rng) }
            if seen.insert(s).inserted { all.append(s) }
        }
        return (Array(all.prefix(150)), Array(all.suffix(150)))
    }

    private func generator(seed: UInt64) -> any SequenceGenerator {
        var rng = SeededGenerator(seed: seed)
        return LSTMGeneratorConfig(vocabularySize: 12, embeddingSize: 16, hiddenSize: 48, maxLength: 8)
            .makeGenerator(using: &rng)
    }

    func testSentenceNLLsAgreeWithTheBatchNLL() {
        let g = generator(seed: 1)
        let (train, _) = sets()
        let batch = Array(train.prefix(10))
        let perToken = sentenceNLLs(g, batch, batchSize: 4), total = sentenceNLLs(g, batch, perToken: false, batchSize: 3)
        for (s, (mean, sum)) in zip(batch, zip(perToken, total)) {
            let alone = Double(g.weightedNLL(TokenBatch(sequences: [s], length: s.count), backward: false))
            XCTAssertEqual(mean, alone, accuracy: 1e-4)
            XCTAssertEqual(sum, alone * Double(s.count), accuracy: 1e-3)
        }
    }

    func testMembershipAUCIsChanceUnseenAndRisesWhenOverfit() throws {
        let (train, heldOut) = sets()
        let g = generator(seed: 2)
        func auc() -> Double {
            PrivacyMetrics.membershipAUC(memberNLL: sentenceNLLs(g, train), nonMemberNLL: sentenceNLLs(g, heldOut))
        }
        let untrained = auc()
        XCTAssertEqual(untrained, 0.5, accuracy: 0.08, "a model that has seen neither set")

        // Overfit on the training set: 150 sequences, many epochs of full-batch Adam.
        let optimizer = Adam(g.parameters, config: .init(learningRate: 0.02))
        let batch = TokenBatch(sequences: train, length: 8)
        for _ in 0..<250 {
            g.zeroGrad()
            g.weightedNLL(batch, backward: true)
            optimizer.update()
        }
        let overfit = auc()
        XCTAssertGreaterThan(overfit, 0.8, "a model that memorised its training set (untrained: \(untrained))")

        // The reference variant with an untrained reference: the same ranking up to the reference's noise.
        let reference = generator(seed: 3)
        let calibrated = PrivacyMetrics.membershipAUC(
            memberNLL: sentenceNLLs(g, train), nonMemberNLL: sentenceNLLs(g, heldOut),
            referenceMemberNLL: sentenceNLLs(reference, train), referenceNonMemberNLL: sentenceNLLs(reference, heldOut))
        XCTAssertGreaterThan(calibrated, 0.8)
    }
}
