import Foundation
import GRDB

// The rows of the run store as Codable structs: one struct per table, column names in snake_case.

/// A run's stored lifecycle status. `crashed` is never written by textgan: it is how a `running` run whose
/// heartbeat went stale reads (see `runs_view`).
public enum RunStatus: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case running, finished, failed, interrupted, crashed
}

/// What a run is, given once when it starts.
public struct NewRun: Sendable, Equatable {
    public var name: String
    public var algorithm: String
    public var generator: String
    public var discriminator: String?
    public var corpus: String
    public var corpusSHA256: String?
    public var vocabulary: String?
    public var seed: UInt64
    /// The full effective configuration as a JSON object; flattened into `params` with dotted keys.
    public var configJSON: String
    public var environment: RunEnvironment
    /// A run whose heartbeat is older than this many seconds reads as crashed. Keep it a few heartbeat intervals.
    public var staleAfter: TimeInterval

    public init(
        name: String, algorithm: String, generator: String, discriminator: String? = nil, corpus: String,
        corpusSHA256: String? = nil, vocabulary: String? = nil, seed: UInt64, configJSON: String,
        environment: RunEnvironment = .current(), staleAfter: TimeInterval = RunLifecycle.defaultStaleAfter
    ) {
        self.name = name
        self.algorithm = algorithm
        self.generator = generator
        self.discriminator = discriminator
        self.corpus = corpus
        self.corpusSHA256 = corpusSHA256
        self.vocabulary = vocabulary
        self.seed = seed
        self.configJSON = configJSON
        self.environment = environment
        self.staleAfter = staleAfter
    }
}

/// How an evaluation was computed; stored beside every score so numbers from different protocols are not mixed.
public struct EvaluationProtocol: Sendable, Equatable, Codable {
    public var sampleCount: Int
    public var referenceSet: String
    public var referenceCount: Int?
    public var tokenizer: String
    public var smoothing: String?
    public var seed: UInt64?
    public var temperature: Double?
    /// Sampling filters, when the samples were drawn with them (nil: the whole distribution).
    public var topK: Int?
    public var topP: Double?
    /// The named protocol the score follows (`eval --protocol`: texygen, gfs, …); nil when none was named.
    public var name: String?
    /// The language model behind `lm_score` (the run and checkpoint that scored the samples) or `reverse_lm_score`
    /// (the config and schedule of the LM trained on the samples); nil for every other metric.
    public var languageModel: String?

    public init(
        sampleCount: Int, referenceSet: String, referenceCount: Int? = nil, tokenizer: String,
        smoothing: String? = nil, seed: UInt64? = nil, temperature: Double? = nil, topK: Int? = nil,
        topP: Double? = nil, name: String? = nil, languageModel: String? = nil
    ) {
        self.name = name
        self.languageModel = languageModel
        self.sampleCount = sampleCount
        self.referenceSet = referenceSet
        self.referenceCount = referenceCount
        self.tokenizer = tokenizer
        self.smoothing = smoothing
        self.seed = seed
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }
}

/// How a Double is stored: SQLite keeps ±infinity as REAL but turns NaN into NULL, so `kind` says which.
public enum ValueKind: String, Codable, Sendable, DatabaseValueConvertible {
    case finite, nan, inf, negativeInf = "-inf"

    init(_ value: Double) {
        if value.isNaN { self = .nan } else if value == .infinity { self = .inf }
        else if value == -.infinity { self = .negativeInf } else { self = .finite }
    }

    /// The stored column value: NULL for NaN, the number otherwise.
    static func stored(_ value: Double) -> Double? { value.isNaN ? nil : value }

    /// The Double a row stands for.
    func value(_ stored: Double?) -> Double {
        switch self {
        case .nan: return .nan
        case .inf: return .infinity
        case .negativeInf: return -.infinity
        case .finite: return stored ?? .nan
        }
    }
}

// MARK: - Rows

