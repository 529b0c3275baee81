import Foundation
import RunStore
import TestSupport
import XCTest

/// `textgan sql`, run as a process on an on-disk fixture.
final class SQLCommandTests: XCTestCase {
    private var path = ""

    override func setUpWithError() throws {
        path = try temporaryDirectory(self).appendingPathComponent("fixture.sqlite").path
        try makeFixture(at: path)  // the RunDatabase closes here: the WAL is checkpointed into the file
    }

    private func sql(_ arguments: String..., environment: [String: String] = [:]) throws -> Finished {
        try runProcess("textgan", ["sql", "--db", path] + arguments, environment: environment)
    }

    func testLongCellsAreCutWithTheirLengthUnlessAskedForWhole() throws {
        // Given a megabyte blob and a megabyte of text in one row
        let query = "SELECT randomblob(1000000) AS blob, printf('%.*c', 1000000, 'a') AS text, 'short' AS note"

        // then every format prints their beginning, marked with their length, and says so on stderr;
        for format in ["table", "csv", "json"] {
            let cut = try sql(query, "--format", format)
            XCTAssertEqual(cut.status, 0, cut.stderr)
            XCTAssertLessThan(cut.stdout.utf8.count, 10_000, format)
            XCTAssertTrue(cut.stdout.contains("…[1000000 bytes]"), format)
            XCTAssertTrue(cut.stdout.contains(String(repeating: "a", count: 1000) + "…[1000000 bytes]"), format)
            XCTAssertTrue(cut.stdout.contains("short"), format)
            XCTAssertTrue(cut.stderr.contains("note: 2 cells were longer than 1000 bytes and cut"), cut.stderr)
        }
        // a UTF-8 text is cut between characters, never inside one;
        let chinese = try sql("SELECT printf('%.*c', 2000, 'x') || replace(printf('%.*c', 400, '-'), '-', '床前明月光') AS t",
                              "--max-cell", "2005", "--format", "csv")
        XCTAssertTrue(chinese.stdout.contains("xxxx床…["), chinese.stdout.suffix(40).description)
        XCTAssertFalse(chinese.stdout.contains("\u{FFFD}"))
        // and --full prints them whole, within the timeout.
        let whole = try sql(query, "--full", "--format", "csv")
        XCTAssertEqual(whole.status, 0, whole.stderr)
        XCTAssertGreaterThan(whole.stdout.utf8.count, 3_000_000)
        XCTAssertFalse(whole.stdout.contains("…["))
        XCTAssertEqual(whole.stderr, "")
        XCTAssertNotEqual(try sql("SELECT 1", "--max-cell", "3").status, 0)
        // Printing counts against --timeout: output that cannot be ready in time is not printed.
        let late = try sql("SELECT randomblob(3000000) AS a, randomblob(3000000) AS b", "--full", "--timeout", "0.001")
        XCTAssertEqual(late.status, 1)
        XCTAssertEqual(late.stdout, "")
        XCTAssertTrue(late.stderr.hasPrefix("Error: query interrupted: it ran longer than 0.001 s"), late.stderr)
    }

    func testRefusesEveryKindOfWriteAndLeavesTheFileByteIdentical() throws {
        // Given the fixture's bytes
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        // when statements that would change it are run
        let attempts = [
            "DELETE FROM runs", "DROP TABLE metrics", "INSERT INTO params VALUES (1, 'x', 1, 'integer')",
            "UPDATE runs SET status = 'failed'", "ATTACH DATABASE '\(path)-copy' AS copy", "DETACH DATABASE main",
            "PRAGMA writable_schema = 1", "PRAGMA user_version = 99", "PRAGMA journal_mode = DELETE",
            "CREATE TABLE notes (x)", "ALTER TABLE runs ADD COLUMN x", "CREATE INDEX i ON runs(name)",
            "VACUUM", "VACUUM INTO '\(path)-copy'", "BEGIN IMMEDIATE", "REINDEX",
            "SELECT 1; DELETE FROM runs",
            "WITH doomed AS (SELECT id FROM runs) DELETE FROM runs WHERE id IN (SELECT id FROM doomed)",
        ]
        for statement in attempts {
            let result = try sql(statement)

            // then each is refused with exit status 1, a message on stderr and nothing on stdout
            XCTAssertEqual(result.status, 1, statement)
            XCTAssertTrue(result.stderr.hasPrefix("Error: refused: "), "\(statement): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", statement)
        }
        // and the file is byte-identical, with every row still there, and no copy was written.
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-copy"))
        let counts = try sql("SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM evaluations)", "--format", "csv")
        XCTAssertEqual(counts.stdout.components(separatedBy: "\r\n")[1], "5,10")
    }

