import Foundation
import Layers
import NumericCore

// A causal Transformer language model (GPT-2's layout), read top to bottom: config, model, teacher-forced
// likelihood, sampling.
//
//   ids [B, T] → token embedding + learned position embedding [B, T, C]
//   → N blocks: h += attention(LN(h)); h += MLP(LN(h))   (pre-LayerNorm, causal multi-head attention, GELU MLP)
//   → final LN → output projection [B·T, V]
//
// Step t reads the previous token (the start token at t = 0) at position t and predicts token t, as the LSTM does.
// Sampling runs one position at a time with each layer's keys and values cached (`KeyValueCache`); the straightforward
// twin, which re-runs the whole prefix at every step, stays beside it and a test compares them. Dropout (off by
// default) runs in training passes only, from the seed the batch carries (`TokenBatch.noiseSeed`); the output
// projection is its own (not tied to the embedding).

// MARK: - Config

public struct TransformerGeneratorConfig: Codable, Sendable, Equatable {
    /// Tokens the generator reads and writes (set by the corpus).
    public var vocabularySize: Int
    /// The context: the most tokens a sequence has (end token included); the position table's size.
    public var maxLength: Int = 20
    /// Input at position 0: bos for text corpora (set by the corpus).
    public var startToken: Int32 = 0
    /// Sampling stops at this token; nil: fixed-length sequences (set by the corpus).
    public var endToken: Int32? = nil
    /// 2 layers, 4 heads of 16, width 64: GPT-2's shape scaled to sequences of 20–51 tokens and 2 CPU cores.
    public var layers: Int = 2
    /// Attention heads per layer; `width` must be a multiple of it.
    public var heads: Int = 4
    /// The model width: embeddings, attention and residual stream.
    public var width: Int = 64
    /// The MLP's hidden width as a multiple of `width` (GPT-2: 4).
    public var mlpExpansion: Int = 4
    /// Weights start N(0, initStd²) (GPT-2: 0.02); residual projections are scaled by 1/√(2·layers), as GPT-2 does.
    public var initStd: Float = 0.02
    /// The probability of dropping in training, on the embeddings, the attention probabilities and both residual
    /// branches (GPT-2: 0.1). Off by default: at the oracle's 10,000 sequences the Transformer overfits within
    /// 15 epochs, and dropout is the first remedy to try, so the field is here; sampling never drops.
    public var dropout: Float = 0
    /// The output projection is the token embedding, transposed (GPT-2, and Press & Wolf 2017), plus its own bias:
    /// 320k fewer parameters at V = 5000, C = 64. Off by default, as in the PyTorch reference.
    public var tieEmbeddings = false
    /// The arithmetic of the vocabulary projection's products (`Precision`) in training (the likelihood's
    /// gradient passes, MLE and adversarial) and in sampling (rollouts included): fp32, or bf16 operands with fp32
    /// sums and fp32 master weights. Likelihoods that are reported (NLL-test, NLL-gen) are computed in fp32 either
    /// way, so runs of both precisions are scored alike. The products are the output projection's (width to
    /// vocabulary: 57 % of an fp32 MLE epoch at the default sizes). The blocks' products, k and n of 64–256,
    /// stay fp32: in bf16 on AMX they measured no faster (tmle medians 6.3 s against 6.0 s in one alternating run on
    /// model 167: their operands' conversion and packing eat the gain) and took the MLE loss twice as far from fp32's. fp32 by default: bf16 pays where the CPU multiplies bf16 faster
    /// (AMX; see docs/performance.md).
    public var precision: Precision = .fp32

    public init(vocabularySize: Int, maxLength: Int = 20, startToken: Int32 = 0, endToken: Int32? = nil,
                layers: Int = 2, heads: Int = 4, width: Int = 64, mlpExpansion: Int = 4, initStd: Float = 0.02) {
        self.vocabularySize = vocabularySize
        self.maxLength = maxLength
        self.startToken = startToken
        self.endToken = endToken
        self.layers = layers
        self.heads = heads
        self.width = width
        self.mlpExpansion = mlpExpansion
        self.initStd = initStd
    }

