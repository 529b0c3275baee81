import Foundation
import XCTest

/// Makes `url` (a file, or a directory with everything in it) unwritable even for root, as a read-only mount is:
/// `chattr -R +i` sets the immutable attribute, which root's permissions do not override (tests run as root, so
/// `chmod` would block nothing). The attribute is cleared when the test ends, so the temporary directory can go.
/// Skips the test where the file system has no immutable attribute.
public func makeImmutable(_ url: URL, _ test: XCTestCase) throws {
    func chattr(_ flag: String) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/chattr")
        process.arguments = ["-R", flag, url.path]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
    guard chattr("+i") == 0 else {
        _ = chattr("-i")
        throw XCTSkip("chattr +i does not work on \(url.path) (no /usr/bin/chattr, or no immutable attribute here)")
    }
    test.addTeardownBlock { _ = chattr("-i") }
    var isDirectory: ObjCBool = false
    _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
    let probe = isDirectory.boolValue ? url.appendingPathComponent("probe-\(UUID().uuidString)") : url
    let blocked = isDirectory.boolValue
        ? !FileManager.default.createFile(atPath: probe.path, contents: Data())
        : !FileManager.default.isWritableFile(atPath: probe.path)
    guard blocked else { throw XCTSkip("chattr +i does not stop root writing to \(url.path) here") }
}
