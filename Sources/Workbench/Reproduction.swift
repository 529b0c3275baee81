import Foundation
import Digest
import Models
import NumericCore
import RunStore
import Training

// `textgan reproduce`: the runs of a published experiment, trained as ordinary runs of the run store (so `train
// --resume`, `runs`, `sql` and `report` see them), then scored under the experiment's protocol. A run is found
// again by its name (`PublishedExperiment.runName`) and its config: a finished one is reused, an interrupted or
// crashed one resumed, and scores already recorded under the protocol at its final checkpoint are read back rather
// than computed again.

public struct Reproduction {
    public let experiment: PublishedExperiment
    public let budget: Budget
    public let seed: UInt64
    /// The runs to reproduce (a run's `initFrom` source is trained too when it is left out).
    public let runs: [PublishedExperiment.Run]
    public let store: RunDatabase
    public let runsDirectory: URL
    public let root: URL
    public let sharedData: URL?
    public let threads: Int
    /// Progress lines (which run, reused or trained).
    public var log: (String) -> Void = { _ in }
    /// The handler of a run's training events (the console's progress).
    public var observer: (TrainingSession) -> (TrainingEvent) -> Void = { _ in { _ in } }

    public init(experiment: PublishedExperiment, budget: Budget, seed: UInt64, runs labels: [String]?, store: RunDatabase,
                runsDirectory: URL, root: URL, sharedData: URL?, threads: Int) throws {
        try experiment.validate()
        self.experiment = experiment
        self.budget = budget
        self.seed = seed
        if let labels {
            let known = experiment.runs.map(\.label)
            if let unknown = labels.first(where: { !known.contains($0) }) {
                throw WorkbenchError("experiment \(experiment.name) has no run \(unknown); its runs are \(known.joined(separator: ", "))")
            }
            // The sources of the runs asked for come along.
            var wanted = Set(labels)
            for run in experiment.runs.reversed() where wanted.contains(run.label) { if let source = run.initFrom { wanted.insert(source) } }
            runs = experiment.runs.filter { wanted.contains($0.label) }
        } else {
            runs = experiment.runs
        }
        self.store = store
        self.runsDirectory = runsDirectory
        self.root = root
        self.sharedData = sharedData
        self.threads = threads
    }

    /// One published value beside ours.
    public struct Line: Sendable {
        public let label: String
        public let runID: Int64
        public let temperature: Double
        public let metric: String
        public let ours: Double?
        public let published: Double?
    }

    /// What happened to each run.
    public struct RunOutcome: Sendable {
        public let label: String
        public let runID: Int64
        public let name: String
        /// True when a finished run was found and not trained again.
        public let reused: Bool
        /// True when its scores under the protocol were read from the store.
        public let scoresReused: Bool
        public let trainingSeconds: Double
    }

    public struct Result: Sendable {
        public let lines: [Line]
        public let runs: [RunOutcome]
        /// Set when a run was interrupted (Ctrl-C): the exit code to leave with; nothing was scored.
        public let interruptionExitCode: Int32?
    }

    public func run() throws -> Result {
        let namedProtocol = try experiment.evaluationProtocol
        var outcomes: [RunOutcome] = []
        var lines: [Line] = []
        var ids: [String: Int64] = [:]
        for run in runs {
            // MARK: Train (or find) the run
            let name = experiment.runName(run, budget: budget, seed: seed)
            let config = try self.config(run, sourceIDs: ids)
            let started = Date()
            let (id, reused, interruption) = try train(config, name: name)
            ids[run.label] = id
            let seconds = Date().timeIntervalSince(started)
            if let interruption {
                log("run \(id) (\(name)) was interrupted; run the same `textgan reproduce` again to continue it")
                outcomes.append(RunOutcome(label: run.label, runID: id, name: name, reused: false, scoresReused: false,
                                           trainingSeconds: seconds))
                return Result(lines: lines, runs: outcomes, interruptionExitCode: interruption)
            }

            // MARK: Score it under the protocol (or read the scores back)
            let (scores, scoresReused) = try score(run: id, under: namedProtocol)
            outcomes.append(RunOutcome(label: run.label, runID: id, name: name, reused: reused, scoresReused: scoresReused,
                                       trainingSeconds: seconds))
            lines += Self.lines(experiment, run: run, id: id, scores: scores)
        }
        return Result(lines: lines, runs: outcomes, interruptionExitCode: nil)
    }

