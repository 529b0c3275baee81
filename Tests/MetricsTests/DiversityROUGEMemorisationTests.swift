import Digest
import Foundation
import Metrics
import TestSupport
import XCTest

// Distinct-n, ROUGE-L and memorisation on hand-computed cases, and their fast paths against brute force.

final class DistinctTests: XCTestCase {
    func testHandCase() {
        // "a b a b" and "a b c": unigrams a b c of 7; bigrams ab ba bc of 3 + 2; trigrams aba bab abc of 2 + 1.
        let samples = [["a", "b", "a", "b"], ["a", "b", "c"]]
        let scores = distinctN(samples, orders: [1, 2, 3, 4, 5])
        XCTAssertEqual(scores.map(\.distinct), [3, 3, 3, 1, 0])
        XCTAssertEqual(scores.map(\.total), [7, 5, 3, 1, 0])
        XCTAssertEqual(scores[0].ratio, 3.0 / 7.0)
        XCTAssertEqual(scores[1].ratio, 3.0 / 5.0)
        XCTAssertEqual(scores[2].ratio, 1)
        XCTAssertTrue(scores[4].ratio.isNaN, "no 5-gram at all: 0/0")
    }

    func testMatchesBruteForce() {
        var rng = SplitMix64(seed: 11)
        for _ in 0..<100 {
            let samples = (0..<Int.random(in: 0...8, using: &rng)).map { _ in
                (0..<Int.random(in: 0...7, using: &rng)).map { _ in Int32.random(in: 0..<3, using: &rng) }
            }
            for score in distinctN(samples, orders: [1, 2, 3, 4]) {
                var seen = Set<[Int32]>()
                var total = 0
                for s in samples where s.count >= score.order {
                    for start in 0...(s.count - score.order) {
                        seen.insert(Array(s[start..<start + score.order]))
                        total += 1
                    }
                }
                XCTAssertEqual(score.distinct, seen.count, "\(samples) n=\(score.order)")
                XCTAssertEqual(score.total, total)
            }
        }
    }
}

final class ROUGELTests: XCTestCase {
    func words(_ s: String) -> [String] { s.split(separator: " ").map(String.init) }

    func testHandCases() {
        // LCS("the cat sat on the mat", "the cat is on the mat") = "the cat on the mat" = 5; P = R = F1 = 5/6.
        let one = rougeL(hypotheses: [words("the cat sat on the mat")], references: [words("the cat is on the mat")])
        XCTAssertEqual(one.perSentence[0].lcs, 5)
        XCTAssertEqual(one.perSentence[0].precision, 5.0 / 6.0, accuracy: 1e-15)
        XCTAssertEqual(one.perSentence[0].recall, 5.0 / 6.0, accuracy: 1e-15)
        XCTAssertEqual(one.meanF, 5.0 / 6.0, accuracy: 1e-15)

        // β = 2 with P ≠ R: h = "a b c d", r = "a c": L = 2, P = 1/2, R = 1, F = 5 · 0.5 / (1 + 4 · 0.5) = 5/6.
        let weighted = rougeL(hypotheses: [words("a b c d")], references: [words("a c")], beta: 2)
        XCTAssertEqual(weighted.perSentence[0].precision, 0.5)
        XCTAssertEqual(weighted.perSentence[0].recall, 1)
        XCTAssertEqual(weighted.meanF, 5.0 / 6.0, accuracy: 1e-15)
        // β = 1 on the same pair: F1 = 2 · 0.5 · 1 / 1.5 = 2/3.
        XCTAssertEqual(rougeL(hypotheses: [words("a b c d")], references: [words("a c")]).meanF, 2.0 / 3.0, accuracy: 1e-15)

        // The best-matching reference is chosen per hypothesis (first on ties), and the mean is over hypotheses.
        let refs = [words("a dog runs"), words("the cat is on the mat"), words("a dog runs")]
        let two = rougeL(hypotheses: [words("the cat sat on the mat"), words("a dog"), words("zebra"), []], references: refs)
        XCTAssertEqual(two.perSentence.map(\.reference), [1, 0, 0, 0])
        XCTAssertEqual(two.perSentence[1].f, 2 * 2.0 / 5.0, accuracy: 1e-15)  // L = 2, |h| + |r| = 5
        XCTAssertEqual(two.perSentence[2].f, 0)
        XCTAssertEqual(two.perSentence[3].f, 0, "empty hypothesis")
        XCTAssertEqual(two.meanF, (5.0 / 6.0 + 0.8) / 4, accuracy: 1e-15)

        XCTAssertTrue(rougeL(hypotheses: [words("a")], references: [[String]]()).meanF.isNaN)
    }

