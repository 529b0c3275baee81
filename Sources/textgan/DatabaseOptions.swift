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

    /// A run's model (by id: its latest or best checkpoint) or a checkpoint file's; an id the store does not know
    /// is "no run N", not a missing file, and --best on a file is refused rather than ignored.
    func loadRun(_ reference: String, best: Bool = false) throws -> LoadedRun {
        if let id = Int64(reference) {
            // Neither a recorded run nor a run directory: the id is wrong, not the checkpoint missing.
            if exists, !FileManager.default.fileExists(atPath: runsDirectory.appendingPathComponent("\(id)").path) {
                do {
                    _ = try openExisting().run(id)
                } catch RunStoreError.noSuchRun {
                    throw ValidationError("no run \(id) in the run store \(path) (see `textgan runs`)")
                }
            }
            let loaded = try LoadedRun.load(reference, runsDirectory: runsDirectory, best: best)
            if exists { try LoadedRun.verify(loaded.checkpoint, runStep: loaded.step, run: id, in: openExisting()) }
            return loaded
        } else if best {
            throw ValidationError("--best picks a run's best checkpoint; \(reference) is a checkpoint file")
        }
        return try LoadedRun.load(reference, runsDirectory: runsDirectory, best: best)
    }

    /// Opens the store for commands that only read: read-only, so a store on a read-only mount or one this user
    /// cannot write is read all the same; a missing file is an error that names the path.
    func openExisting() throws -> RunDatabase {
        guard exists else {
            throw ValidationError("no run store at \(path) (no run recorded yet, or pass --db / set TEXTGAN_DB)")
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
            throw ValidationError("no run store at \(path) (no run recorded yet, or pass --db / set TEXTGAN_DB)")
        }
        guard FileManager.default.isWritableFile(atPath: path) else {
            throw ValidationError("cannot record in the run store \(path): this user cannot write it (pass --no-record to score without recording)")
        }
        return try RunDatabase(path: path)
    }
}

extension RunStatus: ExpressibleByArgument {}
