import Foundation
import GRDB

// MARK: - Writes: one method per transaction
//
// What a training recorder calls. Each method is one immediate transaction, so a crash never leaves half a step,
// and a concurrent writer waits (up to `busyTimeout`) instead of failing with "database is locked".

extension RunDatabase {
    /// Starts a run with status `running`, stores its config and flattens it into `params`. Returns the run id.
    /// `owner` (a `RunLease.token()`) is the lease of the process that trains it: the writes below that are given
    /// the same owner fail with `leaseLost` once another process has taken the run over.
    @discardableResult
    public func startRun(_ new: NewRun, owner: String? = nil, at time: Date = Date()) throws -> Int64 {
        let params = try flattenConfig(new.configJSON)
        return try writing { db in
            var run = Run(
                id: nil, name: new.name, algorithm: new.algorithm, generator: new.generator,
                discriminator: new.discriminator, corpus: new.corpus, corpusSHA256: new.corpusSHA256,
                vocabulary: new.vocabulary, seed: Int64(bitPattern: new.seed), status: .running, startedAt: time,
                endedAt: nil, heartbeatAt: time, staleAfter: new.staleAfter, exitReason: nil,
                configJSON: new.configJSON, codeCommit: new.environment.codeCommit,
                codeDirty: new.environment.codeDirty, host: new.environment.host,
                toolchain: new.environment.toolchain, cpu: new.environment.cpu,
                kernels: new.environment.kernels, note: nil)
            try run.insert(db)
            let id = run.id!
            try db.execute(sql: "UPDATE runs SET owner = ? WHERE id = ?", arguments: [owner, id])
            for param in params {
                try Param(runID: id, key: param.key, value: param.value, type: param.type).insert(db)
            }
            return id
        }
    }

    /// Marks the run alive now. Does nothing once the run has ended; throws `leaseLost` when `owner` no longer
    /// holds the run.
    public func heartbeat(run id: Int64, owner: String? = nil, at time: Date = Date()) throws {
        try writing { db in
            try checkLease(db, id, owner)
            try db.execute(
                sql: "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'", arguments: [time, id])
        }
    }

    /// Records one step's losses and scores (`values` keyed by name) in one transaction; also beats the heart.
    public func recordMetrics(
        run id: Int64, phase: String, step: Int, phaseStep: Int? = nil, epoch: Int? = nil, values: [String: Double],
        owner: String? = nil, at time: Date = Date()
    ) throws {
        try writing { db in
            for key in values.keys.sorted() {
                try Metric(runID: id, phase: phase, step: step, phaseStep: phaseStep, epoch: epoch, key: key,
                           value: values[key]!, time: time).insert(db)
            }
            try touch(db, id, time, owner)
        }
    }

    /// Records the scores of one evaluation (e.g. bleu2…bleu5, nll_oracle) with the protocol that produced them.
    /// `signOfLife: false` is for scores computed by another process (`textgan eval` of a checkpoint): they do not
    /// beat the run's heart, so evaluating a crashed run never makes it read as running, and they are recorded as
    /// `eval`'s (`recorded_by`), which a resume keeps.
    public func recordEvaluation(
        run id: Int64, step: Int, phaseStep: Int? = nil, values: [String: Double], protocol: EvaluationProtocol,
        signOfLife: Bool = true, owner: String? = nil, at time: Date = Date()
    ) throws {
        try writing { db in
            if !signOfLife, try !Run.exists(db, key: id) { throw RunStoreError.noSuchRun(id) }
            for metric in values.keys.sorted() {
                try Evaluation(runID: id, step: step, phaseStep: phaseStep, metric: metric, value: values[metric]!,
                               protocol: `protocol`, recordedBy: signOfLife ? "train" : "eval", time: time).insert(db)
            }
            if signOfLife { try touch(db, id, time, owner) }
        }
    }

    /// Records generated texts, in order.
    public func recordSamples(
        run id: Int64, step: Int, phaseStep: Int? = nil, temperature: Double, texts: [String], owner: String? = nil,
        at time: Date = Date()
    ) throws {
        try writing { db in
            for text in texts {
                try Sample(id: nil, runID: id, step: step, phaseStep: phaseStep, temperature: temperature, text: text,
                           time: time).insert(db)
            }
            try touch(db, id, time, owner)
        }
    }

    /// Records a checkpoint file written at `step` (its SHA-256 as 64 hex digits, its size in bytes).
    public func recordCheckpoint(
        run id: Int64, step: Int, path: String, sha256: String, bytes: Int64, owner: String? = nil, at time: Date = Date()
    ) throws {
        try writing { db in
            try Checkpoint(id: nil, runID: id, step: step, path: path, sha256: sha256.lowercased(), bytes: bytes,
                           createdAt: time).insert(db)
            try touch(db, id, time, owner)
        }
    }

    /// Ends a running run: `finished`, `failed` (reason: the error), or `interrupted` (reason: the signal).
    /// Throws `runNotRunning` if the run already ended, so the first exit path to report wins.
    /// With `owner`, a process that lost the run's lease gets `leaseLost` and changes nothing: the run is another's.
    public func finish(run id: Int64, status: RunStatus, reason: String? = nil, owner: String? = nil,
                       at time: Date = Date()) throws {
        precondition(status != .running && status != .crashed, "a run finishes as finished, failed or interrupted")
        try writing { db in
            try checkLease(db, id, owner)
            try db.execute(
                sql: """
                    UPDATE runs SET status = ?, exit_reason = ?, ended_at = ?, heartbeat_at = ?
                    WHERE id = ? AND status = 'running'
                    """,
                arguments: [status, reason, time, time, id])
            if db.changesCount == 0 {
                guard let current = try String.fetchOne(db, sql: "SELECT status FROM runs WHERE id = ?",
                                                        arguments: [id])
                else { throw RunStoreError.noSuchRun(id) }
                throw RunStoreError.runNotRunning(id: id, status: current)
            }
        }
    }

