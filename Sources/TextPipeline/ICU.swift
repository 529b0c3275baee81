import CICU

// Swift wrappers over the CICU shim: strings in, strings out. ICU works on UTF-16.

enum ICU {
    struct Failure: Error, CustomStringConvertible {
        let operation: String
        let code: Int32
        var description: String { "ICU \(operation) failed: \(String(cString: cicu_error_name(code)))" }
    }

    static var version: String {
        var buffer = [CChar](repeating: 0, count: 32)
        cicu_version(&buffer, Int32(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Word segments by ICU's word break rules, covering the whole text (whitespace runs included).
    static func wordSegments(_ text: String) throws -> [String] {
        let units = Array(text.utf16)
        if units.isEmpty { return [] }
        var boundaries = [Int32](repeating: 0, count: units.count + 1)
        var error: Int32 = 0
        let count = units.withUnsafeBufferPointer { source in
            boundaries.withUnsafeMutableBufferPointer { out in
                cicu_word_boundaries(source.baseAddress, Int32(source.count), out.baseAddress, nil,
                                     Int32(out.count), &error)
            }
        }
        guard error <= 0 else { throw Failure(operation: "word break", code: error) }
        // Boundaries fall between code points, so each segment decodes cleanly.
        var segments: [String] = []
        segments.reserveCapacity(Int(count))
        for k in 1..<Int(count) {
            segments.append(String(decoding: units[Int(boundaries[k - 1])..<Int(boundaries[k])], as: UTF16.self))
        }
        return segments
    }

    static func normalizeNFC(_ text: String) throws -> String {
        try transform(text, operation: "NFC normalization", cicu_normalize_nfc)
    }

    static func lowercase(_ text: String) throws -> String {
        try transform(text, operation: "lowercase mapping", cicu_to_lower)
    }

    private typealias Transform = (UnsafePointer<UInt16>?, Int32, UnsafeMutablePointer<UInt16>?, Int32,
                                   UnsafeMutablePointer<Int32>?) -> Int32

    /// Runs an ICU string transform, growing the output buffer once if ICU reports overflow.
    private static func transform(_ text: String, operation: String, _ body: Transform) throws -> String {
        let source = Array(text.utf16)
        if source.isEmpty { return text }
        var capacity = source.count * 2 + 16
        for _ in 0..<2 {
            var output = [UInt16](repeating: 0, count: capacity)
            var error: Int32 = 0
            let length = source.withUnsafeBufferPointer { src in
                output.withUnsafeMutableBufferPointer { dst in
                    body(src.baseAddress, Int32(src.count), dst.baseAddress, Int32(dst.count), &error)
                }
            }
            if error == bufferOverflowError {
                capacity = Int(length) + 1
                continue
            }
            guard error <= 0 else { throw Failure(operation: operation, code: error) }
            return String(decoding: output[0..<Int(length)], as: UTF16.self)
        }
        throw Failure(operation: operation, code: bufferOverflowError)
    }

    private static let bufferOverflowError: Int32 = 15  // U_BUFFER_OVERFLOW_ERROR
}
