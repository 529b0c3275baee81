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
// twin, which re-runs the whole prefix at every step, stays beside it and a test compares them. This first version
// has no dropout (the generator role's likelihood takes no random stream yet) and an output projection of its own
// (not tied to the embedding).

// MARK: - Config

public struct TransformerGeneratorConfig: Codable, Sendable, Equatable {
    public var vocabularySize: Int
    /// The context: the most tokens a sequence has (end token included); the position table's size.
    public var maxLength: Int = 20
    public var startToken: Int32 = 0
    public var endToken: Int32? = nil
    /// 2 layers, 4 heads of 16, width 64: GPT-2's shape scaled to sequences of 20–51 tokens and 2 CPU cores.
    public var layers: Int = 2
    public var heads: Int = 4
    public var width: Int = 64
    /// The MLP's hidden width as a multiple of `width` (GPT-2: 4).
    public var mlpExpansion: Int = 4
    /// Weights start N(0, initStd²) (GPT-2: 0.02); residual projections are scaled by 1/√(2·layers), as GPT-2 does.
    public var initStd: Float = 0.02

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
        try check.int("maxLength", maxLength, 1...100_000)
        try check.int("vocabularySize", vocabularySize, 0...10_000_000)
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

    public init(_ config: TransformerGeneratorConfig, using rng: inout SeededGenerator) {
        precondition(config.vocabularySize > 0 && config.maxLength > 0, "TransformerGenerator: empty vocabulary or context")
        self.config = config
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

    public var parameters: [Parameter] {
        tokenEmbedding.parameters + positionEmbedding.parameters + blocks.flatMap(\.parameters) + finalNorm.parameters
            + output.parameters
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
                      mlp: MLP.Cache)]
        let finalNorm: LayerNorm.Cache
    }

    /// Step inputs, batch-major [B, T]: (b, t) ↦ token t−1 of sequence b, the start token at t = 0.
    private func inputIds(_ batch: TokenBatch) -> [Int32] {
        let (B, T) = (batch.batchSize, batch.length)
        var ids = [Int32](repeating: config.startToken, count: B * T)
        for b in 0..<B { for t in 1..<max(T, 1) { ids[b * T + t] = batch.tokens[b * T + t - 1] } }
        return ids
    }

    /// The final hidden states [B·T, C] of input ids [B, T] (T ≤ maxLength).
    private func hidden(_ ids: [Int32], batchSize B: Int, length T: Int) -> (Tensor, Cache) {
        precondition(T <= config.maxLength, "TransformerGenerator: \(T) tokens exceed the context of \(config.maxLength)")
        let C = config.width
        let positions = (0..<(B * T)).map { Int32($0 % T) }
        var h = tokenEmbedding.forward(ids)
        h.add(positionEmbedding.forward(positions), scaledBy: 1)
        var caches: [(LayerNorm.Cache, CausalSelfAttention.Cache, LayerNorm.Cache, MLP.Cache)] = []
        for block in blocks {
            let (a, aCache) = block.attentionNorm.forward(h)
            let (attended, attentionCache) = block.attention.forward(a.reshaped([B, T, C]))
            h.add(attended.reshaped([B * T, C]), scaledBy: 1)
            let (m, mCache) = block.mlpNorm.forward(h)
            let (mlpOut, mlpCache) = block.mlp.forward(m)
            h.add(mlpOut, scaledBy: 1)
            caches.append((aCache, attentionCache, mCache, mlpCache))
        }
        let (y, finalCache) = finalNorm.forward(h)
        return (y, Cache(ids: ids, positions: positions, blocks: caches.map { ($0.0, $0.1, $0.2, $0.3) },
                         finalNorm: finalCache))
    }

    /// The forward pass read in reverse, from d/d(final hidden states) [B·T, C]: parameter gradients accumulate.
    private func backward(_ dy: Tensor, cache: Cache, batchSize B: Int, length T: Int) {
        let C = config.width
        var dh = finalNorm.backward(dy, cache: cache.finalNorm)
        for (block, c) in zip(blocks, cache.blocks).reversed() {
            dh.add(block.mlpNorm.backward(block.mlp.backward(dh, cache: c.mlp), cache: c.mlpNorm), scaledBy: 1)
            let dAttention = block.attention.backward(dh.reshaped([B, T, C]), cache: c.attention)
            dh.add(block.attentionNorm.backward(dAttention.reshaped([B * T, C]), cache: c.attentionNorm), scaledBy: 1)
        }
        tokenEmbedding.backward(dh, ids: cache.ids)
        positionEmbedding.backward(dh, ids: cache.positions)
    }

    // MARK: - Teacher-forced likelihood

    @discardableResult
    public func weightedNLL(_ batch: TokenBatch, normalizer: Float?, backward: Bool) -> Float {
        let (B, T) = (batch.batchSize, batch.length)
        let (y, cache) = hidden(inputIds(batch), batchSize: B, length: T)
        let (loss, dy) = output.softmaxCrossEntropy(y, targets: batch.tokens, weights: batch.weights,
                                                   normalizer: normalizer ?? Float(batch.realTokenCount),
                                                   backward: backward)
        if let dy { self.backward(dy, cache: cache, batchSize: B, length: T) }
        return loss
    }

    public func tokenLogProbabilities(_ batch: TokenBatch) -> [Float] {
        let (B, T, V) = (batch.batchSize, batch.length, config.vocabularySize)
        let (y, _) = hidden(inputIds(batch), batchSize: B, length: T)
        let logProbabilities = logSoftmax(output.forward(y))
        return (0..<(B * T)).map { logProbabilities.scalars[$0 * V + Int(batch.tokens[$0])] }
    }

    public func nextTokenLogProbabilities(after prefix: [Int32]) -> [Float] {
        let ids = [config.startToken] + prefix
        let (y, _) = hidden(ids, batchSize: 1, length: ids.count)
        let C = config.width
        let last = Tensor(shape: [1, C], scalars: Array(y.scalars[((ids.count - 1) * C)...]))
        return logSoftmax(output.forward(last)).scalars
    }

    // MARK: - Sampling

    public func sample(count: Int, options: SamplingOptions, prefix: [Int32], batchSize: Int,
                       using rng: inout SeededGenerator, shouldStop: () -> Bool) -> [[Int32]] {
        precondition(batchSize > 0, "sample: batchSize must be positive")
        var out: [[Int32]] = []
        for start in stride(from: 0, to: max(count, 0), by: batchSize) where !shouldStop() {
            out += continueSequences([[Int32]](repeating: prefix, count: min(batchSize, count - start)),
                                     options: options, using: &rng, shouldStop: shouldStop)
        }
        return out
    }

    /// Extends every sequence until its end token or `maxLength` tokens (`options.maxLength` when smaller); the rows'
    /// uniforms are drawn in row order, so the tokens do not depend on the thread count. Sequences of one length (as
    /// sampling and rollouts give) run with the key-value cache, others by re-running prefixes.
    func continueSequences(_ sequences: [[Int32]], options: SamplingOptions = SamplingOptions(),
                           using rng: inout SeededGenerator, shouldStop: () -> Bool = { false }) -> [[Int32]] {
        guard let length = sequences.first?.count, sequences.allSatisfy({ $0.count == length }) else {
            return continueSequencesByRerunning(sequences, options: options, using: &rng, shouldStop: shouldStop)
        }
        return continueSequencesCached(sequences, options: options, using: &rng, shouldStop: shouldStop)
    }

    /// `continueSequences` re-running every unfinished sequence's whole prefix at each step: the straightforward
    /// twin of the cached path.
    func continueSequencesByRerunning(_ sequences: [[Int32]], options: SamplingOptions = SamplingOptions(),
                                      using rng: inout SeededGenerator, shouldStop: () -> Bool = { false }) -> [[Int32]] {
        let (V, C) = (config.vocabularySize, config.width)
        let limit = min(options.maxLength ?? config.maxLength, config.maxLength)
        var sequences = sequences
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
                let logits = output.forward(last)
                logits.withUnsafeBufferPointer { pl in
                    for (g, (i, b)) in group.enumerated() {
                        sequences[b].append(sampler.draw(pl.baseAddress! + g * V, uniform: uniforms[i]))
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
        let (n, C, T) = (tokens.count, config.width, config.maxLength)
        let (H, D) = (config.heads, config.width / config.heads)
        let p = cache.length
        precondition(p < T, "TransformerGenerator: position \(p) is past the context of \(T)")
        var h = tokenEmbedding.forward(tokens)
        h.add(positionEmbedding.forward([Int32](repeating: Int32(p), count: n)), scaledBy: 1)
        let scale = 1 / Float(D).squareRoot()
        var scores = [Float](repeating: 0, count: p + 1)
        for (l, block) in blocks.enumerated() {
            let qkv = block.attention.qkv.forward(block.attentionNorm.forward(h).y)  // [n, 3C]
            var attended = Tensor(zeros: [n, C])
            for r in 0..<n {
                let row = r * 3 * C, slot = (r * T + p) * C
                for c in 0..<C {
                    cache.keys[l][slot + c] = qkv.scalars[row + C + c]
                    cache.values[l][slot + c] = qkv.scalars[row + 2 * C + c]
                }
                for head in 0..<H {
                    let o = head * D
                    for j in 0...p {
                        var dot: Float = 0
                        for d in 0..<D { dot += qkv.scalars[row + o + d] * cache.keys[l][(r * T + j) * C + o + d] }
                        scores[j] = dot * scale
                    }
                    scores.withUnsafeMutableBufferPointer { s in Softmax.forward(s.baseAddress!, s.baseAddress!, rows: 1, columns: p + 1) }
                    for j in 0...p {
                        for d in 0..<D { attended[r, o + d] += scores[j] * cache.values[l][(r * T + j) * C + o + d] }
                    }
                }
            }
            h.add(block.attention.projection.forward(attended), scaledBy: 1)
            h.add(block.mlp.forward(block.mlpNorm.forward(h).y).y, scaledBy: 1)
        }
        cache.length += 1
        return output.forward(finalNorm.forward(h).y)
    }

    /// `continueSequences` for sequences of one length: the prefix is fed once, then each step feeds only the new
    /// tokens of the unfinished rows (finished rows are fed their last token and ignored).
    func continueSequencesCached(_ sequences: [[Int32]], options: SamplingOptions = SamplingOptions(),
                                 using rng: inout SeededGenerator, shouldStop: () -> Bool = { false }) -> [[Int32]] {
        let V = config.vocabularySize
        let limit = min(options.maxLength ?? config.maxLength, config.maxLength)
        var sequences = sequences
        let n = sequences.count
        guard n > 0 else { return [] }
        func finished(_ s: [Int32]) -> Bool { s.count >= limit || (s.last != nil && s.last == config.endToken) }
        var cache = KeyValueCache(layers: config.layers, rows: n, maxLength: config.maxLength, width: config.width)
        var sampler = TokenSampler(options: options, vocabularySize: V)
        // Feed the start token and all but the last prefix token; the loop feeds the last.
        var inputs = [Int32](repeating: config.startToken, count: n)
        for t in 0..<sequences[0].count {
            _ = step(inputs, cache: &cache)
            inputs = sequences.map { $0[t] }
        }
        while !shouldStop() {
            let rows = sequences.indices.filter { !finished(sequences[$0]) }
            guard !rows.isEmpty else { break }
            let uniforms = sampler.usesRandomness ? rows.map { _ in rng.nextDouble() } : [Double](repeating: 0, count: rows.count)
            let logits = step(inputs, cache: &cache)
            logits.withUnsafeBufferPointer { pl in
                for (i, b) in rows.enumerated() {
                    let token = sampler.draw(pl.baseAddress! + b * V, uniform: uniforms[i])
                    sequences[b].append(token)
                    inputs[b] = token
                }
            }
        }
        return sequences
    }

    public func prefixCompletions(of sequences: [[Int32]]) -> any PrefixCompletions {
        TransformerPrefixCompletions(model: self, sequences: sequences)
    }
}

/// Completions re-run each prefix (there is no recurrent state to reuse).
struct TransformerPrefixCompletions: PrefixCompletions {
    let model: TransformerGenerator
    let sequences: [[Int32]]

    func complete(rows: [Int], length: Int, times: Int, using rng: inout SeededGenerator) -> [[Int32]] {
        let prefixes = rows.flatMap { b in [[Int32]](repeating: Array(sequences[b].prefix(length)), count: times) }
        return model.continueSequences(prefixes, using: &rng)
    }
}
