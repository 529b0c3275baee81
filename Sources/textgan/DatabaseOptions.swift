import ArgumentParser
import Foundation
import RunStore

/// `--db`, shared by every command that reads or writes the run store.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("db"),
        help: ArgumentHelp(
            "The run store (SQLite file).",
            discussion: "Default: $TEXTGAN_DB when set, else runs/textgan.sqlite under the package root.",
            valueName: "path"),
        completion: .file(extensions: ["sqlite"]))
    var db: String?

    /// --db, else $TEXTGAN_DB, else runs/textgan.sqlite under the package root.
    var path: String {
        if let db { return db }
        if let fromEnvironment = ProcessInfo.processInfo.environment["TEXTGAN_DB"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return Self.packageRoot.appendingPathComponent("runs/textgan.sqlite").path
    }

    /// The package this binary was built from (found from this source file's path), or the current directory when
    /// the binary was moved away from its sources.
    static var packageRoot: URL {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        if FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) { return root }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }

    /// Where run directories (checkpoints, vocabulary) live: beside the run store.
    var runsDirectory: URL { URL(fileURLWithPath: path).deletingLastPathComponent() }

    var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// Opens the store for reading commands; a missing file is an error that names the path.
    func openExisting() throws -> RunDatabase {
        guard exists else {
            throw ValidationError("no run store at \(path) (no run recorded yet, or pass --db / set TEXTGAN_DB)")
        }
        return try RunDatabase(path: path)
    }
}

extension RunStatus: ExpressibleByArgument {}