    // Configs stored before a field existed decode with its default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TransformerGeneratorConfig(vocabularySize: 0)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength) ?? d.maxLength
        startToken = try c.decodeIfPresent(Int32.self, forKey: .startToken) ?? d.startToken
        endToken = try c.decodeIfPresent(Int32.self, forKey: .endToken)
        layers = try c.decodeIfPresent(Int.self, forKey: .layers) ?? d.layers
        heads = try c.decodeIfPresent(Int.self, forKey: .heads) ?? d.heads
        width = try c.decodeIfPresent(Int.self, forKey: .width) ?? d.width
        mlpExpansion = try c.decodeIfPresent(Int.self, forKey: .mlpExpansion) ?? d.mlpExpansion
        initStd = try c.decodeIfPresent(Float.self, forKey: .initStd) ?? d.initStd
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? d.dropout
        tieEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieEmbeddings) ?? d.tieEmbeddings
        precision = try c.decodeIfPresent(Precision.self, forKey: .precision) ?? d.precision
    }
}

extension TransformerGeneratorConfig: SequenceGeneratorConfig, CorpusFittedGeneratorConfig {
    public static let kind = "transformer"

    public func validate(section: String) throws {
        let check = ConfigCheck(section)
        try check.int("layers", layers, 1...64)
        try check.int("heads", heads, 1...64)
        try check.int("width", width, 1...8192)
        try check.require(width % heads == 0, "width", "\(width)", "a multiple of heads (\(heads))")
        try check.int("mlpExpansion", mlpExpansion, 1...16)
        try check.number("initStd", initStd, 0...10)
        try check.number("dropout", dropout, 0...1)
        try check.require(dropout < 1, "dropout", "\(dropout)", "below 1 (1 drops everything)")
        try check.int("maxLength", maxLength, 1...100_000)
        try check.int("vocabularySize", vocabularySize, 0...10_000_000)
        try check.supported("precision", precision)
    }

    public func makeGenerator(using rng: inout SeededGenerator) -> any SequenceGenerator {
        TransformerGenerator(self, using: &rng)
    }
}

// MARK: - Model

public final class TransformerGenerator: SequenceGenerator {
    public struct Block {
        public let attentionNorm: LayerNorm
        public let attention: CausalSelfAttention
        public let mlpNorm: LayerNorm
        public let mlp: MLP

        var parameters: [Parameter] {
            attentionNorm.parameters + attention.parameters + mlpNorm.parameters + mlp.parameters
        }
    }

    public let config: TransformerGeneratorConfig
    public let tokenEmbedding: Embedding
    public let positionEmbedding: Embedding
    public let blocks: [Block]
    public let finalNorm: LayerNorm
    public let output: Linear
    /// The arithmetic of the vocabulary products: `config.precision` where this CPU runs it, else fp32.
    let precision: Precision

    public init(_ config: TransformerGeneratorConfig, using rng: inout SeededGenerator) {
        precondition(config.vocabularySize > 0 && config.maxLength > 0, "TransformerGenerator: empty vocabulary or context")
        self.config = config
        precision = config.precision.runnable()
        let (C, initializer) = (config.width, Initializer.normal(std: config.initStd))
        tokenEmbedding = Embedding("generator.token_embedding", vocabularySize: config.vocabularySize, embeddingSize: C,
                                   initializer: initializer, using: &rng)
        positionEmbedding = Embedding("generator.position_embedding", vocabularySize: config.maxLength, embeddingSize: C,
                                      initializer: initializer, using: &rng)
        let residualScale = 1 / Float(2 * config.layers).squareRoot()
        blocks = (0..<config.layers).map { l in
            let name = "generator.blocks.\(l)"
            let block = Block(
                attentionNorm: LayerNorm("\(name).ln1", size: C),
                attention: CausalSelfAttention("\(name).attention", size: C, heads: config.heads, weightInit: initializer,
                                               using: &rng),
                mlpNorm: LayerNorm("\(name).ln2", size: C),
                mlp: MLP("\(name).mlp", size: C, expansion: config.mlpExpansion, weightInit: initializer, using: &rng))
            // GPT-2: the projections that write into the residual stream start smaller, one factor per addition.
            block.attention.projection.weight.value.scale(by: residualScale)
            block.mlp.contract.weight.value.scale(by: residualScale)
            return block
        }
        finalNorm = LayerNorm("generator.final_norm", size: C)
        output = Linear("generator.output", inputSize: C, outputSize: config.vocabularySize, weightInit: initializer,
                        using: &rng)
    }

