import Foundation
import Layers
import Models
import NumericCore

// TextGAN (Zhang et al., "Adversarial Feature Matching for Text Generation", ICML 2017): a latent-code LSTM generator
// decodes with soft-argmax feedback, so its rows softmax(L·o_t) are differentiable, and it is trained to match the
// discriminator's features of real sentences — a kernel MMD between the two sets of feature vectors — rather than to
// fool a classifier. The discriminator classifies, exposes the discrepancy and reconstructs z from the features:
//
//   G:  min  d(f(real), f(fake))                            d = MMD² (default), √MMD² (the ICML code) or ‖μ_r − μ_f‖²
//   D:  min  BCE(real, fake) − λ_fm·d(f(real), f(fake)) + λ_rec·reconstruction(z | f(fake))     (λ = 0.001 both)
//
// One G step then one D step per iteration, on the same real batch and codes (the ICML code's loop; D re-decodes
// after G's update), Adam G 5e-5, D 1e-4. Before that: G pretrained as the decoder of an autoencoder (the ICML code's
// pretraining; LatentAutoencoder.swift) or by MLE with a prior code per sentence (`pretraining`), then D pretrained on
// real sentences against G's samples. Where this departs from the published code:
// - D's features are the CNN's max-over-time features and its classifier the CNN's own (highway, 2 logits); the ICML
//   code's tanh convolutions feed a 200-unit sigmoid MLP.
// - After a decoded sentence's first end token its rows are D's one-hot padding (the ICML code's `strip` option), so
//   G is judged on its sentences, not on what an MLE-trained LSTM emits past their end; no gradient passes the cut.
// - The features' gradient into D follows −λ_fm·d, so D *maximises* the discrepancy it exposes (Texygen's version
//   minimises it), and G's parameters get the MMD's gradient through the decoding (TextBox's does not).

// MARK: - Config

/// The distance G minimises between the feature sets.
public enum FeatureMatching: String, Codable, Sendable, Equatable, CaseIterable {
    /// MMD² (biased, or unbiased per `unbiasedMMD`) with Gaussian kernels summed over the bandwidths: the paper.
    case mmd2
    /// √MMD², what the ICML code's `mmd` option trains on.
    case mmd
    /// ‖mean(f(real)) − mean(f(fake))‖²: first-moment matching, the NIPS 2016 workshop version.
    case moment
}

/// How the latent generator is pretrained before D pretraining.
public enum TextGANPretraining: String, Codable, Sendable, Equatable, CaseIterable {
    /// MLE with a code drawn from the prior for each sentence (G learns to ignore it).
    case mle
    /// As the decoder of an autoencoder, −log G(x | z = enc(x)): the ICML code's pretraining.
    case autoencoder
}

