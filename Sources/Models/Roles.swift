import Foundation
import Layers
import NumericCore

// The two roles a text GAN's models play, as protocols: a sequence generator and a sequence discriminator. Training,
// evaluation, sampling and the REPL are written against these, never against a concrete model, so any conforming
// model gets all of them. `LSTMGenerator` and `CNNDiscriminator` are the first conformers.
//
// Sequences are token ids. A generator's step t reads the previous token (the start token at t = 0) and predicts
// token t; text sequences end with the end token (padding after it is masked out of every loss), the SeqGAN oracle's
// have none and a fixed length.

// MARK: - Batches

/// A batch of sequences, batch-major: tokens [B, T] and a weight per token (1 for real tokens, 0 for padding;
/// the policy-gradient step puts rewards here instead).
public struct TokenBatch: Sendable, Equatable {
    public var tokens: [Int32]
    public var weights: [Float]
    public let batchSize: Int
    public let length: Int
    /// The seed of a training pass's random draws — dropout masks, a latent generator's codes — set by trainers when
    /// the generator `drawsTrainingNoise`; nil: none (no dropout; latent codes from the generator's fixed stream).
    public var noiseSeed: UInt64? = nil

    public init(tokens: [Int32], weights: [Float], batchSize: Int, length: Int) {
        precondition(tokens.count == batchSize * length && weights.count == tokens.count, "TokenBatch: sizes disagree")
        self.tokens = tokens
        self.weights = weights
        self.batchSize = batchSize
        self.length = length
    }

    /// Pads sequences of up to `length` tokens with `padToken`; padding gets weight 0.
    public init(sequences: [[Int32]], length: Int, padToken: Int32 = 0) {
        batchSize = sequences.count
        self.length = length
        tokens = [Int32](repeating: padToken, count: sequences.count * length)
        weights = [Float](repeating: 0, count: sequences.count * length)
        for (b, s) in sequences.enumerated() {
            precondition(s.count <= length, "TokenBatch: a sequence of \(s.count) tokens exceeds length \(length)")
            for (t, token) in s.enumerated() {
                tokens[b * length + t] = token
                weights[b * length + t] = 1
            }
        }
    }

    public var realTokenCount: Int { weights.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
}

/// Sequences padded with `padToken` or cut to `length`, batch-major [B·length]: what a model that reads fixed-length
/// token ids (a CNN) is given.
public func packTokens(_ sequences: [[Int32]], length T: Int, padToken: Int32) -> [Int32] {
    var ids = [Int32](repeating: padToken, count: sequences.count * T)
    for (b, s) in sequences.enumerated() {
        for (t, token) in s.prefix(T).enumerated() { ids[b * T + t] = token }
    }
    return ids
}

/// What a corpus decides about the sequences a model sees; every model config is fitted to it before a model is
/// built.
public struct SequenceShape: Sendable, Equatable {
    public var vocabularySize: Int
    /// Most tokens in a sequence, end token included.
    public var maxLength: Int
    /// Step-0 input (bos for text corpora, 0 for the oracle).
    public var startToken: Int32
    /// Where sampling stops; nil for fixed-length sequences.
    public var endToken: Int32?
    public var padToken: Int32

    public init(vocabularySize: Int, maxLength: Int, startToken: Int32, endToken: Int32?, padToken: Int32) {
        self.vocabularySize = vocabularySize
        self.maxLength = maxLength
        self.startToken = startToken
        self.endToken = endToken
        self.padToken = padToken
    }
}

public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// The model does not provide an optional capability (e.g. differentiable generation).
    case unsupported(model: String, capability: String)

    public var description: String {
        switch self {
        case .unsupported(let model, let capability): "the \(model) model does not support \(capability)"
        }
    }
}

// MARK: - The generator role

/// A teacher-forced, token-weighted NLL over some parameters: what an MLE loop minimises. Every generator is one (its
/// own likelihood); TextGAN's autoencoder pretraining is another (the generator's likelihood under an encoder's codes,
/// over both models' parameters).
public protocol TeacherForcedObjective: AnyObject, ParameterContainer {
    /// Σ w·(−log G(y_t | y_<t)) / normalizer (nil: the number of real tokens), and, when `backward`, its gradient
    /// accumulated into every parameter. Weights = mask gives the MLE loss; weights = rewards, REINFORCE's.
    func weightedNLL(_ batch: TokenBatch, normalizer: Float?, backward: Bool) -> Float
    /// What the last training pass measured beside the loss, recorded with its step (none by default).
    var stepMetrics: [String: Double] { get }
}