    /// With tied embeddings the output weight is not a parameter of its own: it is the token table, transposed,
    /// written into `output.weight` before every pass that reads it (`tieOutput`), and its gradient is folded back
    /// into the table's after every backward pass (`untieGradient`).
    public var parameters: [Parameter] {
        tokenEmbedding.parameters + positionEmbedding.parameters + blocks.flatMap(\.parameters) + finalNorm.parameters
            + (config.tieEmbeddings ? output.bias.map { [$0] } ?? [] : output.parameters)
    }

    /// Tied: output.weight ← tableᵀ. Called at every entry point that reads the output projection, before any work
    /// is split over threads (the parallel parts only read it).
    /// Skipped while neither the table nor the written weight changed since the last tie, so the weight's bf16
    /// packings (kept per version of its value) are not redone at every entry point.
    func tieOutput() {
        guard config.tieEmbeddings else { return }
        if let tied = tiedVersions, tied == (tokenEmbedding.table.version, output.weight.version) { return }
        output.weight.value = tokenEmbedding.table.value.transposedMatrix()
        tiedVersions = (tokenEmbedding.table.version, output.weight.version)
    }

    /// The versions of the table and of the output weight just after the last `tieOutput` wrote it.
    private var tiedVersions: (UInt64, UInt64)?

    /// Tied: table.grad += (output.weight.grad)ᵀ, and the output weight's own gradient is cleared.
    func untieGradient() {
        guard config.tieEmbeddings else { return }
        tokenEmbedding.table.grad.add(output.weight.grad.transposedMatrix(), scaledBy: 1)
        output.weight.zeroGrad()
    }

    public var kind: String { TransformerGeneratorConfig.kind }
    public var vocabularySize: Int { config.vocabularySize }
    public var maxLength: Int { config.maxLength }
    public var startToken: Int32 { config.startToken }
    public var endToken: Int32? { config.endToken }
    public var tokenEmbeddings: [Parameter] { [tokenEmbedding.table] }
    public var contextLength: Int? { config.maxLength }

    public func copy() -> TransformerGenerator {
        var unused = SeededGenerator(seed: 0)  // the values are overwritten below
        let model = TransformerGenerator(config, using: &unused)
        model.copyValues(from: self)
        return model
    }

    // MARK: - Forward and backward

    struct Cache {
        let ids: [Int32]
        let positions: [Int32]
        let blocks: [(attentionNorm: LayerNorm.Cache, attention: CausalSelfAttention.Cache, mlpNorm: LayerNorm.Cache,
                      mlp: MLP.Cache, masks: (attention: Tensor?, mlp: Tensor?))]
        let finalNorm: LayerNorm.Cache
        /// The embeddings' dropout mask, when dropout was on.
        let embeddingMask: Tensor?
    }

    public var drawsTrainingNoise: Bool { config.dropout > 0 }

    /// Step inputs, batch-major [B, T]: (b, t) ↦ token t−1 of sequence b, the start token at t = 0.
    private func inputIds(_ batch: TokenBatch) -> [Int32] {
        let (B, T) = (batch.batchSize, batch.length)
        var ids = [Int32](repeating: config.startToken, count: B * T)
        for b in 0..<B { for t in 1..<max(T, 1) { ids[b * T + t] = batch.tokens[b * T + t - 1] } }
        return ids
    }

