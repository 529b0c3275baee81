import Dispatch
import Foundation

/// Keeps a run's status true to what happened to its process: a heartbeat every few seconds while it lives, and
/// SIGINT/SIGTERM recorded as `interrupted` before the process exits (130 / 143, as a shell reports them).
///
/// A kill -9 cannot be caught; the heartbeat simply stops and the run reads as crashed once it is older than the
/// run's `stale_after`. With an `owner` (the process's `RunLease` token) the heartbeat also renews the run's lease:
/// once another process has resumed the run, `lostLease` is set and the final status is left to the new owner. Typical use, from the CLI's training recorder:
///
///     let id = try database.startRun(newRun)
///     let lifecycle = RunLifecycle(database: database, run: id, signals: .stopAtNextStep)
///     try lifecycle.run { lifecycle in
///         for step in 0..<steps where !lifecycle.stopRequested { … }   // training polls the flag
///     }
///     if let code = lifecycle.interruptionExitCode { exit(code) }
public final class RunLifecycle: @unchecked Sendable {
    /// Seconds between heartbeats.
    public static let defaultHeartbeatInterval: TimeInterval = 10
    /// Six missed heartbeats: long enough for a slow disk or a suspended laptop's first seconds, short enough that a
    /// crashed run is not shown as running for long.
    public static let defaultStaleAfter: TimeInterval = 60

    /// What SIGINT and SIGTERM do.
    public enum SignalPolicy: Sendable {
        /// Record `interrupted` and exit at once with 128 + the signal number.
        case exitImmediately
        /// Set `stopRequested` so the training loop can stop cleanly at its next step (and save what it wants);
        /// a second signal waits for that too (`timeout` sends two), a third exits immediately.
        case stopAtNextStep
        /// Leave signals alone (the caller handles them).
        case ignore
    }

    public let database: RunDatabase
    public let run: Int64
    /// The lease this process holds on the run (`RunLease.token()`), or nil to write without one.
    public let owner: String?

    private let queue = DispatchQueue(label: "textgan.run-lifecycle")
    private let lock = NSLock()
    /// Held for the whole of `finish`, the status write included.
    private let finishing = NSLock()
    private var timer: DispatchSourceTimer?
    private var watchesSignals = false
    private var receivedSignal: Int32?
    private var signalCount = 0
    private var ended = false
    private var lost: RunStoreError?

    /// Starts beating at once and, unless `.ignore`, takes over SIGINT, SIGTERM and SIGHUP until the run ends.
    public init(
        database: RunDatabase, run: Int64, owner: String? = nil, heartbeatInterval: TimeInterval = defaultHeartbeatInterval,
        signals policy: SignalPolicy = .exitImmediately
    ) {
        self.database = database
        self.run = run
        self.owner = owner

        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + heartbeatInterval, repeating: heartbeatInterval, leeway: .milliseconds(50))
        timer.setEventHandler { [weak self, database, run, owner] in
            do {
                try database.heartbeat(run: run, owner: owner)
            } catch let error as RunStoreError {
                // Another process resumed the run: stop beating for it; training sees `lostLease` and stops.
                if case .leaseLost = error { self?.loseLease(error) }
            } catch {
                // A failed beat (e.g. the disk is full) is retried at the next tick; training must not die of it.
            }
        }
        timer.resume()
        self.timer = timer