public struct TextGANConfig: Codable, Sendable, Equatable {
    /// How the generator is pretrained, for the `mle` section's epochs, batch size and rate: autoencoder (the decoder of a CNN encoder, −log G(x | z = enc(x)), as the ICML code) or mle (a prior code per sentence; configs recorded before this field read mle).
    public var pretraining: TextGANPretraining = .autoencoder
    /// σ of the Gaussian noise added to the encoder's codes during autoencoder pretraining (the ICML code: none), so that G decodes a neighbourhood of each code.
    public var latentNoise: Float = 0.1
    /// λ of the MMD² between each batch's codes and as many prior draws in autoencoder pretraining (a WAE's term; the ICML code has none): it keeps the codes where the adversarial phase's prior draws fall.
    public var latentMatchingWeight: Float = 1
    /// The encoder's token embedding size (autoencoder pretraining).
    public var encoderEmbeddingSize = 32
    /// The encoder's convolution widths and filter counts (each width at most the corpus's maxLength).
    public var encoderWidths: [ConvolutionWidth] = SentenceEncoderConfig.defaultWidths
    /// D pretraining: rounds × epochs over real sequences against as many fresh MLE samples per round.
    public var discriminatorPretrainRounds = 5
    /// Epochs of each pretraining round.
    public var discriminatorPretrainEpochs = 1
    /// Adversarial steps, each one D step then one G step.
    public var adversarialSteps = 1000
    /// Real sentences and latent codes per step.
    public var batchSize = 64
    /// What G minimises between D's features of real and generated sentences: mmd2 (Gaussian-kernel MMD²), mmd (√MMD², as the ICML code trains) or moment (mean and covariance matching).
    public var featureMatching: FeatureMatching = .mmd2
    /// σ of the Gaussian kernels (the workbench reference's list; the ICML code uses [20] with `mmd`).
    public var bandwidths: [Double] = [1, 2, 5, 10, 20, 40]
    /// The unbiased MMD² estimator (without the kernel matrices' diagonals) instead of the biased one.
    public var unbiasedMMD = false
    /// λ_fm and λ_rec of D's loss (ICML code: 0.001 both).
    public var featureMatchingWeight: Float = 0.001
    /// λ_rec: the weight of D's reconstruction of z in its loss.
    public var reconstructionWeight: Float = 0.001
    /// D's probabilities are ε + (1 − 2ε)·σ(margin) in its cross-entropy (ICML code: 0.01).
    public var labelSmoothing: Float = 0.01
    /// L of the soft-argmax softmax(L·o_t) (ICML code: 1000).
    public var sharpness: Float = 1000
    /// Hidden units of the reconstruction head f → sigmoid layer → z (ICML code: 900 for 900 features).
    public var reconstructionHidden = 256
    /// Adam (ICML code: G 5e-5, D 1e-4; D's own pretraining uses the D rate too) and the global-norm clip on each
    /// gradient (the ICML code clips none; 5 as the other algorithms here).
    public var generatorLearningRate: Float = 5e-5
    /// D's Adam learning rate (ICML code: 1e-4), also of its pretraining.
    public var discriminatorLearningRate: Float = 1e-4
    /// The global-norm clip of each gradient (the ICML code clips none).
    public var gradientClip: Float = 5
    /// D's dropout during adversarial steps (the ICML code turns it off).
    public var discriminatorDropout = false
    /// Evaluate (and sample) every this many adversarial steps, and at the start of the adversarial phase.
    public var evaluateEvery = 100
    /// Sequences sampled into the log and the run store at each evaluation.
    public var samplesPerEvaluation = 3

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TextGANConfig()
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: key) ?? fallback }
        // Runs recorded before autoencoder pretraining existed were pretrained by MLE.
        pretraining = try value(.pretraining, .mle)
        latentNoise = try value(.latentNoise, d.latentNoise)
        latentMatchingWeight = try value(.latentMatchingWeight, d.latentMatchingWeight)
        encoderEmbeddingSize = try value(.encoderEmbeddingSize, d.encoderEmbeddingSize)
        encoderWidths = try value(.encoderWidths, d.encoderWidths)
        discriminatorPretrainRounds = try value(.discriminatorPretrainRounds, d.discriminatorPretrainRounds)
        discriminatorPretrainEpochs = try value(.discriminatorPretrainEpochs, d.discriminatorPretrainEpochs)
        adversarialSteps = try value(.adversarialSteps, d.adversarialSteps)
        batchSize = try value(.batchSize, d.batchSize)
        featureMatching = try value(.featureMatching, d.featureMatching)
        bandwidths = try value(.bandwidths, d.bandwidths)
        unbiasedMMD = try value(.unbiasedMMD, d.unbiasedMMD)
        featureMatchingWeight = try value(.featureMatchingWeight, d.featureMatchingWeight)
        reconstructionWeight = try value(.reconstructionWeight, d.reconstructionWeight)
        labelSmoothing = try value(.labelSmoothing, d.labelSmoothing)
        sharpness = try value(.sharpness, d.sharpness)
        reconstructionHidden = try value(.reconstructionHidden, d.reconstructionHidden)
        generatorLearningRate = try value(.generatorLearningRate, d.generatorLearningRate)
        discriminatorLearningRate = try value(.discriminatorLearningRate, d.discriminatorLearningRate)
        gradientClip = try value(.gradientClip, d.gradientClip)
        discriminatorDropout = try value(.discriminatorDropout, d.discriminatorDropout)
        evaluateEvery = try value(.evaluateEvery, d.evaluateEvery)
        samplesPerEvaluation = try value(.samplesPerEvaluation, d.samplesPerEvaluation)
    }

    /// The feature distance this config names.
    public var distance: FeatureDistance {
        FeatureDistance(kind: featureMatching, mmd: GaussianMMD(bandwidths: bandwidths, unbiased: unbiasedMMD))
    }
}

