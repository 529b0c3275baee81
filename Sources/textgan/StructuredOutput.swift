import ArgumentParser
import Foundation
import RunStore
import Workbench

// One output convention for every command that prints tables or structured results: `--format table|json|csv`.
// `table` is for people (aligned, coloured on a terminal), `json` and `csv` for programs. CSV follows RFC 4180
// (CRLF line ends; a field with a comma, quote or line break is quoted, quotes doubled; null is an empty field);
// JSON keeps keys in the order the command gives them, NaN is null and the infinities are the strings "inf" and
// "-inf" (JSON has no infinity).

enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table, json, csv
}

/// `--format`, shared by the commands that print results. `--json`, which some commands had before, stays as a
/// hidden, deprecated spelling of `--format json`.
struct OutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Output: table (for people), json or csv (RFC 4180).", valueName: "table|json|csv"))
    var format: OutputFormat?

    @Flag(name: .customLong("json"), help: .hidden)
    var deprecatedJSON = false

    func validate() throws {
        if deprecatedJSON, let format, format != .json {
            throw ValidationError("--json is the old spelling of --format json; give one of them, not --format \(format.rawValue) too")
        }
    }

    /// The format asked for (default: table). `--json` says on stderr that it is deprecated.
    var chosen: OutputFormat {
        if deprecatedJSON {
            FileHandle.standardError.write(Data("note: --json is deprecated; use --format json\n".utf8))
            return .json
        }
        return format ?? .table
    }
}

// MARK: - JSON

/// A JSON value whose objects keep their keys in the order given.
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
    /// JSON text that is valid already (a stored config), written as is.
    case raw(String)

    static func == (a: JSONValue, b: JSONValue) -> Bool { a.rendered() == b.rendered() }

    init(_ value: Double?) { self = value.map { .number($0) } ?? .null }
    init(_ value: String?) { self = value.map { .string($0) } ?? .null }
    init(_ value: Int?) { self = value.map { .integer(Int64($0)) } ?? .null }
    init(_ value: Int64?) { self = value.map { .integer($0) } ?? .null }

    /// A flattened config value with its JSON type (arrays are stored as compact JSON text).
    init(param: Param) {
        switch param.typed {
        case .null: self = .null
        case .boolean(let b): self = .bool(b)
        case .integer(let i): self = .integer(i)
        case .real(let d): self = .number(d)
        case .text(let s): self = .string(s)
        case .arrayJSON(let s): self = .raw(s)
        }
    }

    /// Compact JSON text.
    func rendered() -> String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .number(let d):
            if d.isNaN { out += "null" } else if d.isInfinite { out += d > 0 ? "\"inf\"" : "\"-inf\"" }
            else if d == d.rounded(), abs(d) < 1e15 { out += String(Int64(d)) } else { out += "\(d)" }
        case .string(let s): Self.quote(s, into: &out)
        case .raw(let text): out += text
        case .array(let values):
            out += "["
            for (i, v) in values.enumerated() {
                if i > 0 { out += "," }
                v.write(to: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out += "," }
                Self.quote(key, into: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    /// A JSON string literal: quote, backslash and control characters escaped; everything else as is (UTF-8).
    private static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

// MARK: - Tables as data

/// Rows under named columns: what a command prints as CSV, or as a JSON array of objects (one per row, keys in
/// column order).
struct DataTable {
    var columns: [String]
    var rows: [[JSONValue]]

    func csv() -> String {
        CSV.record(columns.map { .string($0) }) + rows.map(CSV.record).joined()
    }

    var jsonArray: JSONValue {
        .array(rows.map { row in .object(Array(zip(columns, row))) })
    }
}

/// RFC 4180 fields.
enum CSV {
    /// A field quoted when it holds a comma, a quote or a line break (quotes doubled inside).
    static func field(_ s: String) -> String {
        s.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// One record: the values as fields, comma-separated, ended by CRLF.
    static func record(_ values: [JSONValue]) -> String {
        values.map(cell).joined(separator: ",") + "\r\n"
    }

    /// A value as a field: null is empty, numbers as JSON writes them (NaN empty, infinities inf / -inf).
    static func cell(_ value: JSONValue) -> String {
        switch value {
        case .null: return ""
        case .string(let s): return field(s)
        case .number(let d) where d.isNaN: return ""
        case .number(let d) where d.isInfinite: return d > 0 ? "inf" : "-inf"
        default: return field(value.rendered())
        }
    }
}

/// `text` to standard output, or written atomically to `path` with "<what> to <path>" on stderr (`--output`).
func writeOutput(_ text: String, to path: String?, saying what: String) throws {
    guard let path else {
        print(text, terminator: "")
        return
    }
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw WorkbenchError("cannot write \(path): \((error as NSError).localizedDescription)")
    }
    FileHandle.standardError.write(Data("\(what) to \(path)\n".utf8))
}
