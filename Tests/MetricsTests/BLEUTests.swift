import Digest
import Foundation
import Metrics
import TestSupport
import XCTest

// BLEU against nltk 3.10.4's values in ../shared/bleu/vectors.json, the fast path against the naive one, and the
// defined edge cases.

final class BLEUVectorTests: XCTestCase {
    struct Vectors: Decodable {
        struct SentenceCase: Decodable {
            let label: String
            let n: Int
            let smoothing: BLEUSmoothing
            let references: [String]
            let hypothesis: String
            let value: Double
        }
        struct CorpusCase: Decodable {
            let kind: String
            let n: Int
            let smoothing: BLEUSmoothing
            let per_hypothesis: [Double]
            let mean: Double
        }
        let hypothesis_indices_in_train: [Int]
        let cases: [SentenceCase]
        let corpus_cases: [CorpusCase]
    }

    func loadVectors() throws -> Vectors {
        try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: try sharedFile("bleu/vectors.json")))
    }

    func testSentenceCasesMatchNLTK() throws {
        let vectors = try loadVectors()
        XCTAssertEqual(vectors.cases.count, 30)
        for c in vectors.cases {
            // These cases are tokenized by whitespace alone, case kept ("Party" ≠ "party").
            let references = c.references.map { $0.split(separator: " ").map(String.init) }
            let hypothesis = c.hypothesis.split(separator: " ").map(String.init)
            let label = "\(c.label) BLEU-\(c.n) \(c.smoothing)"

            let fast = bleu(hypotheses: [hypothesis], references: references, orders: [c.n], smoothing: c.smoothing)
            assertClose(fast[0].perSentence[0], c.value, label + " (fast)")
            assertClose(fast[0].mean, c.value, label + " (fast mean)")
            let naive = NaiveBLEU.sentence(
                references: references, hypothesis: hypothesis, order: c.n, smoothing: c.smoothing)
            assertClose(naive, c.value, label + " (naive)")
        }
    }

    func testCorpusCasesMatchNLTK() throws {
        let vectors = try loadVectors()
        let train = try lines(of: sharedData("coco/train.txt")).map(spaceTokenize)
        let test = try lines(of: sharedData("coco/test.txt")).map(spaceTokenize)
        XCTAssertEqual(train.count, 10_000)
        let hypotheses = vectors.hypothesis_indices_in_train.map { train[$0] }
        let references = Array(test.prefix(2000))
        XCTAssertEqual(vectors.corpus_cases.count, 7)

        for c in vectors.corpus_cases {
            let label = "\(c.kind) n=\(c.n)"
            let score: BLEUScore
            switch c.kind {
            case "mean_sentence_bleu":
                score = bleu(hypotheses: hypotheses, references: references, orders: [c.n], smoothing: c.smoothing)[0]
            case "self_bleu":
                score = selfBLEU(hypotheses, orders: [c.n], smoothing: c.smoothing)[0]
                let naive = NaiveBLEU.selfBLEU(samples: hypotheses, order: c.n, smoothing: c.smoothing)
                assertClose(naive.mean, c.mean, label + " (naive)")
            default:
                XCTFail("unknown corpus case kind \(c.kind)")
                continue
            }
            XCTAssertEqual(score.perSentence.count, c.per_hypothesis.count)
            for (i, (got, want)) in zip(score.perSentence, c.per_hypothesis).enumerated() {
                assertClose(got, want, "\(label) hypothesis \(i)")
            }
            assertClose(score.mean, c.mean, label + " mean")
        }
    }

    /// All orders in one call give what one call per order gives, and the thread count changes nothing.
    func testOrdersAndThreadsDoNotChangeScores() throws {
        let train = try lines(of: sharedData("coco/train.txt")).prefix(600).map(spaceTokenize)
        let test = try lines(of: sharedData("coco/test.txt")).prefix(800).map(spaceTokenize)
        let together = bleu(hypotheses: train, references: test, orders: [2, 3, 4, 5], threads: 1)
        for threads in [2, 3, 7] {
            XCTAssertEqual(bleu(hypotheses: train, references: test, orders: [2, 3, 4, 5], threads: threads), together)
            XCTAssertEqual(selfBLEU(train, orders: [3, 5], threads: threads), selfBLEU(train, orders: [3, 5], threads: 1))
        }
        for (k, n) in [2, 3, 4, 5].enumerated() {
            XCTAssertEqual(bleu(hypotheses: train, references: test, orders: [n], threads: 2)[0], together[k])
        }
        XCTAssertGreaterThan(together[0].mean, together[3].mean)
    }
}

