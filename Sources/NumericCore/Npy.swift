import Foundation

// numpy's .npy format (versions 1.0, 2.0 and 3.0), the way `np.save` writes one array:
//
//   [6 bytes]  magic "\x93NUMPY"
//   [2 bytes]  major, minor version
//   [2 or 4]   header length H, little-endian: UInt16 in version 1, UInt32 in versions 2 and 3
//   [H bytes]  a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//              padded with spaces and ending in '\n' (ASCII/Latin-1 in versions 1 and 2, UTF-8 in version 3)
//   [rest]     the data, row-major, or column-major when fortran_order is True
//
// We read '<f4' (one bulk copy), '<f8', '<i4' and '<i8' (converted to Float), and turn column-major data into
// row-major. We write '<f4' version 1.0 with the data 64-byte aligned, as numpy does.

public enum Npy {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    // MARK: - Reading

    /// The array in the file as a row-major Float32 tensor; shape () gives a scalar tensor of shape [].
    /// Throws `NpyError` for a missing, truncated or malformed file or an unsupported dtype.
    public static func read(from url: URL) throws -> Tensor {
        let contents: Data
        do {
            contents = try FileIO.readAll(url)
        } catch {
            throw NpyError.unreadable(file: url.path, reason: error.reason)
        }
        return try contents.withUnsafeBytes { try decode($0, file: url.path) }
    }

