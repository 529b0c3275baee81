import Foundation
import Layers
import NumericCore

// The LSTM generator of SeqGAN: embedding → LSTM → vocabulary logits, read top to bottom:
// config, model, teacher-forced likelihood (MLE and the policy-gradient loss share it), sampling.
//
// Sequences are token ids. Step t's input is the previous token (the start token at t = 0) and its target is token t.
// Text corpora use bos as the start token and end every sequence with eos (sampling stops there; padding after it is
// masked out of every loss); the SeqGAN synthetic oracle has no end token and fixed length 20.

// MARK: - Config

public struct LSTMGeneratorConfig: Codable, Sendable, Equatable {
    /// Tokens the generator reads and writes (set by the corpus).
    public var vocabularySize: Int
    /// SeqGAN reference sizes: embedding 32, hidden 32.
    public var embeddingSize: Int = 32
    /// The LSTM's hidden and cell size (reference: 32).
    public var hiddenSize: Int = 32
    /// Most tokens a sampled sequence has (including its end token).
    public var maxLength: Int = 20
    /// Input at step 0: bos for text corpora, 0 for the SeqGAN oracle.
    public var startToken: Int32 = 0
    /// Sampling stops at this token; nil means fixed-length sequences (the oracle).
    public var endToken: Int32? = nil
    /// Every tensor starts N(0, initStd²), as in SeqGAN's reference (0.1).
    public var initStd: Float = 0.1
    /// The arithmetic of the vocabulary projection's products (`Precision`) in training (the likelihood's
    /// gradient passes, MLE and adversarial) and in sampling (rollouts included): fp32, or bf16 operands with fp32
    /// sums and fp32 master weights. Likelihoods that are reported (NLL-test, NLL-gen, the oracle's NLL) are
    /// computed in fp32 either way, so runs of both precisions are scored alike. fp32 by default: bf16 pays where
    /// the CPU multiplies bf16 faster (AMX; see docs/performance.md) and only the products with the vocabulary
    /// are large enough to matter in this 32-unit model.
    public var precision: Precision = .fp32

    public init(vocabularySize: Int, embeddingSize: Int = 32, hiddenSize: Int = 32, maxLength: Int = 20,
                startToken: Int32 = 0, endToken: Int32? = nil, initStd: Float = 0.1) {
        self.vocabularySize = vocabularySize
        self.embeddingSize = embeddingSize
        self.hiddenSize = hiddenSize
        self.maxLength = maxLength
        self.startToken = startToken
        self.endToken = endToken
        self.initStd = initStd
    }

    // Configs stored before a field existed decode with its default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = LSTMGeneratorConfig(vocabularySize: 0)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        embeddingSize = try c.decodeIfPresent(Int.self, forKey: .embeddingSize) ?? d.embeddingSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength) ?? d.maxLength
        startToken = try c.decodeIfPresent(Int32.self, forKey: .startToken) ?? d.startToken
        endToken = try c.decodeIfPresent(Int32.self, forKey: .endToken)
        initStd = try c.decodeIfPresent(Float.self, forKey: .initStd) ?? d.initStd
        precision = try c.decodeIfPresent(Precision.self, forKey: .precision) ?? d.precision
    }
}

// MARK: - Model

public final class LSTMGenerator: SequenceGenerator {
    public let config: LSTMGeneratorConfig
    public let embedding: Embedding
    public let lstm: LSTM
    public let output: Linear
    /// The arithmetic of the vocabulary products: `config.precision` where this CPU runs it, else fp32.
    let precision: Precision

