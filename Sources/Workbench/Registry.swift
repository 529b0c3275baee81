import Foundation
import Layers
import Models
import NumericCore
import struct RunStore.EvaluationProtocol
import Training

// The registry: every training algorithm and every model kind the workbench knows, by name. Commands, configs and
// checkpoints look them up here, so adding an algorithm is one file (a `TrainingAlgorithm`) plus one line below, and
// adding a model kind is one model file plus one line.

public final class Registry: @unchecked Sendable {
    public static let shared = builtIn()

    /// A registry of what textgan itself ships, untouched by plug-ins (the reference documents these).
    public static func builtIn() -> Registry {
        Registry(
            algorithms: [MLEAlgorithm.self, SeqGANAlgorithm.self, GumbelAlgorithm.self, TextGANAlgorithm.self,
                         DetectAlgorithm.self],
            generators: [.lstm, .transformer, .latentLSTM],
            discriminators: [.cnn])
    }

    private let lock = NSLock()
    private var algorithms: [any TrainingAlgorithm.Type]
    private var generators: [GeneratorKind]
    private var discriminators: [DiscriminatorKind]

    init(algorithms: [any TrainingAlgorithm.Type], generators: [GeneratorKind], discriminators: [DiscriminatorKind]) {
        self.algorithms = algorithms
        self.generators = generators
        self.discriminators = discriminators
    }

    // The lists are copied under the lock and read outside it, so nothing an entry does can deadlock the registry.
    public var algorithmNames: [String] { lock.withLock { algorithms }.map { $0.name } }
    public var generatorKinds: [String] { lock.withLock { generators }.map(\.name) }
    public var discriminatorKinds: [String] { lock.withLock { discriminators }.map(\.name) }
    /// Every section key some algorithm reads.
    public var allSectionKeys: Set<String> { Set(lock.withLock { algorithms }.flatMap { $0.sections.map { $0.key } }) }

    public func algorithm(_ name: String) -> (any TrainingAlgorithm.Type)? {
        lock.withLock { algorithms }.first { $0.name == name }
    }

    public func generator(_ name: String) -> GeneratorKind? { lock.withLock { generators }.first { $0.name == name } }

    public func discriminator(_ name: String) -> DiscriminatorKind? {
        lock.withLock { discriminators }.first { $0.name == name }
    }

    /// Adds an algorithm or model kind at run time (a plug-in, or a test's toy); a name already taken is replaced.
    public func register(_ algorithm: any TrainingAlgorithm.Type) {
        let name = algorithm.name
        lock.withLock { algorithms = algorithms.filter { $0.name != name } + [algorithm] }
    }

    public func register(_ kind: GeneratorKind) {
        lock.withLock { generators = generators.filter { $0.name != kind.name } + [kind] }
    }

    public func register(_ kind: DiscriminatorKind) {
        lock.withLock { discriminators = discriminators.filter { $0.name != kind.name } + [kind] }
    }
}

// MARK: - Model kinds

/// A generator kind: its name, its default config under a preset, how to decode its config, and the generator
/// learning rates that suit it when they are not the algorithms' defaults (which are the LSTM's references').
public struct GeneratorKind: Sendable {
    public let name: String
    public let defaults: @Sendable (Preset?) -> any SequenceGeneratorConfig
    let decode: @Sendable (any Decoder) throws -> any SequenceGeneratorConfig
    /// The rate of MLE (`mle.learningRate`) and of every adversarial section's generator (`generatorLearningRate`)
    /// a run of this kind starts from; nil: the sections' own defaults. A config file or `--g-lr` still overrides.
    public let learningRates: (mle: Float, adversarial: Float)?

    public init<C: SequenceGeneratorConfig>(_ type: C.Type, learningRates: (mle: Float, adversarial: Float)? = nil,
                                            defaults: @escaping @Sendable (Preset?) -> C) {
        name = C.kind
        self.defaults = defaults
        self.learningRates = learningRates
        decode = { try C(from: $0) }
    }

    /// SeqGAN's LSTM generator (embedding 32, hidden 32, N(0, 0.1) initialisation).
    public static let lstm = GeneratorKind(LSTMGeneratorConfig.self) { _ in LSTMGeneratorConfig(vocabularySize: 0) }

    /// A causal Transformer (2 layers, 4 heads, width 64; GPT-2's layout and initialisation). Its rates are the ones
    /// measured on the oracle (docs/experiments.md): MLE at 1e-3, and 1e-4 adversarially, where SeqGAN's 0.01 (the
    /// LSTM reference's) collapsed it within 10 steps.
    public static let transformer = GeneratorKind(TransformerGeneratorConfig.self, learningRates: (mle: 1e-3, adversarial: 1e-4)) { _ in
        TransformerGeneratorConfig(vocabularySize: 0)
    }

    /// TextGAN's LSTM conditioned on a latent code (embedding 32, hidden 32, z 32 from U(−1, 1)).
    public static let latentLSTM = GeneratorKind(LatentLSTMGeneratorConfig.self) { _ in
        LatentLSTMGeneratorConfig(vocabularySize: 0)
    }
}

