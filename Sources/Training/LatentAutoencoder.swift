import Foundation
import Models
import NumericCore

// TextGAN's autoencoder pretraining (`textgan.pretraining` autoencoder). The ICML code starts its adversarial phase
// from a G pretrained as the decoder of a CNN–LSTM autoencoder. MLE with a random code per sentence gives G no reason
// to read z: its arg-max decodings collapse to one sentence for every code (docs/textgan.md). Decoding the sentence
// from its own code makes z carry the sentence:
//
//   min over G and enc:   −log G(x | z̃) per real token,   z̃ = enc(x) + σ·ε,   ε ~ N(0, I)
//
// teacher-forced, through both models. σ (`textgan.latentNoise`) is ours: the ICML code adds none. With σ > 0, G
// learns to decode a neighbourhood of each code rather than the codes alone, so the codes the adversarial phase draws
// from the prior land less often where G has never been trained.
// ε is drawn from the batch's `noiseSeed` (MLE's loop sets one per batch), so a resumed epoch draws the same noise;
// a batch without one (evaluation) is encoded without noise.

public final class LatentAutoencoder: TeacherForcedObjective {
    public let encoder: SentenceEncoder
    public let generator: any LatentSequenceGenerator
    /// σ of the Gaussian noise added to each code component while training.
    public let noise: Float

    public init(encoder: SentenceEncoder, generator: any LatentSequenceGenerator, noise: Float) {
        precondition(encoder.config.latentSize == generator.latentSize, "LatentAutoencoder: the encoder's n_z is not the generator's")
        self.encoder = encoder
        self.generator = generator
        self.noise = noise
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
    /// gradient reaches the encoder through z̃.
    @discardableResult
    public func weightedNLL(_ batch: TokenBatch, normalizer: Float?, backward: Bool) -> Float {
        let encoded = encoder.forward(Self.sentences(of: batch))
        var z = encoded.codes
        if let seed = batch.noiseSeed, noise > 0 {
            var rng = SeededGenerator(seed: seed)
            z.add(Tensor(randomNormal: z.shape, std: noise, using: &rng))
        }
        let (value, dz) = generator.weightedNLL(batch, latents: z, normalizer: normalizer, backward: backward)
        if let dz { encoder.backward(dz, cache: encoded.cache) }
        return value
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
