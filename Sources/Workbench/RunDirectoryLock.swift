import Foundation

/// An advisory lock on a run's directory (`<run>/.lock`, `flock(2)`), held by the process that trains the run for as
/// long as it lives — a suspended process (SIGSTOP, a laptop's lid) keeps it. `train --resume` takes it before it
/// changes anything, so a run whose heartbeat went stale only because its process was stopped is not trained by two
/// processes at once: the resume is refused, naming the process. (The run store's lease, `RunLease`, covers what a
/// lock file cannot: another host sharing the store over a network file system.) The lock file stays; the lock
/// itself goes with the process, however it ends.
final class RunDirectoryLock {
    static let fileName = ".lock"
    private let descriptor: Int32

    /// Takes the lock on `directory`, or throws naming the process that holds it.
    init(directory: URL, run id: Int64) throws {
        let url = directory.appendingPathComponent(Self.fileName)
        let descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw WorkbenchError("cannot open the run's lock file \(url.path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOf: url, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            let who = holder.flatMap { $0.isEmpty ? nil : $0 }.map { "process \($0)" } ?? "another process"
            throw WorkbenchError("run \(id) is being trained by \(who), which holds \(url.path); it may be suspended "
                + "(its heartbeat then goes stale and the run reads as crashed): continue it (kill -CONT) or end it "
                + "before resuming the run here")
        }
        // Who holds it, for the message above (the lock, not the text, is what counts).
        let text = "pid \(getpid()) on \(ProcessInfo.processInfo.hostName)\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }
}
