import Foundation
import RunStore
import TestSupport
import XCTest

/// Training overwrites `latest.safetensors` and `best.safetensors` in place, so a run records many writes to two
/// files; `runs show` lists the files that exist, once each, with the hash of their latest write.
final class CheckpointFilesTests: XCTestCase {
    private var directory = URL(fileURLWithPath: "/")
    private var store = ""
    private var id: Int64 = 0

    /// Given a run that wrote latest.safetensors three times (the file is on disk, from the last write) and
    /// best.safetensors once (since deleted)
    override func setUpWithError() throws {
        directory = try temporaryDirectory(self)
        store = directory.appendingPathComponent("textgan.sqlite").path
        let database = try RunDatabase(path: store)
        id = try database.startRun(makeRun())
        let runDirectory = directory.appendingPathComponent("\(id)")
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        let latest = runDirectory.appendingPathComponent("latest.safetensors")
        try Data(repeating: 7, count: 30).write(to: latest)
        for (step, digit, bytes) in [(10, "a", 10), (20, "b", 20), (30, "c", 30)] {
            try database.recordCheckpoint(run: id, step: step, path: latest.path,
                                          sha256: String(repeating: digit, count: 64), bytes: Int64(bytes))
        }
        try database.recordCheckpoint(run: id, step: 10, path: runDirectory.appendingPathComponent("best.safetensors").path,
                                      sha256: String(repeating: "d", count: 64), bytes: 10)
        try database.finish(run: id, status: .finished)
    }

    func testEachFileOnceWithItsLatestWriteAndHowManyWritesThereWere() throws {
        // when the run's details are read
        let files = try RunDatabase(path: store, readOnly: true).details(of: id).checkpointFiles

        // then each path appears once, described by its latest write, located (or not) on disk
        XCTAssertEqual(files.map { URL(fileURLWithPath: $0.path).lastPathComponent },
                       ["best.safetensors", "latest.safetensors"])
        XCTAssertEqual(files.map(\.writes), [1, 3])
        XCTAssertEqual(files.map(\.latest.step), [10, 30])
        XCTAssertEqual(files[1].latest.sha256, String(repeating: "c", count: 64))
        XCTAssertNil(files[0].location)
        XCTAssertEqual(files[1].location?.path, directory.appendingPathComponent("\(id)/latest.safetensors").path)
        XCTAssertEqual(files[1].bytesOnDisk, 30)
    }

    func testAStoreMovedWithItsRunsFindsTheFilesBesideIt() throws {
        // Given the store and its run directories moved elsewhere (the recorded paths no longer exist)
        let moved = directory.appendingPathComponent("moved")
        try FileManager.default.createDirectory(at: moved, withIntermediateDirectories: true)
        for name in ["textgan.sqlite", "\(id)"] {
            try FileManager.default.moveItem(at: directory.appendingPathComponent(name),
                                             to: moved.appendingPathComponent(name))
        }
        // then the file is found in the run's directory beside the store.
        let files = try RunDatabase(path: moved.appendingPathComponent("textgan.sqlite").path, readOnly: true)
            .details(of: id).checkpointFiles
        XCTAssertEqual(files.map { $0.location?.path }, [nil, moved.appendingPathComponent("\(id)/latest.safetensors").path])
    }

    func testRunsShowListsTheFilesThatExistNotEveryWrite() throws {
        let show = try runProcess("textgan", ["runs", "show", "\(id)", "--db", store])
        XCTAssertEqual(show.status, 0, show.stderr)
        let section = show.stdout.components(separatedBy: "checkpoints").last ?? ""
        XCTAssertTrue(show.stdout.contains("checkpoints (1 file, 4 writes recorded)"), show.stdout)
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("latest.safetensors") }
        XCTAssertEqual(rows.count, 1, section)
        XCTAssertEqual(rows.first?.split(separator: " ").prefix(5).map(String.init),
                       ["latest.safetensors", "30", "30", "cccccccccccc", "3"], section)
        XCTAssertFalse(section.contains("aaaaaaaaaaaa") || section.contains("bbbbbbbbbbbb"), "stale hashes\n\(section)")
        XCTAssertTrue(section.contains("missing: \(directory.path)/\(id)/best.safetensors (1 write recorded"), section)
    }
}