// MARK: - The objectives

/// a·x.
func scaled(_ x: Tensor, _ a: Float) -> Tensor {
    var y = Tensor(zeros: x.shape)
    y.add(x, scaledBy: a)
    return y
}

/// d(fake, real) between feature sets [n, F] and [m, F], with its gradients.
public struct FeatureDistance: Sendable, Equatable {
    public var kind: FeatureMatching
    public var mmd: GaussianMMD

    public init(kind: FeatureMatching, mmd: GaussianMMD = GaussianMMD()) {
        self.kind = kind
        self.mmd = mmd
    }

    public func callAsFunction(_ fake: Tensor, _ real: Tensor) -> (value: Double, dFake: Tensor, dReal: Tensor) {
        switch kind {
        case .mmd2:
            let (value, dFake, dReal) = mmd(fake, real)
            return (value, dFake, dReal)
        case .mmd:
            // √MMD²; at 0 (identical sets) its gradient is taken as 0.
            let (squared, dFake, dReal) = mmd(fake, real)
            let value = Foundation.sqrt(max(squared, 0))
            guard value > 0 else { return (0, Tensor(zeros: fake.shape), Tensor(zeros: real.shape)) }
            let scale = Float(1 / (2 * value))
            return (value, scaled(dFake, scale), scaled(dReal, scale))
        case .moment:
            let (n, F) = fake.matrixShape, m = real.matrixShape.0
            var difference = [Double](repeating: 0, count: F)
            for i in 0..<n { for f in 0..<F { difference[f] += Double(fake[i, f]) / Double(n) } }
            for j in 0..<m { for f in 0..<F { difference[f] -= Double(real[j, f]) / Double(m) } }
            let value = difference.reduce(0) { $0 + $1 * $1 }
            let dFake = Tensor(shape: fake.shape, scalars: (0..<(n * F)).map { Float(2 * difference[$0 % F] / Double(n)) })
            let dReal = Tensor(shape: real.shape, scalars: (0..<(m * F)).map { Float(-2 * difference[$0 % F] / Double(m)) })
            return (value, dFake, dReal)
        }
    }
}

/// The ICML code's discriminator cross-entropy: p = ε + (1 − 2ε)·σ(margin) with margin = logit(real) − logit(fake),
/// loss = −mean log(p_real + 10⁻⁶) − mean log(1 − p_fake + 10⁻⁶). Returns the loss and its gradients for the
/// [B, 2] logits of each side.
public func smoothedClassificationLoss(real: Tensor, fake: Tensor, smoothing eps: Float)
    -> (value: Double, dReal: Tensor, dFake: Tensor) {
    func side(_ logits: Tensor, isReal: Bool) -> (Double, Tensor) {
        let n = logits.matrixShape.0
        var gradient = Tensor(zeros: [n, 2]), value = 0.0
        for b in 0..<n {
            let margin = Double(logits[b, 1] - logits[b, 0])
            let s = 1 / (1 + Foundation.exp(-margin))
            let p = Double(eps) + Double(1 - 2 * eps) * s
            let dp = Double(1 - 2 * eps) * s * (1 - s)
            let q = isReal ? p + 1e-6 : 1 - p + 1e-6
            value -= Foundation.log(q) / Double(n)
            let dMargin = (isReal ? -dp : dp) / q / Double(n)
            gradient[b, 1] = Float(dMargin)
            gradient[b, 0] = Float(-dMargin)
        }
        return (value, gradient)
    }
    let (realValue, dReal) = side(real, isReal: true)
    let (fakeValue, dFake) = side(fake, isReal: false)
    return (realValue + fakeValue, dReal, dFake)
}

