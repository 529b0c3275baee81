import Foundation
import Metrics
import Models
import TextPipeline
import Training

// The run config: everything that determines a run. Printed at start, stored with the run (and flattened into its
// params) and in every checkpoint, so a checkpoint alone rebuilds its models.
//
// Layering: the defaults of the chosen algorithm ← a preset ← a JSON file (`--config`) ← flags. Each algorithm reads
// its own sections (`ConfigSection`, one top-level key each: "mle", "seqgan", …) and no other: a key that nothing
// reads is an error, not a silent no-op. The generator and the discriminator sections hold the config of their
// model kind, named by `kind` ("lstm", "cnn").

public struct WorkbenchError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Named starting points for a run's config; the config file and flags override them.
public enum Preset: String, Codable, CaseIterable, Sendable {
    /// The reference schedule (SeqGAN's: 120 MLE epochs, 50 × 3 discriminator pretraining, 200 adversarial steps,
    /// 16 rollouts; hours on 2 cores, resumable).
    case paper
    /// The whole pipeline in under a minute on 2 cores, for a first look and for CI: fewer epochs, rounds, steps and
    /// rollouts, and the discriminator's filter counts divided by four.
    case quick
}

/// A top-level section of the run config that an algorithm reads.
public protocol ConfigSection: Codable, Sendable, Equatable {
    /// Its key in the config ("mle").
    static var key: String { get }
    /// The section's defaults under a preset (nil: the reference defaults).
    init(preset: Preset?)
    /// Throws `ConfigRangeError` for a field outside its range (every field has one).
    func validate() throws
    /// Sets the generator's learning rate if the section has one (`--g-lr` sets each); returns whether it has.
    mutating func setGeneratorLearningRate(_ rate: Float) -> Bool
    /// Sets the number of adversarial steps if the section has them (`--adversarial-steps`); returns whether it has.
    mutating func setAdversarialSteps(_ steps: Int) -> Bool
    /// Takes what the training data decides (e.g. SeqGAN's negatives default to the number of training
    /// sequences), or says why the data does not suit these settings.
    mutating func fit(to data: TrainingData) throws
}

extension ConfigSection {
    public mutating func setGeneratorLearningRate(_ rate: Float) -> Bool { false }
    public mutating func setAdversarialSteps(_ steps: Int) -> Bool { false }
    public mutating func fit(to data: TrainingData) throws {}
}

/// Evaluation during training, at the trainers' evaluation interval (`mle.evaluateEvery` epochs,
/// `seqgan.evaluateEvery` adversarial steps).
public struct EvaluationSettings: Codable, Equatable, Sendable {
    /// Generator samples scored by the oracle for NLL-oracle (the SeqGAN paper: 10,000).
    public var nllOracleSamples = 10_000
    /// Score the generator's NLL on the test split (text corpora).
    public var testNLL = true
    /// Samples scored with BLEU-n against the whole test split (text corpora; 0: no BLEU during training). 2,000
    /// add about 1.5 s to an evaluation on COCO (release, 2 cores), and across seeds BLEU-4 of 2,000 samples varies
    /// by ±0.003 and BLEU-2 by ±0.008, well under the differences between checkpoints worth seeing; report the
    /// 10,000-sample numbers of `textgan eval`.
    public var bleuSamples = 2_000
    /// The n of the BLEU-n, Self-BLEU-n and distinct-n recorded at each evaluation.
    public var bleuOrders = [2, 3, 4, 5]
    /// BLEU's smoothing of zero n-gram counts (nltk's method names; Texygen uses method1).
    public var bleuSmoothing: BLEUSmoothing = .method1
    /// Also Self-BLEU-n of the same samples, each against the others: the mode-collapse alarm of GAN training.
    public var selfBLEU = true
    /// Mode-collapse alarm: `train` prints a warning when Self-BLEU-4 of an evaluation's samples exceeds this
    /// (nil: never). Distinct-1..4 of the same samples are recorded beside it.
    public var selfBLEUAlarm: Double? = 0.9

    public init(preset: Preset? = nil) {
        if preset == .quick {
            nllOracleSamples = 1_000
            bleuSamples = 1_000
        }
    }

