import Foundation
import Layers
import NumericCore

// TextGAN's generator (Zhang et al., ICML 2017): an LSTM conditioned on a latent code z, read top to bottom: config,
// model, teacher-forced likelihood, sampling, and the soft-argmax decoding that TextGAN trains through.
//
//   z ~ U(−1, 1)^n_z (or N(0, I))     h_0 = tanh(z·C + c)   c_0 = 0
//   step t: input [e(y_{t−1}); z] (the start token at t = 0) → LSTM → o_t = h_t·W + b (logits over the vocabulary)
//
// Sampling feeds the drawn token's embedding; the soft-argmax decoding feeds softmax(L·o_t)·E instead (L = 1000 makes
// it nearly the arg-max's embedding while staying differentiable), so D's loss on the rows softmax(L·o_t) reaches
// every parameter through every step. Departures from the ICML code: step 0 reads the start token (the code predicts
// the first word from h_0 itself), and the output layer is an ordinary linear map (the code factors it through the
// word embedding, h·V·Eᵀ). Both keep the model family and make it a generator like the others.

// MARK: - Config

public struct LatentLSTMGeneratorConfig: Codable, Sendable, Equatable {
    /// Tokens the generator reads and writes (set by the corpus).
    public var vocabularySize: Int
    /// The PyTorch reference's sizes (embedding 32, hidden 32, z 32): SeqGAN's LSTM with a code beside it.
    public var embeddingSize: Int = 32
    /// The LSTM's hidden and cell size.
    public var hiddenSize: Int = 32
    /// n_z. The ICML code ties it to D's feature count (900); 32 keeps the reconstruction head small here.
    public var latentSize: Int = 32
    /// The law of z: uniform on (−1, 1)^n_z (the ICML code's) or normal N(0, I).
    public var prior: LatentPrior = .uniform
    /// Most tokens a sampled sequence has, end token included (set by the corpus).
    public var maxLength: Int = 20
    /// Input at step 0: bos for text corpora (set by the corpus).
    public var startToken: Int32 = 0
    /// Sampling stops at this token; nil: fixed-length sequences (set by the corpus).
    public var endToken: Int32? = nil
    /// Every tensor starts N(0, initStd²), as the LSTM generator's.
    public var initStd: Float = 0.1

    public init(vocabularySize: Int, embeddingSize: Int = 32, hiddenSize: Int = 32, latentSize: Int = 32,
                prior: LatentPrior = .uniform, maxLength: Int = 20, startToken: Int32 = 0, endToken: Int32? = nil,
                initStd: Float = 0.1) {
        self.vocabularySize = vocabularySize
        self.embeddingSize = embeddingSize
        self.hiddenSize = hiddenSize
        self.latentSize = latentSize
        self.prior = prior
        self.maxLength = maxLength
        self.startToken = startToken
        self.endToken = endToken
        self.initStd = initStd
    }
}

// MARK: - Model

public final class LatentLSTMGenerator: LatentSequenceGenerator {
    public let config: LatentLSTMGeneratorConfig
    public let embedding: Embedding
    /// z → the pre-activation of h_0.
    public let initialState: Linear
    /// Input [e; z] of embeddingSize + latentSize.
    public let lstm: LSTM
    public let output: Linear

    /// The stream of the codes that teacher-forced passes without a `noiseSeed` use (evaluation, scoring).
    static let fixedLatentSeed: UInt64 = 0x7A7A_17E0

    public init(_ config: LatentLSTMGeneratorConfig, using rng: inout SeededGenerator) {
        precondition(config.vocabularySize > 0 && config.maxLength > 0 && config.latentSize > 0,
                     "LatentLSTMGenerator: empty vocabulary, length or code")
        self.config = config
        let initializer = Initializer.normal(std: config.initStd)
        embedding = Embedding("generator.embedding", vocabularySize: config.vocabularySize,
                              embeddingSize: config.embeddingSize, initializer: initializer, using: &rng)
        initialState = Linear("generator.latent", inputSize: config.latentSize, outputSize: config.hiddenSize,
                              weightInit: initializer, biasInit: initializer, using: &rng)
        lstm = LSTM("generator.lstm", inputSize: config.embeddingSize + config.latentSize, hiddenSize: config.hiddenSize,
                    weightInit: initializer, biasInit: initializer, using: &rng)
        output = Linear("generator.output", inputSize: config.hiddenSize, outputSize: config.vocabularySize,
                        weightInit: initializer, biasInit: initializer, using: &rng)
    }