    /// The final hidden states [B·T, C] of input ids [B, T] (T ≤ maxLength). With `noiseSeed` (training, and
    /// `config.dropout` > 0) the embeddings, attention probabilities and both residual branches are dropped, the
    /// masks drawn from that seed in one order.
    private func hidden(_ ids: [Int32], batchSize B: Int, length T: Int, noiseSeed: UInt64? = nil) -> (Tensor, Cache) {
        precondition(T <= config.maxLength, "TransformerGenerator: \(T) tokens exceed the context of \(config.maxLength)")
        let C = config.width
        let training = noiseSeed != nil && config.dropout > 0
        let dropout = Dropout(keepProbability: training ? 1 - config.dropout : 1)
        var rng = SeededGenerator(seed: noiseSeed ?? 0)
        let positions = (0..<(B * T)).map { Int32($0 % T) }
        var h = tokenEmbedding.forward(ids)
        h.add(positionEmbedding.forward(positions), scaledBy: 1)
        let embeddingMask: Tensor?
        (h, embeddingMask) = dropout.forward(h, training: training, using: &rng)
        var caches: [(LayerNorm.Cache, CausalSelfAttention.Cache, LayerNorm.Cache, MLP.Cache, (Tensor?, Tensor?))] = []
        for block in blocks {
            let (a, aCache) = block.attentionNorm.forward(h)
            let (attended, attentionCache) = block.attention.forward(a.reshaped([B, T, C]), dropout: dropout,
                                                                     training: training, using: &rng)
            let (attendedOut, attentionMask) = dropout.forward(attended.reshaped([B * T, C]), training: training, using: &rng)
            h.add(attendedOut, scaledBy: 1)
            let (m, mCache) = block.mlpNorm.forward(h)
            let (mlpOut, mlpCache) = block.mlp.forward(m)
            let (mlpDropped, mlpMask) = dropout.forward(mlpOut, training: training, using: &rng)
            h.add(mlpDropped, scaledBy: 1)
            caches.append((aCache, attentionCache, mCache, mlpCache, (attentionMask, mlpMask)))
        }
        let (y, finalCache) = finalNorm.forward(h)
        return (y, Cache(ids: ids, positions: positions,
                         blocks: caches.map { ($0.0, $0.1, $0.2, $0.3, (attention: $0.4.0, mlp: $0.4.1)) },
                         finalNorm: finalCache, embeddingMask: embeddingMask))
    }

    /// The forward pass read in reverse, from d/d(final hidden states) [B·T, C]: parameter gradients accumulate.
    private func backward(_ dy: Tensor, cache: Cache, batchSize B: Int, length T: Int) {
        let C = config.width
        let dropout = Dropout(keepProbability: 1)  // the masks carry their scale
        var dh = finalNorm.backward(dy, cache: cache.finalNorm)
        for (block, c) in zip(blocks, cache.blocks).reversed() {
            let dMLP = dropout.backward(dh, mask: c.masks.mlp)
            dh.add(block.mlpNorm.backward(block.mlp.backward(dMLP, cache: c.mlp), cache: c.mlpNorm), scaledBy: 1)
            let dAttended = dropout.backward(dh, mask: c.masks.attention)
            let dAttention = block.attention.backward(dAttended.reshaped([B, T, C]), cache: c.attention)
            dh.add(block.attentionNorm.backward(dAttention.reshaped([B * T, C]), cache: c.attentionNorm), scaledBy: 1)
        }
        dh = dropout.backward(dh, mask: cache.embeddingMask)
        tokenEmbedding.backward(dh, ids: cache.ids)
        positionEmbedding.backward(dh, ids: cache.positions)
    }

    // MARK: - Teacher-forced likelihood

    @discardableResult
    public func weightedNLL(_ batch: TokenBatch, normalizer: Float?, backward: Bool) -> Float {
        let (B, T) = (batch.batchSize, batch.length)
        tieOutput()
        let precision = backward ? self.precision : .fp32
        let (y, cache) = hidden(inputIds(batch), batchSize: B, length: T, noiseSeed: backward ? batch.noiseSeed : nil)
        let (loss, dy) = output.softmaxCrossEntropy(y, targets: batch.tokens, weights: batch.weights,
                                                   normalizer: normalizer ?? Float(batch.realTokenCount),
                                                   backward: backward, precision: precision)
        if let dy {
            self.backward(dy, cache: cache, batchSize: B, length: T)
            untieGradient()
        }
        return loss
    }