    // A config recorded before BLEU evaluation existed has none of its keys: it keeps training without BLEU, so a
    // resumed run records what its stored config says.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        nllOracleSamples = try c.decode(Int.self, forKey: .nllOracleSamples)
        testNLL = try c.decode(Bool.self, forKey: .testNLL)
        bleuSamples = try c.decodeIfPresent(Int.self, forKey: .bleuSamples) ?? 0
        bleuOrders = try c.decodeIfPresent([Int].self, forKey: .bleuOrders) ?? bleuOrders
        bleuSmoothing = try c.decodeIfPresent(BLEUSmoothing.self, forKey: .bleuSmoothing) ?? bleuSmoothing
        selfBLEU = try c.decodeIfPresent(Bool.self, forKey: .selfBLEU) ?? selfBLEU
        selfBLEUAlarm = c.contains(.selfBLEUAlarm) ? try c.decodeIfPresent(Double.self, forKey: .selfBLEUAlarm) : selfBLEUAlarm
    }

    enum CodingKeys: String, CodingKey {
        case nllOracleSamples, testNLL, bleuSamples, bleuOrders, bleuSmoothing, selfBLEU, selfBLEUAlarm
    }

    /// Every key, the alarm as null when it is off, so a stored config reads back as it was.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(nllOracleSamples, forKey: .nllOracleSamples)
        try c.encode(testNLL, forKey: .testNLL)
        try c.encode(bleuSamples, forKey: .bleuSamples)
        try c.encode(bleuOrders, forKey: .bleuOrders)
        try c.encode(bleuSmoothing, forKey: .bleuSmoothing)
        try c.encode(selfBLEU, forKey: .selfBLEU)
        try c.encode(selfBLEUAlarm, forKey: .selfBLEUAlarm)
    }

    public func validate() throws {
        let check = ConfigCheck("evaluation")
        try check.int("nllOracleSamples", nllOracleSamples, 1...10_000_000)
        try check.int("bleuSamples", bleuSamples, 0...10_000_000)
        try check.require(!bleuOrders.isEmpty, "bleuOrders", "[]", "BLEU orders in 1…9, e.g. [2, 3, 4, 5]")
        for (i, n) in bleuOrders.enumerated() { try check.int("bleuOrders.\(i)", n, 1...9) }
        try check.require(!(selfBLEU && bleuSamples == 1), "bleuSamples", "1",
                          "0, or at least 2 when selfBLEU is on (Self-BLEU compares samples with each other)")
        if let selfBLEUAlarm { try check.number("selfBLEUAlarm", Float(selfBLEUAlarm), 0...1) }
    }
}

/// Vocabulary settings for text corpora: built from the training split (`minCount`, `maxSize`), or read from a
/// file `textgan vocab build` wrote (`file`, with its SHA-256 when the run started, so a resume or an evaluation
/// never reads a file that changed since).
public struct VocabularySettings: Codable, Equatable, Sendable {
    /// Keep tokens seen at least this many times in the training split; rarer ones become `<unk>`.
    public var minCount = 1
    /// At most this many tokens, special tokens included, the most frequent first (nil: no limit).
    public var maxSize: Int? = nil
    /// A vocabulary file (absolute path); nil: built from the corpus.
    public var file: String? = nil
    /// The SHA-256 of `file` when the run started.
    public var sha256: String? = nil
    /// The splits a vocabulary built from the corpus is counted over: the training split (ours), or the training and
    /// test splits (`train-and-test`, Texygen's rule: no test token is out of vocabulary, as its BLEU assumes).
    public var splits: Splits = .train
    public init() {}

    public enum Splits: String, Codable, Sendable, CaseIterable {
        case train
        case trainAndTest = "train-and-test"
    }

    private enum CodingKeys: String, CodingKey { case minCount, maxSize, file, sha256, splits }

    // Configs recorded before `splits` existed built the vocabulary over the training split.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        minCount = try c.decodeIfPresent(Int.self, forKey: .minCount) ?? 1
        maxSize = try c.decodeIfPresent(Int.self, forKey: .maxSize)
        file = try c.decodeIfPresent(String.self, forKey: .file)
        sha256 = try c.decodeIfPresent(String.self, forKey: .sha256)
        splits = try c.decodeIfPresent(Splits.self, forKey: .splits) ?? .train
    }

    public func validate() throws {
        let check = ConfigCheck("vocabulary")
        try check.int("minCount", minCount, 1...1_000_000_000)
        // The four special tokens and at least one word.
        try check.int("maxSize", maxSize, 5...10_000_000)
        if file != nil && (minCount != 1 || maxSize != nil) {
            throw WorkbenchError("vocabulary.minCount and vocabulary.maxSize build a vocabulary from the corpus, but "
                + "vocabulary.file brings one built already (rebuild it with `textgan vocab build --min-count …`)")
        }
        if file != nil && splits != .train {
            throw WorkbenchError("vocabulary.splits chooses the splits a vocabulary is built over, but vocabulary.file "
                + "brings one built already")
        }
        if sha256 != nil && file == nil { throw WorkbenchError("vocabulary.sha256 describes vocabulary.file, which is not set") }
    }
}

// MARK: - Model sections

/// The generator section: its kind's config, with `kind` beside the kind's own fields.
public struct GeneratorSettings: Codable, Sendable, Equatable {
    public var config: any SequenceGeneratorConfig
    public var kind: String { type(of: config).kind }

    public init(_ config: any SequenceGeneratorConfig) { self.config = config }

