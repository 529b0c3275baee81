import ArgumentParser
import Digest
import Foundation
import NumericCore
import RunStore
import Training
import Workbench

extension Preset: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a text generator (SeqGAN by default) and record the run.",
        discussion: """
            The config is layered: the algorithm's reference defaults, then --preset, then --config FILE (a JSON \
            object with any subset of the fields printed at start), then the flags below. Each algorithm reads its \
            own sections and a key that nothing reads is an error. The effective config is stored with the run and \
            in every checkpoint; at start, train prints what differs from the algorithm's defaults (--print-config: \
            all of it).

            \(algorithmList)

            Checkpoints (latest and best) go to runs/<run-id>/ beside the run store; Ctrl-C or SIGTERM stops at the \
            next step, writes a checkpoint and marks the run interrupted, and `textgan train --resume <run-id>` \
            continues it exactly. One process trains a run at a time: it holds runs/<run-id>/.lock, so a resume of a \
            run whose process is only suspended (its heartbeat stale, the run read as crashed) is refused, naming \
            the process; and a process whose run was resumed elsewhere (its lease in the run store taken over) stops \
            at its next step without writing to the run again. If recording to the run store fails (a full disk), \
            training stops as failed before the step's checkpoint, and --resume continues from the last recorded one.

            Examples (the first is the whole SeqGAN pipeline in under a minute):
              textgan train tang --preset quick
              textgan train oracle --algo mle
              textgan train my.txt --config overrides.json --g-lr 0.005
              textgan train --resume 3
            """
    )

    /// The registered algorithms, each with the config sections it reads (generated from the registry).
    static var algorithmList: String {
        "Algorithms (--algo):\n" + Registry.shared.algorithmNames.compactMap(Registry.shared.algorithm).map { type in
            "- \(type.name): \(type.summary) (reads \(type.sections.map { $0.key }.joined(separator: ", "))"
                + (type.trainsDiscriminator ? ", generator, discriminator)" : ", generator)")
        }.joined(separator: "\n")
    }

    @Argument(help: "A named corpus (oracle, coco, poems, tang: see `textgan corpus list`) or a text file with one example per line.")
    var corpus: String?

    @Option(help: ArgumentHelp("The algorithm: \(Registry.shared.algorithmNames.joined(separator: ", ")) (default seqgan).",
                               valueName: "name"))
    var algo: String?

    @Option(help: ArgumentHelp("The generator: \(Registry.shared.generatorKinds.joined(separator: ", ")) (default lstm; generator.kind).",
                               valueName: "kind"))
    var generator: String?

    @Option(help: "Start from a preset: paper (the reference schedule, the default) or quick (under a minute on 2 cores).")
    var preset: Preset?

    @Option(name: .customLong("config"), help: ArgumentHelp("A JSON file of config fields to override.", valueName: "file"))
    var configFile: String?

    @Option(help: "MLE epochs (mle.epochs; for SeqGAN, its generator pretraining).")
    var epochs: Int?

    @Option(help: "Adversarial steps (seqgan, gumbel or textgan .adversarialSteps).")
    var adversarialSteps: Int?

    @Option(help: ArgumentHelp("The GAN loss of D (gan.loss; SeqGAN takes any but wgan and wgan-gp, its rewards staying D's P(real)): \(GANObjective.allCases.map(\.rawValue).joined(separator: ", ")).",
                               valueName: "loss"))
    var loss: GANObjective?

    @Option(help: ArgumentHelp("The arithmetic of the discriminator's products (discriminator.precision): fp32, or bf16 operands with fp32 sums (needs AVX512_BF16; train warns when this CPU runs bf16 multiply-adds slower than fp32, as Emerald Rapids does).",
                               valueName: "fp32|bf16"))
    var precision: Precision?

    @Option(name: .customLong("generator-precision"),
            help: ArgumentHelp("The arithmetic of the generator's vocabulary products in training and sampling (generator.precision; lstm and transformer): fp32, or bf16 operands with fp32 sums (needs AVX512_BF16). Reported likelihoods stay fp32.",
                               valueName: "fp32|bf16"))
    var generatorPrecision: Precision?

    @Option(name: .customLong("beta-max"), help: "The largest Gumbel-softmax inverse temperature of --algo gumbel (gumbel.maximumInverseTemperature).")
    var betaMax: Double?

    @Option(help: "Monte Carlo rollouts per prefix (seqgan.rollouts).")
    var rollouts: Int?

    @Option(help: "Batch size of MLE training (mle.batchSize).")
    var batchSize: Int?

    @Option(name: .customLong("g-lr"), help: "Generator learning rate in every section that has one (mle.learningRate, seqgan.generatorLearningRate).")
    var generatorLearningRate: Float?

    @Option(help: "Longest sequence in tokens, end token included (text corpora; default: the longest example + 1; longer examples are cut).")
    var maxLength: Int?

    @Option(help: ArgumentHelp(
        "Without --max-length, the longest the corpus may make the sequences (config maxLengthLimit).",
        discussion: "Default 1000: a longer training example refuses the run, saying how long the others are, rather "
            + "than make every sequence that long."))
    var maxLengthLimit: Int?

    @Option(help: "The seed of every random choice in the run.")
    var seed: UInt64?

    @Option(help: ArgumentHelp(
        "A vocabulary built by `textgan vocab build`: a file, or a name in vocab/ (coco for vocab/coco.vocab).",
        discussion: "Its tokens and ids are the run's (config vocabulary.file, with the file's SHA-256); it must have "
            + "been built with the corpus's tokenizer settings. Without it, the vocabulary is built from the "
            + "training split.", valueName: "file-or-name"),
        completion: .file(extensions: ["vocab"]))
    var vocab: String?

    @Option(help: "Without --vocab, keep tokens seen at least this many times in the training split (vocabulary.minCount).")
    var minCount: Int?

    @Option(help: ArgumentHelp("Start the generator from this run's latest checkpoint (or a checkpoint file): a pretrained generator. Same kind, sizes and vocabulary; recorded as initFrom.", valueName: "run-or-checkpoint"))
    var initFrom: String?

    @Option(help: ArgumentHelp("Insert this many random-token canary sentences into the training data (config canaries.count; seeded by the run's seed), for `eval --privacy`'s exposure.",
                               valueName: "K"))
    var canaries: Int?

    @Option(help: "How often each canary is inserted (canaries.repeats, default 1).")
    var canaryRepeats: Int?

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Set one config field, after every flag above (repeatable): mle.learningRate=0.005, gan.loss=rsgan.",
        discussion: "The value is JSON when it reads as JSON (numbers, true/false, quoted strings, arrays), a string "
            + "otherwise. The path is checked like a --config file's keys.", valueName: "path=value"))
    var assignments: [String] = []

    @Option(name: .customLong("tag"), help: ArgumentHelp("Tag the run (repeatable; `textgan runs --tag T` lists the runs tagged T).", valueName: "tag"))
    var tags: [String] = []

    @Option(help: "A name for the run (default: corpus-algorithm).")
    var name: String?

    @Option(help: ArgumentHelp("Continue the run with this id from its latest checkpoint.", valueName: "run-id"))
    var resume: Int64?

    @Option(help: "Threads for matrix products and textgan's own parallel loops.")
    var threads: Int = 2

    @Option(help: "The fewest training examples a text corpus may have.")
    var minExamples: Int = 64

    @Flag(help: "Print the whole effective config at start (by default: what differs from the algorithm's defaults).")
    var printConfig = false

    @OptionGroup var workspace: WorkspaceOptions
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        if resume == nil && corpus == nil { throw ValidationError("name a corpus to train on, or --resume a run") }
        if let name { try RunLabel.checkName(name, flag: "--name") }
        for tag in tags { try RunLabel.checkTag(tag) }
        if resume != nil {
            let overrides: [Any?] = [corpus, algo, generator, initFrom, preset, configFile, epochs, adversarialSteps, loss, precision, generatorPrecision, betaMax,
                                     rollouts, batchSize, generatorLearningRate, maxLength, maxLengthLimit, seed, canaries, canaryRepeats,
                                     vocab, minCount]
            if overrides.contains(where: { $0 != nil }) || !assignments.isEmpty {
                throw ValidationError("--resume continues a run with its recorded config; it takes no corpus or config options")
            }
        }
        if let algo, Registry.shared.algorithm(algo) == nil {
            throw ValidationError("--algo \(algo) is not an algorithm (known: \(Registry.shared.algorithmNames.joined(separator: ", ")))")
        }
        if let generator, Registry.shared.generator(generator) == nil {
            throw ValidationError("--generator \(generator) is not a generator (known: \(Registry.shared.generatorKinds.joined(separator: ", ")))")
        }
        // More threads than any machine has only costs memory and time (--threads 100000 hung for minutes).
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be from 1 to 1024, not \(threads)") }
        guard minExamples >= 1 else { throw ValidationError("--min-examples must be at least 1, not \(minExamples)") }
        for (flag, value) in [("--epochs", epochs), ("--adversarial-steps", adversarialSteps), ("--rollouts", rollouts),
                              ("--batch-size", batchSize), ("--max-length", maxLength)] {
            if let value, value < (flag == "--adversarial-steps" ? 0 : 1) {
                throw ValidationError("\(flag) must be positive")
            }
        }
        if let minCount, minCount < 1 { throw ValidationError("--min-count must be at least 1, not \(minCount)") }
        if vocab != nil && minCount != nil {
            throw ValidationError("--min-count builds the vocabulary from the corpus, --vocab brings one built already; "
                + "give one of them (`textgan vocab build <corpus> --min-count N` builds a file with it)")
        }
        if let generatorLearningRate, !(generatorLearningRate > 0 && generatorLearningRate.isFinite) {
            throw ValidationError("--g-lr must be a finite number above 0, not \(generatorLearningRate)")
        }
        if let betaMax, !(betaMax > 0 && betaMax.isFinite) {
            throw ValidationError("--beta-max must be a finite number above 0, not \(betaMax)")
        }
    }

    // MARK: - Config

    /// defaults of the algorithm ← preset ← --config ← flags
    func effectiveConfig(corpus: String) throws -> RunConfig {
        var file: (data: Data, source: String)?
        if let configFile {
            guard let data = FileManager.default.contents(atPath: URL(fileURLWithPath: configFile).path) else {
                throw WorkbenchError("cannot read the config file \(configFile)")
            }
            file = (data, configFile)
        }
        var config = try RunConfig.layered(corpus: corpus, algorithm: algo, generator: generator, preset: preset, file: file)
        try applyFlags(to: &config)
        if let precision {
            // As `--set discriminator.precision=…`, so an algorithm without a discriminator refuses it the same way.
            let overlay = try ConfigAssignment.overlay([ConfigAssignment(path: "discriminator.precision", value: precision.rawValue,
                                                                         flag: "--precision")])
            config = try config.merging(overlay, source: "--precision")
        }
        if let generatorPrecision {
            // As `--set generator.precision=…`: a generator without the field refuses it the same way.
            let overlay = try ConfigAssignment.overlay([ConfigAssignment(path: "generator.precision", value: generatorPrecision.rawValue,
                                                                         flag: "--generator-precision")])
            config = try config.merging(overlay, source: "--generator-precision")
        }
        let assigned = try assignments.map { try ConfigAssignment(parsing: $0) }
        if !assigned.isEmpty { config = try config.merging(ConfigAssignment.overlay(assigned), source: "--set") }
        return config
    }

    /// Each flag sets its config field; a flag for a section the algorithm does not read is an error.
    private func applyFlags(to config: inout RunConfig) throws {
        func section<S: ConfigSection>(_ flag: String, _ type: S.Type, _ change: (inout S) -> Void) throws {
            guard config.reads(S.self) else {
                throw ValidationError("\(flag) sets a field of the \(S.key) section, which algorithm \(config.algorithm) does not read")
            }
            change(&config[section: S.self])
        }
        if let epochs { try section("--epochs", MLEConfig.self) { $0.epochs = epochs } }
        if let batchSize { try section("--batch-size", MLEConfig.self) { $0.batchSize = batchSize } }
        if let adversarialSteps, config.setAdversarialSteps(adversarialSteps).isEmpty {
            throw ValidationError("--adversarial-steps: algorithm \(config.algorithm) has no adversarial phase")
        }
        if let loss { try section("--loss", GANConfig.self) { $0.loss = loss } }
        if let betaMax { try section("--beta-max", GumbelConfig.self) { $0.maximumInverseTemperature = betaMax } }
        if let rollouts { try section("--rollouts", SeqGANConfig.self) { $0.rollouts = rollouts } }
        if let generatorLearningRate, config.setGeneratorLearningRate(generatorLearningRate).isEmpty {
            throw ValidationError("--g-lr: algorithm \(config.algorithm) has no generator learning rate to set")
        }
        if let maxLength { config.maxLength = maxLength }
        if let maxLengthLimit { config.maxLengthLimit = maxLengthLimit }
        if let seed { config.seed = seed }
        if let canaries {
            if config.canaries == nil { config.canaries = CanarySettings(count: canaries) } else { config.canaries!.count = canaries }
        }
        if let canaryRepeats {
            guard config.canaries != nil else { throw ValidationError("--canary-repeats needs --canaries (or canaries in the config)") }
            config.canaries!.repeats = canaryRepeats
        }
        if vocab != nil || minCount != nil, config.corpus == "oracle" {
            throw WorkbenchError("the synthetic benchmark's tokens are ids 0..<5000: --vocab and --min-count apply to text corpora")
        }
        if let minCount { config.vocabulary.minCount = minCount }
        if let vocab {
            let path = try vocabularyFile(vocab)
            config.vocabulary = VocabularySettings()
            config.vocabulary.file = path
            config.vocabulary.sha256 = try TrainingData.vocabularyFileSHA256(path)
        }
        if let initFrom {
            let id = Int64(initFrom)
            let path = id.map { database.runsDirectory.appendingPathComponent("\($0)/latest.safetensors").path } ?? initFrom
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("--init-from \(initFrom): no checkpoint at \(path)")
            }
            let url = URL(fileURLWithPath: path).standardizedFileURL
            config.initFrom = InitSource(run: id, checkpoint: url.path, sha256: try SHA256.hex(ofFile: url))
        }
    }

    /// --vocab as a file: an existing path, else a name in vocab/ under the package root.
    private func vocabularyFile(_ text: String) throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: text, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else { throw WorkbenchError("--vocab \(text) is a directory, not a vocabulary file") }
            return URL(fileURLWithPath: text).standardizedFileURL.path
        }
        let directory = try workspace.packageRoot().appendingPathComponent("vocab")
        if !text.contains("/") {
            let named = directory.appendingPathComponent(text.hasSuffix(".vocab") ? text : "\(text).vocab")
            if FileManager.default.fileExists(atPath: named.path) { return named.standardizedFileURL.path }
        }
        let known = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".vocab") }.map { String($0.dropLast(".vocab".count)) }.sorted()
        throw WorkbenchError("--vocab \(text): no such file, and no \(directory.path)/\(text).vocab "
            + (known.isEmpty ? "(vocab/ holds no vocabularies yet)" : "(vocab/ holds \(known.joined(separator: ", ")))")
            + "; build one with `textgan vocab build <corpus>`")
    }

    // MARK: - Run

    func run() throws {
        BLAS.setThreads(threads)
        let root = try workspace.packageRoot()
        let sharedData = workspace.sharedDataDirectory(root: root)
        let store = try RunDatabase(path: database.path)
        let session = try resume.map {
            try TrainingSession.resume($0, store: store, runsDirectory: database.runsDirectory, root: root,
                                       sharedData: sharedData, minExamples: minExamples)
        } ?? TrainingSession.start(
            try effectiveConfig(corpus: corpus!), name: name, store: store, runsDirectory: database.runsDirectory,
            root: root, sharedData: sharedData, minExamples: minExamples)
        let (id, data, config) = (session.id, session.data, session.config)
        if !tags.isEmpty { _ = try store.changeTags(run: id, adding: tags) }

        print("textgan train — run \(id)\(session.resumed ? " (resumed)" : "") on \(data.corpus): \(data.description)")
        print("  \(data.train.count) training sequences, \(data.test?.count ?? 0) test; vocabulary \(data.vocabularySize); max length \(data.maxLength)")
        if let file = data.vocabularyFile {
            let unknown = data.trainingUnknownRate.map { String(format: "; %.2f%% of training tokens are <unk>", $0 * 100) } ?? ""
            print("  vocabulary from \(file.path)\(unknown)")
        }
        print("  checkpoints in \(session.runDirectory.path); run store \(database.path)")
        if printConfig {
            print("effective config:\n\(config.json)")
        } else {
            let changed = try config.differences(fittedTo: data)
            let preset = config.preset.map { " (preset \($0.rawValue))" } ?? ""
            print("config: \(config.algorithm) defaults\(preset)"
                + (changed.isEmpty ? "" : ", with " + changed.map { "\($0.key) = \($0.value)" }.joined(separator: ", ")))
            print("  the whole config: `textgan runs show \(id) --config`, or --print-config")
        }

        for precision in Set([config.generator.config.precision, config.discriminator?.config.precision].compactMap { $0 }) {
            if let warning = precision.slowdownWarning() { FileHandle.standardError.write(Data((warning + "\n").utf8)) }
        }
        let reporter = ConsoleReporter(render: data.render, selfBLEUAlarm: config.evaluation.selfBLEUAlarm)
        let started = Date()
        let (outcome, interruption): (TrainingOutcome, Int32?)
        do {
            (outcome, interruption) = try session.train(observe: reporter.handle)
        } catch {
            reporter.finish()
            throw error
        }
        reporter.finish()
        let minutes = Date().timeIntervalSince(started) / 60
        print(String(format: "run %lld: %@ after %.1f min; checkpoints in %@", id, "\(outcome)", minutes, session.runDirectory.path))
        if let code = interruption {
            print("interrupted: continue with `textgan train --resume \(id)`")
            throw ExitCode(code)
        }
        print("sample from it with `textgan sample \(id)`; inspect it with `textgan runs show \(id)`")
    }
}

extension GANObjective: ExpressibleByArgument {}