/// A discriminator kind, as `GeneratorKind`.
public struct DiscriminatorKind: Sendable {
    public let name: String
    public let defaults: @Sendable (Preset?) -> any SequenceDiscriminatorConfig
    let decode: @Sendable (any Decoder) throws -> any SequenceDiscriminatorConfig

    public init<C: SequenceDiscriminatorConfig>(_ type: C.Type, defaults: @escaping @Sendable (Preset?) -> C) {
        name = C.kind
        self.defaults = defaults
        decode = { try C(from: $0) }
    }

    /// SeqGAN's CNN discriminator (the paper's 12 widths); the quick preset divides its filter counts by four.
    public static let cnn = DiscriminatorKind(CNNDiscriminatorConfig.self) { preset in
        var config = CNNDiscriminatorConfig(vocabularySize: 0, sequenceLength: 20)
        if preset == .quick {
            config.widths = config.widths.map { ConvolutionWidth(width: $0.width, filters: max(8, $0.filters / 4)) }
        }
        return config
    }
}

// MARK: - Algorithms

/// A training algorithm: its config sections, how it builds (or restores) its trainer, and how it names the point a
/// checkpoint was written at. One file per algorithm, registered above.
public protocol TrainingAlgorithm {
    /// The name users type (`--algo`) and the run store records.
    static var name: String { get }
    /// One line for `--help`.
    static var summary: String { get }
    /// The config sections it reads, and no others.
    static var sections: [any ConfigSection.Type] { get }
    /// Whether it trains a discriminator (the run config then has a discriminator section).
    static var trainsDiscriminator: Bool { get }
    /// The generator kind a run of it gets unless it names one (most: the LSTM).
    static var defaultGeneratorKind: String { get }
    /// A trainer on the setup's models, fresh (its state seeded from `rng`) or restored from `setup.resumeFrom`.
    static func makeTrainer(_ setup: TrainerSetup, using rng: inout SeededGenerator) throws -> PreparedTrainer
    /// Where training was when a checkpoint of this algorithm was written.
    static func position(in checkpoint: Checkpoint.Contents) throws -> TrainingPosition
    /// Checks what its sections cannot check alone (a shared section's value this algorithm cannot use), throwing
    /// `ConfigRangeError`; after every section's own `validate`.
    static func validate(_ config: RunConfig) throws
    /// The protocols of evaluation metrics of its own that its trainer reports (beside the generator's), by metric.
    static func evaluationProtocols(_ config: RunConfig, data: TrainingData) -> [String: EvaluationProtocol]
}

extension TrainingAlgorithm {
    public static func validate(_ config: RunConfig) throws {}
}

extension TrainingAlgorithm {
    public static var defaultGeneratorKind: String { LSTMGeneratorConfig.kind }

    public static func evaluationProtocols(_ config: RunConfig, data: TrainingData) -> [String: EvaluationProtocol] { [:] }
}

/// What an algorithm's trainer is built from.
public struct TrainerSetup {
    public let config: RunConfig
    public let data: TrainingData
    public let generator: any SequenceGenerator
    /// Present when the algorithm trains a discriminator.
    public let discriminator: (any SequenceDiscriminator)?
    /// The evaluation run during training (NLL-oracle or NLL-test, BLEU).
    public let evaluate: GeneratorEvaluator
    /// Where latest.safetensors and best.safetensors go.
    public let checkpointDirectory: URL?
    /// Stored in every checkpoint beside the state: the run's config and vocabulary.
    public let metadata: [String: String]
    /// The checkpoint to continue from (nil: a fresh start).
    public let resumeFrom: URL?

    public init(config: RunConfig, data: TrainingData, generator: any SequenceGenerator,
                discriminator: (any SequenceDiscriminator)?, evaluate: @escaping GeneratorEvaluator,
                checkpointDirectory: URL?, metadata: [String: String], resumeFrom: URL?) {
        self.config = config
        self.data = data
        self.generator = generator
        self.discriminator = discriminator
        self.evaluate = evaluate
        self.checkpointDirectory = checkpointDirectory
        self.metadata = metadata
        self.resumeFrom = resumeFrom
    }

    /// The discriminator, for algorithms that declare one.
    public func requireDiscriminator(_ algorithm: String) -> any SequenceDiscriminator {
        guard let discriminator else { preconditionFailure("\(algorithm) trains a discriminator but the setup has none") }
        return discriminator
    }
}

/// A trainer ready to run: its state is inside.
public struct PreparedTrainer {
    public let run: (TrainingEventHandler) throws -> TrainingOutcome

    public init(run: @escaping (TrainingEventHandler) throws -> TrainingOutcome) { self.run = run }
}

/// Where training was when a checkpoint was written: the run step (one count over all phases, what the run store
/// orders by) and the step in its phase's own numbering.
public struct TrainingPosition: Sendable, Equatable {
    public var runStep: Int
    public var phaseStep: Int
    /// E.g. "MLE step 300, epoch 15".
    public var description: String

    public init(runStep: Int, phaseStep: Int, description: String) {
        self.runStep = runStep
        self.phaseStep = phaseStep
        self.description = description
    }
}
