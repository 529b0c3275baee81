import ArgumentParser
import Digest
import Foundation
import NumericCore
import RunStore
import Workbench

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Train, apply and evaluate detectors of generated text.",
        discussion: """
            A detector is a discriminator (the CNN by default) trained on a corpus's real sentences against samples \
            of other runs' generators, recorded as a run of algorithm detect. Its held-out metrics, by the names the \
            run store uses: accuracy (P(generated) > 0.5), roc_auc (ties count one half) and tpr_at_1pct_fpr (the \
            true-positive rate at the lowest threshold whose false-positive rate is at most 1%, not interpolated).

            Examples:
              textgan detect train coco --against 3 --against 4
              textgan detect score 5 captions.txt --format csv
              textgan detect eval 5 --against 6 --against 7
              textgan sql "select run_id, reference_set, value from evaluations where metric = 'roc_auc'"
            """,
        subcommands: [DetectTrain.self, DetectScore.self, DetectEval.self])
}

/// A run id, name or checkpoint file as the checkpoint its generator is sampled from, named with its SHA-256.
func generatorSource(_ text: String, database: DatabaseOptions) throws -> InitSource {
    let url: URL, id: Int64?
    switch try database.reference(text) {
    case .run(let run):
        (url, id) = (database.runsDirectory.appendingPathComponent("\(run)/latest.safetensors"), run)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw WorkbenchError("run \(run) has no checkpoint at \(url.path)")
        }
    case .file(let path):
        (url, id) = (URL(fileURLWithPath: path).standardizedFileURL, nil)
    }
    return InitSource(run: id, checkpoint: url.path, sha256: try SHA256.hex(ofFile: url))
}

/// A detector run (or checkpoint file), checked against the hash the run store recorded.
func loadDetector(_ text: String, database: DatabaseOptions, best: Bool) throws -> (Detector, Int64?) {
    let reference = try database.reference(text)
    let detector = try Detector.load(reference, runsDirectory: database.runsDirectory, best: best)
    guard case .run(let id) = reference else { return (detector, nil) }
    if database.exists { try LoadedRun.verify(detector.checkpoint, runStep: detector.step, run: id, in: database.openExisting()) }
    return (detector, id)
}

// MARK: - detect train

struct DetectTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a detector on a corpus's real sentences vs samples of the given runs, and record it as a run.")

    @Argument(help: "The corpus of the real sentences (named, or a text file); the runs must share its vocabulary.")
    var corpus: String

    @Option(help: ArgumentHelp("A run (id, name or checkpoint file) whose generator's samples are the generated class; repeat for several.",
                               valueName: "run"))
    var against: [String] = []

    @Option(help: "Samples drawn from each run (detect.samplesPerRun).")
    var samples: Int?

    @Option(help: "Training epochs of the detector (detect.epochs).")
    var epochs: Int?

    @Option(help: ArgumentHelp("The discriminator kind: \(Registry.shared.discriminatorKinds.joined(separator: ", ")) (default cnn).",
                               valueName: "kind"))
    var discriminator: String?

    @Option(help: "Start from a preset: paper (the default) or quick (1,000 samples per run, 2 epochs, a smaller CNN).")
    var preset: Preset?

    @Option(name: .customLong("config"), help: ArgumentHelp("A JSON file of config fields to override.", valueName: "file"))
    var configFile: String?

    @Option(help: "Longest sequence in tokens, end token included (as the runs' corpus was trained with).")
    var maxLength: Int?

    @Option(help: "The seed of the sampling, the split and the detector's training.")
    var seed: UInt64?

    @Option(help: "A name for the run (default: corpus-detect).")
    var name: String?

    @Option(help: "Threads for matrix products and textgan's own parallel loops.")
    var threads: Int = 2

    @OptionGroup var workspace: WorkspaceOptions
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard !against.isEmpty else { throw ValidationError("name at least one run to detect with --against <run>") }
        if let samples, samples < 10 { throw ValidationError("--samples must be at least 10, not \(samples)") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be positive") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be from 1 to 1024, not \(threads)") }
    }

    func run() throws {
        BLAS.setThreads(threads)
        Parallel.threads = threads
        var file: (data: Data, source: String)?
        if let configFile {
            guard let data = FileManager.default.contents(atPath: configFile) else {
                throw WorkbenchError("cannot read the config file \(configFile)")
            }
            file = (data, configFile)
        }
        var config = try RunConfig.layered(corpus: corpus, algorithm: DetectAlgorithm.name, preset: preset, file: file)
        if let discriminator { config = try config.merging(["discriminator": ["kind": discriminator]], source: "--discriminator") }
        config[section: DetectConfig.self].against = try against.map { try generatorSource($0, database: database) }
        if let samples { config[section: DetectConfig.self].samplesPerRun = samples }
        if let epochs { config[section: DetectConfig.self].epochs = epochs }
        if let maxLength { config.maxLength = maxLength }
        if let seed { config.seed = seed }

        let root = try workspace.packageRoot()
        let session = try TrainingSession.start(
            config, name: name, store: try RunDatabase(path: database.path), runsDirectory: database.runsDirectory,
            root: root, sharedData: workspace.sharedDataDirectory(root: root), minExamples: 1)
        let detect = session.config[section: DetectConfig.self]
        print("textgan detect train — run \(session.id): a \(session.config.discriminator!.kind) detector on \(session.data.corpus)")
        print("  generated: \(detect.samplesPerRun) samples from each of \(detect.against.map { $0.run.map { "run \($0)" } ?? $0.checkpoint }.joined(separator: ", ")), "
            + "\(detect.heldOutPerRun) of each held out; as many real sentences on each side")
        var last: [String: Double] = [:]
        let reporter = ConsoleReporter(render: session.data.render)
        let (outcome, interruption) = try session.train { event in
            reporter.handle(event)
            if case .evaluation(_, _, _, let metrics, _) = event { last = metrics }
        }
        reporter.finish()
        print("run \(session.id): \(outcome); held-out " + DetectAlgorithm.metricNames.map {
            "\($0) \(last[$0].map { String(format: "%.4f", $0) } ?? "—")"
        }.joined(separator: ", "))
        if let code = interruption { throw ExitCode(code) }
        print("score text with `textgan detect score \(session.id) <file>`; transfer: `textgan detect eval \(session.id) --against <run>`")
    }
}