    public init(_ config: LSTMGeneratorConfig, using rng: inout SeededGenerator) {
        precondition(config.vocabularySize > 0 && config.maxLength > 0, "LSTMGenerator: empty vocabulary or length")
        self.config = config
        precision = config.precision.runnable()
        let initializer = Initializer.normal(std: config.initStd)
        embedding = Embedding("generator.embedding", vocabularySize: config.vocabularySize,
                              embeddingSize: config.embeddingSize, initializer: initializer, using: &rng)
        lstm = LSTM("generator.lstm", inputSize: config.embeddingSize, hiddenSize: config.hiddenSize,
                    weightInit: initializer, biasInit: initializer, using: &rng)
        output = Linear("generator.output", inputSize: config.hiddenSize, outputSize: config.vocabularySize,
                        weightInit: initializer, biasInit: initializer, using: &rng)
    }

    public var parameters: [Parameter] { embedding.parameters + lstm.parameters + output.parameters }

    public var kind: String { LSTMGeneratorConfig.kind }
    public var vocabularySize: Int { config.vocabularySize }
    public var maxLength: Int { config.maxLength }
    public var startToken: Int32 { config.startToken }
    public var endToken: Int32? { config.endToken }
    public var tokenEmbeddings: [Parameter] { [embedding.table] }

    public func copy() -> LSTMGenerator {
        var unused = SeededGenerator(seed: 0)  // the values are overwritten below
        let model = LSTMGenerator(config, using: &unused)
        model.copyValues(from: self)
        return model
    }

    // MARK: - Teacher-forced likelihood

    /// Step inputs in time-major order: (t, b) ↦ token t−1 of sequence b, the start token at t = 0.
    private func inputIds(_ batch: TokenBatch) -> [Int32] {
        let (B, T) = (batch.batchSize, batch.length)
        var ids = [Int32](repeating: config.startToken, count: T * B)
        for t in 1..<max(T, 1) { for b in 0..<B { ids[t * B + b] = batch.tokens[b * T + t - 1] } }
        return ids
    }

    /// Batch-major [B, T] values reordered to time-major [T, B].
    private func timeMajor<E>(_ values: [E], _ batch: TokenBatch) -> [E] {
        let (B, T) = (batch.batchSize, batch.length)
        return (0..<(T * B)).map { values[($0 % B) * T + $0 / B] }
    }

    /// The weighted negative log-likelihood Σ w·(−log G(y_t | y_<t)) / normalizer, and, when `backward`, its
    /// gradient accumulated into every parameter. With weights = mask and normalizer = number of real tokens this is
    /// the MLE loss (mean NLL per token); with weights = rewards it is SeqGAN's policy-gradient loss.
    @discardableResult
    public func weightedNLL(_ batch: TokenBatch, normalizer: Float?, backward: Bool) -> Float {
        let (B, T, E) = (batch.batchSize, batch.length, config.embeddingSize)
        let ids = inputIds(batch)
        let x = embedding.forward(ids).reshaped([T, B, E])
        let (hidden, _, cache) = lstm.forward(x)
        let targets = timeMajor(batch.tokens, batch), weights = timeMajor(batch.weights, batch)
        let norm = normalizer ?? Float(batch.realTokenCount)
        // The output layer and the loss run block by block, so the [T·B, V] logits are never held whole.
        let (loss, dHidden) = output.softmaxCrossEntropy(hidden.reshaped([T * B, config.hiddenSize]), targets: targets,
                                                         weights: weights, normalizer: norm, backward: backward,
                                                         precision: backward ? self.precision : .fp32)
        guard let dHidden else { return loss }
        let (dx, _) = lstm.backward(dHidden.reshaped([T, B, config.hiddenSize]), cache: cache)
        embedding.backward(dx, ids: ids)
        return loss
    }

    struct LogitsCache {
        let ids: [Int32]
        let hidden: Tensor  // [T·B, H], time-major
        let lstm: LSTMCache
        let batchSize: Int, length: Int
    }