/// D's reconstruction head: features f [B, F] → sigmoid(f·W₁ + b₁) → r = tanh(·W₂ + b₂) for codes from U(−1, 1),
/// scored as the ICML code does, by the cross-entropy of (r + 1)/2 against (z + 1)/2; for N(0, I) codes the output is
/// linear and the loss the mean squared error.
public final class ReconstructionHead: ParameterContainer {
    public let hidden: Linear
    public let output: Linear
    public let prior: LatentPrior

    public init(features: Int, hiddenSize: Int, latentSize: Int, prior: LatentPrior, using rng: inout SeededGenerator) {
        let initializer = Initializer.uniform(limit: 0.01)  // the ICML code's U(−0.01, 0.01); biases 0.01
        hidden = Linear("textgan.reconstruction.hidden", inputSize: features, outputSize: hiddenSize,
                        weightInit: initializer, biasInit: .constant(0.01), using: &rng)
        output = Linear("textgan.reconstruction.output", inputSize: hiddenSize, outputSize: latentSize,
                        weightInit: initializer, biasInit: .constant(0.01), using: &rng)
        self.prior = prior
    }

    public var parameters: [Parameter] { hidden.parameters + output.parameters }

    /// The loss of reconstructing codes z [B, Z] from features [B, F], and, when `backward`, d/d(features) (the head's
    /// own gradients accumulated).
    public func loss(features: Tensor, codes z: Tensor, backward: Bool) -> (value: Double, dFeatures: Tensor?) {
        var a = hidden.forward(features)
        a.withUnsafeMutableBufferPointer { Vector.sigmoid($0.baseAddress!, $0.baseAddress!, count: $0.count) }
        var r = output.forward(a)
        let (B, Z) = z.matrixShape
        let count = Double(B * Z)
        var value = 0.0
        var dr = Tensor(zeros: r.shape)
        switch prior {
        case .uniform:
            r.withUnsafeMutableBufferPointer { Vector.tanh($0.baseAddress!, $0.baseAddress!, count: $0.count) }
            for i in 0..<r.count {
                let (rt, zt) = (Double(r.scalars[i]) / 2 + 0.5, Double(z.scalars[i]) / 2 + 0.5)
                value += (-zt * Foundation.log(rt + 1e-4) - (1 - zt) * Foundation.log(1.0001 - rt)) / count
                let dRt = (-zt / (rt + 1e-4) + (1 - zt) / (1.0001 - rt)) / count
                let ri = Double(r.scalars[i])
                dr.scalars[i] = Float(dRt * 0.5 * (1 - ri * ri))  // through (r + 1)/2 and tanh
            }
        case .normal:
            for i in 0..<r.count {
                let e = Double(r.scalars[i] - z.scalars[i])
                value += e * e / count
                dr.scalars[i] = Float(2 * e / count)
            }
        }
        guard backward else { return (value, nil) }
        var da = output.backward(dr, input: a)
        for i in 0..<da.count { da.scalars[i] *= a.scalars[i] * (1 - a.scalars[i]) }
        return (value, hidden.backward(da, input: features))
    }
}

// MARK: - State

public enum TextGANPhase: String, Codable, Sendable {
    /// `mle`: G's pretraining, by MLE or as an autoencoder's decoder (`TextGANConfig.pretraining`).
    case mle, discriminator, adversarial, done

    var order: Int { [.mle, .discriminator, .adversarial, .done].firstIndex(of: self)! }
}

/// Everything that moves besides parameters and optimizer moments; stored in every checkpoint.
public struct TextGANState: AdversarialTrainingState, Equatable {
    public var phase: TextGANPhase = .mle
    public var mle: MLEState
    public var discriminatorRound = 0
    public var adversarialStep = 0
    /// Codes, real batches, negatives and D's dropout.
    public var rng: SeededGenerator

