import ArgumentParser
import Foundation
import Glibc
import RunStore
import Workbench

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Train one run per seed and grid point, as one sweep; then their metrics as mean ± std.",
        discussion: """
            Every other argument is passed to `textgan train`, once per run, with --seed, --name <sweep>-<point>-s<seed>, \
            --tag sweep:<sweep> and a --set for each grid value. All configs are checked before the first run starts \
            (a misspelt grid key is refused, with a suggestion). Runs are ordinary runs of the run store: \
            `compare --sweep <name>` prints the summary again, and SQL sees them through run_tags.

            Running the same sweep again continues it: a finished run is kept, an interrupted or crashed one is \
            resumed, and a run of the sweep whose config no longer matches the arguments is an error (give another \
            --name). Ctrl-C, SIGTERM and SIGHUP are passed to the runs in progress, which write their checkpoints; no \
            new run starts.

            With --parallel N, N runs train at once (each with --threads cores/N unless the arguments set --threads), \
            their output in runs/sweeps/<name>/<run name>.log; otherwise one after another, their output shown.

            Examples:
              textgan sweep --seeds 1,2,3 coco --algo mle --epochs 5
              textgan sweep --seeds 1-3 --grid mle.learningRate=0.01,0.005 --grid gan.loss=standard,rsgan tang --preset quick
              textgan compare --sweep coco-mle-sweep
            """)

    @Option(help: ArgumentHelp("The seeds: a comma list and ranges (1,2,3 or 1-5).", valueName: "list"))
    var seeds = "1,2,3"

    @Option(name: .customLong("grid"), help: ArgumentHelp(
        "A config field and its values (repeatable; the grid is every combination): mle.learningRate=0.01,0.005.",
        valueName: "path=v1,v2,…"))
    var grid: [String] = []

    @Option(help: "The sweep's name (default: corpus-algorithm-sweep); its runs are tagged sweep:<name>.")
    var name: String?

    @Option(help: "How many runs train at once.")
    var parallel = 1

    @Flag(help: "Print the runs the sweep would train (and which exist already), and train none.")
    var dryRun = false

    @OptionGroup var database: DatabaseOptions

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The arguments of `textgan train`: a corpus and its options.", valueName: "train-arguments"))
    var trainArguments: [String] = []

    func validate() throws {
        guard (1...64).contains(parallel) else { throw ValidationError("--parallel must be from 1 to 64, not \(parallel)") }
        guard !trainArguments.isEmpty else { throw ValidationError("give the train arguments: a corpus and its options (see `textgan train --help`)") }
        for flag in ["--seed", "--name", "--resume", "--tag", "--db"] where trainArguments.contains(where: { $0 == flag || $0.hasPrefix(flag + "=") }) {
            throw ValidationError("\(flag) is the sweep's to set" + (flag == "--seed" ? " (give --seeds)" : flag == "--name" ? " (--name names the sweep)" : ""))
        }
        if let name { try RunLabel.checkName(name, flag: "--name") }
    }

    // MARK: - Plan

    /// One planned run: its `train` arguments, its config as `train` would record it, and the run it already is.
    struct PlannedRun {
        var point: SweepPlan.Point
        var arguments: [String]
        var config: RunConfig
        var existing: Run?
    }

    func plan(store: RunDatabase?) throws -> (SweepPlan, [PlannedRun]) {
        let seedList = try SweepPlan.seeds(parsing: seeds)
        let axes = try grid.map { try SweepAxis(parsing: $0) }
        // The first point's config names the sweep by default (the corpus and algorithm every point shares).
        let probe = try Self.trainCommand(trainArguments + ["--db", database.path])
        guard let corpus = probe.corpus else { throw ValidationError("the train arguments name no corpus") }
        let sweepName = try name ?? { () throws -> String in
            let named = try probe.effectiveConfig(corpus: corpus).defaultRunName + "-sweep"
            try RunLabel.checkName(named, flag: "the sweep's default name")
            return named
        }()
        let plan = try SweepPlan(name: sweepName, seeds: seedList, axes: axes)
        let existing = try store.map { try $0.runs(RunFilter(tags: [plan.tag])).map(\.run) } ?? []
        let runs = try plan.points.map { point -> PlannedRun in
            let arguments = trainArguments + ["--seed", String(point.seed), "--name", point.runName, "--tag", plan.tag]
                + point.assignments.flatMap { ["--set", "\($0.path)=\($0.json)"] }
            let command = try Self.trainCommand(arguments + ["--db", database.path])
            let config: RunConfig
            do {
                config = try command.effectiveConfig(corpus: corpus)
                try config.validate()
            } catch {
                throw WorkbenchError("sweep run \(point.runName)" + (point.assignments.isEmpty ? "" : " (\(point.assignments.map(\.description).joined(separator: ", ")))") + ": \(error)")
            }
            // The newest run of the point; one stopped before its first checkpoint (signalled while starting) left
            // nothing to resume, so the point trains anew.
            var match = existing.filter { $0.name == point.runName }.max { ($0.id ?? 0) < ($1.id ?? 0) }
            if let run = match, run.status != .finished, !Self.hasCheckpoint(run, runsDirectory: database.runsDirectory) {
                print("  \(point.runName): run \(run.id ?? 0) (\(run.status.rawValue)) has no checkpoint to resume; training the point anew")
                match = nil
            }
            if let match { try Self.checkSameRun(match, planned: config, point: point, sweep: plan.name) }
            return PlannedRun(point: point, arguments: arguments, config: config, existing: match)
        }
        return (plan, runs)
    }

    static func hasCheckpoint(_ run: Run, runsDirectory: URL) -> Bool {
        FileManager.default.fileExists(atPath: runsDirectory.appendingPathComponent("\(run.id ?? 0)/latest.safetensors").path)
    }

    static func trainCommand(_ arguments: [String]) throws -> TrainCommand {
        do {
            return try TrainCommand.parse(arguments)
        } catch {
            throw WorkbenchError("train arguments: " + TrainCommand.message(for: error))
        }
    }

    /// A run the sweep made before must be the run it would make now: the same recorded config, up to what the
    /// corpus decided when it started (`fit`), which the planned config has not seen yet.
    static func checkSameRun(_ run: Run, planned: RunConfig, point: SweepPlan.Point, sweep: String) throws {
        let recorded = try RunConfig.decode(run.configJSON, source: "run \(run.id ?? 0)'s config")
        var fitted = planned
        fitted.maxLength = planned.maxLength ?? recorded.maxLength
        let mismatch = try fitted.fieldsDiffering(from: recorded).first
        if let mismatch {
            throw WorkbenchError("sweep \(sweep) already has run \(run.id ?? 0) (\(run.name)) with \(mismatch.key) = \(mismatch.recorded), "
                + "but these arguments give \(mismatch.planned); give the sweep another --name, or `textgan runs delete \(run.id ?? 0)`")
        }
    }

    // MARK: - Run

    func run() throws {
        let store: RunDatabase? = database.exists ? try RunDatabase(path: database.path) : nil
        let (plan, runs) = try plan(store: store)
        let finished = runs.filter { $0.existing?.status == .finished }
        print("sweep \(plan.name): \(runs.count) run(s) — \(max(1, runs.count / plan.seeds.count)) grid point(s) × \(plan.seeds.count) seed(s)"
            + (finished.isEmpty ? "" : "; \(finished.count) finished already"))
        if dryRun {
            for run in runs {
                let state = run.existing.map { "run \($0.id ?? 0), \($0.status.rawValue)" } ?? "new"
                print("  \(run.point.runName)  [\(state)]  " + (["seed=\(run.point.seed)"] + run.point.assignments.map(\.description)).joined(separator: " "))
            }
            return
        }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let logDirectory = database.runsDirectory.appendingPathComponent("sweeps/\(plan.name)")
        if parallel > 1 { try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true) }
        let threads = trainArguments.contains { $0 == "--threads" || $0.hasPrefix("--threads=") }
            ? [] : ["--threads", String(max(1, ProcessInfo.processInfo.activeProcessorCount / parallel))]

        var jobs: [(name: String, arguments: [String])] = []
        for run in runs {
            switch run.existing?.status {
            case .finished?: continue
            case .failed?:
                print("  \(run.point.runName): run \(run.existing!.id ?? 0) failed (\(run.existing!.exitReason ?? "no reason recorded")); not retried — delete it to train it again")
            case .some(let status):
                let id = run.existing!.id ?? 0
                print("  \(run.point.runName): run \(id) is \(status.rawValue); resuming it")
                jobs.append((run.point.runName, ["train", "--resume", String(id), "--db", database.path] + threads))
            case nil:
                jobs.append((run.point.runName, ["train"] + run.arguments + ["--db", database.path] + threads))
            }
        }
        let outcome = try SweepRunner(executable: executable, parallel: parallel,
                                      logDirectory: parallel > 1 ? logDirectory : nil).run(jobs)
        let summaryStore = try database.openExisting()
        let ids = try summaryStore.runs(RunFilter(tags: [plan.tag])).map { $0.run.id ?? 0 }.sorted()
        if ids.count >= 1 {
            print("")
            try CompareCommand.printSweep(plan.name, store: summaryStore, ids: ids)
        }
        if let signal = outcome.signal {
            print("sweep \(plan.name) interrupted: run the same command again to continue it")
            throw ExitCode(128 + signal)
        }
        if !outcome.failed.isEmpty {
            throw WorkbenchError("sweep \(plan.name): \(outcome.failed.count) run(s) failed: \(outcome.failed.joined(separator: ", "))"
                + (parallel > 1 ? " (logs in \(logDirectory.path))" : ""))
        }
    }
}

