import Foundation
import GRDB

// MARK: - Reads
//
// What the CLI shows. Statuses are read through `runs_view`, so a run whose heartbeat went stale reads as crashed.

/// Which runs to list.
public struct RunFilter: Sendable, Equatable {
    public var status: RunStatus?
    public var algorithm: String?
    public var corpus: String?
    /// Runs whose name matches this SQLite GLOB pattern (`*`, `?`, `[…]`; case-sensitive).
    public var namePattern: String?
    /// Runs that carry every one of these tags.
    public var tags: [String]
    public var limit: Int?

    public init(status: RunStatus? = nil, algorithm: String? = nil, corpus: String? = nil, namePattern: String? = nil,
                tags: [String] = [], limit: Int? = nil) {
        self.status = status
        self.algorithm = algorithm
        self.corpus = corpus
        self.namePattern = namePattern
        self.tags = tags
        self.limit = limit
    }
}

/// One line of `textgan runs`.
public struct RunSummary: Sendable, Equatable {
    /// The run with its effective status (`crashed` when its heartbeat is stale).
    public var run: Run
    /// Its tags, sorted.
    public var tags: [String]
    public var bestBLEU4: Double?
    public var latestNLLOracle: Double?
    public var latestNLLTest: Double?
}

/// How one metric (or evaluation score) evolved over a run.
public struct MetricSummary: Sendable, Equatable {
    public var phase: String?
    public var key: String
    public var count: Int
    public var firstStep: Int
    public var lastStep: Int
    public var last: Double
    public var min: Double?
    public var max: Double?
    /// How many recorded values were NaN or infinite (excluded from min and max).
    public var nonFinite: Int
}

/// Everything `textgan runs show` prints.
public struct RunDetails: Sendable {
    public var run: Run
    public var tags: [String]
    public var params: [Param]
    public var metrics: [MetricSummary]
    public var evaluations: [MetricSummary]
    /// Latest evaluation row per metric, with its protocol.
    public var latestEvaluations: [Evaluation]
    /// The samples of the last step that recorded any.
    public var lastSamples: [Sample]
    /// Every recorded checkpoint write, in step order. Training overwrites `latest` and `best` in place, so most of
    /// these rows describe a state the file no longer holds; `checkpointFiles` is what is on disk.
    public var checkpoints: [Checkpoint]
    /// Each checkpoint file the run wrote, once, described by its latest recorded write.
    public var checkpointFiles: [CheckpointFile]
}

/// One checkpoint file of a run (`latest.safetensors`, `best.safetensors`), as its latest recorded write describes it.
public struct CheckpointFile: Sendable, Equatable {
    /// The row of the latest write to this path: its step, SHA-256 and size are those of the file as training last
    /// left it.
    public var latest: Checkpoint
    /// How many writes to this path were recorded.
    public var writes: Int
    /// Where the file is now: the recorded path, else the run's directory beside the run store (a store moved
    /// with its runs); nil when neither exists.
    public var location: URL?
    /// The size of the file at `location`; a size other than `latest.bytes` means it changed after that write.
    public var bytesOnDisk: Int64?

    public var path: String { latest.path }
}

/// Several runs side by side: params by key, and the latest value of each metric and evaluation.
public struct RunComparison: Sendable {
    public var runs: [Run]
    /// key → value per run (nil when the run has no such param), in the order of `runs`.
    public var params: [(key: String, values: [String?])]
    public var metrics: [(key: String, values: [Double?])]
    /// The latest score per metric under each protocol (`protocol` says what sets it apart: sample count,
    /// references, temperature, top-k, top-p), sorted by protocol, then metric.
    public var evaluations: [(key: String, protocol: String, values: [Double?])]

    /// Params whose values are not all equal (a param missing from some run counts as different).
    public var differingParams: [(key: String, values: [String?])] {
        params.filter { Set($0.values.map { $0 ?? "\u{0}missing" }).count > 1 }
    }
}

