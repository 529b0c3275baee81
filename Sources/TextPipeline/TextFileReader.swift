import Digest
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Streams a text file line by line with bounded memory, validating it as it goes.
//
// Accepted: UTF-8 with or without a byte-order mark (stripped), LF or CRLF line endings, blank lines (reported to
// the caller, which usually skips them). Rejected with a one-line error naming the file: a missing file, a
// directory, a file that cannot be opened or read, an empty or whitespace-only file, binary content (a NUL byte)
// and invalid UTF-8 (the byte offset and line of the first ill-formed sequence; bytes are never replaced).
// A line longer than `maxLineBytes` is never held in memory: it is skipped and counted, but still validated.
// The SHA-256 of the file's bytes is computed in the same pass.

public enum TextFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(path: String)
    case isDirectory(path: String)
    case notRegularFile(path: String)
    case unreadable(path: String, reason: String)
    case empty(path: String)
    case whitespaceOnly(path: String, lines: Int)
    case binary(path: String, byteOffset: Int, line: Int)
    case invalidUTF8(path: String, byteOffset: Int, line: Int, detail: String)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "\(path): no such file"
        case .isDirectory(let path):
            return "\(path): is a directory; expected a text file with one example per line"
        case .notRegularFile(let path):
            return "\(path): not a regular file; expected a text file with one example per line"
        case .unreadable(let path, let reason):
            return "\(path): cannot read the file: \(reason)"
        case .empty(let path):
            return "\(path): the file is empty; expected one example per line"
        case .whitespaceOnly(let path, let lines):
            return "\(path): the file contains only whitespace (\(lines) line\(lines == 1 ? "" : "s")); expected one example per line"
        case .binary(let path, let offset, let line):
            return "\(path): binary content: NUL byte at byte offset \(offset) (line \(line)); expected UTF-8 text"
        case .invalidUTF8(let path, let offset, let line, let detail):
            return "\(path): invalid UTF-8 at byte offset \(offset) (line \(line)): \(detail); "
                + "convert the file to UTF-8, e.g. with iconv"
        }
    }
}

/// What a read saw, for the corpus summary.
public struct TextFileSummary: Codable, Sendable, Equatable {
    public var path: String
    public var bytes = 0
    /// Physical lines (a final line without a newline counts).
    public var lines = 0
    public var blankLines = 0
    /// Lines longer than the byte limit, skipped without being held in memory.
    public var overlongLines = 0
    public var crlfLines = 0
    public var byteOrderMarkStripped = false
    /// SHA-256 of the file's bytes, exactly as on disk (`sha256sum` agrees).
    public var sha256 = ""
}

public struct TextFileReader: Sendable {
    /// Lines longer than this many bytes are skipped (and counted) without being held in memory.
    public var maxLineBytes: Int
    public var chunkSize: Int

    public init(maxLineBytes: Int = 1 << 20, chunkSize: Int = 1 << 16) {
        precondition(maxLineBytes > 0 && chunkSize > 0)
        self.maxLineBytes = maxLineBytes
        self.chunkSize = chunkSize
    }