        if policy != .ignore {
            watchesSignals = true
            ProcessSignals.shared.take { [unowned self] signo, times in self.received(signo, times: times, policy: policy) }
        }
    }

    deinit { stopWatching() }

    /// True once SIGINT or SIGTERM arrived under `.stopAtNextStep`: the training loop should stop.
    public var stopRequested: Bool { lock.withLock { receivedSignal != nil } }

    /// Set once the heartbeat found the run taken over by another process (`train --resume` after this one was
    /// suspended past its stale window): training must stop at once, writing nothing more (no checkpoint).
    public var lostLease: RunStoreError? { lock.withLock { lost } }

    private func loseLease(_ error: RunStoreError) {
        let timer = lock.withLock { () -> DispatchSourceTimer? in
            if lost == nil { lost = error }
            return self.timer
        }
        timer?.cancel()
    }

    /// 130 after SIGINT, 143 after SIGTERM, nil when no signal arrived.
    public var interruptionExitCode: Int32? { lock.withLock { receivedSignal.map { 128 + $0 } } }

    /// Records how the run ended and stops the heartbeat and signal handling. Only the first call writes; a later
    /// call (the main thread ending while the signal handler records the interruption) waits until that write is
    /// done, so a process that exits right after `finish` returns never leaves its run `running`.
    public func finish(_ status: RunStatus, reason: String? = nil) throws {
        try finishing.withLock {
            let first = lock.withLock { () -> Bool in
                defer { ended = true }
                return !ended
            }
            stopWatching()
            if first { try database.finish(run: run, status: status, reason: reason, owner: owner) }
        }
    }

    /// Runs `body` (the training) and records its outcome: finished when it returns, interrupted when it returns
    /// after a stop request, failed — with the error's description — when it throws (the error is rethrown).
    public func run<T>(_ body: (RunLifecycle) throws -> T) throws -> T {
        do {
            let result = try body(self)
            if let signo = lock.withLock({ receivedSignal }) {
                try finish(.interrupted, reason: Self.reason(signo))
            } else {
                try finish(.finished)
            }
            return result
        } catch {
            try? finish(.failed, reason: String(describing: error))
            throw error
        }
    }

    static func reason(_ signo: Int32) -> String {
        switch signo {
        case SIGINT: return "interrupted by SIGINT (Ctrl-C)"
        case SIGTERM: return "interrupted by SIGTERM"
        case SIGHUP: return "interrupted by SIGHUP (the terminal closed)"
        default: return "interrupted by signal \(signo)"
        }
    }

    private func received(_ signo: Int32, times: Int, policy: SignalPolicy) {
        let count = lock.withLock { () -> Int in
            if receivedSignal == nil { receivedSignal = signo }
            signalCount += times
            return signalCount
        }
        if policy == .stopAtNextStep && count < 3 {
            if count == 2 {
                FileHandle.standardError.write(Data("textgan: stopping after the checkpoint being written; a third signal stops at once, without it\n".utf8))
            }
            return
        }
        try? finish(.interrupted, reason: Self.reason(signo))
        // At once: `_exit`, not `exit`, whose flush of stdio would wait for a thread blocked writing to a full pipe
        // (holding the stream's lock) and whose atexit handlers may wait on the training threads.
        _exit(128 + signo)
    }

    private func stopWatching() {
        let (timer, watched, stopping) = lock.withLock { () -> (DispatchSourceTimer?, Bool, Bool) in
            defer { self.timer = nil; watchesSignals = false }
            return (self.timer, watchesSignals, receivedSignal != nil)
        }
        timer?.cancel()
        // After a stop was asked for, the process is on its way out with its own status: a late repeat of the
        // signal (`timeout` sends two) must not kill it while it says how to resume.
        if watched { ProcessSignals.shared.release(ignoringLaterSignals: stopping) }
    }
}

/// SIGINT, SIGTERM and SIGHUP for the whole process, watched by one dispatch source each, made once and kept: a run
/// in progress (`RunLifecycle`) takes them, and between runs they do what they would do unwatched (end the process,
/// with 128 + the signal's number), or nothing once a stop is on its way. Sources are never made twice for a
/// signal: on Linux a second source for a signal whose first was cancelled never fires, so a process training
/// several runs one after another (`textgan reproduce`) would otherwise ignore Ctrl-C from its second run on.
final class ProcessSignals: @unchecked Sendable {
    static let shared = ProcessSignals()

    private let queue = DispatchQueue(label: "textgan.process-signals")
    private let lock = NSLock()
    private var sources: [DispatchSourceSignal] = []
    private var handler: ((Int32, Int) -> Void)?
    private var ignoring = false

    /// From now until `release`, signals go to `handler` (the signal, and how many arrived coalesced).
    func take(_ handler: @escaping (Int32, Int) -> Void) {
        lock.withLock {
            self.handler = handler
            ignoring = false
            guard sources.isEmpty else { return }
            for signo in [SIGINT, SIGTERM, SIGHUP] {
                // let the dispatch source, not the default action, see the signal
                let previous = signal(signo, SIG_IGN)
                // SIGHUP already ignored stays ignored: `nohup textgan train` survives its terminal.
                if signo == SIGHUP, let previous,
                   unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { continue }
                let source = DispatchSource.makeSignalSource(signal: signo, queue: queue)
                // Signals that arrive before the handler runs are coalesced; `data` says how many there were.
                source.setEventHandler { [unowned self] in  // holds the source, which is kept for good anyway
                    self.deliver(signo, times: max(Int(source.data), 1))
                }
                source.resume()
                sources.append(source)
            }
        }
    }

    /// Signals no longer go to the run's handler: later ones are ignored (`ignoringLaterSignals`) or end the process.
    func release(ignoringLaterSignals: Bool) {
        lock.withLock {
            handler = nil
            ignoring = ignoringLaterSignals
        }
    }

    private func deliver(_ signo: Int32, times: Int) {
        let (handler, ignoring) = lock.withLock { (self.handler, self.ignoring) }
        if let handler { return handler(signo, times) }
        guard !ignoring else { return }
        // What the signal does unwatched.
        signal(signo, SIG_DFL)
        raise(signo)
    }
}