extension RunDatabase {
    /// Runs, newest first, with their effective status.
    public func runs(_ filter: RunFilter = RunFilter()) throws -> [RunSummary] {
        try reading { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let status = filter.status { conditions.append("status = ?"); arguments += [status] }
            if let algorithm = filter.algorithm { conditions.append("algorithm = ?"); arguments += [algorithm] }
            if let corpus = filter.corpus { conditions.append("corpus = ?"); arguments += [corpus] }
            if let pattern = filter.namePattern { conditions.append("name GLOB ?"); arguments += [pattern] }
            for tag in filter.tags {
                conditions.append("id IN (SELECT run_id FROM run_tags WHERE tag = ?)")
                arguments += [tag]
            }
            var sql = "SELECT * FROM runs_view"
            if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
            sql += " ORDER BY started_at DESC, id DESC"
            if let limit = filter.limit { sql += " LIMIT ?"; arguments += [limit] }
            let runs = try Run.fetchAll(db, sql: sql, arguments: arguments)
            return try runs.map { run in
                RunSummary(
                    run: run,
                    tags: try tags(db, run.id!),
                    // The headline is at the default protocol (temperature 1, no top-k / top-p): probing low
                    // temperatures with `eval --sweep` must not move it.
                    bestBLEU4: try Double.fetchOne(db, sql: """
                        SELECT max(value) FROM leaderboard_by_protocol
                        WHERE run_id = ? AND metric = 'bleu4' AND temperature = 1 AND top_k IS NULL AND top_p IS NULL
                        """, arguments: [run.id]),
                    latestNLLOracle: try latestEvaluation(db, run.id!, "nll_oracle"),
                    latestNLLTest: try latestEvaluation(db, run.id!, "nll_test"))
            }
        }
    }

    /// One run with its effective status.
    public func run(_ id: Int64) throws -> Run {
        try reading { db in
            guard let run = try Run.fetchOne(db, sql: "SELECT * FROM runs_view WHERE id = ?", arguments: [id])
            else { throw RunStoreError.noSuchRun(id) }
            return run
        }
    }

    /// The ids of the runs called `name`, oldest first (names are not unique: a corpus and algorithm give the
    /// default name of every run on them).
    public func runIDs(named name: String) throws -> [Int64] {
        try reading { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM runs WHERE name = ? ORDER BY id", arguments: [name])
        }
    }

    public func details(of id: Int64, sampleLimit: Int = 5) throws -> RunDetails {
        let run = try self.run(id)
        return try reading { db in
            let lastSampleStep = try Int.fetchOne(db, sql: "SELECT max(step) FROM samples WHERE run_id = ?",
                                                  arguments: [id])
            return RunDetails(
                run: run,
                tags: try tags(db, id),
                params: try Param.fetchAll(db, sql: "SELECT * FROM params WHERE run_id = ? ORDER BY key",
                                           arguments: [id]),
                metrics: try summaries(db, table: "metrics", keyColumn: "key", phase: true, run: id),
                evaluations: try summaries(db, table: "evaluations", keyColumn: "metric", phase: false, run: id),
                latestEvaluations: try Evaluation.fetchAll(db, sql: """
                    SELECT * FROM evaluations WHERE id IN (
                        SELECT max(id) FROM evaluations e WHERE run_id = ?
                        AND step = (SELECT max(step) FROM evaluations WHERE run_id = e.run_id AND metric = e.metric)
                        GROUP BY metric)
                    ORDER BY metric
                    """, arguments: [id]),
                lastSamples: try Sample.fetchAll(
                    db, sql: "SELECT * FROM samples WHERE run_id = ? AND step = ? ORDER BY id LIMIT ?",
                    arguments: [id, lastSampleStep, sampleLimit]),
                checkpoints: try Checkpoint.fetchAll(
                    db, sql: "SELECT * FROM checkpoints WHERE run_id = ? ORDER BY step, id", arguments: [id]),
                checkpointFiles: try checkpointFiles(db, run: id))
        }
    }