    /// Parses and validates a whole file held in memory; `file` only names it in errors.
    static func decode(_ bytes: UnsafeRawBufferPointer, file: String) throws -> Tensor {
        // Magic and version.
        let magicBytes = bytes.prefix(magic.count)
        guard magicBytes.elementsEqual(magic.prefix(magicBytes.count)) else { throw NpyError.notNpy(file: file) }
        guard bytes.count >= magic.count + 2 else {
            throw NpyError.truncated(file: file, detail: "\(bytes.count) bytes, too short for the magic and version")
        }
        let (major, minor) = (bytes[6], bytes[7])
        let lengthWidth: Int
        switch major {
        case 1: lengthWidth = 2
        case 2, 3: lengthWidth = 4
        default: throw NpyError.unsupportedVersion(file: file, major: Int(major), minor: Int(minor))
        }

        // The header dict.
        guard bytes.count >= 8 + lengthWidth else {
            throw NpyError.truncated(file: file, detail: "\(bytes.count) bytes, too short for the header length")
        }
        let headerLength = lengthWidth == 2
            ? Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self)))
            : Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        let headerStart = 8 + lengthWidth
        let dataStart = headerStart + headerLength
        guard dataStart <= bytes.count else {
            throw NpyError.truncated(
                file: file,
                detail: "header says it takes \(headerLength) bytes, file has \(bytes.count - headerStart) after the length")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[headerStart..<dataStart])
        let headerText = major == 3
            ? String(decoding: headerBytes, as: UTF8.self)
            : String(headerBytes.map { Character(Unicode.Scalar($0)) })  // Latin-1: each byte is one code point
        let header = try parseHeader(headerText, file: file)

        // The data.
        guard let count = elementCount(header.shape) else {
            throw NpyError.invalidHeader(file: file, reason: "invalid shape \(header.shape)")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: header.scalar.byteWidth)
        guard !overflow, bytes.count - dataStart >= byteCount else {
            throw NpyError.truncated(
                file: file,
                detail: "header says shape \(header.shape) of \(header.descr), \(byteCount) bytes of data, "
                    + "file has \(bytes.count - dataStart)")
        }
        // Bytes after the array are ignored, as np.load ignores them.
        let stored = UnsafeRawBufferPointer(rebasing: bytes[dataStart..<(dataStart + byteCount)])
        var scalars = header.scalar.decode(stored, count: count)
        if header.fortranOrder {
            scalars = rowMajor(fromColumnMajor: scalars, shape: header.shape)
        }
        return Tensor(shape: header.shape, scalars: scalars)
    }

    /// Reorders column-major (Fortran) data, where the first index varies fastest, into row-major order.
    static func rowMajor(fromColumnMajor source: [Float], shape: [Int]) -> [Float] {
        guard shape.count > 1, !source.isEmpty else { return source }  // the two orders agree
        // Column-major strides: 1, d0, d0·d1, …
        var strides = [Int](repeating: 1, count: shape.count)
        for k in 1..<shape.count { strides[k] = strides[k - 1] * shape[k - 1] }

        var result: [Float] = []
        result.reserveCapacity(source.count)
        var index = [Int](repeating: 0, count: shape.count)  // the row-major position, as a multi-index
        var offset = 0  // where `index` lives in `source`
        for _ in 0..<source.count {
            result.append(source[offset])
            // Step the multi-index like an odometer, last dimension fastest.
            var k = shape.count - 1
            while k >= 0 {
                index[k] += 1
                offset += strides[k]
                if index[k] < shape[k] { break }
                offset -= strides[k] * shape[k]
                index[k] = 0
                k -= 1
            }
        }
        return result
    }

    // MARK: - Writing

    /// Writes `tensor` as a '<f4' version 1.0 .npy file that `np.load` reads, atomically.
    public static func write(_ tensor: Tensor, to url: URL) throws {
        let contents = try encode(tensor, file: url.path)
        do {
            try FileIO.writeAtomically(contents, to: url)
        } catch {
            throw NpyError.cannotWrite(file: url.path, reason: error.reason)
        }
    }

    /// The complete file contents.
    static func encode(_ tensor: Tensor, file: String) throws -> Data {
        // numpy's tuple syntax: (), (5,), (3, 4).
        let shape = tensor.shape.count == 1
            ? "(\(tensor.shape[0]),)"
            : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        // Spaces, then '\n', so that magic + version + length + header is a multiple of 64 bytes.
        let prefixLength = magic.count + 2 + 2
        let unpadded = prefixLength + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        guard let headerLength = UInt16(exactly: header.utf8.count) else {
            throw NpyError.cannotWrite(
                file: file, reason: "the header of a rank-\(tensor.rank) tensor does not fit a version 1.0 file")
        }

        var file = Data(capacity: prefixLength + header.utf8.count + tensor.count * MemoryLayout<Float>.size)
        file.append(contentsOf: magic)
        file.append(contentsOf: [1, 0])
        withUnsafeBytes(of: headerLength.littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: Array(header.utf8))
        tensor.withUnsafeBufferPointer { file.append($0) }
        return file
    }

    // MARK: - The header dict

    private struct Header {
        let descr: String
        let scalar: StoredScalar
        let fortranOrder: Bool
        let shape: [Int]
    }

    private static func parseHeader(_ text: String, file: String) throws -> Header {
        let dict: [String: PythonLiteral]
        do {
            var parser = PythonLiteralParser(text)
            guard case .dict(let parsed) = try parser.parseWhole() else {
                throw PythonLiteralParser.Failure(reason: "the header is not a dict")
            }
            dict = parsed
        } catch let failure as PythonLiteralParser.Failure {
            throw NpyError.invalidHeader(file: file, reason: failure.reason)
        }

        guard case .string(let descr) = dict["descr"] else {
            throw NpyError.invalidHeader(file: file, reason: "'descr' is missing or not a string")
        }
        guard case .bool(let fortranOrder) = dict["fortran_order"] else {
            throw NpyError.invalidHeader(file: file, reason: "'fortran_order' is missing or not True/False")
        }
        guard case .tuple(let dimensions) = dict["shape"] else {
            throw NpyError.invalidHeader(file: file, reason: "'shape' is missing or not a tuple")
        }
        let shape = try dimensions.map { dimension in
            guard case .int(let n) = dimension else {
                throw NpyError.invalidHeader(file: file, reason: "'shape' holds something other than integers")
            }
            return n
        }
        let scalar: StoredScalar
        switch descr {
        case "<f4": scalar = .float32
        case "<f8": scalar = .float64
        case "<i4": scalar = .int32
        case "<i8": scalar = .int64
        default: throw NpyError.unsupportedDType(file: file, descr: descr)
        }
        return Header(descr: descr, scalar: scalar, fortranOrder: fortranOrder, shape: shape)
    }
}

/// The subset of Python literals that .npy headers use.
private enum PythonLiteral {
    case string(String)
    case int(Int)
    case bool(Bool)
    case none
    case tuple([PythonLiteral])  // also lists
    case dict([String: PythonLiteral])
}

/// A recursive-descent parser for one Python literal (dict, tuple, list, str, int, True, False, None).
private struct PythonLiteralParser {
    struct Failure: Error {
        let reason: String
    }

    private let characters: [Character]
    private var position = 0

    init(_ text: String) { characters = Array(text) }

    /// One literal spanning the whole text, apart from surrounding whitespace.
    mutating func parseWhole() throws(Failure) -> PythonLiteral {
        let value = try parseValue()
        skipWhitespace()
        guard position == characters.count else { throw failure("unexpected text after the header dict") }
        return value
    }