    struct LogitsCache {
        let hidden: Tensor  // final hidden states [B·T, C]
        let model: Cache
        let batchSize: Int, length: Int
    }

    public func logits(_ batch: TokenBatch) -> (logits: Tensor, cache: Any) {
        let (B, T) = (batch.batchSize, batch.length)
        tieOutput()
        let (y, cache) = hidden(inputIds(batch), batchSize: B, length: T, noiseSeed: batch.noiseSeed)
        return (output.forward(y, precision: precision), LogitsCache(hidden: y, model: cache, batchSize: B, length: T))
    }

    public func logitsBackward(_ dLogits: Tensor, cache: Any) {
        guard let cache = cache as? LogitsCache else {
            preconditionFailure("TransformerGenerator.logitsBackward: not a Transformer's logits cache")
        }
        let dy = output.backward(dLogits, input: cache.hidden, precision: precision)
        backward(dy, cache: cache.model, batchSize: cache.batchSize, length: cache.length)
        untieGradient()
    }

    public func tokenLogProbabilities(_ batch: TokenBatch) -> [Float] {
        let (B, T, V) = (batch.batchSize, batch.length, config.vocabularySize)
        tieOutput()
        let (y, _) = hidden(inputIds(batch), batchSize: B, length: T)
        let logProbabilities = logSoftmax(output.forward(y))
        return (0..<(B * T)).map { logProbabilities.scalars[$0 * V + Int(batch.tokens[$0])] }
    }

    public func nextTokenLogProbabilities(after prefix: [Int32]) -> [Float] {
        let ids = [config.startToken] + prefix
        tieOutput()
        let (y, _) = hidden(ids, batchSize: 1, length: ids.count)
        let C = config.width
        let last = Tensor(shape: [1, C], scalars: Array(y.scalars[((ids.count - 1) * C)...]))
        return logSoftmax(output.forward(last)).scalars
    }

    // MARK: - Sampling

    public func sample(count: Int, options: SamplingOptions, prefix: [Int32], batchSize: Int,
                       using rng: inout SeededGenerator, shouldStop: () -> Bool) -> [[Int32]] {
        tieOutput()
        return sampleInBatches(count: count, batchSize: batchSize, using: &rng, shouldStop: shouldStop) { size, stream in
            continueSequencesCached([[Int32]](repeating: prefix, count: size), options: options, using: &stream,
                                    shouldStop: shouldStop)
        }
    }

    /// RelGAN's sampling (`SequenceGenerator.sampleGumbelMax`) with the key/value cache: one batch of `count`, its
    /// stream forked from `rng`.
    public func sampleGumbelMax(count: Int, using rng: inout SeededGenerator) -> (sequences: [[Int32]], perturbed: Tensor)? {
        tieOutput()
        return gumbelMaxBatch(count: count, length: config.maxLength, vocabularySize: config.vocabularySize,
                              using: &rng) { perturbed, stream in
            continueSequencesCached([[Int32]](repeating: [], count: count),
                                    draw: .gumbelMax(perturbed: perturbed, length: config.maxLength), using: &stream,
                                    shouldStop: { false })
        }
    }

