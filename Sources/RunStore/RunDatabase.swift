import Foundation
import GRDB
import GRDBSQLite

/// textgan's run store: one SQLite file holding every run, its params, metric history, evaluations, samples and
/// checkpoints. This file is the schema's specification — `docs/run-store.md` describes it for SQL users.
///
/// Writes are one transaction each (see `RunDatabase+Writes.swift`); the file is in WAL mode with a busy timeout,
/// so several training processes and readers can share it.
public final class RunDatabase: Sendable {
    /// The GRDB connection. Exposed read-only for tests and tools that need plain SQL.
    public let writer: DatabaseQueue
    /// Where the database lives, or nil for an in-memory database.
    public let path: String?

    /// How long a write waits for another process's transaction before giving up.
    public static let busyTimeout: TimeInterval = 10

    /// Opens (creating if needed) the database at `path`, migrating it to the current schema.
    /// Throws `RunStoreError.schemaTooNew` when a newer textgan has upgraded the file.
    ///
    /// `readOnly: true` is for commands that only read (`runs`, `compare`, `sample`, `eval --no-record`…): the file
    /// is opened with `SQLITE_OPEN_READONLY`, never created or migrated, so a store on a read-only mount or one the
    /// user cannot write can still be read (see `openReadOnly`).
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        do {
            if readOnly {
                self.writer = try Self.openReadOnly(path)
                try Self.refuseOtherSchema(writer, path: path)
            } else {
                let url = URL(fileURLWithPath: path)
                do {
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                } catch {
                    // e.g. a path under a regular file: said in one line, not as Foundation's error dump.
                    throw RunStoreError.cannotCreateDirectory(path: path, reason: (error as NSError).localizedDescription)
                }
                var configuration = Self.configuration()
                configuration.journalMode = .wal
                self.writer = try DatabaseQueue(path: path, configuration: configuration)
                try Self.migrate(writer)
            }
        } catch let error as DatabaseError {
            throw RunStoreError.sqlite(path: path, error)
        }
    }

    /// A private in-memory database with the current schema, for tests and dry runs.
    public static func inMemory() throws -> RunDatabase {
        try RunDatabase(inMemory: ())
    }

    private init(inMemory: Void) throws {
        self.writer = try DatabaseQueue(configuration: Self.configuration())
        self.path = nil
        try Self.migrate(writer)
    }

    /// Opens `path` for reading only. SQLite reads a WAL database read-only when its `-shm` and `-wal` files exist
    /// or can be created; on a read-only mount, or in a directory the user cannot write, after the last writer
    /// closed the file (which removes them), it cannot ("unable to open database file"). Then nothing can be
    /// writing it, so the file is opened as immutable (`?immutable=1`: no locks, no `-shm`) — unless a `-wal` file
    /// holds changes not yet in the database, which an immutable open would silently leave out.
    static func openReadOnly(_ path: String) throws -> DatabaseQueue {
        var configuration = Self.configuration()
        configuration.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            _ = try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master") }
            return queue
        } catch let error as DatabaseError
            where error.resultCode == .SQLITE_CANTOPEN || error.resultCode == .SQLITE_READONLY
        {
            let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)?.intValue
            if let wal, wal > 0 { throw RunStoreError.unreadableWAL(path: path) }
            // Debian's SQLite is built with SQLITE_USE_URI, so GRDB's open reads the file name as a URI.
            guard sqlite3_compileoption_used("USE_URI") == 1, FileManager.default.isReadableFile(atPath: path) else {
                throw error
            }
            let queue = try DatabaseQueue(path: immutableURI(path), configuration: configuration)
            _ = try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master") }
            return queue
        }
    }

    /// `path` as an SQLite URI that opens it immutable (read-only, without locks or a `-shm` file).
    static func immutableURI(_ path: String) -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        return "file:" + (absolute.addingPercentEncoding(withAllowedCharacters: allowed) ?? absolute) + "?immutable=1"
    }

    private static func configuration() -> Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.foreignKeysEnabled = true
        configuration.label = "textgan.runs"
        return configuration
    }
}

