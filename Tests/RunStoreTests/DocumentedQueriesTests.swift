import Foundation
import RunStore
import TestSupport
import XCTest

/// The example queries of docs/run-store.md, read from the document and run on the fixture.
final class DocumentedQueriesTests: XCTestCase {
    func testTheThreeDocumentedExampleQueriesGiveTheFixturesAnswers() throws {
        // Given the fixture and the queries exactly as the documentation shows them
        let path = try temporaryDirectory(self).appendingPathComponent("fixture.sqlite").path
        try makeFixture(at: path)
        let examples = try documentedExamples()
        XCTAssertEqual(examples.keys.sorted(), ["best-bleu4-per-algorithm", "nll-oracle-curve", "runs-by-generator-lr"])
        let query = try ReadOnlyQuery(path: path)
        func rows(_ name: String) throws -> [[ReadOnlyQuery.Value]] {
            let results = try query.execute(try XCTUnwrap(examples[name]), timeout: 5, maxRows: 100)
            XCTAssertEqual(results.count, 1)
            return results.first?.rows ?? []
        }

        // then best BLEU-4 per algorithm on coco counts runs and ignores the emnlp run
        XCTAssertEqual(try rows("best-bleu4-per-algorithm"), [
            [.text("seqgan"), .real(0.40), .integer(2)],
            [.text("leakgan"), .real(0.35), .integer(1)],
            [.text("mle"), .real(0.25), .integer(1)],
        ])
        // and the NLL-oracle curve of run 1 is its three evaluations in step order
        XCTAssertEqual(try rows("nll-oracle-curve"), [
            [.integer(0), .real(10.0)], [.integer(100), .real(9.1)], [.integer(200), .real(8.7)],
        ])
        // and the runs with a generator learning rate above 0.005 are 1, 3 and 4 (not 5, exactly 0.005), with best BLEU-4.
        XCTAssertEqual(try rows("runs-by-generator-lr"), [
            [.integer(1), .text("seqgan-1"), .text("seqgan"), .real(0.01), .real(0.30)],
            [.integer(3), .text("mle-3"), .text("mle"), .real(0.01), .real(0.25)],
            [.integer(4), .text("seqgan-4"), .text("seqgan"), .real(0.02), .real(0.50)],
        ])
    }

    /// `<!-- example: name -->` followed by a ```sql block.
    private func documentedExamples() throws -> [String: String] {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/run-store.md")
        let lines = try String(contentsOf: docs, encoding: .utf8).components(separatedBy: "\n")
        var examples: [String: String] = [:]
        var index = 0
        while index < lines.count {
            let line = lines[index]
            if line.hasPrefix("<!-- example: "), line.hasSuffix(" -->") {
                let name = String(line.dropFirst("<!-- example: ".count).dropLast(" -->".count))
                XCTAssertEqual(lines[index + 1], "```sql", "example \(name) must be followed by a ```sql block")
                let body = lines[(index + 2)...].prefix { $0 != "```" }
                examples[name] = body.joined(separator: "\n")
                index += body.count + 2
            }
            index += 1
        }
        return examples
    }
}