    public var parameters: [Parameter] {
        embedding.parameters + initialState.parameters + lstm.parameters + output.parameters
    }

    public var kind: String { LatentLSTMGeneratorConfig.kind }
    public var vocabularySize: Int { config.vocabularySize }
    public var maxLength: Int { config.maxLength }
    public var startToken: Int32 { config.startToken }
    public var endToken: Int32? { config.endToken }
    public var tokenEmbeddings: [Parameter] { [embedding.table] }
    public var latentSize: Int { config.latentSize }
    public var latentPrior: LatentPrior { config.prior }
    /// Every training pass draws its codes.
    public var drawsTrainingNoise: Bool { true }

    public func copy() -> LatentLSTMGenerator {
        var unused = SeededGenerator(seed: 0)  // the values are overwritten below
        let model = LatentLSTMGenerator(config, using: &unused)
        model.copyValues(from: self)
        return model
    }

    public func drawLatents(count: Int, using rng: inout SeededGenerator) -> Tensor {
        let Z = config.latentSize
        switch config.prior {
        case .uniform: return Tensor(randomUniform: [count, Z], low: -1, high: 1, using: &rng)
        case .normal: return Tensor(randomNormal: [count, Z], using: &rng)
        }
    }

    /// h_0 = tanh(z·C + c) [B, H].
    private func initialHidden(_ z: Tensor) -> Tensor {
        var h = initialState.forward(z)
        h.withUnsafeMutableBufferPointer { Vector.tanh($0.baseAddress!, $0.baseAddress!, count: $0.count) }
        return h
    }

    /// d/d(C, c) of h_0 = tanh(z·C + c), from d/dh_0; returns d/dz.
    @discardableResult
    private func initialHiddenBackward(_ dh0: Tensor, h0: Tensor, z: Tensor) -> Tensor {
        var dPre = dh0
        for i in 0..<dPre.count { dPre.scalars[i] *= 1 - h0.scalars[i] * h0.scalars[i] }
        return initialState.backward(dPre, input: z)
    }

    /// [e; z] rows [n, E + Z] from embedding rows [n, E] and each row's code (`codeOfRow`).
    private func joined(_ embedded: Tensor, _ z: Tensor, codeOfRow: (Int) -> Int) -> Tensor {
        let (E, Z) = (config.embeddingSize, config.latentSize)
        let n = embedded.count / E
        return Tensor(uninitializedShape: [n, E + Z]) { out in
            embedded.withUnsafeBufferPointer { pe in
                z.withUnsafeBufferPointer { pz in
                    for r in 0..<n {
                        (out.baseAddress! + r * (E + Z)).update(from: pe.baseAddress! + r * E, count: E)
                        (out.baseAddress! + r * (E + Z) + E).update(from: pz.baseAddress! + codeOfRow(r) * Z, count: Z)
                    }
                }
            }
        }
    }

    // MARK: - Teacher-forced likelihood

    struct TeacherForcedCache {
        let ids: [Int32]
        let z: Tensor
        let h0: Tensor
        let lstm: LSTMCache
    }

    /// The codes [B, n_z] of a teacher-forced pass without given ones: drawn from the batch's `noiseSeed` (else the
    /// fixed stream), one per sequence.
    private func codes(for batch: TokenBatch) -> Tensor {
        var codes = SeededGenerator(seed: batch.noiseSeed ?? Self.fixedLatentSeed)
        return drawLatents(count: batch.batchSize, using: &codes)
    }

    /// The hidden states [T·B, H] (time-major) of a teacher-forced pass, sequence b under code z[b].
    private func teacherForced(_ batch: TokenBatch, latents z: Tensor) -> (hidden: Tensor, cache: TeacherForcedCache) {
        let (B, T, E, Z) = (batch.batchSize, batch.length, config.embeddingSize, config.latentSize)
        precondition(z.shape == [B, Z], "LatentLSTMGenerator: codes \(z.shape) for a batch of \(B) and n_z = \(Z)")
        var ids = [Int32](repeating: config.startToken, count: T * B)
        for t in 1..<max(T, 1) { for b in 0..<B { ids[t * B + b] = batch.tokens[b * T + t - 1] } }
        let x = joined(embedding.forward(ids), z) { $0 % B }.reshaped([T, B, E + Z])
        let h0 = initialHidden(z)
        let (hidden, _, cache) = lstm.forward(x, initial: LSTMState(h: h0, c: Tensor(zeros: [B, config.hiddenSize])))
        return (hidden.reshaped([T * B, config.hiddenSize]), TeacherForcedCache(ids: ids, z: z, h0: h0, lstm: cache))
    }