// MARK: - Child processes

/// Runs `textgan train` processes, at most `parallel` at once, each in its own process group so that a signal
/// reaches it once: the sweep passes on SIGINT, SIGTERM and SIGHUP to the runs in progress and starts no more.
final class SweepRunner: @unchecked Sendable {
    let executable: String
    let parallel: Int
    let logDirectory: URL?
    private let lock = NSLock()
    private var running: [pid_t: String] = [:]
    private var received: Int32?

    init(executable: String, parallel: Int, logDirectory: URL?) {
        (self.executable, self.parallel, self.logDirectory) = (executable, parallel, logDirectory)
    }

    struct Outcome {
        var failed: [String] = []
        /// The signal that stopped the sweep.
        var signal: Int32?
    }

    func run(_ jobs: [(name: String, arguments: [String])]) throws -> Outcome {
        let queue = DispatchQueue(label: "textgan.sweep.signals")
        var sources: [DispatchSourceSignal] = []
        var previous: [(Int32, sighandler_t?)] = []
        for signo in [SIGINT, SIGTERM, SIGHUP] {
            previous.append((signo, signal(signo, SIG_IGN)))
            let source = DispatchSource.makeSignalSource(signal: signo, queue: queue)
            source.setEventHandler { [unowned self] in self.forward(signo) }
            source.resume()
            sources.append(source)
        }
        defer {
            for source in sources { source.cancel() }
            for (signo, handler) in previous { signal(signo, handler) }
        }

        var outcome = Outcome()
        var pending = jobs[...]
        while true {
            while let job = pending.first {
                // Checked, started and registered under the lock, so a signal either stops the sweep before the run
                // starts or is passed on to it.
                let started = try lock.withLock { () throws -> pid_t? in
                    guard running.count < parallel && received == nil else { return nil }
                    let pid = try spawn(job)
                    running[pid] = job.name
                    return pid
                }
                guard let pid = started else { break }
                pending = pending.dropFirst()
                print("→ \(job.name)" + (logDirectory.map { " (pid \(pid), log \($0.appendingPathComponent(job.name + ".log").path))" } ?? ""))
            }
            if lock.withLock({ running.isEmpty }) { break }
            var status: Int32 = 0
            let pid = waitpid(-1, &status, 0)
            if pid < 0 {
                if errno == EINTR { continue }
                throw WorkbenchError("waiting for the sweep's runs failed: \(String(cString: strerror(errno)))")
            }
            guard let name = lock.withLock({ running.removeValue(forKey: pid) }) else { continue }
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            if code == 0 {
                print("✓ \(name)")
            } else if let signal = lock.withLock({ received }), code == 128 + signal {
                print("■ \(name): stopped by the signal (exit \(code)); run the sweep again to continue it")
            } else {
                print("✗ \(name): exit \(code)")
                outcome.failed.append(name)
            }
        }
        outcome.signal = lock.withLock { received }
        return outcome
    }

    private func forward(_ signo: Int32) {
        let pids = lock.withLock { () -> [pid_t] in
            if received == nil { received = signo }
            return Array(running.keys)
        }
        for pid in pids { kill(pid, signo) }
    }

    private func spawn(_ job: (name: String, arguments: [String])) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let logDirectory {
            let log = logDirectory.appendingPathComponent(job.name + ".log").path
            posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t(), mask = sigset_t()
        sigemptyset(&defaults)
        for signo in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, signo) }
        sigemptyset(&mask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + job.arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else {
            throw WorkbenchError("cannot start \(job.name): \(String(cString: strerror(result)))")
        }
        return pid
    }
}
