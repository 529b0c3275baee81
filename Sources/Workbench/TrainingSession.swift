import Digest
import Foundation
import Models
import NumericCore
import RunStore
import TextPipeline
import Training

/// One run being trained: its config fitted to its corpus, recorded in the run store, and its checkpoint directory.
/// `start` records a new run, `resume` reopens a recorded one; `train` builds the models and the algorithm's trainer
/// (restored from the latest checkpoint when resuming) and trains, recording every event.
public final class TrainingSession {
    public let id: Int64
    public let config: RunConfig
    public let data: TrainingData
    public let runDirectory: URL
    public let resumed: Bool
    private let store: RunDatabase
    /// This process's lease on the run in the store (`RunLease`), and its lock on the run directory: one process
    /// trains a run at a time.
    private let owner: String
    private let lock: RunDirectoryLock
    /// The run's heartbeat and signal handling, from the moment the run is this process's (so a signal that comes
    /// while the models are built or a checkpoint is read still stops the run cleanly, at its first step).
    private let lifecycle: RunLifecycle

    private init(id: Int64, config: RunConfig, data: TrainingData, runDirectory: URL, resumed: Bool, store: RunDatabase,
                 owner: String, lock: RunDirectoryLock, lifecycle: RunLifecycle) {
        self.lifecycle = lifecycle
        self.id = id
        self.config = config
        self.data = data
        self.runDirectory = runDirectory
        self.resumed = resumed
        self.store = store
        self.owner = owner
        self.lock = lock
    }