    public init(seed: UInt64) {
        var root = SeededGenerator(seed: seed)
        mle = MLEState(seed: root.next())
        rng = root.fork()
    }

    /// MLE steps, D rounds and adversarial steps added up, with one step for each phase change (as SeqGAN's).
    public var runStep: Int {
        let changes = [TextGANPhase.discriminator, .adversarial, .done].filter { phase.order >= $0.order }.count
        return mle.step + discriminatorRound + adversarialStep + changes
    }
}

// MARK: - The trainer

public final class TextGANTrainer {
    public let config: TextGANConfig
    public let latentGenerator: any LatentSequenceGenerator
    public var generator: any SequenceGenerator { latentGenerator }
    public let discriminator: any SequenceDiscriminator
    public let reconstruction: ReconstructionHead
    /// The generator with its encoder, for autoencoder pretraining (nil: MLE pretraining). Stored in every checkpoint.
    public let autoencoder: LatentAutoencoder?
    /// The pretraining loop: MLE's, on the generator's likelihood or on the autoencoder's.
    public let mle: MLETrainer
    public let generatorOptimizer: Adam
    /// D's (pretraining and adversarial steps) and its reconstruction head's, which only adversarial steps train:
    /// two Adams at D's rate, so the head's first updates are not scaled by a step count its moments never saw.
    public let discriminatorOptimizer: Adam
    public let reconstructionOptimizer: Adam
    public let positives: SequenceDataset
    public var evaluate: GeneratorEvaluator?
    /// Adversarial examples mixed into D's training batches (the `adversarialTraining` section; nil: none).
    public var adversarialExamples: AdversarialExamples?
    /// Held-out sentences (the test split) whose reconstruction loss each autoencoder pretraining evaluation records.
    public var heldOut: SequenceDataset?
    public var checkpointDirectory: URL?
    public var metadata: [String: String] = [:]

    /// `padToken` pads the encoder's sentences (autoencoder pretraining).
    public init(generator: any LatentSequenceGenerator, discriminator: any SequenceDiscriminator,
                positives: SequenceDataset, pretrain: MLEConfig, config: TextGANConfig, padToken: Int32 = 0,
                using rng: inout SeededGenerator) {
        self.config = config
        latentGenerator = generator
        self.discriminator = discriminator
        self.positives = positives
        // The head's width is D's feature count, read from one pass over a padding sequence.
        var unused = SeededGenerator(seed: 0)
        let features = discriminator.forward(.tokens(discriminator.pack([[]])), training: false, using: &unused).features
        reconstruction = ReconstructionHead(
            features: features.matrixShape.1, hiddenSize: config.reconstructionHidden, latentSize: generator.latentSize,
            prior: generator.latentPrior, using: &rng)
        switch config.pretraining {
        case .mle: autoencoder = nil
        case .autoencoder:
            let encoder = SentenceEncoder(SentenceEncoderConfig(
                vocabularySize: generator.vocabularySize, sequenceLength: generator.maxLength, padToken: padToken,
                latentSize: generator.latentSize, prior: generator.latentPrior, embeddingSize: config.encoderEmbeddingSize,
                widths: config.encoderWidths), using: &rng)
            autoencoder = LatentAutoencoder(encoder: encoder, generator: generator, noise: config.latentNoise,
                                            priorMatchingWeight: config.latentMatchingWeight)
        }
        var mle = MLETrainer(generator: generator, loader: BatchLoader(dataset: positives, batchSize: pretrain.batchSize),
                             config: pretrain, objective: autoencoder)
        if autoencoder != nil { mle.phase = Phase.autoencoder }
        self.mle = mle
        generatorOptimizer = Adam(generator.parameters, config: .init(learningRate: config.generatorLearningRate))
        discriminatorOptimizer = Adam(discriminator.parameters, config: .init(learningRate: config.discriminatorLearningRate))
        reconstructionOptimizer = Adam(reconstruction.parameters, config: .init(learningRate: config.discriminatorLearningRate))
    }