    /// Extends every sequence until its end token or `maxLength` tokens (`options.maxLength` when smaller),
    /// re-running every unfinished sequence's whole prefix at each step: the straightforward twin of the cached path
    /// (`continueSequencesCached`), drawing the same uniforms in the same order.
    func continueSequencesByRerunning(_ sequences: [[Int32]], options: SamplingOptions = SamplingOptions(),
                                      using rng: inout SeededGenerator, shouldStop: () -> Bool = { false }) -> [[Int32]] {
        let (V, C) = (config.vocabularySize, config.width)
        let limit = min(options.maxLength ?? config.maxLength, config.maxLength)
        var sequences = sequences
        tieOutput()
        var sampler = TokenSampler(options: options, vocabularySize: V)
        func finished(_ s: [Int32]) -> Bool { s.count >= limit || (s.last != nil && s.last == config.endToken) }
        while !shouldStop() {
            let rows = sequences.indices.filter { !finished(sequences[$0]) }
            guard !rows.isEmpty else { break }
            let uniforms = sampler.usesRandomness ? rows.map { _ in rng.nextDouble() } : [Double](repeating: 0, count: rows.count)
            // Rows of equal length run together; every row's next token reads the last position of its prefix.
            for length in Set(rows.map { sequences[$0].count }).sorted() {
                let group = rows.enumerated().filter { sequences[$0.element].count == length }
                let T = length + 1
                let ids = group.flatMap { [config.startToken] + sequences[$0.element] }
                let (y, _) = hidden(ids, batchSize: group.count, length: T)
                var last = Tensor(zeros: [group.count, C])
                for g in 0..<group.count {
                    for c in 0..<C { last[g, c] = y.scalars[(g * T + T - 1) * C + c] }
                }
                let logits = output.forward(last, precision: precision)
                logits.withUnsafeBufferPointer { pl in
                    for (g, (i, b)) in group.enumerated() {
                        sequences[b].append(sampler.draw(pl.baseAddress! + g * V, uniform: uniforms[i],
                                                         history: sequences[b], endToken: config.endToken))
                    }
                }
            }
        }
        return sequences
    }

    // MARK: - Cached decoding

    /// Each layer's keys and values of every position so far, per sequence: [n, maxLength, C] each.
    struct KeyValueCache {
        var keys: [[Float]]
        var values: [[Float]]
        var length = 0

        init(layers: Int, rows: Int, maxLength: Int, width: Int) {
            keys = [[Float]](repeating: [Float](repeating: 0, count: rows * maxLength * width), count: layers)
            values = keys
        }
    }

    /// The next-token logits [n, V] after feeding `tokens` (one per row) at position `cache.length`, extending the
    /// cache: each layer's new query attends to the cached keys of positions 0 … length.
    func step(_ tokens: [Int32], cache: inout KeyValueCache) -> Tensor {
        output.forward(stepHidden(tokens, cache: &cache), precision: precision)
    }

    /// `step` before the output projection: the final hidden states [n, C], which sampling projects a block of
    /// rows at a time (`Linear.drawTokens`).
    func stepHidden(_ tokens: [Int32], cache: inout KeyValueCache) -> Tensor {
        let (n, C, T) = (tokens.count, config.width, config.maxLength)
        let p = cache.length
        precondition(p < T, "TransformerGenerator: position \(p) is past the context of \(T)")
        var h = tokenEmbedding.forward(tokens)
        positionEmbedding.table.value.withUnsafeBufferPointer { table in
            h.withUnsafeMutableBufferPointer { ph in
                for r in 0..<n { Vector.axpy(1, table.baseAddress! + p * C, ph.baseAddress! + r * C, count: C) }
            }
        }
        for (l, block) in blocks.enumerated() {
            let qkv = block.attention.qkv.forward(block.attentionNorm.forward(h).y)  // [n, 3C]
            var attended = Tensor(zeros: [n, C])
            qkv.withUnsafeBufferPointer { pq in
                cache.keys[l].withUnsafeMutableBufferPointer { pk in
                    cache.values[l].withUnsafeMutableBufferPointer { pv in
                        attended.withUnsafeMutableBufferPointer { pa in
                            let (q, k, v, a) = (pq.baseAddress!, pk.baseAddress!, pv.baseAddress!, pa.baseAddress!)
                            Parallel.forEachChunk(n, grain: 16) { range in
                                for r in range {
                                    let slot = (r * T + p) * C
                                    (k + slot).update(from: q + r * 3 * C + C, count: C)
                                    (v + slot).update(from: q + r * 3 * C + 2 * C, count: C)
                                    Self.attendToCache(query: q + r * 3 * C, keys: k + r * T * C, values: v + r * T * C,
                                                       positions: p + 1, heads: config.heads, width: C, into: a + r * C)
                                }
                            }
                        }
                    }
                }
            }
            h.add(block.attention.projection.forward(attended), scaledBy: 1)
            h.add(block.mlp.forward(block.mlpNorm.forward(h).y).y, scaledBy: 1)
        }
        cache.length += 1
        return finalNorm.forward(h).y
    }

