import Foundation
import RunStore

/// Deleting runs (`textgan runs delete`): what goes, then doing it. A run goes with every row recorded about it and
/// its directory beside the run store (`<store dir>/<id>/`: checkpoints, the vocabulary copy, the lock file).
/// Recorded checkpoint paths outside that directory (a store copied or moved away from its runs) are listed but
/// never deleted: they may be another copy's files. A running run (fresh heartbeat) or one whose directory lock a
/// process holds (a suspended `train`) is refused before anything is deleted.
public struct RunRemoval {
    public struct Item {
        public let run: Run
        /// The run's directory, when it exists.
        public let directory: URL?
        /// Files under `directory`, with their sizes.
        public let files: [(path: String, bytes: Int64)]
        /// Recorded checkpoint files that exist outside `directory`: kept.
        public let kept: [String]
    }

    public let items: [Item]
    public var bytes: Int64 { items.reduce(0) { $0 + $1.files.reduce(0) { $0 + $1.bytes } } }
    public var fileCount: Int { items.reduce(0) { $0 + $1.files.count } }

    /// What deleting `ids` would remove; refuses a live run.
    public static func plan(_ ids: [Int64], store: RunDatabase, runsDirectory: URL) throws -> RunRemoval {
        let fm = FileManager.default
        return RunRemoval(items: try ids.map { id in
            let run = try store.run(id)
            if run.status == .running { throw RunStoreError.runIsLive(id) }
            let directory = runsDirectory.appendingPathComponent(String(id), isDirectory: true).standardizedFileURL
            var isDirectory: ObjCBool = false
            let exists = fm.fileExists(atPath: directory.path, isDirectory: &isDirectory) && isDirectory.boolValue
            var files: [(String, Int64)] = []
            if exists, let walker = fm.enumerator(at: directory, includingPropertiesForKeys: [.fileSizeKey, .isRegularFileKey]) {
                for case let url as URL in walker {
                    let values = try? url.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey])
                    if values?.isRegularFile == true { files.append((url.path, Int64(values?.fileSize ?? 0))) }
                }
            }
            let inside = directory.path + "/"
            let kept = Set(try store.details(of: id, sampleLimit: 0).checkpoints.map(\.path)).filter { path in
                !URL(fileURLWithPath: path).standardizedFileURL.path.hasPrefix(inside) && fm.fileExists(atPath: path)
            }.sorted()
            return Item(run: run, directory: exists ? directory : nil, files: files.sorted { $0.0 < $1.0 }, kept: kept)
        })
    }

    /// Deletes the runs: takes each run's directory lock (refused when a process holds it), deletes the rows in one
    /// transaction (which checks again that none is running), then removes the directories.
    public func perform(store: RunDatabase) throws {
        var locks: [RunDirectoryLock] = []
        for item in items {
            if let directory = item.directory { locks.append(try RunDirectoryLock(directory: directory, run: item.run.id!)) }
        }
        try store.deleteRuns(items.map { $0.run.id! })
        for item in items {
            guard let directory = item.directory else { continue }
            do {
                try FileManager.default.removeItem(at: directory)
            } catch {
                throw WorkbenchError("run \(item.run.id!) is deleted from the store, but its directory \(directory.path) "
                    + "could not be removed: \((error as NSError).localizedDescription)")
            }
        }
        withExtendedLifetime(locks) {}
    }
}