    public func run(state: inout TextGANState, emit: TrainingEventHandler) throws -> TrainingOutcome {
        var mle = pretrainer(from: state)
        if let autoencoder, let heldOut {
            let evaluate = mle.evaluate
            mle.evaluate = { generator, rng in
                var metrics = evaluate?(generator, &rng) ?? [:]
                metrics["reconstruction_nll_test"] = autoencoder.reconstructionNLL(of: heldOut)
                return metrics
            }
        }

        if state.phase == .mle {
            switch try mle.run(state: &state.mle, emit: emit) {
            case .stopped: return .stopped
            case .completed, .earlyStopped: state.phase = .discriminator
            }
            try checkpoint(state, emit: emit)
        }

        if state.phase == .discriminator {
            _ = try emit(.phaseStarted(phase: Phase.discriminator, totalSteps: config.discriminatorPretrainRounds))
            while state.discriminatorRound < config.discriminatorPretrainRounds {
                let negatives = generator.sample(count: positives.count, using: &state.rng)
                let report = try trainDiscriminator(
                    discriminator, optimizer: discriminatorOptimizer, positives: positives.sequences, negatives: negatives,
                    epochs: config.discriminatorPretrainEpochs, batchSize: config.batchSize, phase: Phase.discriminator,
                    step: state.discriminatorRound + 1, adversarial: adversarialExamples, using: &state.rng)
                state.discriminatorRound += 1
                let control = try emit(.step(phase: Phase.discriminator, step: state.discriminatorRound, epoch: 0,
                                             metrics: report.metrics, runStep: state.runStep))
                try checkpoint(state, emit: emit)
                if control == .stop { return .stopped }
            }
            _ = try emit(.phaseFinished(phase: Phase.discriminator, step: state.discriminatorRound))
            state.phase = .adversarial
            let control = try evaluateAndSample(state, emit: emit)
            try checkpoint(state, emit: emit)
            if control == .stop { return .stopped }
        }

        if state.phase == .adversarial {
            let completed = try runAdversarialSteps(&state, steps: config.adversarialSteps, evaluateEvery: config.evaluateEvery,
                                                    emit: emit) { step, state in
                try iteration(step: step, using: &state.rng)
            }
            guard completed else { return .stopped }
            state.phase = .done
            try checkpoint(state, emit: emit)
        }
        return .completed
    }

    /// One adversarial iteration: a G step, then a D step on the same real batch and codes. Returns its metrics.
    public func iteration(step: Int, using rng: inout SeededGenerator) throws -> [String: Double] {
        let real = (0..<config.batchSize).map { _ in positives.sequences[rng.nextInt(below: positives.count)] }
        let codes = latentGenerator.drawLatents(count: config.batchSize, using: &rng)
        var metrics = try generatorStep(real: real, codes: codes, step: step, rng: &rng)
        metrics.merge(try discriminatorStep(real: real, codes: codes, step: step, rng: &rng)) { _, new in new }
        return metrics
    }

    /// The decoding of `codes` laid out as D's rows: soft rows up to each sentence's first end token (included),
    /// one-hot padding after it, cut or padded to D's length. `softRows[r]` is the decoding's row behind D's row r.
    func discriminatorRows(_ decoding: SoftArgmaxDecoding) -> (rows: Tensor, softRows: [Int?], sequences: [[Int32]]) {
        let sequences = decoding.sequences(endToken: generator.endToken)
        let packed = discriminator.pack(sequences)
        let (B, T, V) = (decoding.batchSize, decoding.length, generator.vocabularySize)
        let length = B > 0 ? packed.count / B : 0
        var softRows = [Int?](repeating: nil, count: B * length)
        for b in 0..<B { for t in 0..<min(length, sequences[b].count, T) { softRows[b * length + t] = b * T + t } }
        // Every row is soft where it lies in the decoding (the oracle's fixed-length sentences at D's length): those
        // are the decoding's rows as they are.
        if length == T && softRows.enumerated().allSatisfy({ $0.element == $0.offset }) {
            return (decoding.rows, softRows, sequences)
        }
        let rows = Tensor(uninitializedShape: [B * length, V]) { out in
            decoding.rows.withUnsafeBufferPointer { soft in
                for (r, position) in softRows.enumerated() {
                    if let position {
                        (out.baseAddress! + r * V).update(from: soft.baseAddress! + position * V, count: V)
                    } else {
                        (out.baseAddress! + r * V).update(repeating: 0, count: V)
                        out[r * V + Int(packed[r])] = 1
                    }
                }
            }
        }
        return (rows, softRows, sequences)
    }