    /// The run's checkpoint files, by path: the latest write of each and how many there were, located on disk.
    private func checkpointFiles(_ db: Database, run id: Int64) throws -> [CheckpointFile] {
        let rows = try Row.fetchAll(db, sql: """
            SELECT c.*, w.writes FROM checkpoints AS c
            JOIN (SELECT max(id) AS id, count(*) AS writes FROM checkpoints WHERE run_id = ? GROUP BY path) AS w
              ON w.id = c.id
            ORDER BY c.path
            """, arguments: [id])
        let runDirectory = path.map {
            URL(fileURLWithPath: $0).deletingLastPathComponent().appendingPathComponent(String(id))
        }
        return try rows.map { row in
            let latest = try Checkpoint(row: row)
            let candidates = [URL(fileURLWithPath: latest.path),
                              runDirectory?.appendingPathComponent(URL(fileURLWithPath: latest.path).lastPathComponent)]
            let location = candidates.compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0.path) }
            let bytes = location.flatMap { try? FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? NSNumber }
            return CheckpointFile(latest: latest, writes: row["writes"], location: location,
                                  bytesOnDisk: bytes?.int64Value)
        }
    }

    /// The given runs side by side, in the order given.
    public func compare(_ ids: [Int64]) throws -> RunComparison {
        let runs = try ids.map { try run($0) }
        return try reading { db in
            let marks = ids.map { _ in "?" }.joined(separator: ",")
            let params = try Param.fetchAll(
                db, sql: "SELECT * FROM params WHERE run_id IN (\(marks))",
                arguments: StatementArguments(ids))
            func latest(_ view: String, _ keyColumn: String) throws -> [(key: String, values: [Double?])] {
                let rows = try Row.fetchAll(
                    db, sql: "SELECT run_id, \(keyColumn) AS key, value, kind FROM \(view) WHERE run_id IN (\(marks))",
                    arguments: StatementArguments(ids))
                let keys = Set(rows.map { $0["key"] as String }).sorted()
                return keys.map { key in
                    (key, ids.map { id in
                        rows.first { $0["run_id"] == id && $0["key"] == key }.map { row in
                            (ValueKind(rawValue: row["kind"] as String) ?? .nan).value(row["value"])
                        }
                    })
                }
            }
            // Evaluations side by side only under the same protocol: one row per metric and protocol, its latest
            // value, labelled with what sets the protocol apart.
            func latestByProtocol() throws -> [(key: String, protocol: String, values: [Double?])] {
                let rows = try Row.fetchAll(db, sql: """
                    SELECT run_id, metric, value, kind, sample_count, reference_set, reference_count, tokenizer, smoothing,
                           temperature, top_k, top_p, language_model FROM (
                        SELECT *, row_number() OVER (
                            PARTITION BY run_id, metric, sample_count, reference_set, reference_count, tokenizer,
                                         smoothing, temperature, top_k, top_p, language_model
                            ORDER BY step DESC, id DESC) AS recency
                        FROM evaluations WHERE run_id IN (\(marks)))
                    WHERE recency = 1
                    """, arguments: StatementArguments(ids))
                func label(_ row: Row) -> String {
                    var parts = ["\(row["sample_count"] as Int) samples", row["reference_set"] as String]
                    if let count = row["reference_count"] as Int? { parts[1] += " (\(count))" }
                    parts.append(row["tokenizer"] as String)
                    if let smoothing = row["smoothing"] as String? { parts.append(smoothing) }
                    if let t = row["temperature"] as Double? { parts.append("T=\(t)") }
                    if let k = row["top_k"] as Int? { parts.append("top-k \(k)") }
                    if let p = row["top_p"] as Double? { parts.append("top-p \(p)") }
                    if let lm = row["language_model"] as String? { parts.append("LM " + lm) }
                    return parts.joined(separator: ", ")
                }
                let labelled = rows.map { (metric: $0["metric"] as String, protocol: label($0), row: $0) }
                let keys = Set(labelled.map { [$0.protocol, $0.metric] }).sorted { $0.lexicographicallyPrecedes($1) }
                return keys.map { key in
                    (key[1], key[0], ids.map { id in
                        labelled.first { $0.protocol == key[0] && $0.metric == key[1] && $0.row["run_id"] == id }.map {
                            (ValueKind(rawValue: $0.row["kind"] as String) ?? .nan).value($0.row["value"])
                        }
                    })
                }
            }
            let paramKeys = Set(params.map(\.key)).sorted()
            return RunComparison(
                runs: runs,
                params: paramKeys.map { k in
                    (k, ids.map { id in params.first { $0.runID == id && $0.key == k }?.text })
                },
                metrics: try latest("latest_metrics", "key"),
                evaluations: try latestByProtocol())
        }
    }

    /// The SHA-256 and step recorded for the run's most recent checkpoint file named `fileName`
    /// ("latest.safetensors"), or nil when none was recorded.
    public func recordedCheckpoint(run id: Int64, fileName: String) throws -> (sha256: String, step: Int)? {
        try reading { db in
            try Row.fetchOne(db, sql: """
                SELECT sha256, step FROM checkpoints WHERE run_id = ? AND (path = ? OR path LIKE ?) ORDER BY id DESC LIMIT 1
                """, arguments: [id, fileName, "%/" + fileName]).map { ($0["sha256"], $0["step"]) }
        }
    }

    /// Every recorded value of one metric of a run, in step order (NaN and infinities included).
    public func metricHistory(run id: Int64, key: String) throws -> [Metric] {
        try reading { db in
            try Metric.fetchAll(db, sql: "SELECT * FROM metrics WHERE run_id = ? AND key = ? ORDER BY step, id",
                                arguments: [id, key])
        }
    }

    /// Every metric row of a run, in recording order (`runs export`); with `afterID`, only the rows recorded after
    /// that row (`runs show --follow`).
    public func metrics(run id: Int64, afterID: Int64 = 0) throws -> [Metric] {
        try reading { db in
            try Metric.fetchAll(db, sql: "SELECT * FROM metrics WHERE run_id = ? AND id > ? ORDER BY id", arguments: [id, afterID])
        }
    }

    /// The evaluations of a run recorded after row `afterID`, in recording order (`runs show --follow`).
    public func evaluations(run id: Int64, afterID: Int64) throws -> [Evaluation] {
        try reading { db in
            try Evaluation.fetchAll(db, sql: "SELECT * FROM evaluations WHERE run_id = ? AND id > ? ORDER BY id",
                                    arguments: [id, afterID])
        }
    }

    /// Every evaluation of a run, in step order.
    public func evaluations(run id: Int64) throws -> [Evaluation] {
        try reading { db in
            try Evaluation.fetchAll(db, sql: "SELECT * FROM evaluations WHERE run_id = ? ORDER BY step, metric, id",
                                    arguments: [id])
        }
    }

    /// `metric_directions`: whether higher is better, by metric (a metric missing counts as higher-is-better).
    public func metricDirections() throws -> [String: Bool] {
        try reading { db in
            try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT metric, higher_is_better FROM metric_directions")
                .map { ($0["metric"] as String, ($0["higher_is_better"] as Int) == 1) })
        }
    }

    /// A run's tags, sorted.
    public func tags(of id: Int64) throws -> [String] {
        try reading { db in try tags(db, id) }
    }

    /// The sweeps the store holds: the names of its `sweep:<name>` tags, sorted.
    public func sweepNames() throws -> [String] {
        try reading { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT substr(tag, 7) FROM run_tags WHERE tag LIKE 'sweep:%' ORDER BY 1")
        }
    }

    private func tags(_ db: Database, _ id: Int64) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT tag FROM run_tags WHERE run_id = ? ORDER BY tag", arguments: [id])
    }

    private func latestEvaluation(_ db: Database, _ run: Int64, _ metric: String) throws -> Double? {
        try Evaluation.fetchOne(
            db, sql: "SELECT * FROM evaluations WHERE run_id = ? AND metric = ? ORDER BY step DESC, id DESC LIMIT 1",
            arguments: [run, metric])?.value
    }

    private func summaries(_ db: Database, table: String, keyColumn: String, phase: Bool, run: Int64) throws
        -> [MetricSummary]
    {
        let phaseColumn = phase ? "phase" : "NULL"
        let rows = try Row.fetchAll(db, sql: """
            SELECT \(phaseColumn) AS phase, \(keyColumn) AS key, count(*) AS count,
                   min(step) AS first_step, max(step) AS last_step,
                   min(CASE WHEN kind = 'finite' THEN value END) AS min,
                   max(CASE WHEN kind = 'finite' THEN value END) AS max,
                   sum(kind <> 'finite') AS non_finite,
                   (SELECT t.value FROM \(table) t WHERE t.run_id = x.run_id AND t.\(keyColumn) = x.\(keyColumn)
                        \(phase ? "AND t.phase = x.phase" : "") ORDER BY t.step DESC, t.id DESC LIMIT 1) AS last,
                   (SELECT t.kind FROM \(table) t WHERE t.run_id = x.run_id AND t.\(keyColumn) = x.\(keyColumn)
                        \(phase ? "AND t.phase = x.phase" : "") ORDER BY t.step DESC, t.id DESC LIMIT 1) AS last_kind
            FROM \(table) x WHERE run_id = ?
            GROUP BY \(phase ? "phase, " : "")\(keyColumn)
            ORDER BY min(id)
            """, arguments: [run])
        return rows.map { row in
            let kind = ValueKind(rawValue: row["last_kind"] as String) ?? .nan
            return MetricSummary(
                phase: row["phase"], key: row["key"], count: row["count"], firstStep: row["first_step"],
                lastStep: row["last_step"], last: kind.value(row["last"]), min: row["min"], max: row["max"],
                nonFinite: row["non_finite"])
        }
    }
}
