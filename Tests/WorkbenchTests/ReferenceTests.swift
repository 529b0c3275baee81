import Foundation
import GRDB
import RunStore
import TestSupport
import Workbench
import XCTest

/// docs/reference.md is generated from the code: the config fields from the registered algorithms and model kinds
/// (their defaults encoded, their descriptions the fields' doc comments), the metrics from `MetricCatalog`. These
/// tests fail when a field has no doc comment, when the store's metric directions disagree with the catalog, or when
/// the file is not what the code renders; `TEXTGAN_WRITE_REFERENCE=1 swift test --filter ReferenceTests` rewrites it.
final class ReferenceTests: XCTestCase {
    private var file: URL { packageRoot.appendingPathComponent("docs/reference.md") }

    func testEveryConfigFieldHasADescription() throws {
        let docs = try SourceDocs(root: packageRoot)
        let fields = try ConfigReference.fields(registry: .builtIn())
        XCTAssertGreaterThan(fields.count, 50)
        for field in fields where field.property != "kind" {
            XCTAssertNotNil(docs.doc(of: field.property, in: field.owner),
                            "\(field.path) (\(field.owner).\(field.property)) has no doc comment: write one above the field")
        }
        // The fields users set most are there, with their defaults and readers.
        let rate = try XCTUnwrap(fields.first { $0.path == "mle.learningRate" })
        XCTAssertEqual(rate.defaultValue, "0.01")
        XCTAssertTrue(rate.readers.contains("mle") && rate.readers.contains("seqgan"), "\(rate.readers)")
        XCTAssertTrue(fields.contains { $0.group == "generator transformer" && $0.path == "generator.kind" })
        XCTAssertTrue(fields.contains { $0.path == "initFrom" && $0.defaultValue == "unset" }, "optional fields nil by default are listed")
    }

    func testTheStoresMetricDirectionsAgreeWithTheCatalog() throws {
        let store = try RunDatabase.inMemory()
        let directions = try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT metric, higher_is_better FROM metric_directions").map { ($0["metric"] as String, $0["higher_is_better"] as Bool) }
        }
        XCTAssertFalse(directions.isEmpty)
        // The first schema gave a direction for perplexity, which nothing records (the REPL prints it).
        for (metric, higher) in directions where metric != "perplexity" {
            let entry = try XCTUnwrap(MetricCatalog.entry(for: metric), "metric_directions has \(metric), the catalog does not")
            XCTAssertEqual(entry.better, higher ? .higher : .lower, metric)
        }
        XCTAssertTrue(MetricCatalog.entry(for: "bleu4")?.matches("bleu4") == true)
        XCTAssertNil(MetricCatalog.entry(for: "bleu"), "a family needs its number")
        XCTAssertNil(MetricCatalog.entry(for: "bleu4x"))
        XCTAssertEqual(MetricCatalog.entry(for: "canary_exposure_12")?.name, "canary_exposure_{n}")
        XCTAssertEqual(MetricCatalog.entry(for: "canary_exposure_mean")?.name, "canary_exposure_mean")
    }

    func testTheReferenceFileIsWhatTheCodeRenders() throws {
        let rendered = try Self.render(docs: SourceDocs(root: packageRoot))
        if ProcessInfo.processInfo.environment["TEXTGAN_WRITE_REFERENCE"] == "1" {
            try rendered.write(to: file, atomically: true, encoding: .utf8)
        }
        let current = try String(contentsOf: file, encoding: .utf8)
        XCTAssertEqual(current, rendered, "docs/reference.md is out of date: rewrite it with `TEXTGAN_WRITE_REFERENCE=1 swift test --filter ReferenceTests`")
    }

    static func render(docs: SourceDocs) throws -> String {
        func cell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        var out = """
            # Reference: config fields and recorded metrics

            Generated from the code by `Tests/WorkbenchTests/ReferenceTests.swift` (do not edit by hand; after changing a
            config field's doc comment or a metric, run `TEXTGAN_WRITE_REFERENCE=1 swift test --filter ReferenceTests`).
            Defaults are the reference defaults, before `--preset` and before the corpus decides what it decides
            (vocabulary sizes, lengths). Set any field with `--config FILE`, `train --set path=value` or a sweep's `--grid`.

            ## Config fields

            """
        let fields = try ConfigReference.fields(registry: .builtIn())
        var groups: [String] = []
        for field in fields where !groups.contains(field.group) { groups.append(field.group) }
        for group in groups {
            let title = group == "top level" ? "Top level" : group.contains(" ") ? "`\(group.split(separator: " ")[0])` of kind `\(group.split(separator: " ")[1])`" : "`\(group)`"
            out += "\n### \(title)\n\n| key | default | read by | meaning |\n|---|---|---|---|\n"
            for field in fields where field.group == group {
                let meaning = field.property == "kind" && docs.doc(of: "kind", in: field.owner) == nil
                    ? "The model kind." : docs.doc(of: field.property, in: field.owner) ?? ""
                out += "| `\(field.path)` | `\(cell(field.defaultValue))` | \(field.readers.joined(separator: ", ")) | \(cell(meaning)) |\n"
            }
        }
        out += "\n## Recorded metrics\n\n`metrics` holds training's rows by phase and step; `evaluations` holds scores with their protocol "
            + "(docs/run-store.md). `{n}` stands for a number (the orders of `evaluation.bleuOrders`, a canary's index).\n\n"
            + "| key | table | recorded by | better | meaning |\n|---|---|---|---|---|\n"
        for entry in MetricCatalog.entries {
            out += "| `\(entry.name)` | \(entry.table) | \(cell(entry.recordedBy)) | \(entry.better?.rawValue ?? "—") | \(cell(entry.meaning)) |\n"
        }
        return out
    }
}
