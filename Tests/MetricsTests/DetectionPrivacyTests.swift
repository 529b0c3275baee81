import Digest
import Foundation
import Metrics
import XCTest

// The detector's and the privacy attacks' metrics on hand-made scores, and ROC-AUC against the pairwise definition.

final class DetectionMetricsTests: XCTestCase {
    func testAUCHandCases() {
        // Perfect separation, perfect inversion, and no information.
        XCTAssertEqual(DetectionMetrics.rocAUC(positives: [0.9, 0.8], negatives: [0.1, 0.2, 0.3]), 1)
        XCTAssertEqual(DetectionMetrics.rocAUC(positives: [0.1], negatives: [0.5, 0.9]), 0)
        XCTAssertEqual(DetectionMetrics.rocAUC(positives: [0.5, 0.5], negatives: [0.5]), 0.5)
        // positives 0.8, 0.4, 0.6; negatives 0.4, 0.2: pairs won 0.8 > both (2), 0.6 > both (2), 0.4 vs 0.4 tie
        // (½) and 0.4 > 0.2 (1): 5.5 of 6.
        XCTAssertEqual(DetectionMetrics.rocAUC(positives: [0.8, 0.4, 0.6], negatives: [0.4, 0.2]), 5.5 / 6, accuracy: 1e-15)
        // A run of ties across both labels: P = {1, 1, 0}, N = {1, 0, 0}: 1 vs 1 ×2 ties (1), 1 vs 0 ×4 (4),
        // 0 vs 1 (0), 0 vs 0 ×2 ties (1): 6 of 9.
        XCTAssertEqual(DetectionMetrics.rocAUC(positives: [1, 1, 0], negatives: [1, 0, 0]), 6.0 / 9, accuracy: 1e-15)
        XCTAssertTrue(DetectionMetrics.rocAUC(positives: [], negatives: [1]).isNaN)
        XCTAssertTrue(DetectionMetrics.rocAUC(positives: [.nan], negatives: [1]).isNaN)
    }

    func testAUCMatchesPairwiseCount() {
        var rng = SplitMix64(seed: 19)
        for _ in 0..<200 {
            // Few distinct values, so ties are common.
            let p = (0..<Int.random(in: 1...12, using: &rng)).map { _ in Double(Int.random(in: 0...4, using: &rng)) }
            let n = (0..<Int.random(in: 1...12, using: &rng)).map { _ in Double(Int.random(in: 0...4, using: &rng)) }
            var wins = 0.0
            for a in p { for b in n { wins += a > b ? 1 : (a == b ? 0.5 : 0) } }
            XCTAssertEqual(DetectionMetrics.rocAUC(positives: p, negatives: n), wins / Double(p.count * n.count),
                           accuracy: 1e-12, "\(p) vs \(n)")
        }
    }

    func testTPRAtFPR() {
        // Negatives 0.9, 0.5, 0.4, 0.3 (FPR steps of 1/4); positives 0.95, 0.9, 0.7, 0.6, 0.2.
        let positives = [0.95, 0.9, 0.7, 0.6, 0.2], negatives = [0.9, 0.5, 0.4, 0.3]
        // FPR 0: only t = 0.95 (t = 0.9 lets the negative 0.9 through): TPR 1/5.
        XCTAssertEqual(DetectionMetrics.truePositiveRate(atFalsePositiveRate: 0, positives: positives, negatives: negatives), 0.2)
        XCTAssertEqual(DetectionMetrics.truePositiveRate(atFalsePositiveRate: 0.01, positives: positives, negatives: negatives), 0.2)
        // FPR ≤ 1/4: t = 0.6 (negatives ≥ 0.6: just 0.9): TPR 4/5.
        XCTAssertEqual(DetectionMetrics.truePositiveRate(atFalsePositiveRate: 0.25, positives: positives, negatives: negatives), 0.8)
        XCTAssertEqual(DetectionMetrics.truePositiveRate(atFalsePositiveRate: 0.49, positives: positives, negatives: negatives), 0.8)
        XCTAssertEqual(DetectionMetrics.truePositiveRate(atFalsePositiveRate: 1, positives: positives, negatives: negatives), 1)
        // The top negative above every positive: nothing is reachable at FPR 0 but TPR 0.
        XCTAssertEqual(DetectionMetrics.truePositiveRate(atFalsePositiveRate: 0, positives: [0.5], negatives: [0.9, 0.1]), 0)
        // Tied with a negative: calling the positive costs that negative too.
        XCTAssertEqual(DetectionMetrics.truePositiveRate(atFalsePositiveRate: 0.4, positives: [0.5], negatives: [0.5, 0.5, 0.1]), 0)
        XCTAssertEqual(DetectionMetrics.truePositiveRate(atFalsePositiveRate: 0.7, positives: [0.5], negatives: [0.5, 0.5, 0.1]), 1)
    }