    /// The bit-parallel LCS (|h| ≤ 64) and its DP fallback (|h| > 64) equal the textbook DP.
    func testLCSMatchesDynamicProgramme() {
        XCTAssertEqual(longestCommonSubsequence(Array("ABCBDAB"), Array("BDCABA")), 4)
        XCTAssertEqual(longestCommonSubsequence([Int](), [1, 2]), 0)
        var rng = SplitMix64(seed: 5)
        for trial in 0..<300 {
            let m = [0, 1, 63, 64, 65, 90].randomElement(using: &rng)! - (trial % 2)
            let alphabet = Int32.random(in: 1...6, using: &rng)
            let h = (0..<max(0, m)).map { _ in Int32.random(in: 0..<alphabet, using: &rng) }
            let references = (0..<3).map { _ in
                (0..<Int.random(in: 0...80, using: &rng)).map { _ in Int32.random(in: 0..<alphabet, using: &rng) }
            }
            let score = rougeL(hypotheses: [h], references: references, threads: 1).perSentence[0]
            let dp = references.map { longestCommonSubsequence(h, $0) }
            let f = references.indices.map { r in
                dp[r] == 0 ? 0 : 2 * Double(dp[r]) / Double(h.count + references[r].count)
            }
            let best = f.indices.max { f[$0] < f[$1] || (f[$0] == f[$1] && $0 > $1) }!
            XCTAssertEqual(score.reference, best, "trial \(trial)")
            XCTAssertEqual(score.lcs, dp[best], "trial \(trial) |h| = \(h.count)")
            XCTAssertEqual(score.f, f[best], accuracy: 1e-15)
        }
    }
}

final class MemorisationTests: XCTestCase {
    func words(_ s: String) -> [String] { s.split(separator: " ").map(String.init) }

    func testHandCases() {
        let training = [words("a b c d"), words("x y z")]
        let samples = [words("a b c d"), words("b c x y"), words("d x"), words("q"), [], words("y z q a b c")]
        let report = memorisation(samples: samples, training: training)
        XCTAssertEqual(report.longestCopied, [4, 2, 1, 0, 0, 3], "copies never straddle two training sentences")
        XCTAssertEqual(report.verbatimCount, 1)
        XCTAssertEqual(report.verbatimRate, 1.0 / 6.0)
        XCTAssertEqual(report.maxLongestCopied, 4)
        XCTAssertEqual(report.meanLongestCopied, 10.0 / 6.0)
    }

    func testMatchesBruteForce() {
        var rng = SplitMix64(seed: 99)
        func corpus(_ count: Int, _ maxLength: Int) -> [[Int32]] {
            (0..<count).map { _ in
                (0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in Int32.random(in: 0..<4, using: &rng) }
            }
        }
        for trial in 0..<150 {
            let training = corpus(Int.random(in: 1...6, using: &rng), 8)
            let samples = corpus(6, 9) + [training[0]]
            let report = memorisation(samples: samples, training: TrainingSetIndex(training), threads: 2)
            for (i, s) in samples.enumerated() {
                var longest = 0
                for a in s.indices { for b in a..<s.count where b - a + 1 > longest {
                    let span = Array(s[a...b])
                    if training.contains(where: { t in
                        t.count >= span.count && (0...(t.count - span.count)).contains { Array(t[$0..<$0 + span.count]) == span }
                    }) { longest = b - a + 1 }
                } }
                XCTAssertEqual(report.longestCopied[i], longest, "trial \(trial) sample \(s) training \(training)")
            }
            XCTAssertEqual(report.verbatimCount, samples.filter { training.contains($0) }.count)
        }
    }
}
