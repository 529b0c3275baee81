import Foundation

// The safetensors format, byte for byte as the Python `safetensors` package writes and reads it:
//
//   [8 bytes]  N, the header length, a little-endian UInt64
//   [N bytes]  a UTF-8 JSON object, padded with spaces:
//                {"__metadata__": {"key": "value", …},                       (optional, strings only)
//                 "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, …}
//   [rest]     the tensor data, little-endian and row-major; offsets count from the start of this region,
//              and the tensors tile it exactly (no gaps, no overlaps, nothing after the last one)
//
// We write F32 only, with the tensors in sorted-name order and the data 8-byte aligned, so the same tensors always
// give the same bytes. We read F32 (one bulk copy per tensor) and convert F64, F16, BF16, I32 and I64 to Float.

public enum Safetensors {
    /// The header key that holds the string-to-string metadata instead of a tensor.
    public static let metadataKey = "__metadata__"

    // MARK: - Writing

    /// Writes `tensors` and `metadata` to `url` atomically: a crash leaves the old file or the new one, not a part.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        guard tensors[metadataKey] == nil else {
            throw SafetensorsError.cannotWrite(
                file: url.path, reason: "'\(metadataKey)' is reserved and cannot name a tensor")
        }
        do {
            try FileIO.writeAtomically(encode(tensors, metadata: metadata), to: url)
        } catch {
            throw SafetensorsError.cannotWrite(file: url.path, reason: error.reason)
        }
    }

    /// The complete file contents.
    static func encode(_ tensors: [String: Tensor], metadata: [String: String]) -> Data {
        // Sort by UTF-8 bytes (Python's order for str keys), not by Swift's Unicode-aware `<`.
        let names = tensors.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }

        var entries: [String] = []
        if !metadata.isEmpty {
            let keys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            let pairs = keys.map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            entries.append("\(jsonString(metadataKey)):{\(pairs.joined(separator: ","))}")
        }
        var dataLength = 0
        for name in names {
            let tensor = tensors[name]!
            let end = dataLength + tensor.count * MemoryLayout<Float>.size
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append(
                "\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(dataLength),\(end)]}")
            dataLength = end
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        // Pad with spaces so the data starts on an 8-byte boundary (the length prefix is 8 bytes itself).
        header += repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8)

        var file = Data(capacity: 8 + header.count + dataLength)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: header)
        for name in names {
            tensors[name]!.withUnsafeBufferPointer { file.append($0) }
        }
        return file
    }

    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped, the rest as UTF-8.
    private static func jsonString(_ text: String) -> String {
        var literal = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": literal += "\\\""
            case "\\": literal += "\\\\"
            case "\n": literal += "\\n"
            case "\r": literal += "\\r"
            case "\t": literal += "\\t"
            case _ where scalar.value < 0x20: literal += String(format: "\\u%04x", scalar.value)
            default: literal.unicodeScalars.append(scalar)
            }
        }
        return literal + "\""
    }

    // MARK: - Reading

    /// Every tensor in the file, converted to Float32, and the header's metadata (empty if it has none).
    /// Throws `SafetensorsError` for a missing, truncated or malformed file.
    public static func read(from url: URL) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let contents: Data
        do {
            contents = try FileIO.readAll(url)
        } catch {
            throw SafetensorsError.unreadable(file: url.path, reason: error.reason)
        }
        return try contents.withUnsafeBytes { try decode($0, file: url.path) }
    }

    /// Parses and validates a whole file held in memory; `file` only names it in errors.
    static func decode(_ bytes: UnsafeRawBufferPointer, file: String) throws
        -> (tensors: [String: Tensor], metadata: [String: String])
    {
        // The length prefix and the header.
        guard bytes.count >= 8 else {
            throw SafetensorsError.truncated(
                file: file, detail: "\(bytes.count) bytes, too short for the 8-byte header length")
        }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw SafetensorsError.truncated(
                file: file,
                detail: "header says its JSON takes \(headerLength) bytes, file has \(bytes.count - 8) after the length")
        }
        let dataStart = 8 + Int(headerLength)
        let header = try parseHeader(Data(UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart])), file: file)
        let data = UnsafeRawBufferPointer(rebasing: bytes[dataStart...])

        // Each entry on its own: a known dtype, and offsets that span exactly shape × dtype bytes.
        var layouts: [(name: String, scalar: StoredScalar, shape: [Int], begin: Int, end: Int)] = []
        for (name, entry) in header.tensors.sorted(by: { $0.key < $1.key }) {  // sorted: the same error every time
            guard let scalar = storedScalar(entry.dtype) else {
                throw SafetensorsError.unsupportedDType(file: file, tensor: name, dtype: entry.dtype)
            }
            guard let count = elementCount(entry.shape) else {
                throw SafetensorsError.invalidHeader(
                    file: file, reason: "tensor '\(name)' has a shape \(entry.shape) too large to count")
            }
            guard entry.dataOffsets.count == 2 else {
                throw SafetensorsError.invalidOffsets(
                    file: file,
                    reason: "tensor '\(name)' has \(entry.dataOffsets.count) data_offsets, expected [begin, end]")
            }
            let (begin, end) = (entry.dataOffsets[0], entry.dataOffsets[1])
            guard begin <= end else {
                throw SafetensorsError.invalidOffsets(
                    file: file, reason: "tensor '\(name)' has data_offsets [\(begin), \(end)]")
            }
            let (byteCount, overflow) = count.multipliedReportingOverflow(by: scalar.byteWidth)
            guard !overflow, end - begin == byteCount else {
                let needed = overflow ? "more than Int.max" : "\(byteCount)"
                throw SafetensorsError.invalidOffsets(
                    file: file,
                    reason: "tensor '\(name)' (\(entry.dtype), shape \(entry.shape)) needs \(needed) bytes, "
                        + "its data_offsets [\(begin), \(end)] span \(end - begin)")
            }
            layouts.append((name, scalar, entry.shape, begin, end))
        }

        // Together: all the data present, and the tensors tiling it in order of their offsets.
        layouts.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        let expectedLength = layouts.map(\.end).max() ?? 0
        guard expectedLength <= data.count else {
            throw SafetensorsError.truncated(
                file: file, detail: "header says \(expectedLength) bytes of tensor data, file has \(data.count)")
        }
        var covered = 0  // bytes of data accounted for by the tensors so far
        for (index, layout) in layouts.enumerated() {
            if layout.begin < covered {
                throw SafetensorsError.invalidOffsets(
                    file: file,
                    reason: "tensors '\(layouts[index - 1].name)' and '\(layout.name)' overlap at byte \(layout.begin)")
            }
            if layout.begin > covered {
                throw SafetensorsError.invalidOffsets(
                    file: file, reason: "bytes \(covered)..<\(layout.begin) of the data belong to no tensor")
            }
            covered = layout.end
        }
        guard covered == data.count else {
            throw SafetensorsError.invalidOffsets(
                file: file, reason: "\(data.count - covered) bytes after the last tensor's data belong to no tensor")
        }

        var tensors: [String: Tensor] = [:]
        for layout in layouts {
            let stored = UnsafeRawBufferPointer(rebasing: data[layout.begin..<layout.end])
            let count = stored.count / layout.scalar.byteWidth
            tensors[layout.name] = Tensor(shape: layout.shape, scalars: layout.scalar.decode(stored, count: count))
        }
        return (tensors, header.metadata)
    }

    private static func storedScalar(_ dtype: String) -> StoredScalar? {
        switch dtype {
        case "F32": .float32
        case "F64": .float64
        case "F16": .float16
        case "BF16": .bfloat16
        case "I32": .int32
        case "I64": .int64
        default: nil
        }
    }

    // MARK: - The JSON header

    private struct Header: Decodable {
        struct Entry: Decodable {
            let dtype: String
            let shape: [Int]
            let dataOffsets: [Int]

            enum CodingKeys: String, CodingKey {
                case dtype, shape
                case dataOffsets = "data_offsets"
            }

            init(from decoder: any Decoder) throws {
                let fields = try decoder.container(keyedBy: CodingKeys.self)
                dtype = try fields.decode(String.self, forKey: .dtype)
                shape = try Self.naturalNumbers(fields, .shape)
                dataOffsets = try Self.naturalNumbers(fields, .dataOffsets)
            }

            /// A list of non-negative integers. Read as Doubles and checked here, because Foundation's decoder on
            /// Linux reports a fraction where an Int belongs as "not valid JSON", without saying where.
            private static func naturalNumbers(
                _ fields: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys
            ) throws -> [Int] {
                try fields.decode([Double].self, forKey: key).map { value in
                    guard value >= 0, value < 0x1p53, value.rounded() == value else {  // 2⁵³: exact in a Double
                        throw DecodingError.dataCorruptedError(
                            forKey: key, in: fields, debugDescription: "\(value) is not a non-negative integer")
                    }
                    return Int(value)
                }
            }
        }

        var metadata: [String: String] = [:]
        var tensors: [String: Entry] = [:]

        /// Tensor names are the object's keys, so they are read one by one.
        private struct Key: CodingKey {
            let stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let object = try decoder.container(keyedBy: Key.self)
            for key in object.allKeys {
                if key.stringValue == Safetensors.metadataKey {
                    metadata = try object.decode([String: String].self, forKey: key)
                } else {
                    tensors[key.stringValue] = try object.decode(Entry.self, forKey: key)
                }
            }
        }
    }

    private static func parseHeader(_ json: Data, file: String) throws -> Header {
        do {
            return try JSONDecoder().decode(Header.self, from: json)
        } catch let error as DecodingError {
            throw SafetensorsError.invalidHeader(file: file, reason: describe(error))
        } catch {
            throw SafetensorsError.invalidHeader(file: file, reason: "\(error)")
        }
    }

    /// A decoding error in a few words, naming the entry and field, e.g. "missing field 'dtype' in 'weight'".
    private static func describe(_ error: DecodingError) -> String {
        func location(_ path: [any CodingKey]) -> String {
            guard !path.isEmpty else { return "" }
            let parts = path.map { key in key.intValue.map { "[\($0)]" } ?? "'\(key.stringValue)'" }
            return " in " + parts.joined(separator: " ")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(key.stringValue)'\(location(context.codingPath))"
        case .typeMismatch(let type, let context):
            return "expected \(type)\(location(context.codingPath))"
        case .valueNotFound(let type, let context):
            return "expected \(type), found null\(location(context.codingPath))"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "not valid JSON"
                : "\(context.debugDescription)\(location(context.codingPath))"
        @unknown default:
            return "\(error)"
        }
    }
}