    /// Reopens an ended (or crashed) run to continue it from a checkpoint: status `running` again, a fresh heartbeat,
    /// no end time or exit reason, and the lease is `owner`'s, so a process still holding the old one (a crashed run
    /// that was only suspended) can write nothing more. Metrics recorded later continue its history. Refuses a run
    /// that is still alive.
    public func resumeRun(_ id: Int64, owner: String? = nil, at time: Date = Date()) throws {
        try writing { db in
            guard let current = try String.fetchOne(db, sql: "SELECT status FROM runs_view WHERE id = ?", arguments: [id])
            else { throw RunStoreError.noSuchRun(id) }
            guard current != RunStatus.running.rawValue else {
                throw RunStoreError.runStillRunning(id)
            }
            try db.execute(
                sql: """
                    UPDATE runs SET status = 'running', ended_at = NULL, exit_reason = NULL, heartbeat_at = ?, owner = ?
                    WHERE id = ?
                    """,
                arguments: [time, owner, id])
        }
    }

    /// Drops what training recorded after run step `step` (metrics, evaluations, samples, checkpoint rows): a run
    /// resumed from a checkpoint at `step` records those steps again, and must not record them twice.
    /// `textgan eval`'s scores stay: the checkpoint they scored (a `best` written just before a crash, ahead of
    /// `latest`) is written again, bit for bit, by the resumed run. Returns how many rows went.
    @discardableResult
    public func forgetHistory(run id: Int64, after step: Int) throws -> Int {
        try writing { db in
            var removed = 0
            for table in ["metrics", "evaluations", "samples", "checkpoints"] {
                let training = table == "evaluations" ? " AND recorded_by IS NOT 'eval'" : ""
                try db.execute(sql: "DELETE FROM \(table) WHERE run_id = ? AND step > ?\(training)", arguments: [id, step])
                removed += db.changesCount
            }
            return removed
        }
    }

    // MARK: Run management (`textgan runs rename|note|tag|untag|delete`)

    /// Renames a run. Names are data: any text, bound as a parameter.
    public func rename(run id: Int64, to name: String) throws {
        try writing { db in
            try db.execute(sql: "UPDATE runs SET name = ? WHERE id = ?", arguments: [name, id])
            if db.changesCount == 0 { throw RunStoreError.noSuchRun(id) }
        }
    }

    /// Sets the run's note; nil removes it.
    public func setNote(run id: Int64, _ note: String?) throws {
        try writing { db in
            try db.execute(sql: "UPDATE runs SET note = ? WHERE id = ?", arguments: [note, id])
            if db.changesCount == 0 { throw RunStoreError.noSuchRun(id) }
        }
    }

    /// Adds and removes tags of a run in one transaction. Returns the run's tags afterwards, sorted.
    @discardableResult
    public func changeTags(run id: Int64, adding: [String] = [], removing: [String] = []) throws -> [String] {
        try writing { db in
            guard try Run.exists(db, key: id) else { throw RunStoreError.noSuchRun(id) }
            for tag in adding {
                try db.execute(sql: "INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)", arguments: [id, tag])
            }
            for tag in removing {
                try db.execute(sql: "DELETE FROM run_tags WHERE run_id = ? AND tag = ?", arguments: [id, tag])
            }
            return try String.fetchAll(db, sql: "SELECT tag FROM run_tags WHERE run_id = ? ORDER BY tag", arguments: [id])
        }
    }

    /// Deletes runs with everything recorded about them (params, metrics, evaluations, samples, checkpoint rows,
    /// tags: `ON DELETE CASCADE`), in one transaction. Refuses, deleting nothing, when one of them is running (its
    /// heartbeat fresh): the process would go on writing to a run that no longer exists. Files are the caller's.
    public func deleteRuns(_ ids: [Int64]) throws {
        try writing { db in
            for id in ids {
                guard let status = try String.fetchOne(db, sql: "SELECT status FROM runs_view WHERE id = ?", arguments: [id])
                else { throw RunStoreError.noSuchRun(id) }
                if status == RunStatus.running.rawValue { throw RunStoreError.runIsLive(id) }
            }
            for id in ids { try db.execute(sql: "DELETE FROM runs WHERE id = ?", arguments: [id]) }
        }
    }

    /// Every record of a run is also a sign of life, and, from the process holding it, checks its lease.
    private func touch(_ db: Database, _ id: Int64, _ time: Date, _ owner: String?) throws {
        try checkLease(db, id, owner)
        try db.execute(sql: "UPDATE runs SET heartbeat_at = max(heartbeat_at, ?) WHERE id = ? AND status = 'running'",
                       arguments: [time, id])
        if db.changesCount == 0, try !Run.exists(db, key: id) { throw RunStoreError.noSuchRun(id) }
    }

    /// Throws `leaseLost` when `owner` is given and the run is held by another (inside the write transaction, so
    /// nothing of it is written).
    private func checkLease(_ db: Database, _ id: Int64, _ owner: String?) throws {
        guard let owner else { return }
        guard let row = try Row.fetchOne(db, sql: "SELECT owner FROM runs WHERE id = ?", arguments: [id]) else {
            throw RunStoreError.noSuchRun(id)
        }
        let holder: String? = row["owner"]
        if holder != owner { throw RunStoreError.leaseLost(id: id, owner: owner, holder: holder) }
    }
}

/// The lease token of a process: host, process id and a random part, so a message can say who holds a run.
public enum RunLease {
    public static func token() -> String {
        "\(ProcessInfo.processInfo.hostName) pid \(getpid()) \(UUID().uuidString.prefix(8).lowercased())"
    }
}