/// An autoregressive model of token sequences: likelihood with its gradient, sampling, and completing prefixes.
public protocol SequenceGenerator: TeacherForcedObjective {
    /// Its kind as configs and the run store name it ("lstm").
    var kind: String { get }
    var vocabularySize: Int { get }
    /// Most tokens a sampled sequence has (end token included).
    var maxLength: Int { get }
    var startToken: Int32 { get }
    var endToken: Int32? { get }
    /// The most tokens it can read at once (a Transformer's position table), or nil when any length goes.
    var contextLength: Int? { get }
    /// The token-embedding tables. A rollout policy copies these from the generator instead of averaging them
    /// (SeqGAN's reference shares its embedding between the two).
    var tokenEmbeddings: [Parameter] { get }

    /// log G(y_t | y_<t) for every token, batch-major [B, T] (padding positions included; mask them yourself).
    func tokenLogProbabilities(_ batch: TokenBatch) -> [Float]

    /// log G(· | prefix): the log-probabilities [V] of the token after `prefix` (which follows the start token).
    func nextTokenLogProbabilities(after prefix: [Int32]) -> [Float]

    /// `count` sequences continuing `prefix` (part of the returned tokens), drawn `batchSize` at a time, each ending
    /// at the end token or at `maxLength` tokens (`options.maxLength` when smaller). The tokens must not depend on
    /// the thread count. Once `shouldStop` returns true the sequences are returned as they are (fewer than
    /// `count`, the last unfinished).
    func sample(count: Int, options: SamplingOptions, prefix: [Int32], batchSize: Int, using rng: inout SeededGenerator,
                shouldStop: () -> Bool) -> [[Int32]]

    /// Prepares completions of `sequences`' prefixes (what Monte Carlo rollouts need); the model may do the work
    /// every prefix shares once, here.
    func prefixCompletions(of sequences: [[Int32]]) -> any PrefixCompletions

    /// `count` sequences sampled by the Gumbel-max trick (RelGAN's generator: at each position, fresh standard
    /// Gumbels g, the token argmax(o + g)), with the perturbed logits z = o + g of every position: rows b·T + t of
    /// [count·T, V], T the generator's length, rows past a sequence's end zero. Nil when the generator has no such
    /// sampler (the default); sampling first and drawing the noise given the tokens has the same law
    /// (`GumbelSoftmax.generate`).
    func sampleGumbelMax(count: Int, using rng: inout SeededGenerator) -> (sequences: [[Int32]], perturbed: Tensor)?

    /// A new model of the same config holding the same values (a rollout policy starts as one).
    func copy() -> Self

    /// Whether training passes draw randomness (dropout, latent codes): trainers then give each batch a `noiseSeed`.
    var drawsTrainingNoise: Bool { get }

    /// Teacher-forced logits [B·T, V], batch-major (row b·T + t scores token t of sequence b, after the start token
    /// and tokens 0 … t−1), and what `logitsBackward` needs. Differentiable adversarial training starts here: a
    /// Gumbel-softmax relaxation of emitted tokens is a function of their logits (Training/GumbelSoftmax.swift).
    /// Generators without it throw `ModelError.unsupported`.
    func logits(_ batch: TokenBatch) throws -> (logits: Tensor, cache: Any)

    /// Accumulates parameter gradients from d(loss)/d(logits) [B·T, V] of a `logits` result.
    func logitsBackward(_ dLogits: Tensor, cache: Any) throws
}

// MARK: - Latent codes and soft-argmax decoding (TextGAN)

/// A generator conditioned on a latent code z (TextGAN, Zhang et al. 2017) whose free-running decoding is
/// differentiable: each step's next input is the soft-argmax embedding softmax(L·o_t)·E instead of a sampled token's,
/// so a loss on the decoded rows reaches every parameter through time. Its `sample` draws z from the prior and
/// decodes as any generator does (temperature, top-k/top-p); teacher-forced passes (MLE, NLL) draw a code per
/// sequence from the batch's `noiseSeed` (or a fixed stream without one), so their NLL is −log G(x | z) for one z.
public protocol LatentSequenceGenerator: SequenceGenerator {
    /// n_z, the size of z.
    var latentSize: Int { get }
    /// The law `drawLatents` samples.
    var latentPrior: LatentPrior { get }
    /// `count` codes [count, n_z] from the prior.
    func drawLatents(count: Int, using rng: inout SeededGenerator) -> Tensor
    /// Decodes `length` steps from codes z [B, n_z] with the soft-argmax feedback at sharpness L: rows [B·T, V]
    /// (batch-major) = softmax(L·o_t), and the emitted tokens (each row's argmax), with what `softArgmaxBackward`
    /// needs.
    func softArgmaxDecode(latents: Tensor, length: Int, sharpness: Float) -> SoftArgmaxDecoding
    /// Accumulates parameter gradients from d(loss)/d(rows) [B·T, V] of a decoding, through the feedback of every
    /// step into the next (backpropagation through time).
    func softArgmaxBackward(_ dRows: Tensor, of decoding: SoftArgmaxDecoding)
    /// The teacher-forced weighted NLL under given codes z [B, n_z], sequence b under row b (what autoencoder
    /// pretraining minimises, with z = enc(x)); when `backward`, accumulates every parameter's gradient and returns
    /// d(loss)/dz [B, n_z] (nil otherwise).
    func weightedNLL(_ batch: TokenBatch, latents: Tensor, normalizer: Float?, backward: Bool) -> (value: Float, dLatents: Tensor?)
}

