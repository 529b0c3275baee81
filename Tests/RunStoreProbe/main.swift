// runstore-probe: a test-only process for RunStoreTests. It opens a run store, starts a run through RunLifecycle
// — exactly what training's recorder does — and ends it the way the test asks, so every exit path of a real process
// can be checked: normal end, error, SIGINT, SIGTERM, SIGKILL, and several writers at once.
import ArgumentParser
import Foundation
import RunStore

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runstore-probe",
        abstract: "Record a run and end it as asked (RunStoreTests' child process).")

    enum Mode: String, ExpressibleByArgument {
        /// Record `--steps` steps, then finish.
        case finish
        /// Record `--steps` steps, then throw: the run ends failed.
        case fail
        /// Record a step every 20 ms until a signal arrives (SIGINT/SIGTERM exit at once; SIGKILL leaves it stale).
        case wait
        /// Like wait, with `.stopAtNextStep`: a signal stops the loop, which then returns normally.
        case graceful
    }

    struct ProbeError: Error, CustomStringConvertible {
        var description: String { "probe failure: the loss exploded at step 3" }
    }

    @Option(help: "The database file.") var db: String
    @Option(help: "How the run ends.") var mode: Mode
    @Option(help: "Steps to record (finish, fail).") var steps = 10
    @Option(help: "Seconds between heartbeats.") var heartbeat = 0.2
    @Option(help: "Seconds after which a silent run reads as crashed.") var staleAfter = 1.0
    @Option(help: "The run's name.") var name = "probe"

    func run() throws {
        let database = try RunDatabase(path: db)
        // A lease, as training holds one: a resume by another process ends this one's writes.
        let owner = RunLease.token()
        let id = try database.startRun(NewRun(
            name: name, algorithm: "seqgan", generator: "lstm", discriminator: "cnn", corpus: "probe",
            seed: 7, configJSON: #"{"g_lr": 0.01, "probe": {"mode": "\#(mode.rawValue)"}}"#,
            staleAfter: staleAfter), owner: owner)
        let lifecycle = RunLifecycle(
            database: database, run: id, owner: owner, heartbeatInterval: heartbeat,
            signals: mode == .graceful ? .stopAtNextStep : .exitImmediately)
        FileHandle.standardOutput.write(Data("started \(id)\n".utf8))

        do {
            try lifecycle.run { lifecycle in
                var step = 0
                while !lifecycle.stopRequested {
                    if let lost = lifecycle.lostLease { throw lost }
                    try database.recordMetrics(run: id, phase: "probe", step: step, values: ["loss": Double(step)],
                                               owner: owner)
                    step += 1
                    switch mode {
                    case .finish where step == steps: return
                    case .fail where step == steps: throw ProbeError()
                    case .wait, .graceful: Thread.sleep(forTimeInterval: 0.02)
                    default: break
                    }
                }
            }
        } catch is ProbeError {
            throw ExitCode.failure
        }
        if let code = lifecycle.interruptionExitCode { throw ExitCode(code) }
    }
}

Probe.main()