// MARK: - detect score

struct DetectScore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Print a detector's P(generated) of each line of a file (tokenized like the detector's corpus).")

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case text, json, csv }

    @Argument(help: "A detector run (id or name) or a detector checkpoint file.")
    var detector: String

    @Argument(help: "A UTF-8 file, one sentence per line.")
    var file: String

    @Option(help: "Output: text (probability, tab, sentence), json or csv.")
    var format: OutputFormat = .text

    @Flag(help: "Use the detector's best checkpoint (highest held-out roc_auc) instead of its latest.")
    var best = false

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let (detector, _) = try loadDetector(self.detector, database: database, best: best)
        let lines = try readLines(file, role: "input")
        let probabilities = detector.probabilityGenerated(try detector.encode(lines, source: file))
        switch format {
        case .text:
            for (p, line) in zip(probabilities, lines) { print(String(format: "%.4f\t", p) + line) }
        case .csv:
            print("line,p_generated,text")
            for (n, (p, line)) in zip(probabilities, lines).enumerated() {
                print("\(n + 1),\(String(format: "%.6f", p)),\"\(line.replacingOccurrences(of: "\"", with: "\"\""))\"")
            }
        case .json:
            let rows = zip(probabilities, lines).enumerated().map { n, pair -> [String: Any] in
                ["line": n + 1, "p_generated": pair.0, "text": pair.1]
            }
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}

// MARK: - detect eval

struct DetectEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a detector against other runs' samples (the transfer matrix) and record each AUC.",
        discussion: """
            For each --against run: --samples of its generator's samples against as many of the detector's held-out \
            real sentences; records accuracy, roc_auc and tpr_at_1pct_fpr for the detector run, with the protocol \
            (reference set "<corpus>:test vs samples of run N"). The matrix in SQL:
              select run_id as detector, reference_set, value from evaluations where metric = 'roc_auc'
            """)

    @Argument(help: "A detector run (id or name).")
    var detector: String

    @Option(help: ArgumentHelp("A run whose generator's samples to detect; repeat for several.", valueName: "run"))
    var against: [String] = []

    @Option(help: "Samples drawn from each run.")
    var samples: Int = 2_000

    @Option(help: "Seed of the sampling.")
    var seed: UInt64 = 0

    @Flag(help: "Use the detector's best checkpoint instead of its latest.")
    var best = false

    @Flag(name: .customLong("no-record"), help: "Print, but record nothing.")
    var noRecord = false

    @Option(help: "Threads for sampling and scoring.")
    var threads: Int = 2

    @OptionGroup var workspace: WorkspaceOptions
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard !against.isEmpty else { throw ValidationError("name at least one run with --against <run>") }
        guard (10...10_000_000).contains(samples) else { throw ValidationError("--samples must be in 10…10,000,000, not \(samples)") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be from 1 to 1024, not \(threads)") }
    }

    func run() throws {
        BLAS.setThreads(threads)
        Parallel.threads = threads
        let (detector, id) = try loadDetector(self.detector, database: database, best: best)
        let root = try workspace.packageRoot()
        let data = try TrainingData.load(detector.config, root: root, sharedData: workspace.sharedDataDirectory(root: root),
                                         minExamples: 1)
        guard data.vocabulary == detector.vocabulary else {
            throw WorkbenchError("the corpus \(data.corpus) no longer gives the detector's vocabulary; refusing to score")
        }
        let detect = detector.detect
        let real = DetectionSplit.realSentences(data, train: detect.trainPerRun * detect.against.count,
                                                heldOut: samples, seed: detector.state.samplingSeed).heldOut
        let store = id != nil && !noRecord ? try database.openForRecording() : nil
        var rows: [[String]] = []
        for (i, text) in against.enumerated() {
            let source = try generatorSource(text, database: database)
            let generated = try DetectionSplit.generatedSamples(from: source, count: samples, temperature: detect.temperature,
                                                                data: data, seed: seed &+ UInt64(i))
            let scores = detectionScores(detector.discriminator, real: real, generated: generated)
            if let store, let id {
                try store.recordEvaluation(
                    run: id, step: detector.step, values: scores,
                    protocol: DetectAlgorithm.heldOutProtocol(data: data, generated: generated.count, real: real.count,
                                                              runs: [source], temperature: detect.temperature, seed: seed &+ UInt64(i)),
                    signOfLife: false)
            }
            rows.append([source.run.map { "run \($0)" } ?? source.checkpoint]
                + DetectAlgorithm.metricNames.map { String(format: "%.4f", scores[$0]!) })
        }
        print("textgan detect eval — detector \(id.map { "run \($0)" } ?? detector.checkpoint.path): \(samples) samples per run "
            + "against \(real.count) held-out real sentences of \(data.corpus)")
        print(TextTable(headers: ["against"] + DetectAlgorithm.metricNames, rows: rows,
                        rightAligned: Set(1...DetectAlgorithm.metricNames.count)).render())
        if store != nil { print("recorded \(rows.count * 3) scores for run \(id!) in \(database.path)") }
    }
}