    /// The run's config: the algorithm's defaults, the budget's overlay, the experiment's seed, and the final
    /// checkpoint of its source run.
    func config(_ run: PublishedExperiment.Run, sourceIDs: [String: Int64]) throws -> RunConfig {
        let overlay = try run.schedule(budget)
        var config = try RunConfig.layered(corpus: experiment.corpus, algorithm: run.algorithm, generator: run.generator,
                                           preset: nil, file: (Data(overlay.utf8), "experiment \(experiment.name)"))
        config.seed = seed
        if let label = run.initFrom {
            let id = sourceIDs[label]!
            let url = runsDirectory.appendingPathComponent("\(id)/latest.safetensors").standardizedFileURL
            config.initFrom = InitSource(run: id, checkpoint: url.path, sha256: try Digest.SHA256.hex(ofFile: url))
        }
        return config
    }

    /// Trains `config` as run `name`, or reuses the run of that name and config: a finished one as it is, an
    /// interrupted or crashed one resumed. A run of that name with another config (another build's defaults, a
    /// changed registry) is not reused: a new run is trained beside it.
    private func train(_ config: RunConfig, name: String) throws -> (id: Int64, reused: Bool, interruption: Int32?) {
        var fitted = config
        try fitted.fit(to: TrainingData.load(config, root: root, sharedData: sharedData, minExamples: 1))
        let same = try store.runIDs(named: name).reversed().map { try store.run($0) }
            .first { (try? RunConfig.decode($0.configJSON, source: "run \($0.id ?? 0)")) == fitted }
        let session: TrainingSession
        switch same?.status {
        case .finished?:
            log("run \(same!.id!) (\(name)) is finished: reused, not trained again")
            return (same!.id!, true, nil)
        case .interrupted?, .crashed?:
            log("run \(same!.id!) (\(name)) was \(same!.status.rawValue): resuming it")
            session = try TrainingSession.resume(same!.id!, store: store, runsDirectory: runsDirectory, root: root,
                                                 sharedData: sharedData, minExamples: 1)
        case .running?:
            throw WorkbenchError("run \(same!.id!) (\(name)) is running in another process; wait for it, or stop it and run this again")
        case .failed?, nil:
            session = try TrainingSession.start(config, name: name, store: store, runsDirectory: runsDirectory, root: root,
                                                sharedData: sharedData, minExamples: 1)
            log("run \(session.id) (\(name)): training \(config.algorithm) on \(experiment.corpus), \(budget.rawValue) budget")
        }
        let (_, interruption) = try session.train(observe: observer(session))
        return (session.id, false, interruption)
    }

    /// A score's place: the temperature it was sampled at (nil for the likelihoods, which sample nothing) and its metric.
    public struct Key: Hashable, Sendable {
        let temperature: Double?
        let metric: String

        init(temperature: Double?, metric: String) {
            self.temperature = LikelihoodSplit.allCases.map(\.metric).contains(metric) ? nil : temperature
            self.metric = metric
        }
    }

    /// Each of the experiment's metrics at each of its protocol's temperatures, ours (from `scores`) beside the
    /// published value (a protocol with one temperature only: a sweep's points have no published value).
    static func lines(_ experiment: PublishedExperiment, run: PublishedExperiment.Run, id: Int64,
                      scores: [Key: Double]) -> [Line] {
        let temperatures = (try? experiment.evaluationProtocol.temperatures) ?? [1]
        return temperatures.flatMap { t in
            experiment.metrics.map { metric in
                Line(label: run.label, runID: id, temperature: t, metric: metric,
                     ours: scores[Key(temperature: t, metric: metric)],
                     published: temperatures.count == 1 ? run.published[metric] : nil)
            }
        }
    }

    /// The scores `eval` recorded for run `id` under `protocolName` with `seed`, at `step` (nil: the latest step
    /// that has any).
    static func recordedScores(run id: Int64, protocolName: String, seed: UInt64, step: Int?,
                               in store: RunDatabase) throws -> [Key: Double] {
        let rows = try store.evaluations(run: id).filter {
            $0.recordedBy == "eval" && $0.protocolName == protocolName
                && ($0.evaluationProtocol.seed == nil || $0.evaluationProtocol.seed == seed)
        }
        guard let at = step ?? rows.map(\.step).max() else { return [:] }
        var scores: [Key: Double] = [:]
        for row in rows where row.step == at { scores[Key(temperature: row.temperature, metric: row.metric)] = row.value }
        return scores
    }