    public init(from decoder: any Decoder) throws {
        // Configs recorded before model kinds existed hold an LSTM without saying so.
        let kind = try decoder.container(keyedBy: KindKey.self).decodeIfPresent(String.self, forKey: .kind) ?? "lstm"
        guard let entry = Registry.shared.generator(kind) else {
            throw WorkbenchError("generator.kind '\(kind)' is not a generator (known: \(Registry.shared.generatorKinds.joined(separator: ", ")))")
        }
        config = try entry.decode(decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try config.encode(to: encoder)
        var c = encoder.container(keyedBy: KindKey.self)
        try c.encode(kind, forKey: .kind)
    }

    public static func == (a: Self, b: Self) -> Bool { sameValue(a.config, b.config) }
}

/// The discriminator section, as `GeneratorSettings`.
public struct DiscriminatorSettings: Codable, Sendable, Equatable {
    public var config: any SequenceDiscriminatorConfig
    public var kind: String { type(of: config).kind }

    public init(_ config: any SequenceDiscriminatorConfig) { self.config = config }

    public init(from decoder: any Decoder) throws {
        let kind = try decoder.container(keyedBy: KindKey.self).decodeIfPresent(String.self, forKey: .kind) ?? "cnn"
        guard let entry = Registry.shared.discriminator(kind) else {
            throw WorkbenchError("discriminator.kind '\(kind)' is not a discriminator (known: \(Registry.shared.discriminatorKinds.joined(separator: ", ")))")
        }
        config = try entry.decode(decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try config.encode(to: encoder)
        var c = encoder.container(keyedBy: KindKey.self)
        try c.encode(kind, forKey: .kind)
    }

    public static func == (a: Self, b: Self) -> Bool { sameValue(a.config, b.config) }
}

private enum KindKey: String, CodingKey { case kind }

/// Equality of two values of an existential Equatable type.
func sameValue<T: Equatable>(_ a: T, _ b: Any) -> Bool { (b as? T) == a }

/// Where a run's generator starts from: another run's checkpoint, named with its hash (the run store's lineage).
public struct InitSource: Codable, Sendable, Equatable {
    /// The run it came from, when it came from a recorded run.
    public var run: Int64?
    public var checkpoint: String
    public var sha256: String

    public init(run: Int64?, checkpoint: String, sha256: String) {
        self.run = run
        self.checkpoint = checkpoint
        self.sha256 = sha256
    }
}

// MARK: - The run config

public struct RunConfig: Codable, Sendable, Equatable {
    /// The training algorithm's registered name (`textgan train --algo`).
    public var algorithm: String
    /// The preset the run started from (`train --preset`: paper or quick); nil: the reference defaults.
    public var preset: Preset?
    /// The corpus: a named one (oracle, coco, tang, …) or a text file's path; the argument of `train`.
    public var corpus: String
    /// The seed of every random choice in the run (initialisation, batches, sampling, dropout).
    public var seed: UInt64 = 2017
    /// Tokenizer of a text corpus (nil: the corpus manifest's); unused for the oracle.
    public var tokenizer: TokenizerConfig?
    public var vocabulary = VocabularySettings()
    /// Longest sequence in tokens, end token included (nil: the longest training example + 1; the oracle: 20).
    public var maxLength: Int?
    /// When `maxLength` is nil, the longest the corpus may make it (nil: `defaultMaxLengthLimit`): one huge line
    /// would otherwise set the length of every sequence (a 138 KB line once made it 30,001), so a longer example
    /// refuses the run with a message saying how long the others are; raise it to train on such examples whole.
    public var maxLengthLimit: Int?
    public static let defaultMaxLengthLimit = 1_000
    /// The generator's kind and sizes; its vocabulary size, length and special tokens come from the corpus.
    public var generator: GeneratorSettings
    /// The discriminator's kind and sizes (nil for algorithms without one); its vocabulary size and sequence length
    /// come from the corpus.
    public var discriminator: DiscriminatorSettings?
    public var evaluation = EvaluationSettings()
    /// The checkpoint whose generator this run starts from (`train --init-from`): a pretrained generator.
    public var initFrom: InitSource?
    /// Random canary sentences inserted into the training data (`train --canaries`), for `eval --privacy`'s exposure.
    public var canaries: CanarySettings?
    /// The algorithm's sections by key ("mle", "seqgan"): exactly the ones it reads.
    public private(set) var sections: [String: any ConfigSection]

