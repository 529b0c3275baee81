import Foundation
import RunStore

/// What `sample`, `eval`, the REPL, `runs show` and `compare` are pointed at: a recorded run (by id or by name) or a
/// checkpoint file.
public enum RunReference: Equatable, Sendable {
    case run(Int64)
    case file(String)

    /// Reads `text` as a run id; else, when it has no "/", as the name of one recorded run; else as a checkpoint
    /// file (write ./name for a file that shares a run's name). A name several runs share is an error listing
    /// their ids; a text that is none of the three says so. `store` is nil when there is no run store at
    /// `storePath`.
    public static func resolve(_ text: String, store: RunDatabase?, storePath: String) throws -> RunReference {
        if let id = Int64(text) { return .run(id) }
        let isFile = FileManager.default.fileExists(atPath: text)
        if !text.contains("/"), let store, let id = try run(named: text, in: store, fileToo: isFile) { return .run(id) }
        if isFile { return .file(text) }
        if text.contains("/") { throw WorkbenchError("\(text) is neither a run id nor a checkpoint file: no such file exists") }
        throw WorkbenchError("\(text) is neither a run id, a run name nor a checkpoint file: "
            + (store == nil ? "there is no run store at \(storePath)" : "no run in \(storePath) is named so")
            + " and no such file exists (see `textgan runs`)")
    }

    /// A recorded run's id from its id or its name, for the commands that read runs only (`runs show`, `compare`).
    public static func runID(_ text: String, store: RunDatabase, storePath: String) throws -> Int64 {
        if let id = Int64(text) { return id }
        if let id = try run(named: text, in: store, fileToo: false) { return id }
        throw WorkbenchError("\(text) is neither a run id nor a run name: no run in \(storePath) is named so (see `textgan runs`)")
    }

    /// The one run called `name`; nil when none is.
    private static func run(named name: String, in store: RunDatabase, fileToo: Bool) throws -> Int64? {
        let ids = try store.runIDs(named: name)
        guard ids.count <= 1 else {
            throw WorkbenchError("\(ids.count) runs are named \(name) (ids \(ids.map(String.init).joined(separator: ", "))); "
                + "give one's id" + (fileToo ? ", or ./\(name) for the file" : ""))
        }
        return ids.first
    }
}

extension LoadedRun {
    /// A run's model (its latest checkpoint, or its best) or a checkpoint file's. A run id that neither the store
    /// nor a run directory knows is "no run N", not a missing file; --best on a file is refused rather than
    /// ignored; a run's checkpoint is checked against the hash the store recorded for it (`verify`).
    public static func load(_ reference: RunReference, runsDirectory: URL, store: RunDatabase?, storePath: String,
                            best: Bool = false) throws -> LoadedRun {
        switch reference {
        case .file(let path):
            guard !best else { throw WorkbenchError("--best picks a run's best checkpoint; \(path) is a checkpoint file") }
            return try load(path, runsDirectory: runsDirectory)
        case .run(let id):
            if !FileManager.default.fileExists(atPath: runsDirectory.appendingPathComponent("\(id)").path) {
                guard let store else { throw WorkbenchError("no run \(id): there is no run store at \(storePath)") }
                do {
                    _ = try store.run(id)
                } catch RunStoreError.noSuchRun {
                    throw WorkbenchError("no run \(id) in the run store \(storePath) (see `textgan runs`)")
                }
            }
            let loaded = try load(String(id), runsDirectory: runsDirectory, best: best)
            if let store { try verify(loaded.checkpoint, runStep: loaded.step, run: id, in: store) }
            return loaded
        }
    }
}