    func testAccuracy() {
        // Correct: 0.9, 0.6 (positive > 0.5), 0.5 and 0.1 (negative ≤ 0.5); wrong: positive 0.4, negative 0.7.
        XCTAssertEqual(DetectionMetrics.accuracy(positives: [0.9, 0.6, 0.4], negatives: [0.5, 0.1, 0.7]), 4.0 / 6)
        XCTAssertTrue(DetectionMetrics.accuracy(positives: [], negatives: []).isNaN)
    }
}

final class PrivacyMetricsTests: XCTestCase {
    func testMembershipAUCLowerNLLIsMember() {
        XCTAssertEqual(PrivacyMetrics.membershipAUC(memberNLL: [1, 2], nonMemberNLL: [3, 4]), 1)
        XCTAssertEqual(PrivacyMetrics.membershipAUC(memberNLL: [3, 4], nonMemberNLL: [1, 2]), 0)
        XCTAssertEqual(PrivacyMetrics.membershipAUC(memberNLL: [2, 3], nonMemberNLL: [2, 3]), 0.5)
    }

    func testReferenceVariantCalibratesDifficulty() {
        // The target finds members 1 nat easier than the reference does and non-members as hard: the raw NLLs
        // overlap (hard members, easy non-members), the differences separate perfectly.
        let member = [5.0, 1.0], nonMember = [2.0, 4.0]
        let referenceMember = [6.0, 2.0], referenceNonMember = [2.0, 4.0]
        XCTAssertEqual(PrivacyMetrics.membershipAUC(memberNLL: member, nonMemberNLL: nonMember), 0.5)
        XCTAssertEqual(PrivacyMetrics.membershipAUC(memberNLL: member, nonMemberNLL: nonMember,
                                                    referenceMemberNLL: referenceMember,
                                                    referenceNonMemberNLL: referenceNonMember), 1)
    }

    func testCanaryExposureOnAHandMadeRanking() {
        // 7 candidates; the canary's NLL 2.5 is beaten by 1.0 and 2.0 and tied by 2.5: rank 4 of |R| = 8.
        let candidates = [1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0]
        XCTAssertEqual(PrivacyMetrics.canaryRank(canaryNLL: 2.5, candidateNLL: candidates), 4)
        XCTAssertEqual(PrivacyMetrics.canaryExposure(canaryNLL: 2.5, candidateNLL: candidates), 3 - 2, accuracy: 1e-15)
        // The likeliest of all: rank 1, exposure log2 8 = 3; the least likely: rank 8, exposure 0.
        XCTAssertEqual(PrivacyMetrics.canaryExposure(canaryNLL: 0.5, candidateNLL: candidates), 3, accuracy: 1e-15)
        XCTAssertEqual(PrivacyMetrics.canaryExposure(canaryNLL: 9, candidateNLL: candidates), 0, accuracy: 1e-15)
        // |R| = 1000 candidates + 1, rank 2: log2 1001 − 1.
        let many = (0..<1000).map { Double($0) + 1 }
        XCTAssertEqual(PrivacyMetrics.canaryExposure(canaryNLL: 1.5, candidateNLL: many), log2(1001) - 1, accuracy: 1e-12)
    }
}