    public func logits(_ batch: TokenBatch) -> (logits: Tensor, cache: Any) {
        let (B, T, E, H, V) = (batch.batchSize, batch.length, config.embeddingSize, config.hiddenSize, config.vocabularySize)
        let ids = inputIds(batch)
        let (hidden, _, cache) = lstm.forward(embedding.forward(ids).reshaped([T, B, E]))
        // The product runs time-major over [T·B, H]; its rows are then reordered batch-major.
        let timeMajorLogits = output.forward(hidden.reshaped([T * B, H]), precision: precision)
        let logits = Tensor(uninitializedShape: [B * T, V]) { out in
            timeMajorLogits.withUnsafeBufferPointer { p in
                for b in 0..<B { for t in 0..<T { (out.baseAddress! + (b * T + t) * V).update(from: p.baseAddress! + (t * B + b) * V, count: V) } }
            }
        }
        return (logits, LogitsCache(ids: ids, hidden: hidden.reshaped([T * B, H]), lstm: cache, batchSize: B, length: T))
    }

    public func logitsBackward(_ dLogits: Tensor, cache: Any) {
        guard let cache = cache as? LogitsCache else { preconditionFailure("LSTMGenerator.logitsBackward: not an LSTM's logits cache") }
        let (B, T, H, V) = (cache.batchSize, cache.length, config.hiddenSize, config.vocabularySize)
        precondition(dLogits.shape == [B * T, V], "LSTMGenerator.logitsBackward: \(dLogits.shape) for [\(B * T), \(V)]")
        let timeMajor = Tensor(uninitializedShape: [T * B, V]) { out in
            dLogits.withUnsafeBufferPointer { p in
                for t in 0..<T { for b in 0..<B { (out.baseAddress! + (t * B + b) * V).update(from: p.baseAddress! + (b * T + t) * V, count: V) } }
            }
        }
        let dHidden = output.backward(timeMajor, input: cache.hidden, precision: precision)
        let (dx, _) = lstm.backward(dHidden.reshaped([T, B, H]), cache: cache.lstm)
        embedding.backward(dx, ids: cache.ids)
    }

    /// log G(y_t | y_<t) for every token, batch-major [B, T] (padding positions included; mask them yourself).
    public func tokenLogProbabilities(_ batch: TokenBatch) -> [Float] {
        let (B, T, E) = (batch.batchSize, batch.length, config.embeddingSize)
        let ids = inputIds(batch)
        let (hidden, _, _) = lstm.forward(embedding.forward(ids).reshaped([T, B, E]))
        let logits = output.forward(hidden.reshaped([T * B, config.hiddenSize]))
        let logProbabilities = logSoftmax(logits)
        var out = [Float](repeating: 0, count: B * T)
        for t in 0..<T {
            for b in 0..<B {
                out[b * T + t] = logProbabilities.scalars[(t * B + b) * config.vocabularySize + Int(batch.tokens[b * T + t])]
            }
        }
        return out
    }

    // MARK: - Sampling

    /// Samples `count` sequences, `batchSize` at a time. Each sequence continues `prefix` (which is part of the
    /// returned tokens) and ends at the end token or at `maxLength` tokens (`options.maxLength` when smaller).
    /// Every batch draws from its own stream forked from `rng` in batch order, so independent batches run side by
    /// side (one per thread) and the tokens do not depend on the thread count. `shouldStop` is asked before every
    /// round of batches and every step; once it returns true, sampling stops and the sequences are returned as they
    /// are (fewer than `count`, the last batches unfinished). An interactive caller cancels this way.
    public func sample(
        count: Int, options: SamplingOptions, prefix: [Int32], batchSize: Int, using rng: inout SeededGenerator,
        shouldStop: () -> Bool
    ) -> [[Int32]] {
        sampleInBatches(count: count, batchSize: batchSize, using: &rng, shouldStop: shouldStop) { size, stream in
            sampleBatch(size, options: options, prefix: prefix, using: &stream, shouldStop: shouldStop)
        }
    }

