import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// What the safetensors and .npy readers and writers share: decoding stored elements into Float, reading a
// whole file, and replacing a file atomically.

#if _endian(big)
#error("safetensors and .npy data are little-endian, and this code copies their bytes as they are")
#endif

// MARK: - Stored element types

/// An element type found in tensor files, and how to turn raw little-endian bytes of it into `Float`s.
enum StoredScalar: Sendable {
    case float32, float64, float16, bfloat16, int32, int64

    var byteWidth: Int {
        switch self {
        case .float16, .bfloat16: 2
        case .float32, .int32: 4
        case .float64, .int64: 8
        }
    }

    /// `count` elements read from `bytes` (exactly `count · byteWidth` bytes, any alignment).
    /// Float32 is one bulk copy; other types convert element by element, rounding to the nearest Float.
    func decode(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Float] {
        precondition(bytes.count == count * byteWidth, "\(bytes.count) bytes cannot hold \(count) × \(self)")
        switch self {
        case .float32:
            return [Float](unsafeUninitializedCapacity: count) { buffer, initializedCount in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
                initializedCount = count
            }
        case .float64: return Self.convert(bytes, count: count, from: Double.self) { Float($0) }
        case .int32: return Self.convert(bytes, count: count, from: Int32.self) { Float($0) }
        case .int64: return Self.convert(bytes, count: count, from: Int64.self) { Float($0) }
        case .float16: return Self.convert(bytes, count: count, from: UInt16.self, Self.floatFromHalf)
        // bfloat16 is the upper half of a Float32.
        case .bfloat16: return Self.convert(bytes, count: count, from: UInt16.self) { Float(bitPattern: UInt32($0) << 16) }
        }
    }

    /// IEEE 754 half precision to Float. By hand, because `Float16` is unavailable on Intel Macs.
    static func floatFromHalf(_ bits: UInt16) -> Float {
        let sign: Float = bits & 0x8000 == 0 ? 1 : -1
        let exponent = Int(bits >> 10 & 0x1F)
        let fraction = Float(bits & 0x3FF)
        switch exponent {
        case 0: return sign * fraction * 0x1p-24  // zero or subnormal: fraction · 2⁻¹⁴ / 1024
        case 0x1F: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }

    private static func convert<Stored: BitwiseCopyable>(
        _ bytes: UnsafeRawBufferPointer, count: Int, from: Stored.Type, _ toFloat: (Stored) -> Float
    ) -> [Float] {
        let stride = MemoryLayout<Stored>.size
        return (0..<count).map { i in toFloat(bytes.loadUnaligned(fromByteOffset: i * stride, as: Stored.self)) }
    }
}

/// The number of elements in `shape`, or nil if a dimension is negative or the product overflows `Int`.
func elementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for dimension in shape {
        guard dimension >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
        if overflow { return nil }
        count = product
    }
    return count
}

// MARK: - Files

/// Why a file could not be read or written, in words fit for an error message.
struct FileIOError: Error {
    let reason: String

    /// The reason for the current `errno`, e.g. "cannot create x: Permission denied".
    static func posix(_ what: String) -> FileIOError {
        FileIOError(reason: "\(what): \(String(cString: strerror(errno)))")
    }
}

enum FileIO {
    /// The whole file, memory-mapped when that is safe.
    static func readAll(_ url: URL) throws(FileIOError) -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw FileIOError(reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw FileIOError(reason: "it is a directory") }
        do {
            return try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw FileIOError(reason: error.localizedDescription)
        }
    }

    /// Replaces `url` with `data` so that the name holds either the old file or all of the new one, never a part:
    /// the bytes go to a temporary file in the same directory, which is flushed to disk and then renamed over the
    /// target (rename is atomic within one file system). A failure removes the temporary file.
    static func writeAtomically(_ data: Data, to url: URL) throws(FileIOError) {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).partial")

        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(0o644))
        guard descriptor >= 0 else { throw .posix("cannot create a temporary file in \(directory.path)") }
        var renamed = false
        defer { if !renamed { unlink(temporary.path) } }

        var failure: FileIOError? = nil
        if let writeFailure = writeAll(data, to: descriptor) {
            failure = writeFailure
        } else if fsync(descriptor) != 0 {
            failure = .posix("cannot flush \(temporary.lastPathComponent) to disk")
        }
        if close(descriptor) != 0, failure == nil { failure = .posix("cannot close \(temporary.lastPathComponent)") }
        if let failure { throw failure }

        guard rename(temporary.path, url.path) == 0 else { throw .posix("cannot rename the temporary file over it") }
        renamed = true
        syncDirectory(directory)
    }

    /// The name of the temporary file `writeAtomically` writes beside `name`.
    static func isTemporary(_ file: String) -> Bool { file.hasPrefix(".") && file.hasSuffix(".partial") }

    /// Writes every byte, retrying short writes and interruptions; nil on success.
    private static func writeAll(_ data: Data, to descriptor: Int32) -> FileIOError? {
        data.withUnsafeBytes { bytes -> FileIOError? in
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return .posix("cannot write")
                }
                offset += written
            }
            return nil
        }
    }

    /// Flushes the directory entry of a renamed file, so the rename itself survives a crash. Best effort:
    /// the file's contents are already safe, and not every file system lets a directory be opened this way.
    private static func syncDirectory(_ directory: URL) {
        let descriptor = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        _ = close(descriptor)
    }
}

/// Removes the temporary files that atomic writes in `directory` left behind when the process was killed mid-write
/// (`.<name>.<UUID>.partial`); returns their names. Call it only where no other process writes (a run's own
/// directory, when it starts or resumes).
@discardableResult
public func removeOrphanedPartialWrites(in directory: URL) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter(FileIO.isTemporary).sorted().filter {
        (try? FileManager.default.removeItem(at: directory.appendingPathComponent($0))) != nil
    }
}