    /// The chosen algorithm's defaults under `preset`, for `generatorKind` (nil: the algorithm's default kind), whose
    /// learning rates apply when the kind names its own (`GeneratorKind.learningRates`).
    public init(algorithm: any TrainingAlgorithm.Type, corpus: String, preset: Preset?, generatorKind: String? = nil) {
        self.algorithm = algorithm.name
        self.preset = preset
        self.corpus = corpus
        let registry = Registry.shared
        let kind = generatorKind.flatMap { registry.generator($0) } ?? registry.generator(algorithm.defaultGeneratorKind)!
        generator = GeneratorSettings(kind.defaults(preset))
        discriminator = algorithm.trainsDiscriminator
            ? DiscriminatorSettings(registry.discriminator(CNNDiscriminatorConfig.kind)!.defaults(preset)) : nil
        evaluation = EvaluationSettings(preset: preset)
        sections = Dictionary(uniqueKeysWithValues: algorithm.sections.map { ($0.key, $0.init(preset: preset)) })
        if let rates = kind.learningRates {
            for key in sections.keys.sorted() {
                var section = sections[key]!
                _ = section.setGeneratorLearningRate(key == MLEConfig.key ? rates.mle : rates.adversarial)
                sections[key] = section
            }
        }
    }

    /// The algorithm this config names, from the registry.
    public var algorithmType: any TrainingAlgorithm.Type {
        get throws {
            guard let type = Registry.shared.algorithm(algorithm) else {
                throw WorkbenchError("algorithm '\(algorithm)' is not registered (known: \(Registry.shared.algorithmNames.joined(separator: ", ")))")
            }
            return type
        }
    }

    /// Whether the algorithm reads section `S`.
    public func reads<S: ConfigSection>(_ section: S.Type) -> Bool { sections[S.key] is S }

    /// Sets the generator's learning rate in every section that has one; returns the keys it set.
    /// Sets the adversarial steps in every section that has them; returns the keys it set.
    public mutating func setAdversarialSteps(_ steps: Int) -> [String] {
        var set: [String] = []
        for key in sections.keys.sorted() {
            var section = sections[key]!
            if section.setAdversarialSteps(steps) { set.append(key) }
            sections[key] = section
        }
        return set
    }

    public mutating func setGeneratorLearningRate(_ rate: Float) -> [String] {
        var set: [String] = []
        for key in sections.keys.sorted() {
            var section = sections[key]!
            if section.setGeneratorLearningRate(rate) { set.append(key) }
            sections[key] = section
        }
        return set
    }

    /// The section of type `S`, which the algorithm reads.
    public subscript<S: ConfigSection>(section section: S.Type) -> S {
        get {
            guard let value = sections[S.key] as? S else {
                preconditionFailure("algorithm \(algorithm) has no '\(S.key)' section")
            }
            return value
        }
        set { sections[S.key] = newValue }
    }

    // MARK: Codable: the fixed fields, then one key per section

    private enum Key: String, CodingKey, CaseIterable {
        case algorithm, preset, corpus, seed, tokenizer, vocabulary, maxLength, maxLengthLimit, generator, discriminator
        case evaluation, initFrom, canaries
    }

    private struct SectionKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        algorithm = try c.decodeIfPresent(String.self, forKey: .algorithm) ?? "seqgan"
        guard let type = Registry.shared.algorithm(algorithm) else {
            throw WorkbenchError("algorithm '\(algorithm)' is not registered (known: \(Registry.shared.algorithmNames.joined(separator: ", ")))")
        }
        preset = try c.decodeIfPresent(Preset.self, forKey: .preset)
        corpus = try c.decode(String.self, forKey: .corpus)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        tokenizer = try c.decodeIfPresent(TokenizerConfig.self, forKey: .tokenizer)
        vocabulary = try c.decodeIfPresent(VocabularySettings.self, forKey: .vocabulary) ?? vocabulary
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength)
        maxLengthLimit = try c.decodeIfPresent(Int.self, forKey: .maxLengthLimit)
        generator = try c.decode(GeneratorSettings.self, forKey: .generator)
        // Configs recorded before sections were per algorithm carry a discriminator for every run; one the
        // algorithm does not train is dropped.
        discriminator = type.trainsDiscriminator ? try c.decode(DiscriminatorSettings.self, forKey: .discriminator) : nil
        evaluation = try c.decodeIfPresent(EvaluationSettings.self, forKey: .evaluation) ?? evaluation
        initFrom = try c.decodeIfPresent(InitSource.self, forKey: .initFrom)
        canaries = try c.decodeIfPresent(CanarySettings.self, forKey: .canaries)
        let s = try decoder.container(keyedBy: SectionKey.self)
        var sections: [String: any ConfigSection] = [:]
        for section in type.sections {
            let key = SectionKey(stringValue: section.key)
            sections[section.key] = s.contains(key) ? try section.decode(from: s, key: key) : section.init(preset: preset)
        }
        // Configs stored before the gan section held its fields in the algorithm's own section (`seqgan.loss`,
        // `gumbel.loss`, `gumbel.weightClip`).
        if sections[GANConfig.key] != nil, !s.contains(SectionKey(stringValue: GANConfig.key)) {
            for section in type.sections where section.key != GANConfig.key && s.contains(SectionKey(stringValue: section.key)) {
                if let legacy = try GANConfig.legacy(in: s, key: SectionKey(stringValue: section.key)) {
                    sections[GANConfig.key] = legacy
                }
            }
        }
        self.sections = sections
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(algorithm, forKey: .algorithm)
        try c.encodeIfPresent(preset, forKey: .preset)
        try c.encode(corpus, forKey: .corpus)
        try c.encode(seed, forKey: .seed)
        try c.encodeIfPresent(tokenizer, forKey: .tokenizer)
        try c.encode(vocabulary, forKey: .vocabulary)
        try c.encodeIfPresent(maxLength, forKey: .maxLength)
        try c.encodeIfPresent(maxLengthLimit, forKey: .maxLengthLimit)
        try c.encode(generator, forKey: .generator)
        try c.encodeIfPresent(discriminator, forKey: .discriminator)
        try c.encode(evaluation, forKey: .evaluation)
        try c.encodeIfPresent(initFrom, forKey: .initFrom)
        try c.encodeIfPresent(canaries, forKey: .canaries)
        var s = encoder.container(keyedBy: SectionKey.self)
        for (key, section) in sections { try s.encode(section, forKey: SectionKey(stringValue: key)) }
    }

