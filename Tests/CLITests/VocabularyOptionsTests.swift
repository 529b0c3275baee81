import XCTest

@testable import textgan

/// `--min-count` and `--max-size`, shared by `vocab build` and `corpus stats`: parsed without running anything.
final class VocabularyOptionsTests: XCTestCase {
    func testBothCommandsParseTheSameFlagsWithTheSameDefaults() throws {
        let build = try VocabCommand.Build.parse(["coco", "--min-count", "2", "--max-size", "5000"])
        XCTAssertEqual(build.limits.minCount, 2)
        XCTAssertEqual(build.limits.maxSize, 5000)
        let stats = try CorpusCommand.Stats.parse(["coco", "--min-count", "3", "--max-size", "5"])
        XCTAssertEqual(stats.limits.minCount, 3)
        XCTAssertEqual(stats.limits.maxSize, 5)
        for limits in [try VocabCommand.Build.parse(["coco"]).limits, try CorpusCommand.Stats.parse(["coco"]).limits] {
            XCTAssertEqual(limits.minCount, 1)
            XCTAssertNil(limits.maxSize)
        }
    }

    func testBothCommandsRejectTheSameBadValues() {
        for arguments in [["--min-count", "0"], ["--max-size", "4"], ["--max-size", "-1"]] {
            XCTAssertThrowsError(try VocabCommand.Build.parse(["coco"] + arguments), "\(arguments)")
            XCTAssertThrowsError(try CorpusCommand.Stats.parse(["coco"] + arguments), "\(arguments)")
        }
    }
}