    /// One query row [C] attending, head by head, to `positions` cached key and value rows [positions, C]:
    /// out[head] = softmax(q·Kᵀ/√D)·V. The flat fast path of the step; `continueSequencesByRerunning` is its twin.
    static func attendToCache(query q: UnsafePointer<Float>, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>,
                              positions: Int, heads: Int, width C: Int, into out: UnsafeMutablePointer<Float>) {
        // One C call per row (`CausalSelfAttention.attendCached`): per head and position a call to the vector kernels (a 16-wide
        // dot, a softmax of ≤ 20 scores, a 16-wide axpy) cost more in calls than in arithmetic.
        CausalSelfAttention.attendCached(query: q, keys: k, values: v, positions: positions, heads: heads, width: C,
                                         into: out)
    }

    /// Extends sequences of one length with the key/value cache: the prefix is fed once, then each step feeds only the new
    /// tokens of the unfinished rows (finished rows are fed their last token and ignored).
    func continueSequencesCached(_ sequences: [[Int32]], options: SamplingOptions = SamplingOptions(),
                                 using rng: inout SeededGenerator, shouldStop: () -> Bool = { false }) -> [[Int32]] {
        continueSequencesCached(sequences, draw: .sampler(options), using: &rng, shouldStop: shouldStop)
    }

    /// `continueSequencesCached` with each step's tokens drawn as `draw` says.
    func continueSequencesCached(_ sequences: [[Int32]], draw: TokenDraw, using rng: inout SeededGenerator,
                                 shouldStop: () -> Bool) -> [[Int32]] {
        let n = sequences.count
        guard n > 0 else { return [] }
        var cache = KeyValueCache(layers: config.layers, rows: n, maxLength: config.maxLength, width: config.width)
        // Feed the start token and all but the last prefix token; the decoding loop feeds the last.
        var inputs = [Int32](repeating: config.startToken, count: n)
        for t in 0..<sequences[0].count {
            _ = stepHidden(inputs, cache: &cache)
            inputs = sequences.map { $0[t] }
        }
        return decode(sequences, cache: &cache, inputs: inputs, draw: draw, using: &rng, shouldStop: shouldStop)
    }

    /// The decoding loop over a filled cache: feeds `inputs` (each row's last token) and draws, until every row has
    /// its end token or the length limit. The rows' uniforms are drawn in row order, one per unfinished row and step.
    func decode(_ sequences: [[Int32]], cache: inout KeyValueCache, inputs: [Int32], options: SamplingOptions,
                using rng: inout SeededGenerator, shouldStop: () -> Bool) -> [[Int32]] {
        decode(sequences, cache: &cache, inputs: inputs, draw: .sampler(options), using: &rng, shouldStop: shouldStop)
    }

    /// `decode` with each step's tokens drawn as `draw` says.
    func decode(_ sequences: [[Int32]], cache: inout KeyValueCache, inputs: [Int32], draw: TokenDraw,
                using rng: inout SeededGenerator, shouldStop: () -> Bool) -> [[Int32]] {
        let limit = min(draw.options.maxLength ?? config.maxLength, config.maxLength)
        var (sequences, inputs) = (sequences, inputs)
        func finished(_ s: [Int32]) -> Bool { s.count >= limit || (s.last != nil && s.last == config.endToken) }
        while !shouldStop() {
            let rows = sequences.indices.filter { !finished(sequences[$0]) }
            guard !rows.isEmpty else { break }
            let drawn = output.draw(draw, after: stepHidden(inputs, cache: &cache), rows: rows, sequences: sequences,
                                    endToken: config.endToken, precision: precision, using: &rng)
            for (i, b) in rows.enumerated() {
                sequences[b].append(drawn[i])
                inputs[b] = drawn[i]
            }
        }
        return sequences
    }