    public static func == (a: RunConfig, b: RunConfig) -> Bool { a.json == b.json }

    /// Pretty, stable JSON (sorted keys): what is printed and stored.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    /// Reads a stored config (a run's, a checkpoint's).
    public static func decode(_ json: String, source: String) throws -> RunConfig {
        do {
            return try JSONDecoder().decode(RunConfig.self, from: Data(json.utf8))
        } catch let error as DecodingError {
            throw WorkbenchError("\(source): the stored config does not decode: \(describe(error))")
        } catch let error as WorkbenchError {
            throw WorkbenchError("\(source): \(error)")
        }
    }

    // MARK: - What differs from the defaults

    /// The fields (dotted keys) whose values differ from the algorithm's defaults under the same preset, fitted to
    /// the same data: the short summary `train` prints instead of the whole config.
    public func differences(fittedTo data: TrainingData) throws -> [(key: String, value: String)] {
        var defaults = RunConfig(algorithm: try algorithmType, corpus: corpus, preset: preset, generatorKind: generator.kind)
        defaults.generator = GeneratorSettings(Registry.shared.generator(generator.kind)?.defaults(preset) ?? generator.config)
        if let discriminator {
            defaults.discriminator = DiscriminatorSettings(
                Registry.shared.discriminator(discriminator.kind)?.defaults(preset) ?? discriminator.config)
        }
        try defaults.fit(to: data)
        let mine = Self.flatten(try Self.object(self)), theirs = Self.flatten(try Self.object(defaults))
        // Other model kinds than the defaults' are named first; their fields are compared with their own defaults.
        var kinds: [(key: String, value: String)] = []
        if generator.kind != (try algorithmType).defaultGeneratorKind { kinds.append(("generator.kind", generator.kind)) }
        if let discriminator, discriminator.kind != CNNDiscriminatorConfig.kind {
            kinds.append(("discriminator.kind", discriminator.kind))
        }
        return kinds + mine.keys.sorted().compactMap { key in mine[key] == theirs[key] ? nil : (key, mine[key]!) }
    }

    /// The fields whose values differ between this config (as planned, before the corpus decided anything) and a
    /// recorded one: what the corpus decides (`fit`) and what this config leaves unset are not compared.
    public func fieldsDiffering(from recorded: RunConfig) throws -> [(key: String, planned: String, recorded: String)] {
        let corpusDecided = Set(["maxLength"] + type(of: generator.config).corpusFields.map { "generator.\($0)" }
            + (discriminator.map { type(of: $0.config).corpusFields.map { "discriminator.\($0)" } } ?? []))
        let mine = Self.flatten(try Self.object(self)), theirs = Self.flatten(try Self.object(recorded))
        return mine.keys.sorted().compactMap { key in
            guard !corpusDecided.contains(key), let planned = mine[key], planned != "null" else { return nil }
            let other = theirs[key] ?? "(unset)"
            return planned == other ? nil : (key, planned, other)
        }
    }

    /// The name a run gets without --name: corpus-algorithm, a file corpus named by its stem ("english-mle" for
    /// data/english.txt).
    public var defaultRunName: String {
        let corpusName = corpus.contains("/") || corpus.contains(".")
            ? URL(fileURLWithPath: corpus).deletingPathExtension().lastPathComponent : corpus
        return "\(corpusName)-\(algorithm)"
    }