    /// Reads `url`, calling `body(lineNumber, text)` for every line within the byte limit, blank lines included
    /// (line numbers are 1-based; the text has no line terminator). Throws `TextFileError` for bad input.
    @discardableResult
    public func readLines(_ url: URL, _ body: (Int, String) throws -> Void) throws -> TextFileSummary {
        let path = url.path
        let fd = try openRegularFile(path)
        defer { close(fd) }

        var summary = TextFileSummary(path: path)
        var hasher = SHA256()
        var validator = UTF8Validator()
        var line: [UInt8] = []
        var lineOverlong = false
        var lineNumber = 1
        var nonBlankLines = 0
        var offset = 0  // file offset of the byte being examined
        var atStart = true
        var buffer = [UInt8](repeating: 0, count: max(chunkSize, 3))

        func finishLine() throws {
            if line.last == 0x0D {
                line.removeLast()
                summary.crlfLines += 1
            }
            summary.lines += 1
            if line.count > maxLineBytes { lineOverlong = true }
            if lineOverlong {
                summary.overlongLines += 1
                nonBlankLines += 1
            } else {
                let text = String(decoding: line, as: UTF8.self)
                if text.allSatisfy(\.isWhitespace) { summary.blankLines += 1 } else { nonBlankLines += 1 }
                try body(lineNumber, text)
            }
            line.removeAll(keepingCapacity: line.count <= 1 << 16)
            lineOverlong = false
        }

        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                throw TextFileError.unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            hasher.update(buffer[0..<count])
            var start = 0
            if atStart {
                atStart = false
                if count >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF {
                    summary.byteOrderMarkStripped = true
                    start = 3
                    offset = 3
                }
            }
            for i in start..<count {
                let byte = buffer[i]
                if byte == 0 {
                    throw TextFileError.binary(path: path, byteOffset: offset, line: lineNumber)
                }
                if let problem = validator.feed(byte, at: offset) {
                    throw TextFileError.invalidUTF8(path: path, byteOffset: problem.offset, line: lineNumber,
                                                    detail: problem.detail)
                }
                if byte == 0x0A {
                    try finishLine()
                    lineNumber += 1
                } else if !lineOverlong {
                    if line.count < maxLineBytes + 1 {  // + 1 leaves room for the CR of a CRLF line at the limit
                        line.append(byte)
                    } else {
                        lineOverlong = true
                        line.removeAll()
                    }
                }
                offset += 1
            }
            summary.bytes += count
        }
        if let problem = validator.finish() {
            throw TextFileError.invalidUTF8(path: path, byteOffset: problem.offset, line: lineNumber,
                                            detail: problem.detail)
        }
        if !line.isEmpty || lineOverlong { try finishLine() }
        summary.sha256 = hasher.hexDigest

        if summary.bytes == 0 || (summary.byteOrderMarkStripped && summary.bytes == 3) {
            throw TextFileError.empty(path: path)
        }
        if nonBlankLines == 0 {
            throw TextFileError.whitespaceOnly(path: path, lines: summary.lines)
        }
        return summary
    }

    /// Opens a regular file for reading, turning each way that can fail into its own error.
    private func openRegularFile(_ path: String) throws -> Int32 {
        var info = stat()
        if stat(path, &info) != 0 {
            if errno == ENOENT || errno == ENOTDIR { throw TextFileError.notFound(path: path) }
            throw TextFileError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: throw TextFileError.isDirectory(path: path)
        case S_IFREG: break
        default: throw TextFileError.notRegularFile(path: path)
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw TextFileError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        return fd
    }
}

// MARK: - Incremental UTF-8 validation

/// Checks well-formed UTF-8 (Unicode §3.9, table 3-7) one byte at a time, so sequences may span chunks.
struct UTF8Validator {
    struct Problem {
        let offset: Int
        let detail: String
    }

    private var remaining = 0  // continuation bytes still expected
    private var lower: UInt8 = 0x80  // allowed range of the next continuation byte
    private var upper: UInt8 = 0xBF
    private var sequenceStart = 0
    private var sequenceLead: UInt8 = 0

    /// Nil if `byte` may follow what came before; otherwise where the ill-formed sequence starts and why.
    mutating func feed(_ byte: UInt8, at offset: Int) -> Problem? {
        if remaining > 0 {
            guard byte >= lower && byte <= upper else {
                return Problem(offset: sequenceStart,
                               detail: "the sequence starting with byte \(hex(sequenceLead)) is cut short by byte \(hex(byte))")
            }
            remaining -= 1
            lower = 0x80
            upper = 0xBF
            return nil
        }
        sequenceStart = offset
        sequenceLead = byte
        switch byte {
        case 0x00...0x7F: return nil
        case 0xC2...0xDF: remaining = 1
        case 0xE0: remaining = 2; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: remaining = 2
        case 0xED: remaining = 2; upper = 0x9F  // excludes UTF-16 surrogates
        case 0xF0: remaining = 3; lower = 0x90
        case 0xF1...0xF3: remaining = 3
        case 0xF4: remaining = 3; upper = 0x8F  // nothing above U+10FFFF
        default:
            let kind = byte < 0xC0 ? "a continuation byte with no lead byte" : "never valid in UTF-8"
            return Problem(offset: offset, detail: "byte \(hex(byte)) is \(kind)")
        }
        return nil
    }

    /// At the end of the file: nil, or the incomplete final sequence.
    func finish() -> Problem? {
        guard remaining > 0 else { return nil }
        return Problem(offset: sequenceStart,
                       detail: "the file ends inside the sequence starting with byte \(hex(sequenceLead))")
    }

    private func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return "0x" + (digits.count == 1 ? "0" : "") + digits
    }
}
