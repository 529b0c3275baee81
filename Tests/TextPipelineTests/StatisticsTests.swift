import TextPipeline
import XCTest

final class StatisticsTests: XCTestCase {
    func testLengthStatistics() {
        let s = LengthStatistics(lengths: [3, 1, 2, 10, 4])
        XCTAssertEqual(s.examples, 5)
        XCTAssertEqual(s.tokens, 20)
        XCTAssertEqual(s.minimum, 1)
        XCTAssertEqual(s.maximum, 10)
        XCTAssertEqual(s.mean, 4)
        XCTAssertEqual(s.median, 3)
        XCTAssertEqual(s.percentile95, 10)
    }

    func testHistogramUsesRoundWidthsAndCountsEverything() {
        let lengths = Array(0..<100)
        let h = LengthHistogram(lengths: lengths, maxBins: 12)
        XCTAssertEqual(h.bins.first?.lower, 0)
        XCTAssertEqual(h.bins.first?.upper, 9, "width 10 gives 10 bins for 0...99")
        XCTAssertEqual(h.bins.count, 10)
        XCTAssertEqual(h.bins.map(\.count).reduce(0, +), 100)
        XCTAssertEqual(LengthHistogram(lengths: [5, 5, 6]).bins.map(\.count), [2, 1])
    }

    func testOOVRate() throws {
        let config = TokenizerConfig(mode: .space)
        let train = [["a", "b"], ["a"]]
        let vocabulary = Vocabulary.build(from: train, config: config)
        let stats = CorpusStatistics(trainTokens: train, testTokens: [["a", "c"], ["c", "d"]], vocabulary: vocabulary)
        XCTAssertEqual(stats.testOOVRate, 0.75)
        XCTAssertEqual(stats.testOOVTypes, 2)
        XCTAssertEqual(stats.testTypes, 3)
        XCTAssertEqual(stats.vocabularySize, 6)
    }
}
