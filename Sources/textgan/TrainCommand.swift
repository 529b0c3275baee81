import ArgumentParser
import Foundation
import Models
import NumericCore
import RunStore
import TextPipeline
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a text generator (SeqGAN by default, or MLE) and record the run.",
        discussion: """
            The config is layered: the reference defaults, then --preset, then --config FILE (a JSON object with \
            any subset of the fields printed at start), then the flags below. The effective config is printed, \
            stored with the run and in every checkpoint. Checkpoints (latest and best) go to runs/<run-id>/ beside \
            the run store; Ctrl-C or SIGTERM stops at the next step, writes a checkpoint and marks the run \
            interrupted, and `textgan train --resume <run-id>` continues it exactly.

            Examples:
              textgan train tang --preset quick          # the whole SeqGAN pipeline in under a minute
              textgan train oracle --algo mle            # MLE on the SeqGAN synthetic benchmark (paper schedule)
              textgan train oracle --preset paper        # SeqGAN, paper schedule (hours; resumable)
              textgan train --resume 3
            """
    )

    @Argument(help: "A named corpus (oracle, coco, poems, tang: see `textgan corpus list`) or a text file with one example per line.")
    var corpus: String?

    @Option(help: "The algorithm: \(Algorithm.allCases.map(\.rawValue).joined(separator: ", ")).")
    var algo: Algorithm?

    @Option(help: "Start from a preset: paper (the reference schedule, the default) or quick (under a minute on 2 cores).")
    var preset: Preset?

    @Option(name: .customLong("config"), help: ArgumentHelp("A JSON file of config fields to override.", valueName: "file"))
    var configFile: String?

    @Option(help: "MLE epochs (SeqGAN: generator pretraining epochs).")
    var epochs: Int?

    @Option(help: "Adversarial steps (SeqGAN).")
    var adversarialSteps: Int?

    @Option(help: "Monte Carlo rollouts per prefix (SeqGAN).")
    var rollouts: Int?

    @Option(help: "Batch size of MLE training.")
    var batchSize: Int?

    @Option(name: .customLong("g-lr"), help: "Generator learning rate (MLE and policy gradient).")
    var generatorLearningRate: Float?

    @Option(help: "Longest sequence in tokens, end token included (text corpora; default: the longest example + 1).")
    var maxLength: Int?

    @Option(help: "The seed of every random choice in the run.")
    var seed: UInt64?

    @Option(help: "A name for the run (default: corpus-algorithm).")
    var name: String?

    @Option(help: ArgumentHelp("Continue the run with this id from its latest checkpoint.", valueName: "run-id"))
    var resume: Int64?

    @Option(help: "Threads for matrix products and textgan's own parallel loops.")
    var threads: Int = 2

    @Option(help: "The fewest training examples a text corpus may have.")
    var minExamples: Int = 64

    @OptionGroup var workspace: WorkspaceOptions
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        if resume == nil && corpus == nil { throw ValidationError("name a corpus to train on, or --resume a run") }
        if resume != nil {
            let overrides: [Any?] = [corpus, algo, preset, configFile, epochs, adversarialSteps, rollouts, batchSize,
                                     generatorLearningRate, maxLength, seed]
            if overrides.contains(where: { $0 != nil }) {
                throw ValidationError("--resume continues a run with its recorded config; it takes no corpus or config options")
            }
        }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        for (flag, value) in [("--epochs", epochs), ("--adversarial-steps", adversarialSteps), ("--rollouts", rollouts),
                              ("--batch-size", batchSize), ("--max-length", maxLength)] {
            if let value, value < (flag == "--adversarial-steps" ? 0 : 1) {
                throw ValidationError("\(flag) must be positive")
            }
        }
        if let generatorLearningRate, !(generatorLearningRate > 0) { throw ValidationError("--g-lr must be positive") }
    }

    // MARK: - Config

    /// defaults ← preset ← --config ← flags
    func effectiveConfig(corpus: String) throws -> RunConfig {
        var config = RunConfig.defaults(corpus: corpus, preset: preset)
        if let configFile {
            let url = URL(fileURLWithPath: configFile)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw ValidationError("cannot read the config file \(configFile)")
            }
            config = try config.merging(json: data, source: configFile)
            config.corpus = corpus
        }
        if let algo { config.algorithm = algo }
        if let epochs { config.mle.epochs = epochs }
        if let adversarialSteps { config.seqgan.adversarialSteps = adversarialSteps }
        if let rollouts { config.seqgan.rollouts = rollouts }
        if let batchSize { config.mle.batchSize = batchSize }
        if let generatorLearningRate {
            config.mle.learningRate = generatorLearningRate
            config.seqgan.generatorLearningRate = generatorLearningRate
        }
        if let maxLength { config.maxLength = maxLength }
        if let seed { config.seed = seed }
        return config
    }

    // MARK: - Run

    func run() throws {
        BLAS.setThreads(threads)
        let root = try workspace.packageRoot()
        let sharedData = workspace.sharedDataDirectory(root: root)
        let store = try RunDatabase(path: database.path)

        // The run's config and data: recorded ones when resuming, else built from the options.
        var config: RunConfig
        let runID: Int64
        if let resume {
            let recorded = try store.run(resume)
            config = try JSONDecoder().decode(RunConfig.self, from: Data(recorded.configJSON.utf8))
            runID = resume
        } else {
            config = try effectiveConfig(corpus: corpus!)
            try config.evaluation.validate()
            runID = 0  // assigned below, once the data is known to load
        }
        let data = config.corpus == "oracle"
            ? try TrainingData.oracle(sharedData: sharedData, config: config)
            : try TrainingData.text(root: root, sharedData: sharedData, config: config, minExamples: minExamples)
        guard data.train.count >= config.mle.batchSize else {
            throw ValidationError("corpus \(data.corpus) has \(data.train.count) training sequences, fewer than one batch of \(config.mle.batchSize)")
        }
        // Fill in what the corpus decides.
        config.generator.vocabularySize = data.vocabularySize
        config.generator.maxLength = data.maxLength
        config.generator.startToken = data.startToken
        config.generator.endToken = data.endToken
        config.discriminator.vocabularySize = data.vocabularySize
        config.discriminator.sequenceLength = data.maxLength
        config.discriminator.padToken = Vocabulary.pad
        config.seqgan.pretrain = config.mle
        if config.seqgan.negatives == nil { config.seqgan.negatives = data.train.count }

        let id: Int64
        if resume != nil {
            let recorded = try store.run(runID)
            guard recorded.corpusSHA256 == nil || recorded.corpusSHA256 == data.sha256 else {
                throw ValidationError("run \(runID) was trained on \(data.corpus) with SHA-256 \(recorded.corpusSHA256!), but the corpus now has \(data.sha256); refusing to resume on different data")
            }
            try store.resumeRun(runID)
            id = runID
        } else {
            id = try store.startRun(NewRun(
                name: name ?? "\(config.corpus)-\(config.algorithm.rawValue)", algorithm: config.algorithm.rawValue,
                generator: "lstm", discriminator: config.algorithm == .seqgan ? "cnn" : nil, corpus: data.corpus,
                corpusSHA256: data.sha256, vocabulary: data.vocabularyDescription, seed: config.seed,
                configJSON: config.json))
        }
        let runDirectory = database.runsDirectory.appendingPathComponent("\(id)")
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        if let vocabulary = data.vocabulary {
            try vocabulary.fileContents().write(to: runDirectory.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        }

        print("textgan train — run \(id)\(resume != nil ? " (resumed)" : "") on \(data.corpus): \(data.description)")
        print("  \(data.train.count) training sequences, \(data.test?.count ?? 0) test; vocabulary \(data.vocabularySize); max length \(data.maxLength)")
        print("  checkpoints in \(runDirectory.path); run store \(database.path)")
        print("effective config:\n\(config.json)")

        let lifecycle = RunLifecycle(database: store, run: id, signals: .stopAtNextStep)
        let reporter = ConsoleReporter(render: data.render)
        let recorder = RunRecorder(database: store, run: id, render: data.render, protocols: protocols(config, data))
        var recordingError: Error?
        let handler: TrainingEventHandler = { event in
            reporter.handle(event)
            do {
                try recorder.record(event)
            } catch {
                recordingError = error
                return .stop
            }
            return lifecycle.stopRequested ? .stop : .proceed
        }
        var metadata = ["config": config.json]
        if let vocabulary = data.vocabulary { metadata["vocabulary"] = vocabulary.fileContents() }

        let started = Date()
        let outcome = try lifecycle.run { _ -> TrainingOutcome in
            let outcome = try train(config: config, data: data, runDirectory: runDirectory, resuming: resume != nil,
                                    metadata: metadata, handler: handler)
            if let recordingError { throw recordingError }
            return outcome
        }
        let minutes = Date().timeIntervalSince(started) / 60
        print(String(format: "run %lld: %@ after %.1f min; checkpoints in %@", id, "\(outcome)", minutes, runDirectory.path))
        if let code = lifecycle.interruptionExitCode {
            print("interrupted: continue with `textgan train --resume \(id)`")
            throw ExitCode(code)
        }
        print("sample from it with `textgan sample \(id)`; inspect it with `textgan runs show \(id)`")
    }

    /// Builds the models and the trainer, restores the checkpoint when resuming, and trains.
    private func train(config: RunConfig, data: TrainingData, runDirectory: URL, resuming: Bool,
                       metadata: [String: String], handler: TrainingEventHandler) throws -> TrainingOutcome {
        var rng = SeededGenerator(seed: config.seed)
        let generator = LSTMGenerator(config.generator, using: &rng)
        let latest = runDirectory.appendingPathComponent("latest.safetensors")
        let evaluate = data.evaluator(config.evaluation)
        switch config.algorithm {
        case .mle:
            var trainer = MLETrainer(generator: generator, loader: BatchLoader(dataset: data.train, batchSize: config.mle.batchSize),
                                     config: config.mle)
            trainer.evaluate = evaluate
            trainer.checkpointDirectory = runDirectory
            trainer.metadata = metadata
            var state = resuming ? try trainer.restore(from: latest) : MLEState(seed: rng.next())
            return try trainer.run(state: &state, emit: handler)
        case .seqgan:
            let discriminator = CNNDiscriminator(config.discriminator, using: &rng)
            let trainer = SeqGANTrainer(generator: generator, discriminator: discriminator, positives: data.train, config: config.seqgan)
            trainer.evaluate = evaluate
            trainer.checkpointDirectory = runDirectory
            trainer.metadata = metadata
            var state = resuming ? try trainer.restore(from: latest) : SeqGANState(seed: rng.next())
            return try trainer.run(state: &state, emit: handler)
        }
    }

    /// How each evaluation metric of this run is computed, for the run store's `evaluations` table.
    private func protocols(_ config: RunConfig, _ data: TrainingData) -> [String: EvaluationProtocol] {
        var out: [String: EvaluationProtocol] = [:]
        if let oracle = data.oracle {
            out["nll_oracle"] = EvaluationProtocol(
                sampleCount: config.evaluation.nllOracleSamples, referenceSet: "oracle:\(oracle.origin)",
                tokenizer: "ids", temperature: 1)
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
