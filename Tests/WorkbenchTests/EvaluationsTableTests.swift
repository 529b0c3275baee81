import Foundation
import RunStore
import TestSupport
import Workbench
import XCTest

/// docs/run-store.md's table of what an evaluation row holds is `MetricCatalog.evaluationsTable()`, and every score
/// a generator's evaluation records has its row there.
final class EvaluationsTableTests: XCTestCase {
    private let begin = "<!-- generated: MetricCatalog.evaluationsTable()"
    private let end = "<!-- end generated -->"

    func testTheRunStoreDocumentHoldsTheGeneratedTable() throws {
        let url = packageRoot.appendingPathComponent("docs/run-store.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: begin), "no generated block in docs/run-store.md")
        let lineEnd = try XCTUnwrap(text.range(of: "\n", range: start.upperBound..<text.endIndex))
        let stop = try XCTUnwrap(text.range(of: end, range: lineEnd.upperBound..<text.endIndex))
        let table = MetricCatalog.evaluationsTable()
        let current = String(text[lineEnd.upperBound..<stop.lowerBound])
        if ProcessInfo.processInfo.environment["TEXTGAN_UPDATE_DOCS"] == "1" && current != table + "\n" {
            try (text[..<lineEnd.upperBound] + table + "\n" + text[stop.lowerBound...]).write(to: url, atomically: true, encoding: .utf8)
            return
        }
        XCTAssertEqual(current, table + "\n", "docs/run-store.md is out of date: run TEXTGAN_UPDATE_DOCS=1 swift test --filter EvaluationsTableTests")
    }

    /// Every entry recorded in `evaluations` by `train` or `eval` (the generators' scores, not the detectors' or the
    /// privacy attacks', which docs/security.md describes) says what its rows hold, and only those do.
    func testEveryGeneratorScoreSaysWhatItsRowsHold() {
        for entry in MetricCatalog.entries {
            let evaluation = entry.table.contains("evaluations")
            let generatorScore = evaluation && (entry.recordedBy.contains("training evaluations") || entry.recordedBy.hasPrefix("`eval"))
                && !entry.recordedBy.contains("--privacy")
            XCTAssertEqual(entry.rows != nil, generatorScore, entry.name)
        }
        XCTAssertTrue(MetricCatalog.evaluationsTable().contains("| `nll_oracle` | lower |"))
    }

    /// A score missing from the store's `metric_directions` ranks as higher-is-better in its leaderboards, so every
    /// lower-is-better score of the evaluations table is there (each order of a family).
    func testTheStoreKnowsEveryLowerIsBetterScore() throws {
        let directions = try RunDatabase(path: temporaryDirectory(self).appendingPathComponent("s.sqlite").path).metricDirections()
        for entry in MetricCatalog.entries where entry.rows != nil && entry.better == .lower {
            let keys = entry.name.contains("{n}") ? (1...5).map { entry.name.replacingOccurrences(of: "{n}", with: "\($0)") } : [entry.name]
            let known = keys.filter { directions[$0] == false }
            XCTAssertFalse(known.isEmpty, "\(entry.name): no lower-is-better row in metric_directions")
            if entry.name.contains("{n}") { XCTAssertTrue(keys.dropFirst().allSatisfy { directions[$0] == false }, "\(entry.name): orders 2…5") }
        }
    }
}
