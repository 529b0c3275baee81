import Foundation
import RunStore
import TestSupport
import TextPipeline
import XCTest

@testable import textgan

/// Tables align by terminal columns (East Asian Width), so Chinese text lines up with ASCII (#21 item 11).
final class TableAlignmentTests: XCTestCase {
    /// The terminal column where `word` starts on each line holding one of `words`: the display width of what
    /// comes before it.
    private func starts(of words: [String], in lines: [String]) -> [Int] {
        lines.compactMap { line in
            guard let range = words.lazy.compactMap({ line.range(of: $0) }).first else { return nil }
            return displayWidth(String(line[..<range.lowerBound]))
        }
    }

    func testTextTablePadsByDisplayWidth() {
        let table = TextTable(headers: ["poem", "n"], rows: [["床前明月光", "1"], ["ab", "22"], ["疑是地上霜。", "333"]],
                              rightAligned: [1]).render()
        let lines = table.split(separator: "\n").map(String.init)
        // 12 columns for the widest poem, two between, three for the widest number: every line ends at 17.
        XCTAssertEqual(lines.map(displayWidth), [17, 17, 17, 17, 17], table)
        XCTAssertEqual(lines[2], "床前明月光      1", table)
    }

    func testSQLAndRunsAlignChineseText() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("textgan.sqlite").path
        let database = try RunDatabase(path: path)
        for name in ["唐诗-mle", "english-mle"] {
            let id = try database.startRun(NewRun(name: name, algorithm: "mle", generator: "lstm", corpus: "唐诗",
                                                  seed: 1, configJSON: "{}"))
            try database.finish(run: id, status: .finished)
        }

        let sql = try runProcess("textgan", ["sql", "SELECT name, corpus, id FROM runs ORDER BY id", "--db", path])
        XCTAssertEqual(sql.status, 0, sql.stderr)
        let rows = sql.stdout.split(separator: "\n").dropLast().map(String.init)  // the "(2 rows)" footer
        XCTAssertEqual(rows.count, 4, sql.stdout)
        XCTAssertEqual(Set(rows.map(displayWidth)).count, 1, "the right-aligned ids end together\n\(sql.stdout)")
        XCTAssertEqual(Set(starts(of: ["corpus", "唐诗\u{20}"], in: rows.filter { !$0.hasPrefix("-") })).count, 1,
                       "the corpus column starts at one terminal column\n\(sql.stdout)")

        let runs = try runProcess("textgan", ["runs", "--db", path])
        XCTAssertEqual(runs.status, 0, runs.stderr)
        let statusStarts = starts(of: ["finished", "status"], in: runs.stdout.split(separator: "\n").map(String.init))
        XCTAssertEqual(statusStarts.count, 3, runs.stdout)
        XCTAssertEqual(Set(statusStarts).count, 1, "the status column starts at one terminal column\n\(runs.stdout)")
    }
}