extension RunDatabase {
    /// A read transaction whose SQLite errors name the file.
    func reading<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try writer.read(body) } catch let error as DatabaseError { throw RunStoreError.sqlite(path: path, error) }
    }

    /// A write transaction whose SQLite errors name the file ("database or disk is full", "attempt to write a
    /// readonly database").
    func writing<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try writer.write(body) } catch let error as DatabaseError { throw RunStoreError.sqlite(path: path, error) }
    }
}

// MARK: - Errors

public enum RunStoreError: Error, Equatable, CustomStringConvertible {
    case schemaTooNew(path: String, version: Int, known: Int, unknownMigrations: [String])
    case noSuchRun(Int64)
    case invalidConfigJSON(String)
    case runNotRunning(id: Int64, status: String)
    case runStillRunning(Int64)
    /// A run that cannot be deleted: its process is alive (fresh heartbeat).
    case runIsLive(Int64)
    /// An error from SQLite, with the file it happened on.
    case sqlite(path: String, code: Int32, message: String)
    /// A read-only store whose write-ahead log holds changes SQLite cannot read without creating `-shm`.
    case unreadableWAL(path: String)
    /// A store opened read-only that an older textgan wrote: it would need a migration, which is a write.
    case schemaTooOld(path: String, version: Int, known: Int)
    /// Another process took the run over (`train --resume`) from `owner`, the lease this process held.
    case leaseLost(id: Int64, owner: String, holder: String?)
    /// The store's directory does not exist and cannot be made.
    case cannotCreateDirectory(path: String, reason: String)

    static func sqlite(path: String?, _ error: DatabaseError) -> RunStoreError {
        .sqlite(path: path ?? ":memory:", code: error.resultCode.rawValue, message: error.message ?? "\(error)")
    }

    public var description: String {
        switch self {
        case let .schemaTooNew(path, version, known, unknown):
            let names = unknown.isEmpty ? "" : " (unknown migrations: \(unknown.joined(separator: ", ")))"
            return "the run store \(path) has schema version \(version)\(names), but this textgan knows versions "
                + "up to \(known) only; it was written by a newer textgan. Upgrade textgan, or point --db / "
                + "TEXTGAN_DB at another file."
        case let .noSuchRun(id):
            return "no run \(id)"
        case let .cannotCreateDirectory(path, reason):
            return "run store \(path): cannot create its directory \(URL(fileURLWithPath: path).deletingLastPathComponent().path): \(reason)"
        case let .invalidConfigJSON(message):
            return "the run's config is not a JSON object: \(message)"
        case let .runNotRunning(id, status):
            return "run \(id) is already \(status)"
        case let .runIsLive(id):
            return "run \(id) is running (its heartbeat is fresh); stop it (Ctrl-C, or kill its process) before deleting it"
        case let .runStillRunning(id):
            return "run \(id) is still running (its heartbeat is fresh); stop it before resuming it"
        case let .sqlite(path, code, message):
            var hint = ""
            if code == 8 /* SQLITE_READONLY */ || code == 14 /* SQLITE_CANTOPEN */ {
                hint = " (the file or its directory cannot be written here: commands that only read open it "
                    + "read-only; `eval` needs --no-record)"
            }
            return "run store \(path): SQLite error \(code): \(message)\(hint)"
        case let .unreadableWAL(path):
            return "the run store \(path) cannot be read here: it is in WAL mode and \(path)-wal holds changes not "
                + "yet in the file, but \(path)-shm cannot be created (its directory is read-only). Open it once "
                + "where it can be written (any textgan command that writes, or `sqlite3 \(path) 'PRAGMA "
                + "wal_checkpoint'`), or copy the store with its -wal file to a writable directory."
        case let .leaseLost(id, owner, holder):
            return "run \(id) was taken over by another process (\(holder ?? "none holds it now")) while this one "
                + "(\(owner)) was stopped or out of touch, so this one stopped without writing to the run again"
        case let .schemaTooOld(path, 0, _):
            return "\(path) is not a textgan run store (it has no schema version); point --db or TEXTGAN_DB at one"
        case let .schemaTooOld(path, version, known):
            return "the run store \(path) has schema version \(version) and this textgan reads version \(known); "
                + "upgrading it is a write, and it is opened read-only here. Run any writing textgan command on it "
                + "where it can be written (`textgan train`, `textgan eval`), or read it with `textgan sql`."
        }
    }
}