    @discardableResult
    public func weightedNLL(_ batch: TokenBatch, normalizer: Float?, backward: Bool) -> Float {
        weightedNLL(batch, latents: codes(for: batch), normalizer: normalizer, backward: backward).value
    }

    public func weightedNLL(_ batch: TokenBatch, latents z: Tensor, normalizer: Float?, backward: Bool)
        -> (value: Float, dLatents: Tensor?) {
        let (B, T, E, Z, H) = (batch.batchSize, batch.length, config.embeddingSize, config.latentSize, config.hiddenSize)
        let (hidden, cache) = teacherForced(batch, latents: z)
        let order = (0..<(T * B)).map { ($0 % B) * T + $0 / B }  // time-major row → batch-major index
        let (loss, dHidden) = output.softmaxCrossEntropy(
            hidden, targets: order.map { batch.tokens[$0] }, weights: order.map { batch.weights[$0] },
            normalizer: normalizer ?? Float(batch.realTokenCount), backward: backward)
        guard let dHidden else { return (loss, nil) }
        let (dx, dInitial) = lstm.backward(dHidden.reshaped([T, B, H]), cache: cache.lstm)
        // Each input's gradient splits into its embedding half and its code half; z is read by every step and by h_0.
        var dz = initialHiddenBackward(dInitial.h, h0: cache.h0, z: cache.z)
        let dEmbedded = Tensor(uninitializedShape: [T * B, E]) { out in
            dx.withUnsafeBufferPointer { p in
                dz.withUnsafeMutableBufferPointer { pz in
                    for r in 0..<(T * B) {
                        (out.baseAddress! + r * E).update(from: p.baseAddress! + r * (E + Z), count: E)
                        let code = pz.baseAddress! + (r % B) * Z, from = p.baseAddress! + r * (E + Z) + E
                        for j in 0..<Z { code[j] += from[j] }
                    }
                }
            }
        }
        embedding.backward(dEmbedded, ids: cache.ids)
        return (loss, dz)
    }

    public func tokenLogProbabilities(_ batch: TokenBatch) -> [Float] {
        let (B, T, V) = (batch.batchSize, batch.length, config.vocabularySize)
        let logProbabilities = logSoftmax(output.forward(teacherForced(batch, latents: codes(for: batch)).hidden))
        var out = [Float](repeating: 0, count: B * T)
        for t in 0..<T {
            for b in 0..<B { out[b * T + t] = logProbabilities.scalars[(t * B + b) * V + Int(batch.tokens[b * T + t])] }
        }
        return out
    }

    /// Under the first code of the fixed stream (the one a teacher-forced pass without a seed gives sequence 0).
    public func nextTokenLogProbabilities(after prefix: [Int32]) -> [Float] {
        var codes = SeededGenerator(seed: Self.fixedLatentSeed)
        let z = drawLatents(count: 1, using: &codes)
        var state = LSTMState(h: initialHidden(z), c: Tensor(zeros: [1, config.hiddenSize]))
        for token in [config.startToken] + prefix {
            state = lstm.step(joined(embedding.forward([token]), z) { _ in 0 }, state)
        }
        return logSoftmax(output.forward(state.h)).scalars
    }

    // MARK: - Sampling

    /// Each sequence decodes from its own code — `options.latent` when given (all from that one), else drawn from
    /// the prior with the batch's stream before its tokens — so seeds and codes make samples reproducible.
    public func sample(
        count: Int, options: SamplingOptions, prefix: [Int32], batchSize: Int, using rng: inout SeededGenerator,
        shouldStop: () -> Bool
    ) -> [[Int32]] {
        if let latent = options.latent {
            precondition(latent.count == config.latentSize, "sample: a code of \(latent.count) values for n_z = \(config.latentSize)")
        }
        return sampleInBatches(count: count, batchSize: batchSize, using: &rng, shouldStop: shouldStop) { n, stream in
            let z = options.latent.map { code in Tensor(shape: [n, code.count], scalars: (0..<n).flatMap { _ in code }) }
                ?? drawLatents(count: n, using: &stream)
            return decode(z, prefixes: [[Int32]](repeating: prefix, count: n), options: options, using: &stream,
                          shouldStop: shouldStop)
        }
    }

