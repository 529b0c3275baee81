import Foundation
import Layers
import NumericCore

// TextGAN's sentence encoder: a sentence's tokens → a code z of the latent generator's size. Autoencoder pretraining
// (Training/LatentAutoencoder.swift) trains it with the generator on −log G(x | z = enc(x)), so that G learns to read
// its code. Read top to bottom: config, model, forward, backward.
//
//   ids [B, T] → embedding [B, T, E] → for each width w: convolution, max over time, ReLU → f [B, ΣF]
//   z = a(f·W + b) [B, n_z]      a = tanh for a uniform prior (codes inside its support (−1, 1)), the identity for
//                                a normal one
//
// The ICML code's encoder is a CNN too, with tanh convolutions whose pooled features are z itself (so its n_z is the
// feature count, 900). Here the CNN is the workbench's text CNN layer (TimeConvolution) and a linear map takes its
// features to the generator's n_z. The encoder has its own embedding and filters, apart from D's: D's training never
// moves the codes G learnt to read, and neither model's shape constrains the other's.

// MARK: - Config

public struct SentenceEncoderConfig: Codable, Sendable, Equatable {
    /// Tokens it reads (the generator's vocabulary).
    public var vocabularySize: Int
    /// Every sentence is padded with `padToken` or cut to this length (the generator's maxLength).
    public var sequenceLength: Int
    public var padToken: Int32
    /// n_z, the generator's code size.
    public var latentSize: Int
    /// The generator's prior: uniform codes come out of a tanh, normal ones out of the linear map itself.
    public var prior: LatentPrior
    /// Its own token embedding's size.
    public var embeddingSize: Int = 32
    /// Window widths and filter counts of the convolutions (each width at most `sequenceLength`).
    public var widths: [ConvolutionWidth] = SentenceEncoderConfig.defaultWidths
    /// Every tensor starts N(0, initStd²), the convolution biases at 0.1 (as D's).
    public var initStd: Float = 0.1

    /// Widths 2 to 5, 32 filters each: 128 features, a few percent of a COCO step's work beside the generator's.
    public static let defaultWidths = (2...5).map { ConvolutionWidth(width: $0, filters: 32) }

    public init(vocabularySize: Int, sequenceLength: Int, padToken: Int32, latentSize: Int, prior: LatentPrior,
                embeddingSize: Int = 32, widths: [ConvolutionWidth] = SentenceEncoderConfig.defaultWidths,
                initStd: Float = 0.1) {
        self.vocabularySize = vocabularySize
        self.sequenceLength = sequenceLength
        self.padToken = padToken
        self.latentSize = latentSize
        self.prior = prior
        self.embeddingSize = embeddingSize
        self.widths = widths
        self.initStd = initStd
    }
}

// MARK: - Model

public final class SentenceEncoder: ParameterContainer {
    public let config: SentenceEncoderConfig
    public let embedding: Embedding
    public let convolution: TimeConvolution
    /// ΣF features → n_z.
    public let output: Linear

    public init(_ config: SentenceEncoderConfig, using rng: inout SeededGenerator) {
        precondition(config.vocabularySize > 0 && config.latentSize > 0 && !config.widths.isEmpty
                     && config.widths.allSatisfy { $0.width <= config.sequenceLength },
                     "SentenceEncoder: empty vocabulary or code, or a width longer than the sentences")
        self.config = config
        let initializer = Initializer.normal(std: config.initStd)
        embedding = Embedding("encoder.embedding", vocabularySize: config.vocabularySize,
                              embeddingSize: config.embeddingSize, initializer: initializer, using: &rng)
        convolution = TimeConvolution("encoder.convolution", inputSize: config.embeddingSize, widths: config.widths,
                                      weightInit: initializer, biasInit: .constant(0.1), using: &rng)
        output = Linear("encoder.output", inputSize: convolution.featureCount, outputSize: config.latentSize,
                        weightInit: initializer, biasInit: .zeros, using: &rng)
    }

    public var parameters: [Parameter] { embedding.parameters + convolution.parameters + output.parameters }

    /// Sentences padded with the pad token or cut to the configured length, batch-major [B·T].
    public func pack(_ sequences: [[Int32]]) -> [Int32] {
        packTokens(sequences, length: config.sequenceLength, padToken: config.padToken)
    }

    // MARK: - Forward and backward

    public struct Cache {
        let ids: [Int32]
        let convolution: TimeConvolutionCache
        let features: Tensor
        /// The codes themselves (tanh's backward reads them).
        let codes: Tensor
    }

    /// The codes z [B, n_z] of `sequences`, and what `backward` needs.
    public func forward(_ sequences: [[Int32]]) -> (codes: Tensor, cache: Cache) {
        let (B, T, E) = (sequences.count, config.sequenceLength, config.embeddingSize)
        let ids = pack(sequences)
        let (features, convolutionCache) = convolution.forward(embedding.forward(ids).reshaped([B, T, E]))
        var z = output.forward(features)
        if config.prior == .uniform {
            z.withUnsafeMutableBufferPointer { Vector.tanh($0.baseAddress!, $0.baseAddress!, count: $0.count) }
        }
        return (z, Cache(ids: ids, convolution: convolutionCache, features: features, codes: z))
    }

    /// Accumulates every parameter's gradient from d(loss)/dz [B, n_z] of a `forward` result.
    public func backward(_ dCodes: Tensor, cache: Cache) {
        precondition(dCodes.shape == cache.codes.shape, "SentenceEncoder.backward: \(dCodes.shape) for \(cache.codes.shape)")
        var dPre = dCodes
        if config.prior == .uniform {
            for i in 0..<dPre.count { dPre.scalars[i] *= 1 - cache.codes.scalars[i] * cache.codes.scalars[i] }
        }
        let dFeatures = output.backward(dPre, input: cache.features)
        let dx = convolution.backward(dFeatures, cache: cache.convolution)
        embedding.backward(dx.reshaped([cache.ids.count, config.embeddingSize]), ids: cache.ids)
    }
}