    /// RelGAN's sampling (`SequenceGenerator.sampleGumbelMax`): one batch of `count`, its stream forked from `rng`.
    public func sampleGumbelMax(count: Int, using rng: inout SeededGenerator) -> (sequences: [[Int32]], perturbed: Tensor)? {
        gumbelMaxBatch(count: count, length: config.maxLength, vocabularySize: config.vocabularySize, using: &rng) { perturbed, stream in
            continueSampling(from: LSTMState.zeros(batch: count, hidden: config.hiddenSize),
                             next: [Int32](repeating: config.startToken, count: count),
                             sequences: [[Int32]](repeating: [], count: count),
                             draw: .gumbelMax(perturbed: perturbed, length: config.maxLength), using: &stream,
                             shouldStop: { false })
        }
    }

    private func sampleBatch(
        _ n: Int, options: SamplingOptions, prefix: [Int32], using rng: inout SeededGenerator, shouldStop: () -> Bool
    ) -> [[Int32]] {
        var state = LSTMState.zeros(batch: n, hidden: config.hiddenSize)
        var current = [Int32](repeating: config.startToken, count: n)
        // Feed all but the last prefix token (teacher-forced); the loop below feeds `current` first.
        for token in prefix {
            state = lstm.step(embedding.forward(current), state)
            current = [Int32](repeating: token, count: n)
        }
        return continueSampling(
            from: state, next: current, sequences: [[Int32]](repeating: prefix, count: n), options: options, using: &rng,
            shouldStop: shouldStop)
    }

    /// Continues sequences from a state: `state` [n, H] is the LSTM state before feeding `next` (each row's last
    /// token, or the start token), and `sequences` are the tokens so far. Sampling stops per row at the end token or
    /// at `maxLength` tokens (`options.maxLength` when smaller), and for all rows once `shouldStop` returns true.
    /// Rollouts use this to complete prefixes from the hidden states of one teacher-forced pass.
    public func continueSampling(
        from state: LSTMState, next: [Int32], sequences: [[Int32]], options: SamplingOptions = SamplingOptions(),
        using rng: inout SeededGenerator, shouldStop: () -> Bool = { false }
    ) -> [[Int32]] {
        continueSampling(from: state, next: next, sequences: sequences, draw: .sampler(options), using: &rng,
                         shouldStop: shouldStop)
    }

    /// `continueSampling` with each step's tokens drawn as `draw` says.
    func continueSampling(
        from state: LSTMState, next: [Int32], sequences: [[Int32]], draw: TokenDraw, using rng: inout SeededGenerator,
        shouldStop: () -> Bool
    ) -> [[Int32]] {
        let n = sequences.count
        let maxLength = min(draw.options.maxLength ?? config.maxLength, config.maxLength)
        precondition(next.count == n && state.h.shape == [n, config.hiddenSize], "continueSampling: sizes disagree")
        precondition(maxLength >= 1, "continueSampling: maxLength must be at least 1")
        var state = state, current = next, sequences = sequences
        var finished = sequences.map { $0.count >= maxLength || ($0.last != nil && $0.last == config.endToken) }
        while !finished.allSatisfy({ $0 }) && !shouldStop() {
            state = lstm.step(embedding.forward(current), state)
            // The unfinished rows' randomness comes from `rng` in row order, as one sequential pass would draw it;
            // the rows are then drawn on several threads, so the thread count changes no token.
            let rows = (0..<n).filter { !finished[$0] }
            let drawn = output.draw(draw, after: state.h, rows: rows, sequences: sequences, endToken: config.endToken,
                                    precision: precision, using: &rng)
            for (i, b) in rows.enumerated() {
                let token = drawn[i]
                sequences[b].append(token)
                current[b] = token
                if token == config.endToken || sequences[b].count >= maxLength { finished[b] = true }
            }
        }
        return sequences
    }

    /// Rows processed together when drawing tokens (see `Linear.drawTokens`).
    static let sampleBlockRows = TokenSampler.blockRows