    /// Continues `prefixes` under codes z [n, n_z]: the prefixes are fed teacher-forced, then tokens are drawn until
    /// each row ends (end token or the length limit).
    private func decode(_ z: Tensor, prefixes: [[Int32]], options: SamplingOptions, using rng: inout SeededGenerator,
                        shouldStop: () -> Bool) -> [[Int32]] {
        let n = prefixes.count
        let maxLength = min(options.maxLength ?? config.maxLength, config.maxLength)
        var state = LSTMState(h: initialHidden(z), c: Tensor(zeros: [n, config.hiddenSize]))
        var sequences = prefixes
        var current = [Int32](repeating: config.startToken, count: n)
        for t in 0..<(prefixes.map(\.count).max() ?? 0) {
            // Rows whose prefix is shorter stop being fed (all rows share one prefix length in practice).
            state = lstm.step(joined(embedding.forward(current), z) { $0 }, state)
            for b in 0..<n where t < prefixes[b].count { current[b] = prefixes[b][t] }
        }
        var finished = sequences.map { $0.count >= maxLength || ($0.last != nil && $0.last == config.endToken) }
        let randomized = TokenSampler(options: options, vocabularySize: config.vocabularySize).usesRandomness
        while !finished.allSatisfy({ $0 }) && !shouldStop() {
            state = lstm.step(joined(embedding.forward(current), z) { $0 }, state)
            let rows = (0..<n).filter { !finished[$0] }
            let uniforms = randomized ? rows.map { _ in rng.nextDouble() } : [Double](repeating: 0, count: rows.count)
            let drawn = output.drawTokens(after: state.h, rows: rows, uniforms: uniforms, options: options)
            for (i, b) in rows.enumerated() {
                sequences[b].append(drawn[i])
                current[b] = drawn[i]
                if drawn[i] == config.endToken || sequences[b].count >= maxLength { finished[b] = true }
            }
        }
        return sequences
    }

    /// Completions under fresh codes (the code a prefix was sampled with is not kept): what SeqGAN's rollouts would
    /// need is the prefix's own code, which is why SeqGAN refuses latent generators.
    public func prefixCompletions(of sequences: [[Int32]]) -> any PrefixCompletions {
        LatentPrefixCompletions(model: self, sequences: sequences)
    }

    struct LatentPrefixCompletions: PrefixCompletions {
        let model: LatentLSTMGenerator
        let sequences: [[Int32]]

        func complete(rows: [Int], length: Int, times: Int, using rng: inout SeededGenerator) -> [[Int32]] {
            let prefixes = rows.flatMap { b in [[Int32]](repeating: Array(sequences[b].prefix(length)), count: times) }
            let z = model.drawLatents(count: prefixes.count, using: &rng)
            return model.decode(z, prefixes: prefixes, options: SamplingOptions(), using: &rng, shouldStop: { false })
        }
    }

    // MARK: - Soft-argmax decoding

    struct SoftArgmaxCache {
        /// Step inputs [T, B, E + Z], gates, cells and hidden states as `LSTMCache` holds them.
        let x: Tensor, gates: Tensor, cells: Tensor, hiddens: Tensor, tanhCells: Tensor
        /// softmax(L·o_t) time-major [T, B, V].
        let probabilities: Tensor
        let h0: Tensor
    }