final class BLEUPropertyTests: XCTestCase {
    /// Random small corpora over a tiny vocabulary (so n-grams repeat and clip), with empty and short sentences:
    /// the indexed fast path must equal the literal nltk transcription for every sentence.
    func testFastPathEqualsNaiveOnRandomCorpora() {
        var rng = SplitMix64(seed: 20_240_607)
        for trial in 0..<400 {
            let vocabulary = Int32.random(in: 2...6, using: &rng)
            let references = randomCorpus(count: Int.random(in: 1...8, using: &rng), vocabulary: vocabulary, using: &rng)
            let hypotheses = randomCorpus(count: Int.random(in: 1...6, using: &rng), vocabulary: vocabulary + 1, using: &rng)
            let orders = Array(Set((0..<Int.random(in: 1...3, using: &rng)).map { _ in Int.random(in: 1...5, using: &rng) }))
            let smoothing = BLEUSmoothing.allCases.randomElement(using: &rng)!
            let threads = Int.random(in: 1...3, using: &rng)

            let fast = bleu(hypotheses: hypotheses, references: references, orders: orders, smoothing: smoothing, threads: threads)
            let fastSelf = selfBLEU(hypotheses, orders: orders, smoothing: smoothing, threads: threads)
            for (k, n) in orders.enumerated() {
                let naive = NaiveBLEU.mean(hypotheses: hypotheses, references: references, order: n, smoothing: smoothing)
                let naiveSelf = NaiveBLEU.selfBLEU(samples: hypotheses, order: n, smoothing: smoothing)
                let context = "trial \(trial) n=\(n) \(smoothing) refs=\(references) hyps=\(hypotheses)"
                XCTAssertEqual(fast[k].order, n)
                for i in hypotheses.indices {
                    assertClose(fast[k].perSentence[i], naive.perSentence[i], "BLEU " + context, tolerance: 1e-12)
                    assertClose(fastSelf[k].perSentence[i], naiveSelf.perSentence[i], "Self-BLEU " + context, tolerance: 1e-12)
                }
                assertClose(fast[k].mean, naive.mean, "BLEU mean " + context, tolerance: 1e-12)
                assertClose(fastSelf[k].mean, naiveSelf.mean, "Self-BLEU mean " + context, tolerance: 1e-12)
            }
        }
    }

    func randomCorpus(count: Int, vocabulary: Int32, using rng: inout SplitMix64) -> [[Int32]] {
        (0..<count).map { _ in
            (0..<Int.random(in: 0...9, using: &rng)).map { _ in Int32.random(in: 0..<vocabulary, using: &rng) }
        }
    }
}

final class BLEUEdgeCaseTests: XCTestCase {
    func testSelfBLEUWithOneSampleIsUndefined() {
        let one = selfBLEU([["a", "cat", "sat"]], orders: [2, 4])
        XCTAssertEqual(one.count, 2)
        for score in one {
            XCTAssertEqual(score.perSentence.count, 1)
            XCTAssertTrue(score.perSentence[0].isNaN && score.mean.isNaN, "one sample has no reference: NaN, not 0")
        }
        XCTAssertTrue(selfBLEU([[Int32]](), orders: [2])[0].mean.isNaN)
        XCTAssertTrue(bleu(hypotheses: [["a"]], references: [[String]](), orders: [2])[0].mean.isNaN)
        XCTAssertTrue(NaiveBLEU.sentence(references: [[String]](), hypothesis: ["a"], order: 2).isNaN)
    }