/// The prior of the latent code.
public enum LatentPrior: String, Codable, Sendable, Equatable, CaseIterable {
    /// U(−1, 1) per component, as the ICML code draws it.
    case uniform
    /// N(0, 1) per component.
    case normal
}

/// A soft-argmax decoding: D's rows of a batch of generated sequences, differentiable in the generator's parameters.
public struct SoftArgmaxDecoding {
    /// softmax(L·o_t) [B·T, V], batch-major (row b·T + t).
    public let rows: Tensor
    /// argmax of each row [B, T] (the decoded sequences before cutting at the end token).
    public let tokens: [Int32]
    public let batchSize: Int
    public let length: Int
    public let latents: Tensor
    public let sharpness: Float
    public let cache: Any

    public init(rows: Tensor, tokens: [Int32], batchSize: Int, length: Int, latents: Tensor, sharpness: Float, cache: Any) {
        self.rows = rows
        self.tokens = tokens
        self.batchSize = batchSize
        self.length = length
        self.latents = latents
        self.sharpness = sharpness
        self.cache = cache
    }

    /// The decoded sequences, each cut after its first end token (`endToken` nil: all `length` tokens).
    public func sequences(endToken: Int32?) -> [[Int32]] {
        (0..<batchSize).map { b in
            var s: [Int32] = []
            for t in 0..<length {
                let token = tokens[b * length + t]
                s.append(token)
                if token == endToken { break }
            }
            return s
        }
    }
}

/// Completions of a batch's prefixes, prepared by `SequenceGenerator.prefixCompletions(of:)`.
public protocol PrefixCompletions {
    /// For each of `rows` (indices into the prepared sequences), `times` completions of its first `length` tokens,
    /// consecutive per row; each keeps the prefix and ends at the end token or at the model's `maxLength`.
    func complete(rows: [Int], length: Int, times: Int, using rng: inout SeededGenerator) -> [[Int32]]
}

extension TeacherForcedObjective {
    public var stepMetrics: [String: Double] { [:] }

    @discardableResult
    public func weightedNLL(_ batch: TokenBatch, backward: Bool) -> Float {
        weightedNLL(batch, normalizer: nil, backward: backward)
    }
}

extension SequenceGenerator {
    public var contextLength: Int? { nil }
    public var drawsTrainingNoise: Bool { false }
    public func sampleGumbelMax(count: Int, using rng: inout SeededGenerator) -> (sequences: [[Int32]], perturbed: Tensor)? {
        nil
    }

    public func sample(count: Int, options: SamplingOptions = SamplingOptions(), prefix: [Int32] = [],
                       batchSize: Int = 256, using rng: inout SeededGenerator) -> [[Int32]] {
        sample(count: count, options: options, prefix: prefix, batchSize: batchSize, using: &rng, shouldStop: { false })
    }

    public func logits(_ batch: TokenBatch) throws -> (logits: Tensor, cache: Any) {
        throw ModelError.unsupported(model: kind, capability: "teacher-forced logits with a backward pass")
    }

    public func logitsBackward(_ dLogits: Tensor, cache: Any) throws {
        throw ModelError.unsupported(model: kind, capability: "teacher-forced logits with a backward pass")
    }
}


/// A generator's config: plain Codable data that a run stores, fitted to the corpus and built into a model.
public protocol SequenceGeneratorConfig: Codable, Sendable, Equatable {
    /// The kind's name in configs (`generator.kind`) and the run store.
    static var kind: String { get }
    /// The fields `fit` sets from the corpus (a config file may not set them).
    static var corpusFields: [String] { get }
    /// Takes what the corpus decides (vocabulary, length, start and end tokens).
    mutating func fit(to shape: SequenceShape)
    /// Throws `ConfigRangeError` for a field outside its range (after `fit`, the corpus's values too), so that
    /// `makeGenerator` never sees a config it cannot build.
    func validate(section: String) throws
    func makeGenerator(using rng: inout SeededGenerator) -> any SequenceGenerator
    /// The arithmetic of its training and sampling products (fp32 unless the generator offers bf16).
    var precision: Precision { get }
}

