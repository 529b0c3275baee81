import ArgumentParser
import Foundation
import RunStore
import Workbench

/// `--db`, shared by every command that reads or writes the run store.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("db"),
        help: ArgumentHelp(
            "The run store (SQLite file).",
            discussion: "Default: $TEXTGAN_DB when set, else runs/textgan.sqlite under the package root. Commands "
                + "that only read (runs, compare, sql, sample, repl, eval --no-record) open it read-only, so a store "
                + "on a read-only mount or one this user cannot write can still be read.",
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

    /// A run id, a run name or a checkpoint file, resolved against the store (see `RunReference.resolve`).
    func reference(_ text: String) throws -> RunReference {
        try RunReference.resolve(text, store: exists ? openExisting() : nil, storePath: path)
    }

    /// A recorded run's id from its id or name (`runs show`, `compare`).
    func runID(_ text: String) throws -> Int64 {
        if let id = Int64(text) { return id }
        return try RunReference.runID(text, store: openExisting(), storePath: path)
    }

    /// The model `reference` names: a run's latest or best checkpoint, or a checkpoint file's.
    func loadRun(_ reference: RunReference, best: Bool = false) throws -> LoadedRun {
        try LoadedRun.load(reference, runsDirectory: runsDirectory, store: exists ? openExisting() : nil,
                           storePath: path, best: best)
    }

    func loadRun(_ text: String, best: Bool = false) throws -> LoadedRun {
        try loadRun(reference(text), best: best)
    }

    /// Opens the store for commands that only read: read-only, so a store on a read-only mount or one this user
    /// cannot write is read all the same; a missing file is an error that names the path.
    func openExisting() throws -> RunDatabase {
        guard exists else {
            throw WorkbenchError("no run store at \(path) (no run recorded yet, or pass --db / set TEXTGAN_DB)")
        }
        do {
            return try RunDatabase(path: path, readOnly: true)
        } catch RunStoreError.schemaTooOld(_, let version, _) where version > 0 && FileManager.default.isWritableFile(atPath: path) {
            // An older textgan's store that this user can write is upgraded once, as opening it always did.
            _ = try RunDatabase(path: path)
            return try RunDatabase(path: path, readOnly: true)
        }
    }

    /// Opens an existing store to record into it (`eval`); a store that cannot be written is an error naming it.
    func openForRecording() throws -> RunDatabase {
        guard exists else {
            throw WorkbenchError("no run store at \(path) (no run recorded yet, or pass --db / set TEXTGAN_DB)")
        }
        guard FileManager.default.isWritableFile(atPath: path) else {
            throw WorkbenchError("cannot record in the run store \(path): this user cannot write it (pass --no-record to score without recording)")
        }
        return try RunDatabase(path: path)
    }
}

extension RunStatus: ExpressibleByArgument {}