    func testSelfBLEUNeverUsesTheSampleAsItsOwnReference() {
        // Disjoint samples: 0 (each would score 1 against itself).
        let disjoint = selfBLEU([["a", "b", "c"], ["d", "e", "f"]], orders: [2])[0]
        XCTAssertEqual(disjoint.perSentence, [0, 0])
        // Duplicates are each other's references.
        let twins = selfBLEU([["a", "b", "c"], ["a", "b", "c"], ["x", "y"]], orders: [2])[0]
        XCTAssertEqual(twins.perSentence[0], 1, accuracy: 1e-15)
        XCTAssertEqual(twins.perSentence[1], 1, accuracy: 1e-15)
        XCTAssertEqual(twins.perSentence[2], 0)
        // The clip of "a a" on sample 0 must come from sample 1's single "a": p1 = 1/2.
        let clipped = selfBLEU([["a", "a"], ["a", "b"]], orders: [1])[0]
        XCTAssertEqual(clipped.perSentence[0], 0.5, accuracy: 1e-15)
    }

    func testSelfBLEUBrevityPenaltyIgnoresTheSamplesOwnLength() {
        // Sample 0 has the only length-3; its closest other length is 2 (tie 2 vs 4 → shorter), so BP = 1 and
        // p1 = 2/3 ("a", "b" match): BLEU-1 = 2/3. Using its own length would give the same BP but shows nothing;
        // sample 1 (length 2) must take 3 from sample 0 (not its own 2): BP = exp(1 − 3/2).
        let scores = selfBLEU([["a", "b", "z"], ["a", "b"], ["q", "r", "s", "t"]], orders: [1])[0]
        XCTAssertEqual(scores.perSentence[0], 2.0 / 3.0, accuracy: 1e-15)
        XCTAssertEqual(scores.perSentence[1], exp(1 - 3.0 / 2.0), accuracy: 1e-15)
    }

    func testMethod0GivesTinyScoresNotZero() {
        let score = bleu(hypotheses: [["a", "b", "x", "y"]], references: [["a", "b", "c", "d"]], orders: [3], smoothing: .method0)[0]
        // p1 = 1/2, p2 = 1/3, p3 = float min: (1/2 · 1/3 · 2.2e-308)^(1/3).
        let expected = exp((log(0.5) + log(1.0 / 3.0) + log(Double.leastNormalMagnitude)) / 3)
        XCTAssertGreaterThan(score.mean, 0)
        XCTAssertEqual(score.mean, expected, accuracy: expected * 1e-12)
    }

    func testSpaceTokenizer() {
        XCTAssertEqual(spaceTokenize("  A Dog sits on the bed. "), ["a", "dog", "sits", "on", "the", "bed", "."])
        XCTAssertEqual(spaceTokenize("two people in the woods.."), ["two", "people", "in", "the", "woods.", "."])
        XCTAssertEqual(spaceTokenize("men on a tarmac. ."), ["men", "on", "a", "tarmac.", "."])
        XCTAssertEqual(spaceTokenize("no final period"), ["no", "final", "period"])
        XCTAssertEqual(spaceTokenize("."), ["."])
        XCTAssertEqual(spaceTokenize("   "), [])
    }

    func testTokenIDMap() {
        var map = TokenIDMap()
        XCTAssertEqual(map.encode(["b", "a", "b"]), [0, 1, 0])
        XCTAssertEqual(map.encodeKnown(["a", "zzz", "b"]), [1, 2, 0])
        XCTAssertEqual(map.count, 2)
    }
}

// MARK: - Helpers

/// |got − want| ≤ tolerance · |want|, and exact equality when want is 0 (so tiny method0 values are checked too).
func assertClose(_ got: Double, _ want: Double, _ message: String, tolerance: Double = 1e-9,
                 file: StaticString = #filePath, line: UInt = #line) {
    if got.isNaN && want.isNaN { return }
    XCTAssertTrue(abs(got - want) <= tolerance * abs(want), "\(message): got \(got), want \(want)", file: file, line: line)
}

/// The lines of a text file (no trailing empty line after a final newline).
func lines(of url: URL) throws -> [String] {
    var lines = try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
    if lines.last == "" { lines.removeLast() }
    return lines
}