    /// The reproduce tables of runs recorded in `store`, for `textgan report`: the finished runs whose names
    /// `reproduce` gave (`PublishedExperiment.match`), grouped by experiment, budget and seed, with their recorded
    /// scores. Of several finished runs of one label the latest is shown; a running, interrupted, crashed or failed
    /// run is not (`reproduce` never scores one), so a later attempt that did not finish leaves the table as it was.
    public static func recordedTables(runs: [Run], in store: RunDatabase,
                                      experiments: [PublishedExperiment] = PublishedExperiment.registry)
        throws -> [(experiment: PublishedExperiment, budget: Budget, seed: UInt64, lines: [Line])] {
        var tables: [(experiment: PublishedExperiment, budget: Budget, seed: UInt64, lines: [Line])] = []
        for experiment in experiments {
            var groups: [String: (budget: Budget, seed: UInt64, members: [(PublishedExperiment.Run, Int64)])] = [:]
            for recorded in runs {
                guard let id = recorded.id, recorded.status == .finished,
                      let (run, budget, seed) = experiment.match(runName: recorded.name) else { continue }
                groups["\(budget.rawValue) \(seed)", default: (budget, seed, [])].members.append((run, id))
            }
            for key in groups.keys.sorted() {
                let group = groups[key]!
                var lines: [Line] = []
                for run in experiment.runs {
                    // The latest finished run of each label: the one `reproduce` reuses, unless this build's
                    // defaults differ from its config (then `reproduce` trains a new run beside it).
                    guard let id = group.members.filter({ $0.0.label == run.label }).map(\.1).max() else { continue }
                    let scores = try recordedScores(run: id, protocolName: experiment.protocolName, seed: group.seed,
                                                    step: nil, in: store)
                    lines += Self.lines(experiment, run: run, id: id, scores: scores)
                }
                tables.append((experiment, group.budget, group.seed, lines))
            }
        }
        return tables
    }

    /// The run's scores under `namedProtocol` at its latest checkpoint: read from the store when `eval` recorded
    /// every metric of the experiment there already with the experiment's seed, else computed and recorded.
    private func score(run id: Int64, under namedProtocol: NamedProtocol) throws -> (scores: [Key: Double], reused: Bool) {
        let loaded = try LoadedRun.load("\(id)", runsDirectory: runsDirectory)
        let stored = try Self.recordedScores(run: id, protocolName: namedProtocol.name, seed: seed, step: loaded.step, in: store)
        let wanted = namedProtocol.temperatures.flatMap { t in experiment.metrics.map { Key(temperature: t, metric: $0) } }
        if wanted.allSatisfy({ stored[$0] != nil }) { return (stored, true) }

        let data = try TrainingData.load(for: loaded, recordedSHA256: try store.run(id).corpusSHA256, runID: id, root: root,
                                         sharedData: sharedData)
        if let why = namedProtocol.unmet(by: data) {
            throw WorkbenchError("run \(id) does not meet protocol \(namedProtocol.name): \(why)")
        }
        log("run \(id): scoring under protocol \(namedProtocol.name) (\(namedProtocol.sampleCount) samples at T = "
            + namedProtocol.temperatures.map { String($0) }.joined(separator: ", ") + ")")
        let suite = EvaluationSuite(data: data, references: try data.references("test", file: nil),
                                    smoothing: namedProtocol.smoothing, threads: threads)
        var results: [TemperatureResult] = []
        for t in namedProtocol.temperatures {
            results.append(try suite.evaluate(loaded.generator, options: SamplingOptions(temperature: Float(t)),
                                              temperature: t, count: namedProtocol.sampleCount, seed: seed))
        }
        let likelihoods = LikelihoodSplit.scores(loaded.generator, data: data, splits: namedProtocol.likelihoods)
        _ = try suite.record(results, likelihoods: likelihoods, data: data, seed: seed, topK: nil, topP: nil, run: id,
                             step: loaded.step, phaseStep: loaded.position.phaseStep, protocolName: namedProtocol.name,
                             in: store)
        var scores: [Key: Double] = [:]
        for result in results { for (metric, value) in result.metrics { scores[Key(temperature: result.temperature, metric: metric)] = value } }
        for (metric, value) in likelihoods { scores[Key(temperature: nil, metric: metric)] = value }
        return (scores, false)
    }
}

extension PublishedExperiment {
    /// The run, budget and seed of a run that `reproduce` named (`runName`), or nil.
    public func match(runName: String) -> (run: Run, budget: Budget, seed: UInt64)? {
        for run in runs {
            for budget in Budget.allCases {
                let prefix = "\(name)-\(run.slug)-\(budget.rawValue)-seed"
                if runName.hasPrefix(prefix), let seed = UInt64(runName.dropFirst(prefix.count)) { return (run, budget, seed) }
            }
        }
        return nil
    }
}