extension SequenceGeneratorConfig {
    public var precision: Precision { .fp32 }
}

/// A generator config whose corpus-decided fields are the usual four: `fit` sets them from the corpus's shape.
public protocol CorpusFittedGeneratorConfig {
    var vocabularySize: Int { get set }
    var maxLength: Int { get set }
    var startToken: Int32 { get set }
    var endToken: Int32? { get set }
}

extension SequenceGeneratorConfig where Self: CorpusFittedGeneratorConfig {
    public static var corpusFields: [String] { ["vocabularySize", "maxLength", "startToken", "endToken"] }

    public mutating func fit(to shape: SequenceShape) {
        vocabularySize = shape.vocabularySize
        maxLength = shape.maxLength
        startToken = shape.startToken
        endToken = shape.endToken
    }
}

// MARK: - The discriminator role

/// What a discriminator reads.
public enum DiscriminatorInput {
    /// Token ids [B·T], packed to the discriminator's length (`pack`).
    case tokens([Int32])
    /// Rows over the vocabulary [B·T, V]: one-hot for text, soft for a relaxed generator's output. The backward
    /// pass returns the gradient with respect to them.
    case rows(Tensor)
    /// The input embedding's output itself [B·T, W] (rows of `inputEmbedding` for text, anything for an attack on
    /// the embedding space). The backward pass returns the gradient with respect to them.
    case embedded(Tensor)
    /// Another input's embedding rows plus δ [B·T, W]: an adversarial example as D trains on it (Training's
    /// `AdversarialExamples`). The rows' gradient reaches the embedding table as the base input's would (scattered
    /// to its tokens, or through its rows), and the backward pass returns d(loss)/dδ. The base reads tokens or rows.
    indirect case perturbed(DiscriminatorInput, delta: Tensor)
}

/// One forward pass: two logits per sequence, (fake, real), the pooled features they come from, and what the
/// backward pass needs.
public struct DiscriminatorPass {
    /// [B, 2]: column 0 "generated", column 1 "real". Losses that need one score per sequence read the margin.
    public let logits: Tensor
    /// [B·R, 2]: the logits of each of a sequence's R views (rows b·R + r) when the discriminator reads several
    /// (RelGAN's representations), else `logits`. GAN losses read these, as RelGAN applies its loss to every view;
    /// `logits` is their mean, for probabilities and accuracy.
    public let viewLogits: Tensor
    /// Views per sequence: viewLogits has `views` rows per row of logits.
    public var views: Int { viewLogits.matrixShape.0 / max(logits.matrixShape.0, 1) }
    /// [B, F]: the sequence features the classifier reads (TextGAN matches their statistics).
    public let features: Tensor
    public let input: DiscriminatorInput
    public let cache: Any

    public init(logits: Tensor, viewLogits: Tensor? = nil, features: Tensor, input: DiscriminatorInput, cache: Any) {
        self.logits = logits
        self.viewLogits = viewLogits ?? logits
        self.features = features
        self.input = input
        self.cache = cache
    }

    /// Labels [B] repeated for each view: the labels of `viewLogits`.
    public func viewLabels(_ labels: [Int32]) -> [Int32] { labels.flatMap { [Int32](repeating: $0, count: views) } }
}

/// Scores sequences: D's probability that each is real. `sharing` says how consecutive sequences share prefixes
/// (rollout completions), which a scorer may exploit.
public typealias SequenceScorer = (_ sequences: [[Int32]], _ sharing: SharedPrefix) -> [Float]

/// How a batch of sequences to score shares prefixes: runs of `runLength` consecutive sequences share their first
/// `length` tokens (SeqGAN's rollouts: the completions of one prefix).
public struct SharedPrefix: Sendable, Equatable {
    public var runLength: Int
    public var length: Int

    public init(runLength: Int, length: Int) {
        self.runLength = runLength
        self.length = length
    }

    /// No sharing: every sequence on its own.
    public static let none = SharedPrefix(runLength: 1, length: 0)
}

/// A classifier of sequences as real or generated, differentiable with respect to its input rows.
public protocol SequenceDiscriminator: AnyObject, ParameterContainer {
    /// Its kind as configs and the run store name it ("cnn").
    var kind: String { get }
    var vocabularySize: Int { get }
    /// Every sequence is padded or cut to this length.
    var sequenceLength: Int { get }