    private mutating func parseValue() throws(Failure) -> PythonLiteral {
        skipWhitespace()
        guard let first = peek() else { throw failure("the header ends too early") }
        switch first {
        case "{": return .dict(try parseDict())
        case "(": return .tuple(try parseElements(closedBy: ")"))
        case "[": return .tuple(try parseElements(closedBy: "]"))
        case "'", "\"":
            return .string(try parseString())
        case "-", "0"..."9":
            return .int(try parseInt())
        default:
            let word = takeWhile { $0.isLetter || $0 == "_" }
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default: throw failure("unexpected '\(word.isEmpty ? String(first) : word)'")
            }
        }
    }

    /// `{key: value, …}`, keys being strings; a trailing comma is allowed, as in Python.
    private mutating func parseDict() throws(Failure) -> [String: PythonLiteral] {
        position += 1  // "{"
        var dict: [String: PythonLiteral] = [:]
        while !closes("}") {
            guard case .string(let key) = try parseValue() else { throw failure("a dict key is not a string") }
            try expect(":")
            dict[key] = try parseValue()
            try expectCommaOrEnd("}")
        }
        return dict
    }

    /// `(a, b, …)` or `[a, b, …]` after the opening bracket; a trailing comma is allowed.
    private mutating func parseElements(closedBy close: Character) throws(Failure) -> [PythonLiteral] {
        position += 1  // "(" or "["
        var elements: [PythonLiteral] = []
        while !closes(close) {
            elements.append(try parseValue())
            try expectCommaOrEnd(close)
        }
        return elements
    }

    /// Consumes `close` if it comes next.
    private mutating func closes(_ close: Character) -> Bool {
        skipWhitespace()
        guard peek() == close else { return false }
        position += 1
        return true
    }

    /// After an element: a comma, or the closing bracket (left for `closes` to consume).
    private mutating func expectCommaOrEnd(_ close: Character) throws(Failure) {
        skipWhitespace()
        switch peek() {
        case ",": position += 1
        case close: break
        default: throw failure("expected ',' or '\(close)'")
        }
    }

    private mutating func parseString() throws(Failure) -> String {
        let quote = characters[position]
        position += 1
        var text = ""
        while let c = peek(), c != quote {
            position += 1
            if c == "\\", let escaped = peek() {  // descr strings never need more than this
                position += 1
                text.append(escaped)
            } else {
                text.append(c)
            }
        }
        try expect(quote)
        return text
    }

    private mutating func parseInt() throws(Failure) -> Int {
        let sign = peek() == "-" ? -1 : 1
        if sign < 0 { position += 1 }
        let digits = takeWhile { $0.isASCII && $0.isNumber }
        guard let magnitude = Int(digits) else { throw failure("expected an integer") }
        return sign * magnitude
    }

    private mutating func expect(_ c: Character) throws(Failure) {
        skipWhitespace()
        guard peek() == c else { throw failure("expected '\(c)'") }
        position += 1
    }

    private func peek() -> Character? { position < characters.count ? characters[position] : nil }

    private mutating func takeWhile(_ predicate: (Character) -> Bool) -> String {
        let start = position
        while let c = peek(), predicate(c) { position += 1 }
        return String(characters[start..<position])
    }

    private mutating func skipWhitespace() { _ = takeWhile { $0.isWhitespace } }

    private func failure(_ what: String) -> Failure {
        Failure(reason: "\(what) at character \(position) of the header")
    }
}

// MARK: - Errors

/// Why a .npy file could not be read or written. Every message names the file.
public enum NpyError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened (missing, a directory, no permission, …).
    case unreadable(file: String, reason: String)
    /// The file does not start with "\x93NUMPY".
    case notNpy(file: String)
    case unsupportedVersion(file: String, major: Int, minor: Int)
    /// The file ends before the header or the data it announces.
    case truncated(file: String, detail: String)
    /// The header dict is malformed or lacks 'descr', 'fortran_order' or 'shape'.
    case invalidHeader(file: String, reason: String)
    /// An element type other than '<f4', '<f8', '<i4', '<i8'.
    case unsupportedDType(file: String, descr: String)
    case cannotWrite(file: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            "cannot read .npy file \(file): \(reason)"
        case .notNpy(let file):
            "\(file) is not a .npy file: it does not start with \"\\x93NUMPY\""
        case .unsupportedVersion(let file, let major, let minor):
            "\(file) is .npy version \(major).\(minor); versions 1.0, 2.0 and 3.0 are supported"
        case .truncated(let file, let detail):
            "\(file) is truncated: \(detail)"
        case .invalidHeader(let file, let reason):
            "\(file) has an invalid .npy header: \(reason)"
        case .unsupportedDType(let file, let descr):
            "\(file) holds dtype '\(descr)', which is not supported ('<f4', '<f8', '<i4', '<i8' are)"
        case .cannotWrite(let file, let reason):
            "cannot write .npy file \(file): \(reason)"
        }
    }
}