    /// Records a new run of `config` (already layered) once its corpus loads and suits it.
    public static func start(_ config: RunConfig, name: String?, store: RunDatabase, runsDirectory: URL, root: URL,
                             sharedData: URL?, minExamples: Int) throws -> TrainingSession {
        try config.validate()
        var config = config
        let data = try TrainingData.load(config, root: root, sharedData: sharedData, minExamples: minExamples)
        if config.maxLength == nil { try data.checkFittedLength(limit: config.maxLengthLimit ?? RunConfig.defaultMaxLengthLimit) }
        try config.fit(to: data)
        try config.validate()
        if let source = config.initFrom {
            // Checked before the run is recorded: a generator of the same kind and sizes, on the same vocabulary.
            var rng = SeededGenerator(seed: config.seed)
            try initialize(config.generator.config.makeGenerator(using: &rng), from: source, config: config, data: data)
        }
        // A run directory that cannot be made is found out before the run is recorded.
        do {
            try FileManager.default.createDirectory(at: runsDirectory, withIntermediateDirectories: true)
        } catch {
            throw WorkbenchError("cannot create the runs directory \(runsDirectory.path): \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: runsDirectory.path) else {
            throw WorkbenchError("cannot write run directories in \(runsDirectory.path) (permission denied)")
        }
        let owner = RunLease.token()
        let id = try store.startRun(NewRun(
            name: name ?? config.defaultRunName, algorithm: config.algorithm,
            generator: config.generator.kind, discriminator: config.discriminator?.kind, corpus: data.corpus,
            corpusSHA256: data.sha256, vocabulary: data.vocabularyDescription, seed: config.seed, configJSON: config.json,
            environment: Self.environment()),
            owner: owner)
        do {
            return try TrainingSession(id: id, config: config, data: data, runsDirectory: runsDirectory, resumed: false,
                                       store: store, owner: owner, lock: nil)
        } catch {
            let reason = "cannot prepare run directory \(runsDirectory.appendingPathComponent("\(id)").path): \(error.localizedDescription)"
            try? store.finish(run: id, status: .failed, reason: reason)
            throw WorkbenchError(reason)
        }
    }

    /// This process's environment with the CPU and the matrix kernels it computes with.
    static func environment() -> RunEnvironment {
        var environment = RunEnvironment.current()
        environment.cpu = "\(CPUFeatures.brand ?? "unknown CPU") (\(CPUFeatures.current))"
        environment.kernels = "fp32 gemm \(GEMMBackend.current.summary)" + (MKL.version.map { "; MKL: \($0)" } ?? "")
            + "; bf16 gemm \(BF16Matmul.summary)"
        return environment
    }

    /// Reopens recorded run `id` with its recorded config, refusing if its corpus has changed.
    public static func resume(_ id: Int64, store: RunDatabase, runsDirectory: URL, root: URL, sharedData: URL?,
                              minExamples: Int) throws -> TrainingSession {
        let recorded: Run
        do {
            recorded = try store.run(id)
        } catch RunStoreError.noSuchRun {
            throw WorkbenchError("no run \(id) in the run store (see `textgan runs`)")
        }
        // What cannot be resumed is said before the run's status changes.
        guard recorded.status != .finished else {
            throw WorkbenchError("run \(id) already finished; there is nothing to resume (sample or eval it, or train a new run)")
        }
        let latest = runsDirectory.appendingPathComponent("\(id)/latest.safetensors")
        guard FileManager.default.fileExists(atPath: latest.path) else {
            throw WorkbenchError("run \(id) has no checkpoint to resume from (\(latest.path)): it stopped before its first one")
        }
        // A process still training the run (suspended, so that its heartbeat went stale) holds its directory's lock.
        let lock = try RunDirectoryLock(directory: latest.deletingLastPathComponent(), run: id)
        let contents: Training.Checkpoint.Contents
        do {
            contents = try Training.Checkpoint.load(from: latest)
        } catch {
            throw WorkbenchError("run \(id)'s checkpoint cannot be read, so it cannot be resumed: \(error)")
        }
        var config = try RunConfig.decode(recorded.configJSON, source: "run \(id)")
        let position = try config.algorithmType.position(in: contents)
        try LoadedRun.verify(latest, runStep: position.runStep, run: id, in: store)
        let data = try TrainingData.load(config, root: root, sharedData: sharedData, minExamples: minExamples)
        try config.fit(to: data)
        guard recorded.corpusSHA256 == nil || recorded.corpusSHA256 == data.sha256 else {
            throw WorkbenchError("run \(id) was trained on \(data.corpus) with SHA-256 \(recorded.corpusSHA256!), but the corpus now has \(data.sha256); refusing to resume on different data")
        }
        // The lease is this process's now: one that still held it (on another host) writes nothing more.
        let owner = RunLease.token()
        try store.resumeRun(id, owner: owner)
        // What was recorded after the checkpoint (a crash between recording and checkpointing) is recorded again.
        try store.forgetHistory(run: id, after: position.runStep)
        try recordUnrecordedCheckpoints(run: id, latest: latest, at: position.runStep, algorithm: config.algorithmType,
                                        store: store, owner: owner)
        return try TrainingSession(id: id, config: config, data: data, runsDirectory: runsDirectory, resumed: true,
                                   store: store, owner: owner, lock: lock)
    }

    /// A kill between a checkpoint's rename and its row leaves a file the store never recorded (the resumed run starts
    /// after it, so would never record it either): records it now, best before latest as training does, so the
    /// run's checkpoint history is an uninterrupted run's. A best ahead of latest is left to the resumed run, which
    /// writes it again.
    private static func recordUnrecordedCheckpoints(run id: Int64, latest: URL, at runStep: Int,
                                                    algorithm: any TrainingAlgorithm.Type, store: RunDatabase,
                                                    owner: String) throws {
        let best = latest.deletingLastPathComponent().appendingPathComponent("best.safetensors")
        for file in [best, latest] where FileManager.default.fileExists(atPath: file.path) {
            let step = file == latest ? runStep : try algorithm.position(in: Training.Checkpoint.load(from: file)).runStep
            let recorded = try store.recordedCheckpoint(run: id, fileName: file.lastPathComponent)
            guard step <= runStep, (recorded?.step ?? -1) < step else { continue }
            let bytes = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.int64Value ?? 0
            try store.recordCheckpoint(run: id, step: step, path: file.path, sha256: try SHA256.hex(ofFile: file),
                                       bytes: bytes, owner: owner)
        }
    }

    private convenience init(id: Int64, config: RunConfig, data: TrainingData, runsDirectory: URL, resumed: Bool,
                             store: RunDatabase, owner: String, lock: RunDirectoryLock?) throws {
        let lifecycle = RunLifecycle(database: store, run: id, owner: owner, signals: .stopAtNextStep)
        let directory = runsDirectory.appendingPathComponent("\(id)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lock = try lock ?? RunDirectoryLock(directory: directory, run: id)
        // A kill during a checkpoint write leaves its temporary file; this run is the directory's only writer.
        removeOrphanedPartialWrites(in: directory)
        if let vocabulary = data.vocabulary {
            try vocabulary.fileContents().write(to: directory.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        }
        self.init(id: id, config: config, data: data, runDirectory: directory, resumed: resumed, store: store,
                  owner: owner, lock: lock, lifecycle: lifecycle)
    }

    /// Trains until the algorithm finishes or a signal (Ctrl-C, SIGTERM) stops it at the next step; `observe` sees
    /// every event first (the console), then the run store records it. Returns the outcome and, after a signal, the
    /// exit status to end with.
    public func train(observe: @escaping (TrainingEvent) -> Void) throws -> (outcome: TrainingOutcome, interruptionExitCode: Int32?) {
        let lifecycle = self.lifecycle
        let recorder = RunRecorder(database: store, run: id, render: data.render, protocols: protocols(), owner: owner)
        // A failed recording (a full disk, a lost lease) throws out of the trainer before it writes the step's
        // checkpoint, so the latest checkpoint never holds a step whose rows the store lacks. A process whose run
        // another one resumed (the heartbeat found the lease gone, or a write did) stops at its next event.
        let handler: TrainingEventHandler = { event in
            if let lost = lifecycle.lostLease { throw lost }
            observe(event)
            do {
                try recorder.record(event)
            } catch let error as RunStoreError {
                if case .leaseLost = error { throw error }
                throw RecordingFailed(event: event, underlying: error)
            } catch {
                throw RecordingFailed(event: event, underlying: error)
            }
            return lifecycle.stopRequested ? .stop : .proceed
        }
        let outcome = try lifecycle.run { _ -> TrainingOutcome in
            try makeTrainer().run(handler)
        }
        return (outcome, lifecycle.interruptionExitCode)
    }

    /// The models (generator, then the discriminator when the algorithm has one, from the run's seed) and the
    /// algorithm's trainer on them.
    private func makeTrainer() throws -> PreparedTrainer {
        let algorithm = try config.algorithmType
        var rng = SeededGenerator(seed: config.seed)
        let generator = config.generator.config.makeGenerator(using: &rng)
        let discriminator = config.discriminator?.config.makeDiscriminator(using: &rng)
        // A pretrained generator replaces the fresh values (the random stream is the same either way).
        if let source = config.initFrom, !resumed { try Self.initialize(generator, from: source, config: config, data: data) }
        var metadata = ["config": config.json]
        if let vocabulary = data.vocabulary { metadata["vocabulary"] = vocabulary.fileContents() }
        let setup = TrainerSetup(
            config: config, data: data, generator: generator, discriminator: discriminator,
            evaluate: data.evaluator(config.evaluation), checkpointDirectory: runDirectory, metadata: metadata,
            resumeFrom: resumed ? runDirectory.appendingPathComponent("latest.safetensors") : nil)
        return try algorithm.makeTrainer(setup, using: &rng)
    }

    /// Loads the generator of `source`'s checkpoint into `generator`, after checking that it is the file recorded,
    /// the same kind and sizes, and trained on the same vocabulary.
    static func initialize(_ generator: any SequenceGenerator, from source: InitSource, config: RunConfig,
                           data: TrainingData) throws {
        let url = URL(fileURLWithPath: source.checkpoint)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw WorkbenchError("--init-from: \(source.checkpoint) no longer exists")
        }
        guard try SHA256.hex(ofFile: url) == source.sha256 else {
            throw WorkbenchError("--init-from: \(source.checkpoint) has changed since this run was configured from it")
        }
        let loaded = try LoadedRun.load(source.checkpoint, runsDirectory: url.deletingLastPathComponent())
        let from = source.run.map { "run \($0)" } ?? source.checkpoint
        guard loaded.generator.kind == generator.kind else {
            throw WorkbenchError("--init-from: \(from)'s generator is a \(loaded.generator.kind), this run's a \(generator.kind)")
        }
        guard loaded.vocabulary == data.vocabulary else {
            let counts = [loaded.vocabulary?.count, data.vocabulary?.count].map { $0.map(String.init) ?? "bare ids" }
            throw WorkbenchError("--init-from: \(from) was trained on another vocabulary (\(counts[0]) tokens, this "
                + "corpus gives \(counts[1])); a generator can start from one trained on the same vocabulary only")
        }
        let mine = Dictionary(uniqueKeysWithValues: generator.parameters.map { ($0.name, $0.shape) })
        let theirs = Dictionary(uniqueKeysWithValues: loaded.generator.parameters.map { ($0.name, $0.shape) })
        if let name = mine.keys.sorted().first(where: { mine[$0] != theirs[$0] }) {
            throw WorkbenchError("--init-from: \(from)'s generator has other sizes (\(name): \(theirs[name].map { "\($0)" } ?? "absent") "
                + "there, \(mine[name]!) here); give this run the same generator section")
        }
        generator.copyValues(from: loaded.generator)
    }

    /// How each evaluation metric of this run is computed, for the run store's `evaluations` table.
    private func protocols() -> [String: EvaluationProtocol] {
        var out = (try? config.algorithmType.evaluationProtocols(config, data: data)) ?? [:]
        if let oracle = data.oracle {
            out["nll_oracle"] = EvaluationProtocol(
                sampleCount: config.evaluation.nllOracleSamples, referenceSet: "oracle:\(oracle.origin)",
                tokenizer: "ids", temperature: 1)
            if config.evaluation.testNLL {
                let held = TrainingData.oracleHeldOutCount
                out["nll_gen_held_out"] = EvaluationProtocol(sampleCount: held, referenceSet: "oracle:\(oracle.origin):held-out",
                                                    referenceCount: held, tokenizer: "ids")
            }
        }
        for d in EvaluationSuite.distinctOrders where data.oracle != nil || (config.evaluation.bleuSamples > 0 && data.testTokens != nil) {
            out["distinct\(d)"] = EvaluationProtocol(
                sampleCount: data.oracle != nil ? config.evaluation.nllOracleSamples : config.evaluation.bleuSamples,
                referenceSet: "self", tokenizer: data.oracle != nil ? "ids" : data.tokenizerDescription, seed: config.seed,
                temperature: 1)
        }
        if let test = data.test {
            out["nll_test"] = .testNLL(corpus: data.corpus, sentences: test.count, tokenizer: data.tokenizerDescription)
        }
        // BLEU samples come from the trainers' evaluation streams, fixed by the run's seed and the step.
        let settings = config.evaluation
        if settings.bleuSamples > 0, let testTokens = data.testTokens {
            let references = EvaluationProtocol.bleu(
                samples: settings.bleuSamples, references: "\(data.corpus):test", referenceCount: testTokens.count,
                tokenizer: data.tokenizerDescription, smoothing: settings.bleuSmoothing, seed: config.seed,
                temperature: 1)
            let others = EvaluationProtocol.selfBLEU(
                samples: settings.bleuSamples, tokenizer: data.tokenizerDescription, smoothing: settings.bleuSmoothing,
                seed: config.seed, temperature: 1)
            for n in settings.bleuOrders {
                out["bleu\(n)"] = references
                if settings.selfBLEU { out["self_bleu\(n)"] = others }
            }
        }
        return out
    }
}

/// The run store could not record a training event; training stopped there, without a checkpoint past it.
struct RecordingFailed: Error, CustomStringConvertible {
    let event: TrainingEvent
    let underlying: Error

    var description: String {
        let what: String
        switch event {
        case .step(let phase, _, _, _, let runStep): what = "the \(phase) step at run step \(runStep)"
        case .evaluation(let phase, _, _, _, let runStep): what = "the \(phase) evaluation at run step \(runStep)"
        case .samples(_, _, _, let runStep): what = "the samples at run step \(runStep)"
        case .checkpoint(let step, let kind, _): what = "the \(kind) checkpoint at run step \(step)"
        case .phaseStarted, .phaseFinished: what = "a phase change"
        }
        return "recording \(what) failed, so training stopped without writing a checkpoint past what is recorded: "
            + "\(underlying)"
    }
}
