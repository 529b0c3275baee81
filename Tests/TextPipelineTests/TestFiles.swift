import Foundation
import XCTest

/// A fresh temporary directory per test, removed afterwards.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("textgan-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    @discardableResult
    func file(_ name: String, bytes: [UInt8]) throws -> URL {
        let file = url.appendingPathComponent(name)
        try Data(bytes).write(to: file)
        return file
    }

    @discardableResult
    func file(_ name: String, text: String) throws -> URL {
        try file(name, bytes: Array(text.utf8))
    }

    /// `count` lines "line i word<i mod 7>".
    @discardableResult
    func numberedLines(_ name: String, count: Int) throws -> URL {
        try file(name, text: (0..<count).map { "line \($0) word\($0 % 7)" }.joined(separator: "\n") + "\n")
    }
}