    /// Dotted keys to compact JSON text of each leaf (arrays stay whole).
    private static func flatten(_ object: [String: Any], prefix: String = "") -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in object {
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            if let nested = value as? [String: Any] {
                out.merge(flatten(nested, prefix: path)) { $1 }
            } else if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]) {
                out[path] = String(decoding: data, as: UTF8.self)
            }
        }
        return out
    }

    // MARK: - Validation

    /// Every field against its range: before the corpus loads (what the user set) and again after `fit` (what the
    /// corpus decided); a run is recorded only after both pass. Flags and config files end up here alike.
    public func validate() throws {
        let check = ConfigCheck("")
        try check.int("maxLength", maxLength, 2...100_000)
        try check.int("maxLengthLimit", maxLengthLimit, 2...100_000)
        try vocabulary.validate()
        try evaluation.validate()
        try canaries?.validate()
        try generator.config.validate(section: "generator")
        try discriminator?.config.validate(section: "discriminator")
        for key in sections.keys.sorted() { try sections[key]!.validate() }
        try algorithmType.validate(self)
    }

    // MARK: - Fitting to the corpus

    /// Fills in what the corpus decides: the models' vocabulary size, length and special tokens, and what the
    /// sections take from the data.
    public mutating func fit(to data: TrainingData) throws {
        generator.config.fit(to: data.shape)
        discriminator?.config.fit(to: data.shape)
        for key in sections.keys.sorted() {
            var section = sections[key]!
            try section.fit(to: data)
            sections[key] = section
        }
    }

    // MARK: - Layering: defaults ← preset ← --config file ← flags

    /// Applies a JSON object (a `--config` file, or the flags as one) over this config: keys it names replace these
    /// values, nested objects merge, and a key that names nothing the run reads is an error (a typo must not pass
    /// silently). An object that changes the algorithm or a model's kind starts that part from its defaults.
    public func merging(json data: Data, source: String) throws -> RunConfig {
        try merging(Self.jsonObject(data, source: source), source: source)
    }

    /// The defaults of the algorithm, then the preset, then a config file: the layering below the flags. The
    /// algorithm is `algorithm` when given (a flag wins over the file), else the file's, else SeqGAN; likewise the
    /// generator's kind.
    public static func layered(corpus: String, algorithm: String?, generator: String? = nil, preset: Preset?,
                               file: (data: Data, source: String)?) throws -> RunConfig {
        var overlay = try file.map { try jsonObject($0.data, source: $0.source) } ?? [:]
        if let algorithm { overlay["algorithm"] = algorithm }
        if let generator {
            var section = overlay["generator"] as? [String: Any] ?? [:]
            section["kind"] = generator
            overlay["generator"] = section
        }
        let name = overlay["algorithm"] as? String ?? SeqGANAlgorithm.name
        guard let type = Registry.shared.algorithm(name) else {
            throw WorkbenchError("algorithm '\(name)' is not registered (known: \(Registry.shared.algorithmNames.joined(separator: ", ")))")
        }
        let kind = (overlay["generator"] as? [String: Any])?["kind"] as? String
        var config = try RunConfig(algorithm: type, corpus: corpus, preset: preset, generatorKind: kind)
            .merging(overlay, source: file?.source ?? "flags")
        config.corpus = corpus
        return config
    }

    private static func jsonObject(_ data: Data, source: String) throws -> [String: Any] {
        let overlay: Any
        do {
            overlay = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw WorkbenchError("\(source) is not valid JSON: \(error.localizedDescription)")
        }
        guard let object = overlay as? [String: Any] else {
            throw WorkbenchError("\(source) must hold a JSON object (of config fields), not \(jsonKind(of: overlay))")
        }
        return object
    }

    public func merging(_ overlay: [String: Any], source: String) throws -> RunConfig {
        var start = self
        if let name = overlay["algorithm"] as? String, name != algorithm {
            guard let type = Registry.shared.algorithm(name) else {
                throw WorkbenchError("\(source): algorithm '\(name)' is not registered (known: \(Registry.shared.algorithmNames.joined(separator: ", ")))")
            }
            var fresh = RunConfig(algorithm: type, corpus: corpus, preset: preset)
            (fresh.seed, fresh.tokenizer, fresh.vocabulary, fresh.maxLength, fresh.maxLengthLimit, fresh.evaluation) =
                (seed, tokenizer, vocabulary, maxLength, maxLengthLimit, evaluation)
            if type.trainsDiscriminator, let discriminator { fresh.discriminator = discriminator }
            // The generator carries over unless it is just the old algorithm's default (then the new one's applies).
            let oldDefault = Registry.shared.algorithm(algorithm).map { $0.defaultGeneratorKind } ?? LSTMGeneratorConfig.kind
            if generator.kind != oldDefault || type.defaultGeneratorKind == oldDefault { fresh.generator = generator }
            // Sections both algorithms read keep their values.
            for (key, section) in sections where fresh.sections[key] != nil { fresh.sections[key] = section }
            start = fresh
        }
        var base = try Self.object(start)
        // A new model kind starts from that kind's defaults, so the old kind's fields are not taken for its own.
        for (key, kinds) in [("generator", Registry.shared.generatorKinds), ("discriminator", Registry.shared.discriminatorKinds)] {
            guard let section = overlay[key] as? [String: Any], let kind = section["kind"] as? String,
                  let current = base[key] as? [String: Any], current["kind"] as? String != kind else { continue }
            guard kinds.contains(kind) else {
                throw WorkbenchError("\(source): \(key).kind '\(kind)' is not a \(key) (known: \(kinds.joined(separator: ", ")))")
            }
            base[key] = try Self.defaultModelObject(key, kind: kind, preset: preset)
        }
        let merged = Self.merge(base, overlay)
        let config: RunConfig
        do {
            config = try JSONDecoder().decode(RunConfig.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch let error as DecodingError {
            // Foundation reports a number that does not fit its field (a negative seed, an epoch count past Int)
            // as invalid JSON at no path: find the leaf that fails on its own.
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
               let leaf = Self.leaves(overlay).first(where: { leaf in
                (try? JSONDecoder().decode(RunConfig.self, from: JSONSerialization.data(withJSONObject: Self.merge(base, leaf.overlay)))) == nil
            }) {
                throw WorkbenchError("\(source): \(leaf.path) = \(leaf.value) does not fit the field (wrong type, or outside what the type can hold)")
            }
            throw WorkbenchError("\(source): \(Self.describe(error))")
        } catch let error as WorkbenchError {
            throw WorkbenchError("\(source): \(error)")
        }
        // Every key of the overlay must survive a round trip through the config; one that does not names nothing.
        let known = try Self.object(config)
        if let unknown = Self.unknownKeys(overlay, known: known).first {
            let hint = config.hint(forUnknown: unknown)
            throw WorkbenchError("\(source): unknown config key '\(unknown)'"
                + (hint.isEmpty ? Self.suggestion(for: unknown, in: known) : hint))
        }
        // A null clears an optional; a required field cannot be cleared.
        if let null = Self.nullKeys(overlay, known: known).first {
            throw WorkbenchError("\(source): '\(null)' cannot be null (it has no default to fall back on here; leave it out instead)")
        }
        // What the corpus decides is not the user's to set: `fit` would overwrite it.
        for (key, fields) in [("generator", type(of: config.generator.config).corpusFields),
                              ("discriminator", config.discriminator.map { type(of: $0.config).corpusFields } ?? [])] {
            if let section = overlay[key] as? [String: Any], let field = fields.first(where: { section[$0] != nil }) {
                throw WorkbenchError("\(source): \(key).\(field) is decided by the corpus (the longest sequence is the top-level maxLength)")
            }
        }
        return config
    }

    private static func object(_ config: RunConfig) throws -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try JSONSerialization.jsonObject(with: encoder.encode(config)) as! [String: Any]
    }

    private static func defaultModelObject(_ key: String, kind: String, preset: Preset?) throws -> [String: Any] {
        let encoder = JSONEncoder()
        let data = key == "generator"
            ? try encoder.encode(GeneratorSettings(Registry.shared.generator(kind)!.defaults(preset)))
            : try encoder.encode(DiscriminatorSettings(Registry.shared.discriminator(kind)!.defaults(preset)))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// Each leaf of a JSON object alone, as an overlay of its own, with its dotted path.
    private static func leaves(_ object: [String: Any], path: String = "") -> [(path: String, value: Any, overlay: [String: Any])] {
        object.keys.sorted().flatMap { key -> [(path: String, value: Any, overlay: [String: Any])] in
            let here = path.isEmpty ? key : "\(path).\(key)"
            if let nested = object[key] as? [String: Any], !nested.isEmpty {
                return leaves(nested, path: here).map { ($0.path, $0.value, [key: $0.overlay]) }
            }
            return [(here, object[key]!, [key: object[key]!])]
        }
    }

    private static func merge(_ base: [String: Any], _ overlay: [String: Any]) -> [String: Any] {
        var out = base
        for (key, value) in overlay {
            if let b = base[key] as? [String: Any], let o = value as? [String: Any] {
                out[key] = merge(b, o)
            } else {
                out[key] = value
            }
        }
        return out
    }

    /// Why a key may be unknown, for keys that configs printed by earlier versions hold.
    private func hint(forUnknown key: String) -> String {
        let section = String(key.split(separator: ".").first ?? "")
        if key.hasPrefix("seqgan.pretrain") { return " (SeqGAN's pretraining is configured by the mle section alone)" }
        if ["seqgan.loss", "gumbel.loss", "gumbel.weightClip"].contains(key) {
            return " (the GAN objective's settings are in the gan section: gan.\(key.split(separator: ".").last!))"
        }
        if section == "discriminator" && discriminator == nil { return " (algorithm \(algorithm) trains no discriminator)" }
        let read = (try? algorithmType.sections.map { $0.key }) ?? []
        if Registry.shared.allSectionKeys.contains(section) && !read.contains(section) {
            return " (algorithm \(algorithm) does not read that section)"
        }
        return ""
    }

    /// " (did you mean 'mle.epochs'?)" for a key within two edits of one its section holds, else "".
    private static func suggestion(for key: String, in known: [String: Any]) -> String {
        var parts = key.split(separator: ".").map(String.init)
        let last = parts.removeLast()
        var level: Any = known
        for part in parts { level = (level as? [String: Any])?[part] ?? [:] }
        guard let siblings = (level as? [String: Any])?.keys.sorted() else { return "" }
        var best: (key: String, distance: Int)?
        for sibling in siblings {
            let distance = editDistance(sibling.lowercased(), last.lowercased())
            if distance < (best?.distance ?? Int.max) { best = (sibling, distance) }
        }
        guard let best, best.distance <= 2 else { return "" }
        return " (did you mean '\((parts + [best.key]).joined(separator: "."))'?)"
    }

    /// Levenshtein distance: insertions, deletions and substitutions.
    private static func editDistance(_ a: String, _ b: String) -> Int {
        let (a, b) = (Array(a), Array(b))
        guard !a.isEmpty else { return b.count }
        var row: [Int] = Array(0...b.count)
        for i in 1...a.count {
            var diagonal = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let above = row[j]
                let substitution: Int = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)
                let insertion: Int = row[j - 1] + 1
                row[j] = Swift.min(above + 1, insertion, substitution)
                diagonal = above
            }
        }
        return row[b.count]
    }

    /// Dotted paths of keys in `overlay` that the decoded config does not hold (null values are left to
    /// `nullKeys`); objects inside arrays (the discriminator's widths) are checked element by element.
    private static func unknownKeys(_ overlay: [String: Any], known: [String: Any], path: String = "") -> [String] {
        overlay.keys.sorted().flatMap { key -> [String] in
            let here = path.isEmpty ? key : "\(path).\(key)"
            let value = overlay[key]!
            if value is NSNull { return [] }
            guard let k = known[key] else { return [here] }
            if let o = value as? [String: Any], let kk = k as? [String: Any] {
                return unknownKeys(o, known: kk, path: here)
            }
            if let o = value as? [Any], let kk = k as? [Any] {
                return zip(o, kk).enumerated().flatMap { i, pair -> [String] in
                    guard let element = pair.0 as? [String: Any], let knownElement = pair.1 as? [String: Any] else { return [] }
                    return unknownKeys(element, known: knownElement, path: "\(here).\(i)")
                }
            }
            return []
        }
    }

    /// Dotted paths of null values in `overlay` whose field still has a value after decoding: a required field,
    /// which the null reset to its default instead of clearing.
    private static func nullKeys(_ overlay: [String: Any], known: [String: Any], path: String = "") -> [String] {
        overlay.keys.sorted().flatMap { key -> [String] in
            let here = path.isEmpty ? key : "\(path).\(key)"
            if overlay[key] is NSNull { return known[key] == nil || known[key] is NSNull ? [] : [here] }
            if let o = overlay[key] as? [String: Any], let kk = known[key] as? [String: Any] {
                return nullKeys(o, known: kk, path: here)
            }
            return []
        }
    }

    /// What a parsed JSON value is, in JSON's words.
    static func jsonKind(of value: Any) -> String {
        switch value {
        case is [Any]: return "an array"
        case is String: return "a string"
        case is NSNull: return "null"
        case is NSNumber: return "a number or boolean"
        default: return "an object"
        }
    }

    public static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        // In JSON's words: Swift's own messages name Swift types ("Expected to decode Int but found a string").
        func expected(_ type: Any.Type) -> String {
            switch type {
            case is any BinaryInteger.Type: return "an integer"
            case is any BinaryFloatingPoint.Type: return "a number"
            case is String.Type: return "a string"
            case is Bool.Type: return "true or false"
            case is [Any].Type: return "an array"
            default: return "an object"
            }
        }
        switch error {
        case .typeMismatch(let type, let c):
            return "'\(path(c))': expected \(expected(type))"
        case .valueNotFound(let type, let c):
            return "'\(path(c))': expected \(expected(type)), found null"
        case .dataCorrupted(let c):
            return "'\(path(c))': \(c.debugDescription)"
        case .keyNotFound(let key, let c):
            return "'\(path(c))' is missing '\(key.stringValue)'"
        @unknown default:
            return "\(error)"
        }
    }
}

extension ConfigSection {
    fileprivate static func decode<K: CodingKey>(from container: KeyedDecodingContainer<K>, key: K) throws -> any ConfigSection {
        try container.decode(Self.self, forKey: key)
    }
}
