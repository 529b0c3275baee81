import Foundation

/// Where and with what code a run ran: git commit and dirty flag, host, toolchain.
public struct RunEnvironment: Sendable, Equatable {
    public var codeCommit: String?
    /// Whether the checkout had uncommitted changes (`git status --porcelain` not empty); nil outside git.
    public var codeDirty: Bool?
    public var host: String?
    /// The Swift compiler this binary was built with (from `#if compiler`) and the OS it runs on.
    public var toolchain: String?
    /// The CPU the run started on (brand string and the features the kernels use), filled in by the caller that
    /// knows them (the run store does not look at the CPU).
    public var cpu: String?
    /// The matrix kernels the run started with (own AVX-512 kernel, MKL where it wins, OpenBLAS): runs with
    /// different kernels differ in their last bits.
    public var kernels: String?

    public init(codeCommit: String? = nil, codeDirty: Bool? = nil, host: String? = nil, toolchain: String? = nil,
                cpu: String? = nil, kernels: String? = nil) {
        self.codeCommit = codeCommit
        self.codeDirty = codeDirty
        self.host = host
        self.toolchain = toolchain
        self.cpu = cpu
        self.kernels = kernels
    }

    /// The environment of this process; `directory` is where to ask git (the package root), default the
    /// current directory. Git being absent, or the directory not a checkout, gives nil commit and dirty flag.
    public static func current(directory: URL? = nil) -> RunEnvironment {
        let directory = directory ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let commit = git(["rev-parse", "HEAD"], in: directory)?.trimmingCharacters(in: .whitespacesAndNewlines)
        let dirty = commit == nil ? nil : git(["status", "--porcelain"], in: directory).map { !$0.isEmpty }
        return RunEnvironment(
            codeCommit: commit, codeDirty: dirty, host: ProcessInfo.processInfo.hostName, toolchain: toolchain)
    }

    /// "Swift 6.3 (compiler); Linux 6.1.0 x86_64" — the compiler version is known at build time only to the
    /// nearest minor release that `#if compiler` can test, which is what decides language behaviour.
    public static var toolchain: String {
        #if compiler(>=7.0)
        let compiler = "Swift ≥7.0"
        #elseif compiler(>=6.3)
        let compiler = "Swift 6.3"
        #elseif compiler(>=6.2)
        let compiler = "Swift 6.2"
        #elseif compiler(>=6.1)
        let compiler = "Swift 6.1"
        #else
        let compiler = "Swift 6.0"
        #endif
        #if arch(x86_64)
        let arch = "x86_64"
        #elseif arch(arm64)
        let arch = "arm64"
        #else
        let arch = "unknown-arch"
        #endif
        let os = ProcessInfo.processInfo.operatingSystemVersionString
        return "\(compiler) (compiler); \(os) \(arch)"
    }

    /// Runs git and returns its standard output, or nil when git is missing or fails.
    public static func git(_ arguments: [String], in directory: URL) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", directory.path] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
