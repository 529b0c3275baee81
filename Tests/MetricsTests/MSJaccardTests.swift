import Metrics
import XCTest

/// MS-Jaccard against values worked out by hand from the definition (n-gram rates per sentence; J_n = Σ min / Σ max;
/// the geometric mean of J_1 … J_N).
final class MSJaccardTests: XCTestCase {
    func testHandComputedValues() {
        // References {a b, a c} (2 sentences), samples {a b, b b, a} (3 sentences).
        // Unigram rates: references a 1, b ½, c ½; samples a ⅔, b 1 → Σ min = ⅔ + ½ = 7/6, Σ max = 1 + 1 + ½ = 5/2,
        // J_1 = 7/15. Bigram rates: references ab ½, ac ½; samples ab ⅓, bb ⅓ → Σ min = ⅓, Σ max = 4/3, J_2 = ¼.
        // No trigram in either set: J_3 is 0/0.
        let scores = msJaccard(samples: [["a", "b"], ["b", "b"], ["a"]], references: [["a", "b"], ["a", "c"]], orders: [1, 2, 3])
        XCTAssertEqual(scores.map(\.order), [1, 2, 3])
        XCTAssertEqual(scores[0].value, 7.0 / 15, accuracy: 1e-12)
        XCTAssertEqual(scores[1].similarities[1], 0.25, accuracy: 1e-12)
        XCTAssertEqual(scores[1].value, (7.0 / 60).squareRoot(), accuracy: 1e-12)
        XCTAssertTrue(scores[2].value.isNaN)
        XCTAssertTrue(scores[2].similarities[2].isNaN)
    }

    func testRatesNotCountsSetsOfDifferentSizesApart() {
        // References {x y x} (1 sentence), samples {x y, y x} (2). Unigram rates: references x 2, y 1; samples x 1,
        // y 1 → J_1 = (1 + 1) / (2 + 1) = ⅔ (raw counts would give 3/4). Bigrams: references xy 1, yx 1; samples
        // xy ½, yx ½ → J_2 = ½. Trigrams: only the references' xyx → J_3 = 0, so MS-Jaccard-3 is 0.
        let scores = msJaccard(samples: [["x", "y"], ["y", "x"]], references: [["x", "y", "x"]], orders: [1, 2, 3])
        XCTAssertEqual(scores[0].value, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(scores[1].value, (1.0 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(scores[2].similarities, [2.0 / 3, 0.5, 0].map { $0 }, "J_1, J_2, J_3")
        XCTAssertEqual(scores[2].value, 0)
    }

    func testTheSameDistributionScoresOneWhateverTheSetSizes() {
        let references: [[Int32]] = [[1, 2, 3, 4], [2, 3, 1], [4, 4, 4, 4, 4]]
        let twice = references + references.reversed()
        for score in msJaccard(samples: twice, references: references, orders: [1, 2, 3, 4, 5]) {
            XCTAssertEqual(score.value, 1, accuracy: 1e-12, "MS-Jaccard-\(score.order)")
        }
        // Samples sharing nothing score 0.
        XCTAssertEqual(msJaccard(samples: [[9, 9]], references: references, orders: [2]).first?.value, 0)
    }

    func testAnIndexScoresSeveralSampleSetsAsFreshOnesWould() {
        let references: [[Int32]] = [[1, 2, 3], [1, 2, 4], [3, 2, 1, 5]]
        let index = MSJaccardIndex(references: references, maxOrder: 4)
        for samples: [[Int32]] in [[[1, 2, 3]], [[5, 6, 7], [1, 2]], [[1, 2, 4], [2, 4, 1], [3, 2]]] {
            XCTAssertEqual(index.score(samples, orders: [2, 4]), msJaccard(samples: samples, references: references, orders: [2, 4]))
        }
        // Strings and ids agree.
        XCTAssertEqual(msJaccard(samples: [["a", "b"], ["b", "c"]], references: [["a", "b", "c"]], orders: [2]),
                       msJaccard(samples: [[0, 1], [1, 2]], references: [[0, 1, 2]], orders: [2]))
    }
}