    /// D's row gradient [B·T_D, V] carried to the decoding's rows (rows past a sentence's cut get none).
    func decodingGradient(_ dRows: Tensor, softRows: [Int?], of decoding: SoftArgmaxDecoding) -> Tensor {
        if dRows.shape == decoding.rows.shape && softRows.enumerated().allSatisfy({ $0.element == $0.offset }) { return dRows }
        let V = generator.vocabularySize
        var dDecoded = Tensor(zeros: decoding.rows.shape)
        dDecoded.withUnsafeMutableBufferPointer { out in
            dRows.withUnsafeBufferPointer { d in
                for (r, position) in softRows.enumerated() {
                    if let position { (out.baseAddress! + position * V).update(from: d.baseAddress! + r * V, count: V) }
                }
            }
        }
        return dDecoded
    }

    private func decode(_ codes: Tensor) -> SoftArgmaxDecoding {
        latentGenerator.softArgmaxDecode(latents: codes, length: generator.maxLength, sharpness: config.sharpness)
    }

    /// G's step: the feature distance of its decoded rows to the real batch's, back through D's features and the
    /// soft-argmax feedback into the generator.
    func generatorStep(real: [[Int32]], codes: Tensor, step: Int, rng: inout SeededGenerator) throws -> [String: Double] {
        generator.zeroGrad()
        discriminator.zeroGrad()
        let decoding = decode(codes)
        let (rows, softRows, _) = discriminatorRows(decoding)
        let dropout = config.discriminatorDropout
        let realPass = discriminator.forward(.tokens(discriminator.pack(real)), training: dropout, using: &rng)
        let fakePass = discriminator.forward(.rows(rows), training: dropout, using: &rng)
        let (value, dFake, _) = config.distance(fakePass.features, realPass.features)
        try TrainingError.check([("generator feature distance", Float(value))], phase: Phase.adversarial, step: step)
        guard let dRows = discriminator.backward(fakePass, logitGradient: Tensor(zeros: fakePass.logits.shape),
                                                 featureGradient: dFake) else {
            throw ModelError.unsupported(model: discriminator.kind, capability: "the gradient of its input rows")
        }
        latentGenerator.softArgmaxBackward(decodingGradient(dRows, softRows: softRows, of: decoding), of: decoding)
        let norm = clipGradientNorm(generator.parameters, maxNorm: config.gradientClip)
        try TrainingError.check([("generator gradient norm", norm)], phase: Phase.adversarial, step: step)
        generatorOptimizer.update()
        discriminator.zeroGrad()  // D's gradients from this pass are not D's update
        return ["g_loss": value, "g_gradient_norm": Double(norm)]
    }