// MARK: - Errors

/// Why a safetensors file could not be read or written. Every message names the file.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened (missing, a directory, no permission, …).
    case unreadable(file: String, reason: String)
    /// The file ends before the header or the tensor data it announces.
    case truncated(file: String, detail: String)
    /// The JSON header is malformed or lacks a required field.
    case invalidHeader(file: String, reason: String)
    /// A tensor is stored in an element type this reader does not convert.
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// Data offsets that do not match a tensor's size, overlap, or leave bytes unaccounted for.
    case invalidOffsets(file: String, reason: String)
    /// The tensors cannot be stored (a reserved name) or the file system refused the write.
    case cannotWrite(file: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            "cannot read safetensors file \(file): \(reason)"
        case .truncated(let file, let detail):
            "\(file) is truncated: \(detail)"
        case .invalidHeader(let file, let reason):
            "\(file) has an invalid safetensors header: \(reason)"
        case .unsupportedDType(let file, let tensor, let dtype):
            "\(file): tensor '\(tensor)' has dtype \(dtype), which is not supported (F32, F64, F16, BF16, I32, I64 are)"
        case .invalidOffsets(let file, let reason):
            "\(file) has inconsistent data_offsets: \(reason)"
        case .cannotWrite(let file, let reason):
            "cannot write safetensors file \(file): \(reason)"
        }
    }
}