    /// Sequences padded or cut to `sequenceLength`, batch-major [B·T].
    func pack(_ sequences: [[Int32]]) -> [Int32]

    /// Logits and features; `training` turns dropout (drawn from `rng`) on.
    func forward(_ input: DiscriminatorInput, training: Bool, using rng: inout SeededGenerator) -> DiscriminatorPass

    /// Accumulates parameter gradients from d(loss)/d(logits) and, when given, d(loss)/d(features); returns
    /// d(loss)/d(rows) [B·T, V] for `.rows` input when `inputGradient` (a generator step needs it; a discriminator
    /// step does not, and for rows over a vocabulary it is a product as large as the embedding's), nil otherwise
    /// and for token ids.
    @discardableResult
    func backward(_ pass: DiscriminatorPass, logitGradient: Tensor, featureGradient: Tensor?, inputGradient: Bool) -> Tensor?

    /// The discriminator's own penalty added to its loss (the CNN: L2 on its output layer), accumulating its
    /// gradient when `backward`. Call it before `backward`, as training does.
    func regularization(backward: Bool) -> Float

    /// D's probability that each sequence is real (no dropout).
    func probabilityReal(_ sequences: [[Int32]], batchSize: Int) -> [Float]

    /// A scorer valid while the weights do not change (rollout rewards); it may precompute from the weights.
    func frozenScorer() -> SequenceScorer

    /// WGAN-GP's gradient penalty (Gulrajani et al. 2017) on rows x̂ [B·T, V]: λ/B · Σ_b (‖∇_{x̂_b} c_b‖₂ − 1)², the
    /// norm over all T·V entries of sequence b's rows, where the critic's score c_b of sequence b is its margin
    /// l_real − l_fake summed over its views (RelGAN differentiates the sum of its per-view logits; one view:
    /// Gulrajani et al.'s critic). When `backward`, accumulates the penalty's gradient with respect to every parameter
    /// (a double backward pass). `training` turns dropout on, drawn from `rng` as `forward` draws it. Discriminators
    /// without it throw `ModelError.unsupported`.
    func gradientPenalty(_ rows: Tensor, weight: Float, training: Bool, backward: Bool,
                         using rng: inout SeededGenerator) throws -> GradientPenalty

    /// The table [V, W] whose rows embed its tokens (what `.embedded` inputs are rows of); nil when it reads tokens
    /// otherwise, so that embedding-space attacks do not apply.
    var inputEmbedding: Tensor? { get }
}

/// WGAN-GP's penalty on a batch of rows and what it is made of.
public struct GradientPenalty: Sendable, Equatable {
    /// λ/B · Σ_b (‖∇_{x̂_b} c_b‖₂ − 1)².
    public let value: Float
    /// ‖∇_{x̂_b} c_b‖₂ for each sequence b.
    public let norms: [Float]

    public init(value: Float, norms: [Float]) {
        self.value = value
        self.norms = norms
    }
}

extension SequenceDiscriminator {
    public var inputEmbedding: Tensor? { nil }

    /// `backward` with the input's gradient.
    @discardableResult
    public func backward(_ pass: DiscriminatorPass, logitGradient: Tensor, featureGradient: Tensor?) -> Tensor? {
        backward(pass, logitGradient: logitGradient, featureGradient: featureGradient, inputGradient: true)
    }
    public func probabilityReal(_ sequences: [[Int32]]) -> [Float] { probabilityReal(sequences, batchSize: 256) }

    public func gradientPenalty(_ rows: Tensor, weight: Float, training: Bool, backward: Bool,
                                using rng: inout SeededGenerator) throws -> GradientPenalty {
        throw ModelError.unsupported(model: kind, capability: "WGAN-GP's gradient penalty (a double backward pass)")
    }
}

/// A discriminator's config, as `SequenceGeneratorConfig` is a generator's.
public protocol SequenceDiscriminatorConfig: Codable, Sendable, Equatable {
    static var kind: String { get }
    /// The fields `fit` sets from the corpus (a config file may not set them).
    static var corpusFields: [String] { get }
    mutating func fit(to shape: SequenceShape)
    func validate(section: String) throws
    func makeDiscriminator(using rng: inout SeededGenerator) -> any SequenceDiscriminator
    /// The arithmetic of its matrix products (fp32 unless the discriminator offers bf16).
    var precision: Precision { get }
}

extension SequenceDiscriminatorConfig {
    public var precision: Precision { .fp32 }
}