    /// D's step: classify real against freshly decoded fakes, expose the discrepancy (−λ_fm·d), reconstruct the codes.
    func discriminatorStep(real: [[Int32]], codes: Tensor, step: Int, rng: inout SeededGenerator) throws -> [String: Double] {
        discriminator.zeroGrad()
        reconstruction.zeroGrad()
        let (rows, _, _) = discriminatorRows(decode(codes))
        let dropout = config.discriminatorDropout
        var realInput = DiscriminatorInput.tokens(discriminator.pack(real)), fakeInput = DiscriminatorInput.rows(rows)
        var robustness = RobustnessTally()
        if let adversarialExamples {
            (realInput, fakeInput) = try adversarialExamples.mix(
                real: realInput, realCount: real.count, fake: fakeInput, fakeCount: codes.matrixShape.0,
                discriminator: discriminator, tally: &robustness)
        }
        let realPass = discriminator.forward(realInput, training: dropout, using: &rng)
        let fakePass = discriminator.forward(fakeInput, training: dropout, using: &rng)
        // On every view's logits (RelGAN's representations; one per sequence otherwise), as the GAN losses read them.
        let (bce, dRealLogits, dFakeLogits) = smoothedClassificationLoss(real: realPass.viewLogits, fake: fakePass.viewLogits,
                                                                         smoothing: config.labelSmoothing)
        let (distance, dFakeDistance, dRealDistance) = config.distance(fakePass.features, realPass.features)
        let (recon, dFakeRecon) = reconstruction.loss(features: fakePass.features, codes: codes, backward: true)
        let (lfm, lrec) = (config.featureMatchingWeight, config.reconstructionWeight)
        let penalty = discriminator.regularization(backward: true)
        let value = bce - Double(lfm) * distance + Double(lrec) * recon + Double(penalty)
        try TrainingError.check([("discriminator loss", Float(value))], phase: Phase.adversarial, step: step)
        var dFakeFeatures = scaled(dFakeDistance, -lfm)
        dFakeFeatures.add(dFakeRecon!, scaledBy: lrec)
        discriminator.backward(realPass, logitGradient: dRealLogits, featureGradient: scaled(dRealDistance, -lfm),
                               inputGradient: false)
        discriminator.backward(fakePass, logitGradient: dFakeLogits, featureGradient: dFakeFeatures, inputGradient: false)
        let norm = clipGradientNorm(discriminator.parameters + reconstruction.parameters, maxNorm: config.gradientClip)
        try TrainingError.check([("discriminator gradient norm", norm)], phase: Phase.adversarial, step: step)
        discriminatorOptimizer.update()
        reconstructionOptimizer.update()
        let n = Double(max(real.count, 1))
        let correctReal = (0..<realPass.logits.matrixShape.0).filter { realPass.logits[$0, 1] > realPass.logits[$0, 0] }.count
        let correctFake = (0..<fakePass.logits.matrixShape.0).filter { fakePass.logits[$0, 1] <= fakePass.logits[$0, 0] }.count
        return ["d_loss": value, "d_bce": bce, "d_feature_distance": distance, "d_reconstruction": recon,
                "d_accuracy_real": Double(correctReal) / n, "d_accuracy_fake": Double(correctFake) / n]
            .merging(robustness.metrics) { $1 }
    }

    /// d(f(real), f(decoded codes)) under D's current weights, without dropout.
    public func featureDistance(real: [[Int32]], codes: Tensor) -> Double {
        var unused = SeededGenerator(seed: 0)
        let realPass = discriminator.forward(.tokens(discriminator.pack(real)), training: false, using: &unused)
        let fakePass = discriminator.forward(.rows(discriminatorRows(decode(codes)).rows), training: false, using: &unused)
        return config.distance(fakePass.features, realPass.features).value
    }

    /// Restores every model, optimizer and the state from a checkpoint written by `run`.
    public func restore(from url: URL) throws -> TextGANState { try restoreAll(from: url) }
}

extension TextGANTrainer: AdversarialTrainer {
    typealias State = TextGANState
    static var evaluationSeed: UInt64 { 0x7E47_0000 }
    var samplesPerEvaluation: Int { config.samplesPerEvaluation }
    var checkpointModels: [(prefix: String, model: any ParameterContainer)] {
        [("", generator), ("", discriminator), ("", reconstruction)] + (autoencoder.map { [("", $0.encoder)] } ?? [])
    }
    var checkpointOptimizers: [String: any Optimizer] {
        ["generator_mle": mle.optimizer, "generator_adversarial": generatorOptimizer, "discriminator": discriminatorOptimizer,
         "reconstruction": reconstructionOptimizer]
    }
}