// MARK: - Schema

extension RunDatabase {
    /// The schema version this build writes; stored in `PRAGMA user_version` by the last migration.
    public static var schemaVersion: Int { migrator.migrations.count }

    /// Every schema change, in order. Never edit a shipped migration: append a new one.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()

        migrator.registerMigration("v1-runs-metrics-evaluations") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL,
                    algorithm TEXT NOT NULL,
                    generator TEXT NOT NULL,
                    discriminator TEXT,
                    corpus TEXT NOT NULL,
                    corpus_sha256 TEXT,
                    vocabulary TEXT,
                    seed INTEGER NOT NULL,
                    status TEXT NOT NULL DEFAULT 'running'
                        CHECK (status IN ('running', 'finished', 'failed', 'interrupted', 'crashed')),
                    started_at TEXT NOT NULL,
                    ended_at TEXT,
                    heartbeat_at TEXT NOT NULL,
                    stale_after REAL NOT NULL CHECK (stale_after > 0),
                    exit_reason TEXT,
                    config_json TEXT NOT NULL CHECK (json_valid(config_json)),
                    code_commit TEXT,
                    code_dirty INTEGER CHECK (code_dirty IN (0, 1)),
                    host TEXT,
                    toolchain TEXT
                );
                CREATE INDEX runs_by_status ON runs(status);
                CREATE INDEX runs_by_algorithm_corpus ON runs(algorithm, corpus);
                CREATE INDEX runs_by_start ON runs(started_at);

                -- Values keep their JSON type: numbers are INTEGER or REAL, so `value > 0.001` compares numbers.
                CREATE TABLE params (
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    key TEXT NOT NULL,
                    value,  -- no declared type: each value keeps its own (INTEGER, REAL, TEXT or NULL)
                    type TEXT NOT NULL CHECK (type IN ('integer', 'real', 'text', 'boolean', 'null', 'array')),
                    PRIMARY KEY (run_id, key)
                ) WITHOUT ROWID;
                CREATE INDEX params_by_key ON params(key, value);

                -- value is NULL exactly when kind = 'nan'; +/-infinity are stored as SQLite's REAL infinities.
                CREATE TABLE metrics (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    phase TEXT NOT NULL,
                    step INTEGER NOT NULL,
                    epoch INTEGER,
                    key TEXT NOT NULL,
                    value REAL,
                    kind TEXT NOT NULL CHECK (kind IN ('finite', 'nan', 'inf', '-inf')),
                    is_nan INTEGER GENERATED ALWAYS AS (kind = 'nan') VIRTUAL,
                    time TEXT NOT NULL,
                    CHECK ((kind = 'nan') = (value IS NULL))
                );
                CREATE INDEX metrics_by_run_key_step ON metrics(run_id, key, step);

                CREATE TABLE evaluations (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    step INTEGER NOT NULL,
                    metric TEXT NOT NULL,
                    value REAL,
                    kind TEXT NOT NULL CHECK (kind IN ('finite', 'nan', 'inf', '-inf')),
                    is_nan INTEGER GENERATED ALWAYS AS (kind = 'nan') VIRTUAL,
                    sample_count INTEGER NOT NULL,
                    reference_set TEXT NOT NULL,
                    reference_count INTEGER,
                    tokenizer TEXT NOT NULL,
                    smoothing TEXT,
                    seed INTEGER,
                    temperature REAL,
                    time TEXT NOT NULL,
                    CHECK ((kind = 'nan') = (value IS NULL))
                );
                CREATE INDEX evaluations_by_run_metric_step ON evaluations(run_id, metric, step);
                CREATE INDEX evaluations_by_metric ON evaluations(metric, value);

                CREATE TABLE samples (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    step INTEGER NOT NULL,
                    temperature REAL NOT NULL,
                    text TEXT NOT NULL,
                    time TEXT NOT NULL
                );
                CREATE INDEX samples_by_run_step ON samples(run_id, step);

                CREATE TABLE checkpoints (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    step INTEGER NOT NULL,
                    path TEXT NOT NULL,
                    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
                    bytes INTEGER NOT NULL CHECK (bytes >= 0),
                    created_at TEXT NOT NULL
                );
                CREATE INDEX checkpoints_by_run_step ON checkpoints(run_id, step);

                -- Which way is better for each evaluation metric; the leaderboard uses it (unknown: higher).
                CREATE TABLE metric_directions (
                    metric TEXT PRIMARY KEY,
                    higher_is_better INTEGER NOT NULL CHECK (higher_is_better IN (0, 1))
                ) WITHOUT ROWID;
                INSERT INTO metric_directions VALUES
                    ('bleu2', 1), ('bleu3', 1), ('bleu4', 1), ('bleu5', 1),
                    ('self_bleu2', 0), ('self_bleu3', 0), ('self_bleu4', 0), ('self_bleu5', 0),
                    ('nll_oracle', 0), ('nll_test', 0), ('nll_gen', 0), ('perplexity', 0);
                """)

            // Effective status: a 'running' run whose heartbeat is older than its stale_after reads as 'crashed'.
            try db.execute(sql: """
                CREATE VIEW runs_view AS
                SELECT id, name, algorithm, generator, discriminator, corpus, corpus_sha256, vocabulary, seed,
                       CASE WHEN status = 'running'
                                 AND (julianday('now') - julianday(heartbeat_at)) * 86400.0 > stale_after
                            THEN 'crashed' ELSE status END AS status,
                       status AS stored_status,
                       started_at, ended_at, heartbeat_at, stale_after,
                       (julianday(COALESCE(ended_at, heartbeat_at)) - julianday(started_at)) * 86400.0
                           AS duration_seconds,
                       exit_reason, config_json, code_commit, code_dirty, host, toolchain
                FROM runs;

                CREATE VIEW latest_metrics AS
                SELECT run_id, phase, key, step, epoch, value, kind, time FROM (
                    SELECT *, row_number() OVER (PARTITION BY run_id, key ORDER BY step DESC, id DESC) AS recency
                    FROM metrics)
                WHERE recency = 1;

                CREATE VIEW latest_evaluations AS
                SELECT run_id, metric, step, value, kind, sample_count, reference_set, reference_count, tokenizer,
                       smoothing, seed, temperature, time FROM (
                    SELECT *, row_number() OVER (PARTITION BY run_id, metric ORDER BY step DESC, id DESC) AS recency
                    FROM evaluations)
                WHERE recency = 1;

                CREATE VIEW leaderboard AS
                SELECT r.id AS run_id, r.name, r.algorithm, r.generator, r.corpus, r.status,
                       e.metric, e.value, e.step, e.higher_is_better, e.evaluations
                FROM (
                    SELECT run_id, metric, value, step, higher_is_better,
                           count(*) OVER (PARTITION BY run_id, metric) AS evaluations,
                           row_number() OVER (
                               PARTITION BY run_id, metric
                               ORDER BY CASE WHEN higher_is_better THEN -value ELSE value END, step) AS rank
                    FROM (SELECT ev.*, COALESCE(d.higher_is_better, 1) AS higher_is_better
                          FROM evaluations ev LEFT JOIN metric_directions d USING (metric))
                    WHERE kind <> 'nan'
                ) AS e
                JOIN runs_view AS r ON r.id = e.run_id
                WHERE e.rank = 1;
                """)
            try db.execute(sql: "PRAGMA user_version = 1")
        }

        // `textgan eval`'s metrics: which way is better for each.
        migrator.registerMigration("v2-eval-metric-directions") { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO metric_directions VALUES
                    ('rouge_l', 1), ('distinct1', 1), ('distinct2', 1), ('distinct3', 1), ('distinct4', 1),
                    ('memorisation_rate', 0), ('longest_copied', 0), ('longest_copied_mean', 0);
                PRAGMA user_version = 2;
                """)
        }

        // Sampling filters join the evaluation protocol, so top-k / top-p scores are kept apart from plain
        // temperature sampling (rows written before have NULL: no filter). `leaderboard_by_protocol` ranks each
        // run's scores within one protocol, so a comparison of runs need not mix sample counts or temperatures.
        migrator.registerMigration("v3-eval-top-k-top-p") { db in
            try db.execute(sql: """
                ALTER TABLE evaluations ADD COLUMN top_k INTEGER;
                ALTER TABLE evaluations ADD COLUMN top_p REAL;
                DROP VIEW latest_evaluations;
                CREATE VIEW latest_evaluations AS
                SELECT run_id, metric, step, value, kind, sample_count, reference_set, reference_count, tokenizer,
                       smoothing, seed, temperature, top_k, top_p, time FROM (
                    SELECT *, row_number() OVER (PARTITION BY run_id, metric ORDER BY step DESC, id DESC) AS recency
                    FROM evaluations)
                WHERE recency = 1;
                CREATE VIEW leaderboard_by_protocol AS
                SELECT r.id AS run_id, r.name, r.algorithm, r.generator, r.corpus, r.status,
                       e.metric, e.value, e.step, e.higher_is_better, e.evaluations,
                       e.sample_count, e.reference_set, e.reference_count, e.tokenizer, e.smoothing, e.temperature,
                       e.top_k, e.top_p
                FROM (
                    SELECT *,
                           count(*) OVER protocol AS evaluations,
                           row_number() OVER (protocol
                               ORDER BY CASE WHEN higher_is_better THEN -value ELSE value END, step, id) AS rank
                    FROM (SELECT ev.*, COALESCE(d.higher_is_better, 1) AS higher_is_better
                          FROM evaluations ev LEFT JOIN metric_directions d USING (metric))
                    WHERE kind <> 'nan'
                    WINDOW protocol AS (PARTITION BY run_id, metric, sample_count, reference_set, reference_count,
                                        tokenizer, smoothing, temperature, top_k, top_p)
                ) AS e
                JOIN runs_view AS r ON r.id = e.run_id
                WHERE e.rank = 1;
                PRAGMA user_version = 3;
                """)
        }

        // One step count over the whole run: `step` never decreases from phase to phase (so "latest" is the
        // latest), and `phase_step` keeps the phase's own numbering. Rows recorded before had only the phase's.
        migrator.registerMigration("v4-run-step-and-phase-step") { db in
            try db.execute(sql: """
                ALTER TABLE metrics ADD COLUMN phase_step INTEGER;
                ALTER TABLE evaluations ADD COLUMN phase_step INTEGER;
                ALTER TABLE samples ADD COLUMN phase_step INTEGER;
                UPDATE metrics SET phase_step = step;
                UPDATE evaluations SET phase_step = step;
                UPDATE samples SET phase_step = step;
                DROP VIEW latest_metrics;
                CREATE VIEW latest_metrics AS
                SELECT run_id, phase, key, step, phase_step, epoch, value, kind, time FROM (
                    SELECT *, row_number() OVER (PARTITION BY run_id, key ORDER BY step DESC, id DESC) AS recency
                    FROM metrics)
                WHERE recency = 1;
                DROP VIEW latest_evaluations;
                CREATE VIEW latest_evaluations AS
                SELECT run_id, metric, step, phase_step, value, kind, sample_count, reference_set, reference_count,
                       tokenizer, smoothing, seed, temperature, top_k, top_p, time FROM (
                    SELECT *, row_number() OVER (PARTITION BY run_id, metric ORDER BY step DESC, id DESC) AS recency
                    FROM evaluations)
                WHERE recency = 1;
                PRAGMA user_version = 4;
                """)
        }

        // Who recorded an evaluation: training ('train') or `textgan eval` ('eval'). A resume drops training's rows
        // past its checkpoint (it records them again) but keeps eval's: they score a checkpoint file that the
        // resumed run writes again bit for bit. Older rows have NULL (unknown) and are dropped as before.
        migrator.registerMigration("v5-evaluations-recorded-by") { db in
            try db.execute(sql: """
                ALTER TABLE evaluations ADD COLUMN recorded_by TEXT CHECK (recorded_by IN ('train', 'eval'));
                PRAGMA user_version = 5;
                """)
        }

        // One process at a time trains a run: `owner` is the lease, a token of the process holding it (host, pid
        // and a random part), set when the run starts, taken over by a resume, checked by every write of training
        // and renewed with the heartbeat. A process whose lease was taken over writes nothing more.
        migrator.registerMigration("v6-run-owner") { db in
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN owner TEXT;
                PRAGMA user_version = 6;
                """)
        }

        // Run management: a free-text note per run (`runs note`) and any number of tags (`runs tag`), so runs can
        // be found again (`runs --tag`). runs_view gains the note; the tags are their own table.
        migrator.registerMigration("v7-run-notes-and-tags") { db in
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN note TEXT;
                CREATE TABLE run_tags (
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    tag TEXT NOT NULL CHECK (length(tag) > 0),
                    PRIMARY KEY (run_id, tag)
                ) WITHOUT ROWID;
                CREATE INDEX run_tags_by_tag ON run_tags(tag);
                DROP VIEW runs_view;
                CREATE VIEW runs_view AS
                SELECT id, name, algorithm, generator, discriminator, corpus, corpus_sha256, vocabulary, seed,
                       CASE WHEN status = 'running'
                                 AND (julianday('now') - julianday(heartbeat_at)) * 86400.0 > stale_after
                            THEN 'crashed' ELSE status END AS status,
                       status AS stored_status,
                       started_at, ended_at, heartbeat_at, stale_after,
                       (julianday(COALESCE(ended_at, heartbeat_at)) - julianday(started_at)) * 86400.0
                           AS duration_seconds,
                       exit_reason, config_json, code_commit, code_dirty, host, toolchain, note
                FROM runs;
                PRAGMA user_version = 7;
                """)
        }

        // The named protocol (`textgan eval --protocol texygen`) a score was computed under; NULL when none was named.
        migrator.registerMigration("v8-evaluation-protocol-name") { db in
            try db.execute(sql: """
                ALTER TABLE evaluations ADD COLUMN protocol TEXT;
                PRAGMA user_version = 8;
                """)
        }

        // The security metrics (#19): lower is better for what a generator leaks (membership inference, canary
        // exposure, each canary's `canary_exposure_<i>` included, by a trigger as their number is the run's), higher
        // for a detector's and for D's accuracy under attack.
        migrator.registerMigration("v9-security-metric-directions") { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO metric_directions VALUES
                    ('membership_auc', 0), ('membership_auc_reference', 0), ('canary_exposure_mean', 0),
                    ('accuracy', 1), ('roc_auc', 1), ('tpr_at_1pct_fpr', 1),
                    ('d_accuracy_clean', 1), ('d_accuracy_robust', 1);
                INSERT OR IGNORE INTO metric_directions
                    SELECT DISTINCT metric, 0 FROM evaluations WHERE metric GLOB 'canary_exposure_[0-9]*';
                CREATE TRIGGER canary_exposure_direction AFTER INSERT ON evaluations
                    WHEN NEW.metric GLOB 'canary_exposure_[0-9]*'
                BEGIN
                    INSERT OR IGNORE INTO metric_directions VALUES (NEW.metric, 0);
                END;
                PRAGMA user_version = 9;
                """)
        }

        // Likelihoods named by the data they are computed on (RelGAN's "NLL-gen" is on the training data, others'
        // on held-out data): the synthetic benchmark's `nll_gen` (fresh oracle sequences, never trained on) becomes
        // `nll_gen_held_out`, beside `nll_gen_train` (the training split) and `nll_test` (the test split). Also the
        // language-model scores of Language GANs Falling Short, and the column naming the LM behind them.
        migrator.registerMigration("v10-nll-split-names-and-language-model") { db in
            try db.execute(sql: """
                UPDATE metrics SET key = 'nll_gen_held_out' WHERE key = 'nll_gen';
                UPDATE evaluations SET metric = 'nll_gen_held_out' WHERE metric = 'nll_gen';
                DELETE FROM metric_directions WHERE metric = 'nll_gen';
                INSERT OR REPLACE INTO metric_directions VALUES
                    ('nll_gen_held_out', 0), ('nll_gen_train', 0), ('lm_score', 0), ('reverse_lm_score', 0);
                ALTER TABLE evaluations ADD COLUMN language_model TEXT;
                PRAGMA user_version = 10;
                """)
        }

        // The LM behind an LM score is part of its protocol: scores under two LMs are not ranked against each other.
        migrator.registerMigration("v11-language-model-in-the-protocol") { db in
            try db.execute(sql: """
                DROP VIEW leaderboard_by_protocol;
                CREATE VIEW leaderboard_by_protocol AS
                SELECT r.id AS run_id, r.name, r.algorithm, r.generator, r.corpus, r.status,
                       e.metric, e.value, e.step, e.higher_is_better, e.evaluations,
                       e.sample_count, e.reference_set, e.reference_count, e.tokenizer, e.smoothing, e.temperature,
                       e.top_k, e.top_p, e.language_model
                FROM (
                    SELECT *,
                           count(*) OVER protocol AS evaluations,
                           row_number() OVER (protocol
                               ORDER BY CASE WHEN higher_is_better THEN -value ELSE value END, step, id) AS rank
                    FROM (SELECT ev.*, COALESCE(d.higher_is_better, 1) AS higher_is_better
                          FROM evaluations ev LEFT JOIN metric_directions d USING (metric))
                    WHERE kind <> 'nan'
                    WINDOW protocol AS (PARTITION BY run_id, metric, sample_count, reference_set, reference_count,
                                        tokenizer, smoothing, temperature, top_k, top_p, language_model)
                ) AS e
                JOIN runs_view AS r ON r.id = e.run_id
                WHERE e.rank = 1;
                PRAGMA user_version = 11;
                """)
        }

        // The CPU and the matrix kernels a run started with: with MKL present a run's last bits differ from a run on
        // the own kernel, and speeds differ by CPU, so both are part of what a run was.
        migrator.registerMigration("v12-run-cpu-and-kernels") { db in
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN cpu TEXT;
                ALTER TABLE runs ADD COLUMN kernels TEXT;
                DROP VIEW runs_view;
                CREATE VIEW runs_view AS
                SELECT id, name, algorithm, generator, discriminator, corpus, corpus_sha256, vocabulary, seed,
                       CASE WHEN status = 'running'
                                 AND (julianday('now') - julianday(heartbeat_at)) * 86400.0 > stale_after
                            THEN 'crashed' ELSE status END AS status,
                       status AS stored_status,
                       started_at, ended_at, heartbeat_at, stale_after,
                       (julianday(COALESCE(ended_at, heartbeat_at)) - julianday(started_at)) * 86400.0
                           AS duration_seconds,
                       exit_reason, config_json, code_commit, code_dirty, host, toolchain, note, cpu, kernels
                FROM runs;
                PRAGMA user_version = 12;
                """)
        }

        return migrator
    }()

    /// Applies missing migrations, refusing files written by a newer schema.
    static func migrate(_ writer: DatabaseQueue) throws {
        try refuseNewerSchema(writer)
        // Two processes opening a fresh file at once may both try a migration; the loser's transaction rolls back
        // ("table already exists", "duplicate column name") and its retry goes on from what the winner applied.
        // Every collision means the other process applied that migration, so one more attempt than there are
        // migrations always suffices.
        let attempts = migrator.migrations.count + 1
        for attempt in 1...attempts {
            do {
                try migrator.migrate(writer)
                return
            } catch is DatabaseError where attempt < attempts {
                if try writer.read({ try migrator.hasCompletedMigrations($0) }) { return }
            }
        }
    }

    /// A read-only store must have exactly this build's schema: a newer one is refused as when writing, an older
    /// one would need a migration (a write) before its views and columns are what the reads expect.
    static func refuseOtherSchema(_ reader: DatabaseQueue, path: String) throws {
        try refuseNewerSchema(reader, path: path)
        let version = try reader.read { try Int.fetchOne($0, sql: "PRAGMA user_version") ?? 0 }
        if version < schemaVersion {
            throw RunStoreError.schemaTooOld(path: path, version: version, known: schemaVersion)
        }
    }

    private static func refuseNewerSchema(_ writer: DatabaseQueue, path: String? = nil) throws {
        try writer.read { db in
            let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
            let unknown = try migrator.appliedIdentifiers(db).subtracting(migrator.migrations).sorted()
            if version > schemaVersion || !unknown.isEmpty {
                throw RunStoreError.schemaTooNew(
                    path: path ?? writer.path, version: version, known: schemaVersion, unknownMigrations: unknown)
            }
        }
    }
}