    /// log G(· | prefix): the log-probabilities [V] of the token that follows `prefix` (after the start token).
    public func nextTokenLogProbabilities(after prefix: [Int32]) -> [Float] {
        var state = LSTMState.zeros(batch: 1, hidden: config.hiddenSize)
        for token in [config.startToken] + prefix { state = lstm.step(embedding.forward([token]), state) }
        return logSoftmax(output.forward(state.h)).scalars
    }

    // MARK: - Completing prefixes (rollouts)

    /// The states of one teacher-forced pass over `sequences`, from which every prefix is completed.
    public func prefixCompletions(of sequences: [[Int32]]) -> any PrefixCompletions {
        let length = sequences.map(\.count).max() ?? 0
        return LSTMPrefixCompletions(model: self, sequences: sequences,
                                     states: prefixStates(TokenBatch(sequences: sequences, length: length)))
    }

    /// The LSTM states after each prefix, from one teacher-forced pass: element t (0…T) holds, for every sequence,
    /// the state after feeding the start token and tokens 1…t−1, i.e. the state that predicts token t.
    public func prefixStates(_ batch: TokenBatch) -> [LSTMState] {
        let (B, T, H, E) = (batch.batchSize, batch.length, config.hiddenSize, config.embeddingSize)
        let (_, _, cache) = lstm.forward(embedding.forward(inputIds(batch)).reshaped([T, B, E]))
        return (0...T).map { t in
            LSTMState(h: Tensor(shape: [B, H], scalars: Array(cache.hiddens.scalars[(t * B * H)..<((t + 1) * B * H)])),
                      c: Tensor(shape: [B, H], scalars: Array(cache.cells.scalars[(t * B * H)..<((t + 1) * B * H)])))
        }
    }
}

/// All completions of a batch's prefixes start from the hidden states of a single teacher-forced pass over the
/// batch, so no prefix is ever re-run.
struct LSTMPrefixCompletions: PrefixCompletions {
    let model: LSTMGenerator
    let sequences: [[Int32]]
    let states: [LSTMState]

    func complete(rows: [Int], length t: Int, times: Int, using rng: inout SeededGenerator) -> [[Int32]] {
        let H = model.config.hiddenSize, n = rows.count * times
        // The state that consumes y_t is the one after t inputs (start, y_1 … y_{t−1}), replicated per completion.
        var h = [Float](repeating: 0, count: n * H), c = h
        var next = [Int32](repeating: 0, count: n), prefixes: [[Int32]] = []
        prefixes.reserveCapacity(n)
        for (k, b) in rows.enumerated() {
            for r in 0..<times {
                let row = k * times + r
                h.replaceSubrange((row * H)..<((row + 1) * H), with: states[t].h.scalars[(b * H)..<((b + 1) * H)])
                c.replaceSubrange((row * H)..<((row + 1) * H), with: states[t].c.scalars[(b * H)..<((b + 1) * H)])
                next[row] = sequences[b][t - 1]
                prefixes.append(Array(sequences[b][..<t]))
            }
        }
        let start = LSTMState(h: Tensor(shape: [n, H], scalars: h), c: Tensor(shape: [n, H], scalars: c))
        return model.continueSampling(from: start, next: next, sequences: prefixes, using: &rng)
    }
}

extension LSTMGeneratorConfig: SequenceGeneratorConfig, CorpusFittedGeneratorConfig {
    public static let kind = "lstm"

    public func validate(section: String) throws {
        let check = ConfigCheck(section)
        try check.int("embeddingSize", embeddingSize, 1...8192)
        try check.int("hiddenSize", hiddenSize, 1...8192)
        try check.number("initStd", initStd, 0...10)
        try check.int("maxLength", maxLength, 1...100_000)
        try check.int("vocabularySize", vocabularySize, 0...10_000_000)
        try check.supported("precision", precision)
    }

    public func makeGenerator(using rng: inout SeededGenerator) -> any SequenceGenerator { LSTMGenerator(self, using: &rng) }
}