public struct Run: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "runs"
    public var id: Int64?
    public var name: String
    public var algorithm: String
    public var generator: String
    public var discriminator: String?
    public var corpus: String
    public var corpusSHA256: String?
    public var vocabulary: String?
    /// The seed's bit pattern as a signed 64-bit integer (SQLite has no unsigned integers); see `seedValue`.
    public var seed: Int64
    public var status: RunStatus
    public var startedAt: Date
    public var endedAt: Date?
    public var heartbeatAt: Date
    public var staleAfter: Double
    public var exitReason: String?
    public var configJSON: String
    public var codeCommit: String?
    public var codeDirty: Bool?
    public var host: String?
    public var toolchain: String?
    /// The CPU and the matrix kernels the run started with (nil for runs recorded before schema v12).
    public var cpu: String?
    public var kernels: String?
    /// The user's note (`textgan runs note`); nil for none.
    public var note: String?

    enum CodingKeys: String, CodingKey {
        case id, name, algorithm, generator, discriminator, corpus
        case corpusSHA256 = "corpus_sha256", vocabulary, seed, status
        case startedAt = "started_at", endedAt = "ended_at", heartbeatAt = "heartbeat_at"
        case staleAfter = "stale_after", exitReason = "exit_reason", configJSON = "config_json"
        case codeCommit = "code_commit", codeDirty = "code_dirty", host, toolchain, cpu, kernels, note
    }

    public var seedValue: UInt64 { UInt64(bitPattern: seed) }

    /// Seconds from start to end (or to the last heartbeat while running).
    public var duration: TimeInterval { (endedAt ?? heartbeatAt).timeIntervalSince(startedAt) }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// One flattened config entry. `value` keeps its JSON type (INTEGER, REAL, TEXT, NULL; booleans as 0/1).
public struct Param: Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "params"
    public var runID: Int64
    public var key: String
    public var value: DatabaseValue
    /// The JSON type: integer, real, text, boolean, null, or array (stored as compact JSON text).
    public var type: String

    public init(runID: Int64, key: String, value: DatabaseValue, type: String) {
        self.runID = runID
        self.key = key
        self.value = value
        self.type = type
    }

    public init(row: Row) throws {
        runID = row["run_id"]
        key = row["key"]
        value = row["value"]
        type = row["type"]
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["run_id"] = runID
        container["key"] = key
        container["value"] = value
        container["type"] = type
    }

    /// The value with its JSON type, for structured output.
    public enum Typed: Sendable, Equatable {
        case null, boolean(Bool), integer(Int64), real(Double), text(String)
        /// An array, as its compact JSON text.
        case arrayJSON(String)
    }

    public var typed: Typed {
        switch (type, value.storage) {
        case (_, .null): return .null
        case ("boolean", .int64(let i)): return .boolean(i != 0)
        case (_, .int64(let i)): return .integer(i)
        case (_, .double(let d)): return .real(d)
        case ("array", .string(let s)): return .arrayJSON(s)
        default: return .text(text)
        }
    }

    /// The value as it reads in a table: numbers without trailing zeros, text as is, `null` for null.
    public var text: String {
        switch value.storage {
        case .null: return "null"
        case .int64(let i): return type == "boolean" ? (i != 0 ? "true" : "false") : String(i)
        case .double(let d): return String(d)
        case .string(let s): return s
        case .blob(let b): return "x'" + b.map { String(format: "%02x", $0) }.joined() + "'"
        }
    }
}

