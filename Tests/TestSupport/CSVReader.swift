import Foundation

/// Reads RFC 4180 CSV strictly, for tests of `--format csv`: records end with CRLF, a field is quoted when it holds
/// a comma, quote or line break, quotes inside are doubled. Throws on anything else (a bare quote inside an unquoted
/// field, a missing CRLF, an unterminated quote), so a test fails on output a CSV reader could misread.
public func readCSV(_ text: String) throws -> [[String]] {
    struct Malformed: Error, CustomStringConvertible { let description: String }
    var records: [[String]] = []
    var record: [String] = []
    var field = ""
    var scalars = Array(text.unicodeScalars)[...]
    var quoted = false, afterQuote = false
    while let c = scalars.popFirst() {
        if quoted {
            if c == "\"" {
                if scalars.first == "\"" { scalars.removeFirst(); field.unicodeScalars.append("\"") }
                else { quoted = false; afterQuote = true }
            } else {
                field.unicodeScalars.append(c)
            }
            continue
        }
        switch c {
        case ",":
            record.append(field); field = ""; afterQuote = false
        case "\r":
            guard scalars.popFirst() == "\n" else { throw Malformed(description: "a CR not followed by LF") }
            record.append(field); records.append(record)
            field = ""; record = []; afterQuote = false
        case "\n":
            throw Malformed(description: "a bare LF ends a record (RFC 4180 wants CRLF)")
        case "\"":
            guard field.isEmpty, !afterQuote else { throw Malformed(description: "a quote inside an unquoted field: \(field)") }
            quoted = true
        default:
            guard !afterQuote else { throw Malformed(description: "text after a closing quote") }
            field.unicodeScalars.append(c)
        }
    }
    guard !quoted else { throw Malformed(description: "an unterminated quoted field") }
    guard field.isEmpty && record.isEmpty else { throw Malformed(description: "the last record has no CRLF") }
    let widths = Set(records.map(\.count))
    guard widths.count <= 1 else { throw Malformed(description: "records of different lengths: \(widths.sorted())") }
    return records
}

/// CSV records as dictionaries keyed by the header row.
public func readCSVObjects(_ text: String) throws -> (columns: [String], rows: [[String: String]]) {
    let records = try readCSV(text)
    guard let header = records.first else { return ([], []) }
    return (header, records.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) })
}