    public func softArgmaxDecode(latents z: Tensor, length T: Int, sharpness L: Float) -> SoftArgmaxDecoding {
        let (B, E, Z, H, V) = (z.matrixShape.0, config.embeddingSize, config.latentSize, config.hiddenSize, config.vocabularySize)
        precondition(z.matrixShape.1 == Z && T > 0, "softArgmaxDecode: codes \(z.shape) for n_z = \(Z), length \(T)")
        let (I, G) = (E + Z, 4 * H)
        var x = Tensor(zeros: [T, B, I]), gates = Tensor(zeros: [T, B, G])
        var cells = Tensor(zeros: [T + 1, B, H]), hiddens = Tensor(zeros: [T + 1, B, H]), tanhCells = Tensor(zeros: [T, B, H])
        var probabilities = Tensor(uninitializedShape: [T, B, V]) { _ in }  // every row is written below
        let h0 = initialHidden(z)
        var tokens = [Int32](repeating: 0, count: B * T)
        let start = embedding.forward([config.startToken])
        x.withUnsafeMutableBufferPointer { px in
            z.withUnsafeBufferPointer { pz in
                for b in 0..<B {
                    (px.baseAddress! + b * I).update(from: start.scalars, count: E)
                    for t in 0..<T { (px.baseAddress! + (t * B + b) * I + E).update(from: pz.baseAddress! + b * Z, count: Z) }
                }
            }
        }
        hiddens.scalars.replaceSubrange(0..<(B * H), with: h0.scalars)
        x.withUnsafeMutableBufferPointer { px in
            gates.withUnsafeMutableBufferPointer { pg in
                cells.withUnsafeMutableBufferPointer { pc in
                    hiddens.withUnsafeMutableBufferPointer { ph in
                        tanhCells.withUnsafeMutableBufferPointer { ptc in
                            probabilities.withUnsafeMutableBufferPointer { pp in
                                lstm.inputWeight.value.withUnsafeBufferPointer { wx in
                                    lstm.recurrentWeight.value.withUnsafeBufferPointer { wh in
                                        lstm.bias.value.withUnsafeBufferPointer { pb in
                                            embedding.table.value.withUnsafeBufferPointer { pe in
                                                tokens.withUnsafeMutableBufferPointer { pt in
                                                for t in 0..<T {
                                                    let g = pg.baseAddress! + t * B * G, p = pp.baseAddress! + t * B * V
                                                    gemm(m: B, n: G, k: I, px.baseAddress! + t * B * I, lda: I, wx.baseAddress!,
                                                         ldb: G, beta: 0, g, ldc: G, bias: pb.baseAddress!)
                                                    gemm(m: B, n: G, k: H, ph.baseAddress! + t * B * H, lda: H, wh.baseAddress!,
                                                         ldb: G, beta: 1, g, ldc: G)
                                                    LSTM.cellForward(
                                                        gates: g, cPrev: pc.baseAddress! + t * B * H,
                                                        c: pc.baseAddress! + (t + 1) * B * H, tanhC: ptc.baseAddress! + t * B * H,
                                                        h: ph.baseAddress! + (t + 1) * B * H, batch: B, hidden: H)
                                                    output.forward(rows: B, ph.baseAddress! + (t + 1) * B * H, into: p)
                                                    Parallel.forEachChunk(B, grain: 8) { range in
                                                        for b in range {
                                                            let row = p + b * V
                                                            var best = 0
                                                            for v in 1..<V where row[v] > row[best] { best = v }
                                                            pt[b * T + t] = Int32(best)
                                                            Vector.scale(row, by: L, count: V)
                                                            Softmax.forward(row, row, rows: 1, columns: V)
                                                        }
                                                    }
                                                    // The next input's embedding half: softmax(L·o_t)·E, from the rows'
                                                    // non-zeros when they are few (at L = 1000, a handful per row).
                                                    if t + 1 < T && !SparseRows.product(
                                                        rows: p, count: B, columns: V, table: pe.baseAddress!, width: E,
                                                        into: px.baseAddress! + (t + 1) * B * I, ldc: I) {
                                                        gemm(m: B, n: E, k: V, p, lda: V, pe.baseAddress!, ldb: E, beta: 0,
                                                             px.baseAddress! + (t + 1) * B * I, ldc: I)
                                                    }
                                                }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let rows = Tensor(uninitializedShape: [B * T, V]) { out in
            probabilities.withUnsafeBufferPointer { p in
                for b in 0..<B { for t in 0..<T { (out.baseAddress! + (b * T + t) * V).update(from: p.baseAddress! + (t * B + b) * V, count: V) } }
            }
        }
        let cache = SoftArgmaxCache(x: x, gates: gates, cells: cells, hiddens: hiddens, tanhCells: tanhCells,
                                    probabilities: probabilities, h0: h0)
        return SoftArgmaxDecoding(rows: rows, tokens: tokens, batchSize: B, length: T, latents: z, sharpness: L, cache: cache)
    }

    /// The largest fraction of non-zeros per row at which `softArgmaxBackward` takes its sparse path (tests set 0
    /// to compare the two paths).
    nonisolated(unsafe) static var sparseBackwardDensity = SparseRows.maximumDensity

    /// Step t of the sparse backward pass: for each sequence b, on the non-zeros v of p = softmax(L·o_t)[b],
    ///   dp_v = dRows[b, t, v] + dFed_{t+1}[b]·E[v],   do_v = L·p_v·(dp_v − Σ_u dp_u·p_u)   (in Double, as the dense
    ///   path), stored in dLogitValues at the support's entries;  dOut[b] = Σ_v do_v·W[:, v].
    private func sparseLogitGradients(
        step t: Int, support: SparseRows, dRows: UnsafePointer<Float>, fed: UnsafePointer<Float>?,
        table: UnsafePointer<Float>, outputTransposed: Tensor, dLogitValues: inout [Float], batch B: Int, length T: Int,
        sharpness L: Float, dOut: UnsafeMutablePointer<Float>
    ) {
        let (E, H, V) = (config.embeddingSize, config.hiddenSize, config.vocabularySize)
        outputTransposed.withUnsafeBufferPointer { pwt in
            support.values.withUnsafeBufferPointer { pv in
                dLogitValues.withUnsafeMutableBufferPointer { pl in
                    let (pwt, pv, pl) = (pwt.baseAddress!, pv.baseAddress!, pl.baseAddress!)
                    Parallel.forEachChunk(B, grain: 8) { range in
                        var offsets = [Int64]()
                        for b in range {
                            let r = t * B + b, first = support.starts[r], count = support.starts[r + 1] - first
                            let d = dRows + (b * T + t) * V
                            var dot: Double = 0
                            for k in 0..<count {
                                let v = support.columns[first + k]
                                var g = d[v]
                                if let fed {
                                    var sum: Float = 0
                                    for j in 0..<E { sum += fed[b * E + j] * table[v * E + j] }
                                    g += sum
                                }
                                pl[first + k] = g
                                dot += Double(g) * Double(pv[first + k])
                            }
                            offsets.removeAll(keepingCapacity: true)
                            for k in 0..<count {
                                let p = Double(pv[first + k])
                                pl[first + k] = Float(Double(L) * p * (Double(pl[first + k]) - dot))
                                offsets.append(Int64(support.columns[first + k] * H))
                            }
                            Vector.gatherAxpy(into: dOut + b * H, count: H, base: pwt, offsets: offsets,
                                              coefficients: pl + first, rows: count, accumulate: false)
                        }
                    }
                }
            }
        }
    }

    public func softArgmaxBackward(_ dRows: Tensor, of decoding: SoftArgmaxDecoding) {
        guard let cache = decoding.cache as? SoftArgmaxCache else {
            preconditionFailure("softArgmaxBackward: not a latent LSTM's decoding")
        }
        let (B, T, L) = (decoding.batchSize, decoding.length, decoding.sharpness)
        let (E, Z, H, V) = (config.embeddingSize, config.latentSize, config.hiddenSize, config.vocabularySize)
        let (I, G) = (E + Z, 4 * H)
        precondition(dRows.shape == [B * T, V], "softArgmaxBackward: \(dRows.shape) for [\(B * T), \(V)]")
        var dGates = Tensor(zeros: [T, B, G])
        // At a high sharpness the rows softmax(L·o_t) are a few non-zeros each, and so is every gradient that goes
        // through the softmax: do_t = L·p ⊙ (dp − ⟨dp, p⟩) is zero wherever p is. Then dp is formed on the rows'
        // non-zeros only, do_t is kept as their values, and each product with it (dOut, the output layer's and the
        // embedding's weight gradients) runs over them (`SparseRows`): the same sums without the zero terms.
        let support = SparseRows(cache.probabilities.reshaped([T * B, V]), maximumDensity: Self.sparseBackwardDensity)
        var dLogitValues = [Float](repeating: 0, count: support?.nonzeroCount ?? 0)
        let outputTransposed = support == nil ? Tensor(zeros: [0]) : output.weight.value.transposedMatrix()  // [V, H]
        var dLogits = Tensor(uninitializedShape: support == nil ? [T, B, V] : [0]) { _ in }  // every row is written below
        // d/d(the embedding half of input t) for t = 1 … T−1, [T−1, B, E]: the feedback into step t−1's rows.
        var dFed = Tensor(zeros: [max(T - 1, 1), B, E])
        var dh = Tensor(zeros: [B, H]), dc = Tensor(zeros: [B, H]), dOut = Tensor(zeros: [B, H])
        // d/d(rows) of each step, its own gradient plus the feedback into the next input, [B, V].
        var dp = Tensor(zeros: support == nil ? [B, V] : [0])
        cache.probabilities.withUnsafeBufferPointer { pp in
            dRows.withUnsafeBufferPointer { pd in
                dLogits.withUnsafeMutableBufferPointer { pl in
                    dFed.withUnsafeMutableBufferPointer { pf in
                        dGates.withUnsafeMutableBufferPointer { pdg in
                            cache.gates.withUnsafeBufferPointer { pg in
                                cache.cells.withUnsafeBufferPointer { pc in
                                    cache.tanhCells.withUnsafeBufferPointer { ptc in
                                        dh.withUnsafeMutableBufferPointer { pdh in
                                            dc.withUnsafeMutableBufferPointer { pdc in
                                                dOut.withUnsafeMutableBufferPointer { pdo in
                                                    dp.withUnsafeMutableBufferPointer { pdp in
                                                        embedding.table.value.withUnsafeBufferPointer { pe in
                                                            output.weight.value.withUnsafeBufferPointer { pw in
                                                                lstm.inputWeight.value.withUnsafeBufferPointer { wx in
                                                                    lstm.recurrentWeight.value.withUnsafeBufferPointer { wh in
                                                                        for t in stride(from: T - 1, through: 0, by: -1) {
                                                                          if let support {
                                                                            sparseLogitGradients(
                                                                                step: t, support: support, dRows: pd.baseAddress!,
                                                                                fed: t + 1 < T ? UnsafePointer(pf.baseAddress! + t * B * E) : nil,
                                                                                table: pe.baseAddress!, outputTransposed: outputTransposed,
                                                                                dLogitValues: &dLogitValues, batch: B, length: T, sharpness: L,
                                                                                dOut: pdo.baseAddress!)
                                                                          } else {
                                                                            let dlt = pl.baseAddress! + t * B * V, dpt = pdp.baseAddress!
                                                                            if t + 1 < T {
                                                                                // step t+1 read rows_t·E: dp = dFed_{t+1}·Eᵀ
                                                                                gemm(transposeB: true, m: B, n: V, k: E, pf.baseAddress! + t * B * E,
                                                                                     lda: E, pe.baseAddress!, ldb: E, beta: 0, dpt, ldc: V)
                                                                            } else {
                                                                                dpt.update(repeating: 0, count: B * V)
                                                                            }
                                                                            Parallel.forEachChunk(B, grain: 8) { range in
                                                                                for b in range {
                                                                                    let p = pp.baseAddress! + (t * B + b) * V
                                                                                    let (d, row) = (pd.baseAddress! + (b * T + t) * V, dpt + b * V)
                                                                                    // p = softmax(L·o): do = L·p ⊙ (dp − ⟨dp, p⟩)
                                                                                    var dot: Double = 0
                                                                                    for v in 0..<V {
                                                                                        row[v] += d[v]
                                                                                        dot += Double(row[v]) * Double(p[v])
                                                                                    }
                                                                                    // in Double: with L = 1000 the rows are nearly one-hot and dp − ⟨dp, p⟩
                                                                                    // is a small difference of large terms
                                                                                    let out = dlt + b * V
                                                                                    for v in 0..<V { out[v] = Float(Double(L) * Double(p[v]) * (Double(row[v]) - dot)) }
                                                                                }
                                                                            }
                                                                            // dh_t from the logits: dOut = do_t·Wᵀ
                                                                            gemm(transposeB: true, m: B, n: H, k: V, dlt, lda: V, pw.baseAddress!,
                                                                                 ldb: V, beta: 0, pdo.baseAddress!, ldc: H)
                                                                          }
                                                                            let dg = pdg.baseAddress! + t * B * G
                                                                            LSTM.cellBackward(
                                                                                gates: pg.baseAddress! + t * B * G, cPrev: pc.baseAddress! + t * B * H,
                                                                                tanhC: ptc.baseAddress! + t * B * H, dOutput: pdo.baseAddress!,
                                                                                dh: pdh.baseAddress!, dc: pdc.baseAddress!, dGates: dg, batch: B, hidden: H)
                                                                            // dh_{t−1} = dGates_t·Whᵀ; the embedding half of dx_t = dGates_t·Wx[0..<E]ᵀ
                                                                            gemm(transposeB: true, m: B, n: H, k: G, dg, lda: G, wh.baseAddress!, ldb: G,
                                                                                 beta: 0, pdh.baseAddress!, ldc: H)
                                                                            if t > 0 {
                                                                                gemm(transposeB: true, m: B, n: E, k: G, dg, lda: G, wx.baseAddress!,
                                                                                     ldb: G, beta: 0, pf.baseAddress! + (t - 1) * B * E, ldc: E)
                                                                            }
                                                                        }
                                                                    }
                                                                }
                                                            }
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // Weight gradients over all steps at once.
        let hiddenRows = Tensor(shape: [T * B, H], scalars: Array(cache.hiddens.scalars[(B * H)...]))
        if let support {
            // W [H, V]: dWᵀ = doᵀ·hidden [V, H] from the non-zeros, added transposed; db = the column sums of do.
            let logitGradient = support.replacingValues(dLogitValues)
            var transposed = Tensor(uninitializedShape: [V, H]) { _ in }
            transposed.withUnsafeMutableBufferPointer { logitGradient.addTransposedProduct(hiddenRows, into: $0, overwrite: true) }
            output.weight.grad.add(transposed.transposedMatrix(), scaledBy: 1)
            if let bias = output.bias {
                bias.grad.withUnsafeMutableBufferPointer { logitGradient.addColumnSums(into: $0) }
            }
        } else {
            output.weight.accumulateGradient(transposing: hiddenRows, times: dLogits.reshaped([T * B, V]))
            if let bias = output.bias { addColumnSums(of: dLogits.reshaped([T * B, V]), into: &bias.grad) }
        }
        matmul(cache.x.reshaped([T * B, I]), dGates.reshaped([T * B, G]), into: &lstm.inputWeight.grad, transposeA: true,
               accumulate: true)
        let previousHiddens = Tensor(shape: [T * B, H], scalars: Array(cache.hiddens.scalars[..<(T * B * H)]))
        matmul(previousHiddens, dGates.reshaped([T * B, G]), into: &lstm.recurrentWeight.grad, transposeA: true,
               accumulate: true)
        addColumnSums(of: dGates.reshaped([T * B, G]), into: &lstm.bias.grad)
        // The embedding: the start token's row, read by step 0, and the rows every later step mixed.
        var dStart = Tensor(zeros: [B, E])
        dGates.withUnsafeBufferPointer { pg in
            lstm.inputWeight.value.withUnsafeBufferPointer { wx in
                dStart.withUnsafeMutableBufferPointer { pd in
                    gemm(transposeB: true, m: B, n: E, k: G, pg.baseAddress!, lda: G, wx.baseAddress!, ldb: G, beta: 0,
                         pd.baseAddress!, ldc: E)
                }
            }
        }
        embedding.backward(dStart, ids: [Int32](repeating: config.startToken, count: B))
        if T > 1, let support {
            // The rows of steps 0 … T−2 were fed back: table.grad += rowsᵀ·dFed from their non-zeros.
            let fed = support.prefix(rows: (T - 1) * B)
            embedding.table.withGradientStorage { fed.addTransposedProduct(dFed.reshaped([(T - 1) * B, E]), into: $0, overwrite: $1) }
        } else if T > 1 {
            let fedRows = Tensor(shape: [(T - 1) * B, V], scalars: Array(cache.probabilities.scalars[..<((T - 1) * B * V)]))
            embedding.table.accumulateGradient(transposing: fedRows, times: dFed.reshaped([(T - 1) * B, E]))
        }
        initialHiddenBackward(dh, h0: cache.h0, z: decoding.latents)
    }
}

extension LatentLSTMGeneratorConfig: SequenceGeneratorConfig, CorpusFittedGeneratorConfig {
    public static let kind = "latent-lstm"

    public func validate(section: String) throws {
        let check = ConfigCheck(section)
        try check.int("embeddingSize", embeddingSize, 1...8192)
        try check.int("hiddenSize", hiddenSize, 1...8192)
        try check.int("latentSize", latentSize, 1...8192)
        try check.number("initStd", initStd, 0...10)
        try check.int("maxLength", maxLength, 1...100_000)
        try check.int("vocabularySize", vocabularySize, 0...10_000_000)
    }

    public func makeGenerator(using rng: inout SeededGenerator) -> any SequenceGenerator {
        LatentLSTMGenerator(self, using: &rng)
    }
}
