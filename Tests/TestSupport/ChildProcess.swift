import Foundation
import XCTest

// Child processes for end-to-end tests: the package's built executables run with collected output, and
// temporary directories removed when a test ends.

/// A fresh directory, removed when the test ends.
public func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("textgan-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// A built executable of this package: beside the test bundle, or in .build/debug of the package.
public func executable(_ name: String) throws -> URL {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name),
        Bundle.main.bundleURL.appendingPathComponent(name),
        Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name),
        packageRoot.appendingPathComponent(".build/debug/\(name)"),
    ]
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        XCTFail("\(name) is not built; looked in \(candidates.map(\.path)). Run `swift build` first.")
        throw CocoaError(.fileNoSuchFile)
    }
    return found
}

public struct Finished {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// A child process whose output is collected; `started` waits for a line on its stdout.
public final class Child: @unchecked Sendable {
    public let process = Process()
    private let out = Pipe()
    private let err = Pipe()
    private let lock = NSLock()
    private var outData = Data()
    private var errData = Data()

    /// `input`, when given, is the child's stdin (write to it, then close it); otherwise stdin is inherited.
    public init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], removing: [String] = [],
                input: Pipe? = nil) throws
    {
        process.executableURL = executable
        if let input { process.standardInput = input }
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "TEXTGAN_DB")
        for name in removing { env.removeValue(forKey: name) }
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = out
        process.standardError = err
        // Weak: a handler call already queued when `wait()` removes the handlers can run after the child object is
        // gone (an unowned capture crashed the test process there).
        out.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self else { return }
            lock.withLock { outData.append(d) }
        }
        err.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self else { return }
            lock.withLock { errData.append(d) }
        }
        try process.run()
    }

    public var stdout: String { lock.withLock { String(decoding: outData, as: UTF8.self) } }

    /// Waits until stdout contains `text` (or fails the test after `timeout`).
    public func waitForOutput(_ text: String, timeout: TimeInterval = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdout.contains(text) { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return false
    }

    public func wait() -> Finished {
        process.waitUntilExit()
        // Drain what is left in the pipes.
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        let restOut = out.fileHandleForReading.readDataToEndOfFile()
        let restErr = err.fileHandleForReading.readDataToEndOfFile()
        return lock.withLock {
            outData.append(restOut)
            errData.append(restErr)
            return Finished(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                            stderr: String(decoding: errData, as: UTF8.self))
        }
    }
}

/// Runs an executable to completion; `input`, when given, is all of its stdin.
public func runProcess(_ name: String, _ arguments: [String], environment: [String: String] = [:], input: Data? = nil)
    throws -> Finished
{
    guard let input else { return try Child(executable(name), arguments, environment: environment).wait() }
    let pipe = Pipe()
    let child = try Child(executable(name), arguments, environment: environment, input: pipe)
    try pipe.fileHandleForWriting.write(contentsOf: input)
    try pipe.fileHandleForWriting.close()
    return child.wait()
}