    /// Each layer's keys and values [B, T, C] of `sequences` in one teacher-forced pass (sequences shorter than the
    /// longest are padded with the start token after their end, which no earlier position sees).
    func keysAndValues(of sequences: [[Int32]]) -> (keys: [[Float]], values: [[Float]], length: Int) {
        let B = sequences.count, T = sequences.map(\.count).max() ?? 0, C = config.width
        guard B > 0, T > 0 else { return ([], [], 0) }
        var ids = [Int32](repeating: config.startToken, count: B * T)
        for (b, s) in sequences.enumerated() { for t in 1..<max(T, 1) where t - 1 < s.count { ids[b * T + t] = s[t - 1] } }
        let (_, cache) = hidden(ids, batchSize: B, length: T)
        var keys: [[Float]] = [], values: [[Float]] = []
        for block in cache.blocks {
            let qkv = block.attention.qkv
            var k = [Float](repeating: 0, count: B * T * C), v = k
            qkv.withUnsafeBufferPointer { pq in
                for row in 0..<(B * T) {
                    for c in 0..<C {
                        k[row * C + c] = pq[row * 3 * C + C + c]
                        v[row * C + c] = pq[row * 3 * C + 2 * C + c]
                    }
                }
            }
            keys.append(k)
            values.append(v)
        }
        return (keys, values, T)
    }

    public func prefixCompletions(of sequences: [[Int32]]) -> any PrefixCompletions {
        tieOutput()
        return TransformerPrefixCompletions(model: self, sequences: sequences)
    }
}

/// Completions share their prefix's keys and values, computed once for the whole batch in one teacher-forced pass
/// (as the LSTM's completions share its hidden state): completing y_1 … y_t copies positions 0 … t−1 into each
/// completion's cache and feeds y_t's predecessor, y_{t−1}, at position t.
struct TransformerPrefixCompletions: PrefixCompletions {
    let model: TransformerGenerator
    let sequences: [[Int32]]
    let keys: [[Float]], values: [[Float]]
    let length: Int

    init(model: TransformerGenerator, sequences: [[Int32]]) {
        self.model = model
        self.sequences = sequences
        (keys, values, length) = model.keysAndValues(of: sequences)
    }

    func complete(rows: [Int], length t: Int, times: Int, using rng: inout SeededGenerator) -> [[Int32]] {
        let (C, T) = (model.config.width, model.config.maxLength)
        let n = rows.count * times
        guard n > 0 else { return [] }
        precondition(t >= 1, "a completion continues a prefix of at least one token")
        var cache = TransformerGenerator.KeyValueCache(layers: model.config.layers, rows: n, maxLength: T, width: C)
        var inputs = [Int32](repeating: 0, count: n), prefixes: [[Int32]] = []
        prefixes.reserveCapacity(n)
        for l in 0..<model.config.layers {
            keys[l].withUnsafeBufferPointer { sk in
                values[l].withUnsafeBufferPointer { sv in
                    cache.keys[l].withUnsafeMutableBufferPointer { dk in
                        cache.values[l].withUnsafeMutableBufferPointer { dv in
                            for (i, b) in rows.enumerated() {
                                for r in 0..<times {
                                    let row = i * times + r
                                    (dk.baseAddress! + row * T * C).update(from: sk.baseAddress! + b * length * C, count: t * C)
                                    (dv.baseAddress! + row * T * C).update(from: sv.baseAddress! + b * length * C, count: t * C)
                                }
                            }
                        }
                    }
                }
            }
        }
        for b in rows {
            for _ in 0..<times {
                inputs[prefixes.count] = sequences[b][t - 1]
                prefixes.append(Array(sequences[b][..<t]))
            }
        }
        cache.length = t
        return model.decode(prefixes, cache: &cache, inputs: inputs, options: SamplingOptions(), using: &rng,
                            shouldStop: { false })
    }
}