public struct Metric: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "metrics"
    public var id: Int64?
    public var runID: Int64
    public var phase: String
    /// The run's step: one count over all its phases, never decreasing (see docs/run-store.md).
    public var step: Int
    /// The step in the phase's own numbering (MLE steps, discriminator rounds, adversarial steps); NULL when the
    /// recorder gave none.
    public var phaseStep: Int?
    public var epoch: Int?
    public var key: String
    var storedValue: Double?
    public var kind: ValueKind
    public var time: Date

    enum CodingKeys: String, CodingKey {
        case id, runID = "run_id", phase, step, phaseStep = "phase_step", epoch, key, storedValue = "value", kind, time
    }

    init(runID: Int64, phase: String, step: Int, phaseStep: Int?, epoch: Int?, key: String, value: Double, time: Date) {
        self.runID = runID
        self.phase = phase
        self.step = step
        self.phaseStep = phaseStep
        self.epoch = epoch
        self.key = key
        self.storedValue = ValueKind.stored(value)
        self.kind = ValueKind(value)
        self.time = time
    }

    /// The recorded value, NaN and infinities included.
    public var value: Double { kind.value(storedValue) }
}

public struct Evaluation: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "evaluations"
    public var id: Int64?
    public var runID: Int64
    public var step: Int
    public var phaseStep: Int?
    public var metric: String
    var storedValue: Double?
    public var kind: ValueKind
    public var sampleCount: Int
    public var referenceSet: String
    public var referenceCount: Int?
    public var tokenizer: String
    public var smoothing: String?
    var storedSeed: Int64?
    public var temperature: Double?
    public var topK: Int?
    public var topP: Double?
    public var time: Date
    /// "train" or "eval" (`textgan eval`); nil for rows recorded before schema version 5.
    public var recordedBy: String?
    /// The named protocol (`eval --protocol`), nil when none was named (and for rows before schema version 8).
    public var protocolName: String?
    /// The LM behind `lm_score` / `reverse_lm_score` (nil otherwise, and for rows before schema version 10).
    public var languageModel: String?

    enum CodingKeys: String, CodingKey {
        case id, runID = "run_id", step, phaseStep = "phase_step", metric, storedValue = "value", kind
        case recordedBy = "recorded_by", protocolName = "protocol", languageModel = "language_model"
        case sampleCount = "sample_count"
        case referenceSet = "reference_set", referenceCount = "reference_count", tokenizer, smoothing
        case storedSeed = "seed", temperature, topK = "top_k", topP = "top_p", time
    }

    init(runID: Int64, step: Int, phaseStep: Int?, metric: String, value: Double, protocol p: EvaluationProtocol,
         recordedBy: String, time: Date) {
        self.recordedBy = recordedBy
        self.runID = runID
        self.step = step
        self.phaseStep = phaseStep
        self.metric = metric
        self.storedValue = ValueKind.stored(value)
        self.kind = ValueKind(value)
        self.sampleCount = p.sampleCount
        self.referenceSet = p.referenceSet
        self.referenceCount = p.referenceCount
        self.tokenizer = p.tokenizer
        self.smoothing = p.smoothing
        self.storedSeed = p.seed.map { Int64(bitPattern: $0) }
        self.temperature = p.temperature
        self.topK = p.topK
        self.topP = p.topP
        self.protocolName = p.name
        self.languageModel = p.languageModel
        self.time = time
    }

    public var value: Double { kind.value(storedValue) }

    public var evaluationProtocol: EvaluationProtocol {
        EvaluationProtocol(
            sampleCount: sampleCount, referenceSet: referenceSet, referenceCount: referenceCount,
            tokenizer: tokenizer, smoothing: smoothing, seed: storedSeed.map { UInt64(bitPattern: $0) },
            temperature: temperature, topK: topK, topP: topP, name: protocolName,
            languageModel: languageModel)
    }
}

public struct Sample: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "samples"
    public var id: Int64?
    public var runID: Int64
    public var step: Int
    public var phaseStep: Int?
    public var temperature: Double
    public var text: String
    public var time: Date

    enum CodingKeys: String, CodingKey { case id, runID = "run_id", step, phaseStep = "phase_step", temperature, text, time }
}

public struct Checkpoint: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "checkpoints"
    public var id: Int64?
    public var runID: Int64
    public var step: Int
    public var path: String
    public var sha256: String
    public var bytes: Int64
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, runID = "run_id", step, path, sha256, bytes, createdAt = "created_at"
    }
}
