import Foundation
import TextPipeline

// Plain-text output shared by the run store commands: aligned tables, number and duration formats, and colour only
// for a terminal (never when stdout is piped or NO_COLOR is set).

enum Style {
    /// Colour when stdout is a terminal and NO_COLOR is unset or empty (https://no-color.org).
    static let enabled: Bool = {
        let noColor = ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false
        return isatty(STDOUT_FILENO) == 1 && !noColor
    }()

    static func bold(_ text: String) -> String { paint(text, "1") }
    static func dim(_ text: String) -> String { paint(text, "2") }

    static func status(_ status: String) -> String {
        switch status {
        case "finished": return paint(status, "32")
        case "failed", "crashed": return paint(status, "31")
        case "interrupted": return paint(status, "33")
        default: return paint(status, "36")
        }
    }

    private static func paint(_ text: String, _ code: String) -> String {
        enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
}

/// A table with a header row, columns padded to their widest cell in terminal columns (`displayWidth`: a Chinese
/// character takes two). `rightAligned` columns are numbers. `style` colours a cell after padding, so widths stay
/// right.
struct TextTable {
    var headers: [String]
    var rows: [[String]]
    var rightAligned: Set<Int> = []
    var style: (_ column: Int, _ cell: String) -> String = { _, cell in cell }

    func render() -> String {
        let widths = headers.indices.map { column in
            ([headers[column]] + rows.map { $0[column] }).map(displayWidth).max() ?? 0
        }
        func line(_ cells: [String], header: Bool) -> String {
            cells.indices.map { column -> String in
                let cell = cells[column]
                let padding = String(repeating: " ", count: widths[column] - displayWidth(cell))
                let styled = header ? Style.bold(cell) : style(column, cell)
                return rightAligned.contains(column) ? padding + styled : styled + padding
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(headers, header: true), rule] + rows.map { line($0, header: false) }).joined(separator: "\n")
    }
}

/// `text` padded with spaces to `width` terminal columns (left-aligned), or `text` itself when it is as wide already.
func pad(_ text: String, _ width: Int) -> String {
    text + String(repeating: " ", count: max(0, width - displayWidth(text)))
}

/// `value` right-aligned in `width` terminal columns.
func leftPad(_ value: CustomStringConvertible, _ width: Int) -> String {
    let text = value.description
    return String(repeating: " ", count: max(0, width - displayWidth(text))) + text
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}

enum Format {
    /// Four significant digits, plain for ordinary magnitudes; `nan`, `inf`, `-inf` spelled out; `—` for none.
    /// An integer with thousands separators: 1000000 → "1,000,000".
    static func count(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        return (n < 0 ? "-" : "") + grouped
    }

    static func number(_ value: Double?) -> String {
        guard let value else { return "—" }
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        if value == value.rounded(), abs(value) < 1e9 { return String(Int64(value)) }
        return String(format: "%.4g", value)
    }

    /// 45s, 3m05s, 2h14m, 3d04h.
    static func duration(_ seconds: TimeInterval) -> String {
        let s = Int(max(0, seconds).rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        if s < 86400 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
        return String(format: "%dd%02dh", s / 86400, s % 86400 / 3600)
    }

    /// ISO 8601 in UTC, to the millisecond, for JSON and CSV: 2025-06-01T14:03:12.345Z.
    static func isoDate(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// UTC, to the second: 2025-06-01 14:03:12.
    static func date(_ date: Date?) -> String {
        guard let date else { return "—" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date)
    }
}
