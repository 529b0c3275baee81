import Foundation
import Models
import NumericCore

// TextGAN's autoencoder pretraining (`textgan.pretraining` autoencoder). The ICML code starts its adversarial phase
// from a G pretrained as the decoder of a CNN–LSTM autoencoder. MLE with a random code per sentence gives G no reason
// to read z: its arg-max decodings collapse to one sentence for every code (docs/textgan.md). Decoding the sentence
// from its own code makes z carry the sentence:
//
//   min over G and enc:   −log G(x | z̃) per real token  +  λ·MMD²(enc(x_1..B), z'_1..B)
//                         z̃ = enc(x) + σ·ε,  ε ~ N(0, I);   z'_b drawn from G's prior
//
// teacher-forced, through both models. The first term is the ICML code's. The second is ours (a WAE's, Tolstikhin et
// al. 2018, `textgan.latentMatchingWeight`): the adversarial phase decodes codes drawn from the prior, and an
// autoencoder alone leaves its codes wherever they fall, so G would be pretrained on codes unlike the ones it is then
// given (measured on COCO: NLL-test 6.4 under prior codes against 4.9 under the encoder's, docs/textgan.md). The MMD
// pulls the batch's codes towards the prior's draws; it is the unbiased estimate with Gaussian kernels of σ = ½, 1, 2
// times √(n_z·Var z), half the mean squared distance between two prior draws. σ of the noise (`textgan.latentNoise`)
// is ours too (the ICML code adds none): G learns to decode a neighbourhood of each code.
// ε and z' are drawn from the batch's `noiseSeed` (MLE's loop sets one per batch), so a resumed epoch draws the same;
// a batch without one (evaluation) is encoded without noise and has no MMD term.

public final class LatentAutoencoder: TeacherForcedObjective {
    public let encoder: SentenceEncoder
    public let generator: any LatentSequenceGenerator
    /// σ of the Gaussian noise added to each code component while training.
    public let noise: Float
    /// λ of the MMD² between the batch's codes and prior draws (0: none).
    public let priorMatchingWeight: Float
    /// The kernels of that MMD², scaled to the prior.
    public let priorKernel: GaussianMMD
    /// The MMD² of the last training batch.
    public private(set) var lastPriorMMD: Double?

    public var stepMetrics: [String: Double] { lastPriorMMD.map { ["latent_mmd": $0] } ?? [:] }

    public init(encoder: SentenceEncoder, generator: any LatentSequenceGenerator, noise: Float, priorMatchingWeight: Float) {
        precondition(encoder.config.latentSize == generator.latentSize, "LatentAutoencoder: the encoder's n_z is not the generator's")
        self.encoder = encoder
        self.generator = generator
        self.noise = noise
        self.priorMatchingWeight = priorMatchingWeight
        let variance = generator.latentPrior == .uniform ? 1.0 / 3 : 1
        let scale = (Double(generator.latentSize) * variance).squareRoot()
        priorKernel = GaussianMMD(bandwidths: [0.5 * scale, scale, 2 * scale], unbiased: true)
    }

    /// The generator's, then the encoder's: one optimizer and one gradient clip over both.
    public var parameters: [Parameter] { generator.parameters + encoder.parameters }

    /// The sentences of a batch: each row's tokens up to its first zero weight.
    static func sentences(of batch: TokenBatch) -> [[Int32]] {
        let T = batch.length
        return (0..<batch.batchSize).map { b in
            let real = (0..<T).prefix { batch.weights[b * T + $0] != 0 }
            return real.map { batch.tokens[b * T + $0] }
        }
    }

    /// −log G(x | z̃) weighted as the batch says, over `normalizer` (nil: its real tokens); when `backward`, the
    /// gradient of it and of λ·MMD² reaches the encoder through the codes. The MMD² is not part of the value
    /// returned (it is `lastPriorMMD`), as MLE's loss leaves out weight decay.
    @discardableResult
    public func weightedNLL(_ batch: TokenBatch, normalizer: Float?, backward: Bool) -> Float {
        let (value, priorMMD) = loss(batch, normalizer: normalizer, backward: backward)
        if batch.noiseSeed != nil { lastPriorMMD = priorMMD }
        return value
    }

    /// The two terms: −log G(x | z̃) and the MMD² (nil without a `noiseSeed`, or with λ = 0 or a batch of one).
    func loss(_ batch: TokenBatch, normalizer: Float?, backward: Bool) -> (nll: Float, priorMMD: Double?) {
        let encoded = encoder.forward(Self.sentences(of: batch))
        var z = encoded.codes
        var priorMMD: Double?, dMatching: Tensor?
        if let seed = batch.noiseSeed {
            var rng = SeededGenerator(seed: seed ^ 0x4145_4E4F_4953_4500)
            if noise > 0 { z.add(Tensor(randomNormal: z.shape, std: noise, using: &rng)) }
            if priorMatchingWeight > 0 && batch.batchSize > 1 {
                let draws = generator.drawLatents(count: batch.batchSize, using: &rng)
                let (value, dCodes, _) = priorKernel(encoded.codes, draws)
                priorMMD = value
                dMatching = dCodes
            }
        }
        let (nll, dz) = generator.weightedNLL(batch, latents: z, normalizer: normalizer, backward: backward)
        if var dz {
            if let dMatching { dz.add(dMatching, scaledBy: priorMatchingWeight) }
            encoder.backward(dz, cache: encoded.cache)
        }
        return (nll, priorMMD)
    }

    /// The mean per-token −log G(x | enc(x)), without noise, over `dataset`: the reconstruction loss on held-out data.
    public func reconstructionNLL(of dataset: SequenceDataset, batchSize: Int = 256) -> Double {
        var total = 0.0, tokens = 0
        for start in stride(from: 0, to: dataset.count, by: batchSize) {
            let batch = TokenBatch(sequences: Array(dataset.sequences[start..<min(start + batchSize, dataset.count)]),
                                   length: dataset.length)
            let count = batch.realTokenCount
            total += Double(weightedNLL(batch, normalizer: nil, backward: false)) * Double(count)
            tokens += count
        }
        return total / Double(max(tokens, 1))
    }

    /// The codes of `sentences`, without noise.
    public func encode(_ sentences: [[Int32]]) -> Tensor { encoder.forward(sentences).codes }
}
