import Foundation
import RunStore
import TestSupport
import Workbench
import XCTest

/// docs/run-store.md's table of evaluation metrics is `MetricReference.markdownTable()`, and the run store's
/// `metric_directions` agrees with the reference on which way each metric is better.
final class MetricReferenceTests: XCTestCase {
    private let begin = "<!-- generated: MetricReference.markdownTable()"
    private let end = "<!-- end generated -->"

    func testTheRunStoreDocumentHoldsTheGeneratedTable() throws {
        let url = packageRoot.appendingPathComponent("docs/run-store.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: begin), "no generated block in docs/run-store.md")
        let lineEnd = try XCTUnwrap(text.range(of: "\n", range: start.upperBound..<text.endIndex))
        let stop = try XCTUnwrap(text.range(of: end, range: lineEnd.upperBound..<text.endIndex))
        let table = MetricReference.markdownTable()
        let current = String(text[lineEnd.upperBound..<stop.lowerBound])
        if ProcessInfo.processInfo.environment["TEXTGAN_UPDATE_DOCS"] == "1" && current != table + "\n" {
            try (text[..<lineEnd.upperBound] + table + "\n" + text[stop.lowerBound...]).write(to: url, atomically: true, encoding: .utf8)
            return
        }
        XCTAssertEqual(current, table + "\n", "docs/run-store.md is out of date: run TEXTGAN_UPDATE_DOCS=1 swift test --filter MetricReferenceTests")
    }

    func testTheRunStoresMetricDirectionsAgreeWithTheReference() throws {
        let store = try RunDatabase(path: temporaryDirectory(self).appendingPathComponent("s.sqlite").path)
        let directions = try store.metricDirections()
        for metric in MetricReference.evaluationMetrics {
            for name in metric.instances {
                // A metric missing from metric_directions counts as higher-is-better in the leaderboards.
                XCTAssertEqual(directions[name] ?? true, !metric.lowerIsBetter, name)
            }
        }
        // The evaluations' table here and the catalog of every recorded metric (docs/reference.md) agree.
        for metric in MetricReference.evaluationMetrics {
            for name in metric.instances {
                let entry = try XCTUnwrap(MetricCatalog.entry(for: name), "\(name) is in MetricReference but not in MetricCatalog")
                XCTAssertEqual(entry.better, metric.lowerIsBetter ? .lower : .higher, name)
            }
        }
        XCTAssertEqual(Set(MetricReference.evaluationMetrics.flatMap(\.instances)).count,
                       MetricReference.evaluationMetrics.flatMap(\.instances).count, "each metric once")
    }
}
