import GRDB
import RunStore
import TestSupport
import XCTest

final class ConcurrencyTests: XCTestCase {
    func testTwoWriterProcessesAndAReaderShareOneFileWithoutErrorsOrLostRows() throws {
        // Given a fresh file (so the two writers also race to create the schema)
        let path = try temporaryDirectory(self).appendingPathComponent("shared.sqlite").path
        let steps = 400

        // when two processes each record `steps` steps, one transaction per step, while this process reads
        let writers = try ["first", "second"].map { name in
            try Child(executable("runstore-probe"),
                      ["--db", path, "--mode", "finish", "--steps", String(steps), "--name", name])
        }
        var reads = 0
        var readErrors: [String] = []
        while writers.contains(where: { $0.process.isRunning }) {
            do {
                if FileManager.default.fileExists(atPath: path) {
                    let database = try RunDatabase(path: path)
                    for summary in try database.runs() {
                        _ = try database.metricHistory(run: summary.run.id!, key: "loss")
                    }
                    reads += 1
                }
            } catch {
                readErrors.append(String(describing: error))
            }
        }
        let results = writers.map { $0.wait() }

        // then both writers succeeded, the reader never failed, and no row is missing.
        for result in results { XCTAssertEqual(result.status, 0, result.stderr) }
        XCTAssertEqual(readErrors, [])
        XCTAssertGreaterThan(reads, 0)
        let database = try RunDatabase(path: path)
        let runs = try database.runs()
        XCTAssertEqual(Set(runs.map(\.run.name)), ["first", "second"])
        for summary in runs {
            XCTAssertEqual(summary.run.status, .finished)
            let steps = try database.metricHistory(run: summary.run.id!, key: "loss").map(\.step)
            XCTAssertEqual(steps, Array(0..<400))
        }
        try database.writer.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT count(*) FROM metrics"), 2 * steps)
        }
    }
}