    func testInterruptsARunawayRecursiveQueryAtItsTimeout() throws {
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let start = Date()
        let result = try sql("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
                             "--timeout", "0.5")
        let elapsed = Date().timeIntervalSince(start)

        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("interrupted"), result.stderr)
        XCTAssertLessThan(elapsed, 5, "the query should stop near its 0.5 s timeout")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
    }

    func testMalformedSQLPrintsSQLitesMessageAndExits1() throws {
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let syntax = try sql("SELEC * FROM runs")
        XCTAssertEqual(syntax.status, 1)
        XCTAssertEqual(syntax.stderr, "Error: near \"SELEC\": syntax error\n")
        let missing = try sql("SELECT * FROM no_such_table")
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr, "Error: no such table: no_such_table\n")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
    }

    func testReadOnlyPragmasAndTableValuedPragmasAreAllowed() throws {
        let info = try sql("PRAGMA table_info(params)", "--format", "csv")
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("1,key,TEXT,1,,2"), info.stdout)
        let columns = try sql("SELECT name FROM pragma_table_info('checkpoints') ORDER BY cid", "--format", "csv")
        XCTAssertEqual(columns.stdout, "name\r\nid\r\nrun_id\r\nstep\r\npath\r\nsha256\r\nbytes\r\ncreated_at\r\n")
        let version = try sql("PRAGMA user_version", "--format", "csv")
        XCTAssertEqual(version.stdout, "user_version\r\n\(RunDatabase.schemaVersion)\r\n")
    }

    func testCapsRowsWithANoticeOnStderr() throws {
        let result = try sql("SELECT id FROM runs ORDER BY id", "--max-rows", "2", "--format", "csv")
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.stdout, "id\r\n1\r\n2\r\n")
        XCTAssertTrue(result.stderr.contains("first 2 rows"), result.stderr)
        let all = try sql("SELECT id FROM runs ORDER BY id", "--max-rows", "5", "--format", "csv")
        XCTAssertEqual(all.stderr, "")
    }

    func testFormatsAsAlignedTableCSVAndJSON() throws {
        let query = "SELECT id, name, 1.5 AS x, NULL AS empty FROM runs WHERE id <= 2 ORDER BY id"
        let table = try sql(query)
        XCTAssertEqual(table.stdout, """
            id  name         x  empty
            --  ---------  ---  -----
             1  seqgan-1   1.5  NULL
             2  leakgan-2  1.5  NULL
            (2 rows)

            """)

        let csv = try sql("SELECT id, text FROM samples WHERE run_id = 1", "--format", "csv")
        XCTAssertEqual(csv.stdout, "id,text\r\n1,\"a, \"\"quoted\"\" sample\"\r\n")

        let json = try sql("SELECT id, name, 9e999 AS big, NULL AS empty FROM runs WHERE id = 1", "--format", "json")
        let decoded = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        XCTAssertEqual(decoded?.count, 1)
        XCTAssertEqual(decoded?.first?["id"] as? Int, 1)
        XCTAssertEqual(decoded?.first?["name"] as? String, "seqgan-1")
        XCTAssertEqual(decoded?.first?["big"] as? String, "inf")
        XCTAssertTrue(decoded?.first?["empty"] is NSNull)
    }

    func testTheDatabaseComesFromTEXTGAN_DBUnlessDbIsGiven() throws {
        let other = try temporaryDirectory(self).appendingPathComponent("empty.sqlite").path
        _ = try RunDatabase(path: other)
        let fromEnvironment = try runProcess("textgan", ["sql", "SELECT count(*) AS n FROM runs", "--format", "csv"],
                                      environment: ["TEXTGAN_DB": path])
        XCTAssertEqual(fromEnvironment.stdout, "n\r\n5\r\n", fromEnvironment.stderr)
        let overridden = try runProcess("textgan", ["sql", "--db", other, "SELECT count(*) AS n FROM runs", "--format", "csv"],
                                 environment: ["TEXTGAN_DB": path])
        XCTAssertEqual(overridden.stdout, "n\r\n0\r\n", overridden.stderr)
        let missing = try runProcess("textgan", ["sql", "SELECT 1"], environment: ["TEXTGAN_DB": path + ".missing"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("no run store at"), missing.stderr)
    }

    func testOutputIsPlainWhenPipedOrNO_COLORAndColouredOnATerminal() throws {
        let escape = "\u{1B}["
        // Piped (as here): no escape codes in any command.
        for arguments in [["sql", "--db", path, "SELECT 1"], ["runs", "--db", path], ["runs", "show", "1", "--db", path],
                          ["compare", "1", "2", "--db", path]] {
            let result = try runProcess("textgan", arguments)
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertFalse(result.stdout.contains(escape), arguments.joined(separator: " "))
        }
        // On a pseudo-terminal (util-linux `script`): colour, unless NO_COLOR is set.
        let textgan = try executable("textgan").path
        let command = "\(textgan) runs --db \(path)"
        let terminal = try Child(URL(fileURLWithPath: "/usr/bin/script"), ["-qec", command, "/dev/null"],
                                 removing: ["NO_COLOR"]).wait()
        XCTAssertTrue(terminal.stdout.contains(escape), terminal.stdout)
        XCTAssertTrue(terminal.stdout.contains(escape + "32mfinished"), "finished runs are green")
        let noColor = try Child(URL(fileURLWithPath: "/usr/bin/script"), ["-qec", command, "/dev/null"],
                                environment: ["NO_COLOR": "1"]).wait()
        XCTAssertTrue(noColor.stdout.contains("seqgan-1"), noColor.stdout)
        XCTAssertFalse(noColor.stdout.contains(escape), noColor.stdout)
    }
}
