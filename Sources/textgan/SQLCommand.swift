import ArgumentParser
import Foundation
import RunStore

struct SQLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run read-only SQL on the run store.",
        discussion: """
            The database is opened read-only: statements that write, change the schema, ATTACH or DETACH, or change \
            a PRAGMA are refused (reading pragmas such as table_info are allowed). A query running longer than \
            --timeout is interrupted; at most --max-rows rows are printed, with a notice on stderr when there were \
            more. A text or blob longer than --max-cell bytes is cut, marked with its length ("…[1048576 bytes]"), \
            with a notice on stderr (--full prints every cell whole); the output, too, must be ready within \
            --timeout. Errors print "Error: " and SQLite's message on stderr and exit with status 1. Tables and views are described \
            in docs/run-store.md; try `textgan sql "SELECT * FROM leaderboard WHERE metric = 'bleu4' ORDER BY \
            value DESC"`.
            """)

    @OptionGroup var database: DatabaseOptions

    @Argument(help: "The SQL to run (several statements separated by ; are run in turn).")
    var query: String

    @OptionGroup var output: OutputOptions

    @Option(help: "Seconds after which the query is interrupted.")
    var timeout: Double = 5

    @Option(help: "At most this many rows per statement.")
    var maxRows = 1000

    @Option(help: "Texts and blobs longer than this many bytes are cut, marked with their length.")
    var maxCell = 1000

    @Flag(help: "Print every text and blob whole (no --max-cell).")
    var full = false

    func validate() throws {
        guard timeout > 0 && timeout <= 86_400 else { throw ValidationError("--timeout must be in (0, 86400] seconds, not \(timeout)") }
        guard maxRows >= 1 else { throw ValidationError("--max-rows must be at least 1") }
        guard (16...1_000_000_000).contains(maxCell) else { throw ValidationError("--max-cell must be in 16…1,000,000,000 bytes, not \(maxCell)") }
    }

    func run() throws {
        // The query and its output share the --timeout: what is not printed by then is not printed.
        let deadline = Date().addingTimeInterval(timeout)
        let results: [ReadOnlyQuery.Result]
        do {
            results = try ReadOnlyQuery(path: database.path).execute(
                query, timeout: timeout, maxRows: maxRows, maxCellBytes: full ? nil : maxCell)
        } catch let failure as ReadOnlyQuery.Failure {
            FileHandle.standardError.write(Data("Error: \(failure)\n".utf8))
            throw ExitCode.failure
        }
        let format = output.chosen
        var outputs: [String] = []
        for result in results {
            switch format {
            case .table: outputs.append(Self.table(result) + "\n")
            case .csv: outputs.append(Self.data(result).csv())
            case .json: outputs.append(Self.data(result).jsonArray.rendered() + "\n")
            }
            if Date() > deadline {
                let failure = ReadOnlyQuery.Failure.timedOut(timeout)
                FileHandle.standardError.write(Data("Error: \(failure) (printing its results; --max-cell keeps cells short)\n".utf8))
                throw ExitCode.failure
            }
        }
        for (index, (result, output)) in zip(results, outputs).enumerated() {
            if index > 0 && format == .table { print() }
            print(output, terminator: "")
            if result.truncated {
                FileHandle.standardError.write(Data(
                    "note: showing the first \(maxRows) rows; the query returned more (raise --max-rows)\n".utf8))
            }
            if result.cutCells > 0 {
                FileHandle.standardError.write(Data(
                    "note: \(result.cutCells) cell\(result.cutCells == 1 ? " was" : "s were") longer than \(maxCell) bytes and cut, marked \"…[n bytes]\" (--full prints them whole)\n".utf8))
            }
        }
    }

    // MARK: - Output (shared with the REPL's /sql)

    static func text(_ value: ReadOnlyQuery.Value) -> String {
        switch value {
        case .null: return "NULL"
        case .integer(let i): return String(i)
        case .real(let d): return d.isInfinite ? (d > 0 ? "inf" : "-inf") : String(d)
        case .text(let s): return s
        case .blob(let bytes): return "x'" + hex(bytes) + "'"
        case .cut(let start, let bytes): return text(start) + "…[\(bytes) bytes]"
        }
    }

    /// Lowercase hex, two digits a byte (a megabyte in milliseconds, where String(format:) per byte took seconds).
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func table(_ result: ReadOnlyQuery.Result) -> String {
        let numeric = Set(result.columns.indices.filter { column in
            result.rows.contains { if case .integer = $0[column] { true } else if case .real = $0[column] { true } else { false } }
                && result.rows.allSatisfy { row in
                    switch row[column] { case .integer, .real, .null: true; default: false }
                }
        })
        let rows = result.rows.map { $0.map { text($0).replacingOccurrences(of: "\n", with: "⏎") } }
        let footer = "(\(result.rows.count) row\(result.rows.count == 1 ? "" : "s")\(result.truncated ? ", more not shown" : ""))"
        return TextTable(headers: result.columns, rows: rows, rightAligned: numeric).render() + "\n" + Style.dim(footer)
    }

    /// The result as data for CSV and JSON: NULL is null (an empty CSV field), infinite reals are "inf" / "-inf",
    /// blobs hex strings, cut cells their start marked with their length.
    static func data(_ result: ReadOnlyQuery.Result) -> DataTable {
        func value(_ v: ReadOnlyQuery.Value) -> JSONValue {
            switch v {
            case .null: return .null
            case .integer(let i): return .integer(i)
            case .real(let d): return .number(d)
            case .text(let s): return .string(s)
            case .blob, .cut: return .string(text(v))
            }
        }
        return DataTable(columns: result.columns, rows: result.rows.map { $0.map(value) })
    }
}
