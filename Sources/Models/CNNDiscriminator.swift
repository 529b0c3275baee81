import Foundation
import Layers
import NumericCore

// The SeqGAN discriminator (Yu et al. 2017, after Kim 2014), read top to bottom: config, model, forward and
// backward, scoring.
//
//   tokens [B, T] (or rows over the vocabulary [B·T, V]) → embedding [B, T, E] → convolutions of several widths,
//   ReLU, max over time: the features [B, ΣF] → highway → dropout (keep 0.75 while training) → linear [B, 2]
//   → softmax over (fake, real)
//
// Its loss is the GAN loss the training algorithm chooses (SeqGAN: the 2-class cross-entropy) plus
// `regularization`: λ·½(‖W_out‖² + ‖b_out‖²), the reference's L2 on the output layer only (λ = 0.2).
// Widths longer than the sequence cannot fit a single window; they are dropped (see `effectiveWidths`).

// MARK: - Config

public struct CNNDiscriminatorConfig: Codable, Sendable, Equatable {
    /// Tokens the discriminator reads (set by the corpus).
    public var vocabularySize: Int
    /// Every sequence is padded (with `padToken`) or cut to this length.
    public var sequenceLength: Int
    /// The token embedding size (the paper: 64).
    public var embeddingSize: Int = 64
    /// The paper's widths and filter counts for length 20.
    public var widths: [ConvolutionWidth] = CNNDiscriminatorConfig.paperWidths
    /// Dropout keep probability before the output layer in training (the paper: 0.75).
    public var keepProbability: Float = 0.75
    /// The L2 penalty's weight on the output layer (the paper: 0.2).
    public var l2: Float = 0.2
    /// The token that pads short sequences (set by the corpus).
    public var padToken: Int32 = 0
    /// Initial weights N(0, initStd²) (the reference's truncated normal 0.1, untruncated here); biases 0.1.
    public var initStd: Float = 0.1
    /// RelGAN's multiple representations (its `num_rep`, 64): the embedding is R slices of `embeddingSize`, each
    /// slice is read by the same convolutions, highway and output layer as a sequence of its own. The GAN losses read
    /// all R views' logits (`DiscriminatorPass.viewLogits`), as RelGAN's do; probabilities and features are their
    /// means. 1: SeqGAN's discriminator. Costs R times the convolutions.
    public var representations = 1
    /// The arithmetic of D's matrix products: fp32, or bf16 operands with fp32 sums (AVX512_BF16) for the
    /// convolutions' forward products, the highway's products (forward, input and weight gradients) and the frozen
    /// rollout scorer's tables and highway. Weights, gradients and Adam's moments stay fp32; the embedding, the
    /// output layer, the convolutions' sparse backward and WGAN-GP's double backward stay fp32. bf16 on a CPU
    /// without AVX512_BF16 is a config error. The products run on AMX tiles where the CPU grants them, else on
    /// VDPBF16PS (TEXTGAN_BF16_KERNEL chooses). fp32 by default: bf16 changes a seeded run's numbers, and it pays
    /// only on some CPUs (AMX on the model-167 Xeon: a D epoch 1.7× faster than fp32; VDPBF16PS slower than fp32 on
    /// Emerald Rapids; docs/performance.md).
    public var precision: Precision = .fp32

    public static let paperWidths: [ConvolutionWidth] = [
        (1, 100), (2, 200), (3, 200), (4, 200), (5, 200), (6, 100), (7, 100), (8, 100), (9, 100), (10, 100),
        (15, 160), (20, 160),
    ].map { ConvolutionWidth(width: $0.0, filters: $0.1) }

    public init(vocabularySize: Int, sequenceLength: Int, embeddingSize: Int = 64,
                widths: [ConvolutionWidth] = CNNDiscriminatorConfig.paperWidths, keepProbability: Float = 0.75,
                l2: Float = 0.2, padToken: Int32 = 0, initStd: Float = 0.1, precision: Precision = .fp32) {
        self.vocabularySize = vocabularySize
        self.sequenceLength = sequenceLength
        self.embeddingSize = embeddingSize
        self.widths = widths
        self.keepProbability = keepProbability
        self.l2 = l2
        self.padToken = padToken
        self.initStd = initStd
        self.precision = precision
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CNNDiscriminatorConfig(vocabularySize: 0, sequenceLength: 0)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        sequenceLength = try c.decode(Int.self, forKey: .sequenceLength)
        embeddingSize = try c.decodeIfPresent(Int.self, forKey: .embeddingSize) ?? d.embeddingSize
        widths = try c.decodeIfPresent([ConvolutionWidth].self, forKey: .widths) ?? d.widths
        keepProbability = try c.decodeIfPresent(Float.self, forKey: .keepProbability) ?? d.keepProbability
        l2 = try c.decodeIfPresent(Float.self, forKey: .l2) ?? d.l2
        padToken = try c.decodeIfPresent(Int32.self, forKey: .padToken) ?? d.padToken
        initStd = try c.decodeIfPresent(Float.self, forKey: .initStd) ?? d.initStd
        // Configs stored before RelGAN's option existed have one representation.
        representations = try c.decodeIfPresent(Int.self, forKey: .representations) ?? d.representations
        // Configs stored before the option existed ran in fp32.
        precision = try c.decodeIfPresent(Precision.self, forKey: .precision) ?? d.precision
    }

    /// The widths that fit the sequence length: a width w > T has no window at all and is dropped, with its
    /// filters. (For corpora of length ≥ 20 the paper's list is used unchanged.)
    public var effectiveWidths: [ConvolutionWidth] { widths.filter { $0.width <= sequenceLength } }
}

// MARK: - Model

public final class CNNDiscriminator: SequenceDiscriminator {
    public let config: CNNDiscriminatorConfig
    public let embedding: Embedding
    public let convolution: TimeConvolution
    public let highway: Highway
    public let dropout: Dropout
    public let output: Linear
    /// The arithmetic of the products: `config.precision` where this CPU runs it, else fp32 (a stored run's D
    /// scores on a CPU without bf16).
    let precision: Precision

    public init(_ config: CNNDiscriminatorConfig, using rng: inout SeededGenerator) {
        let widths = config.effectiveWidths
        precondition(!widths.isEmpty, "CNNDiscriminator: no filter width fits sequences of length \(config.sequenceLength)")
        self.config = config
        precision = config.precision.runnable()
        let initializer = Initializer.normal(std: config.initStd)
        embedding = Embedding("discriminator.embedding", vocabularySize: config.vocabularySize,
                              embeddingSize: config.embeddingSize * config.representations,
                              initializer: .uniform(limit: 1), using: &rng)
        convolution = TimeConvolution("discriminator.conv", inputSize: config.embeddingSize, widths: widths,
                                      weightInit: initializer, biasInit: .constant(0.1), using: &rng)
        let features = convolution.featureCount
        highway = Highway("discriminator.highway", size: features, gateBias: 0, weightInit: initializer, using: &rng)
        dropout = Dropout(keepProbability: config.keepProbability)
        output = Linear("discriminator.output", inputSize: features, outputSize: 2, weightInit: initializer,
                        biasInit: .constant(0.1), using: &rng)
    }

    public var parameters: [Parameter] {
        embedding.parameters + convolution.parameters + highway.parameters + output.parameters
    }

    public var kind: String { CNNDiscriminatorConfig.kind }
    public var vocabularySize: Int { config.vocabularySize }
    public var sequenceLength: Int { config.sequenceLength }
    public var inputEmbedding: Tensor? { embedding.table.value }

    /// Sequences padded with the pad token or cut to the configured length, batch-major [B, T].
    public func pack(_ sequences: [[Int32]]) -> [Int32] {
        packTokens(sequences, length: config.sequenceLength, padToken: config.padToken)
    }

    // MARK: - Forward and backward

    struct Cache {
        let convolution: TimeConvolutionCache
        let highway: Highway.Cache
        let dropoutMask: Tensor?
        let dropped: Tensor
    }

    /// Logits [B, 2] (column 1 is "real") and the max-over-time features [B, ΣF], for packed ids [B·T] or rows
    /// [B·T, V] (embedded as rows · table).
    public func forward(_ input: DiscriminatorInput, training: Bool, using rng: inout SeededGenerator) -> DiscriminatorPass {
        let (T, E, R) = (config.sequenceLength, config.embeddingSize, config.representations)
        var embedded = embed(input)
        let B = embedded.count / (T * E * R)
        // R representations: [B, T, R·E] → [B·R, T, E], each slice a sequence of its own.
        if R > 1 { embedded = Self.splitRepresentations(embedded, batch: B, length: T, size: E, count: R) }
        let (features, convCache) = convolution.forward(embedded.reshaped([B * R, T, E]), precision: precision)
        let (h, highwayCache) = highway.forward(features, precision: precision)
        let (dropped, mask) = dropout.forward(h, training: training, using: &rng)
        let cache = Cache(convolution: convCache, highway: highwayCache, dropoutMask: mask, dropped: dropped)
        let logits = output.forward(dropped)
        return DiscriminatorPass(logits: Self.meanOverRepresentations(logits, count: R), viewLogits: logits,
                                 features: Self.meanOverRepresentations(features, count: R), input: input, cache: cache)
    }

    /// The input embedding's output [B·T, R·E] for `input`.
    func embed(_ input: DiscriminatorInput) -> Tensor {
        switch input {
        case .tokens(let ids): return embedding.forward(ids)
        case .rows(let rows): return embedding.forward(rows: rows)
        case .embedded(let rows): return rows
        case .perturbed(let base, let delta):
            var rows = embed(base)
            rows.add(delta)
            return rows
        }
    }

    /// [B, T, R·E] → [B·R, T, E] (sequence b's representation r becomes sequence b·R + r), or the reverse.
    static func splitRepresentations(_ x: Tensor, batch B: Int, length T: Int, size E: Int, count R: Int,
                                     reverse: Bool = false) -> Tensor {
        Tensor(uninitializedShape: reverse ? [B * T, R * E] : [B * R, T, E]) { out in
            x.withUnsafeBufferPointer { p in
                for b in 0..<B {
                    for t in 0..<T {
                        for r in 0..<R {
                            let joined = (b * T + t) * R * E + r * E, split = ((b * R + r) * T + t) * E
                            if reverse {
                                (out.baseAddress! + joined).update(from: p.baseAddress! + split, count: E)
                            } else {
                                (out.baseAddress! + split).update(from: p.baseAddress! + joined, count: E)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Rows [B·R, n] averaged over each sequence's R consecutive rows: [B, n] (the same tensor when R = 1).
    static func meanOverRepresentations(_ x: Tensor, count R: Int) -> Tensor {
        guard R > 1 else { return x }
        let (rows, n) = x.matrixShape
        var out = Tensor(zeros: [rows / R, n])
        for b in 0..<(rows / R) {
            for r in 0..<R { for j in 0..<n { out[b, j] += x[b * R + r, j] } }
            for j in 0..<n { out[b, j] /= Float(R) }
        }
        return out
    }

    /// The gradient of the mean: each of a sequence's R rows gets 1/R of its row's gradient.
    static func spreadOverRepresentations(_ dy: Tensor, count R: Int) -> Tensor {
        guard R > 1 else { return dy }
        let (rows, n) = dy.matrixShape
        var out = Tensor(zeros: [rows * R, n])
        for b in 0..<rows { for r in 0..<R { for j in 0..<n { out[b * R + r, j] = dy[b, j] / Float(R) } } }
        return out
    }

    /// The forward pass read in reverse: output layer, dropout, highway (plus `featureGradient`), convolutions,
    /// embedding. Returns d/d(rows) for rows input when `inputGradient`.
    @discardableResult
    public func backward(_ pass: DiscriminatorPass, logitGradient: Tensor, featureGradient: Tensor?,
                         inputGradient: Bool) -> Tensor? {
        let cache = pass.cache as! Cache
        let (T, E, R) = (config.sequenceLength, config.embeddingSize, config.representations)
        // A gradient of the view logits [B·R, 2] goes in as it is; one of their mean [B, 2] is spread over the views.
        let dViews = logitGradient.matrixShape.0 == pass.viewLogits.matrixShape.0
            ? logitGradient : Self.spreadOverRepresentations(logitGradient, count: R)
        let dDropped = output.backward(dViews, input: cache.dropped)
        let dH = dropout.backward(dDropped, mask: cache.dropoutMask)
        var dFeatures = highway.backward(dH, cache: cache.highway, precision: precision)
        if let featureGradient { dFeatures.add(Self.spreadOverRepresentations(featureGradient, count: R), scaledBy: 1) }
        var dx = convolution.backward(dFeatures, cache: cache.convolution)
        if R > 1 {
            dx = Self.splitRepresentations(dx, batch: dx.count / (T * E * R), length: T, size: E, count: R, reverse: true)
        }
        return embeddingBackward(dx, input: pass.input, inputGradient: inputGradient)
    }

    /// The embedding's part of the backward pass: d/d(rows) of the input rows [B·T, R·E] reaches the table (and is
    /// returned when `inputGradient`) as `input` was embedded.
    func embeddingBackward(_ dx: Tensor, input: DiscriminatorInput, inputGradient: Bool = true) -> Tensor? {
        let width = config.embeddingSize * config.representations
        switch input {
        case .tokens(let ids):
            embedding.backward(dx, ids: ids)
            return nil
        case .rows(let rows):
            return embedding.backward(dx.reshaped([rows.matrixShape.0, width]), rows: rows, inputGradient: inputGradient)
        case .embedded(let rows):
            return dx.reshaped(rows.shape)
        case .perturbed(let base, let delta):
            // rows = embed(base) + δ: the same gradient reaches the base's embedding and δ.
            _ = embeddingBackward(dx, input: base, inputGradient: false)
            return dx.reshaped(delta.shape)
        }
    }

    /// λ·½(‖W_out‖² + ‖b_out‖²), the reference's L2 on the output layer only; its gradient λθ when `backward`.
    public func regularization(backward: Bool) -> Float {
        let term = 0.5 * config.l2 * Float(output.parameters.reduce(0.0) { $0 + $1.value.squaredNorm })
        if backward { for p in output.parameters { p.grad.add(p.value, scaledBy: config.l2) } }
        return term
    }

    // MARK: - Scoring

    /// D's probability that each sequence is real (inference: no dropout), `batchSize` sequences at a time.
    public func probabilityReal(_ sequences: [[Int32]], batchSize: Int) -> [Float] {
        Self.inBatches(sequences, of: batchSize) { chunk in
            var unused = SeededGenerator(seed: 0)  // dropout is off, so no randomness is drawn
            return softmax(forward(.tokens(pack(chunk)), training: false, using: &unused).logits)
        }
    }

    /// Column 1 ("real") of the [B, 2] probabilities `score` returns for each batch of `size` sequences, in order.
    static func inBatches(_ sequences: [[Int32]], of size: Int, _ score: ([[Int32]]) -> Tensor) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(sequences.count)
        for start in stride(from: 0, to: sequences.count, by: max(size, 1)) {
            let chunk = Array(sequences[start..<min(start + size, sequences.count)])
            let probabilities = score(chunk)
            for b in 0..<chunk.count { out.append(probabilities[b, 1]) }
        }
        return out
    }

    // MARK: - Scoring with frozen weights

    /// A scorer for many sequences while D's weights stay fixed (SeqGAN's rollout rewards): the convolutions'
    /// products of embeddings and filters are taken once per vocabulary entry, so each sequence's convolution is a
    /// sum of gathered table rows instead of a product (`FrozenScorer`). Nil when the tables would exceed
    /// `maximumTableBytes` (then score with `probabilityReal`).
    public func tableScorer(maximumTableBytes: Int = 1 << 30) -> FrozenScorer? {
        let bytes = convolution.widths.reduce(0) { $0 + $1.width * $1.filters } * config.vocabularySize * 4
        // The tables assume one representation; RelGAN's several are scored by `probabilityReal`.
        guard bytes <= maximumTableBytes, config.representations == 1 else { return nil }
        return FrozenScorer(self)
    }

    /// The table scorer when its tables fit in 1 GiB, else `probabilityReal`.
    public func frozenScorer() -> SequenceScorer {
        if let scorer = tableScorer() { return { scorer.probabilityReal($0, sharing: $1) } }
        return { sequences, _ in self.probabilityReal(sequences) }
    }
}

/// D's probability of "real" from tables, valid while the discriminator's weights do not change.
///
/// A width-w filter's pre-activation at position p is b + Σ_{k<w} e(x_{p+k})·W[k], where W[k] is the filter's slice
/// for step k of the window. With the embedding matrix fixed, e(v)·W[k] for every token v is one product
/// [V, E]·[E, F] per (width, step), computed once; a sequence then costs Σ_w (T−w+1)·w·F additions of gathered rows
/// instead of the convolution's Σ_w (T−w+1)·w·E·F multiply-adds (E = 64 times fewer operations). The highway and
/// output layers run as usual. Results equal `probabilityReal` up to rounding (the sums run in another order).
public struct FrozenScorer {
    private let discriminator: CNNDiscriminator
    /// Per width: w blocks of [V, F], block k = embeddings · (filters' step k)ᵀ.
    private let tables: [Tensor]

    /// In D's precision: with bf16 the tables' products and the highway's take bf16 operands and fp32 sums.
    init(_ discriminator: CNNDiscriminator) {
        self.discriminator = discriminator
        let (V, E) = (discriminator.config.vocabularySize, discriminator.config.embeddingSize)
        let bf16 = discriminator.precision == .bf16
        let embeddings = discriminator.embedding.table.value
        tables = zip(discriminator.convolution.widths, discriminator.convolution.filters).map { spec, filters in
            let (w, F) = (spec.width, spec.filters)
            return Tensor(uninitializedShape: [w, V, F]) { out in
                embeddings.withUnsafeBufferPointer { pe in
                    filters.weight.value.withUnsafeBufferPointer { pw in
                        for k in 0..<w {
                            // [V, E] · ([F, w·E] restricted to columns kE ..< (k+1)E)ᵀ
                            let (step, table) = (pw.baseAddress! + k * E, out.baseAddress! + k * V * F)
                            if bf16 {
                                let packed = BF16Matmul.PackedB(k: E, n: F, step, ld: w * E, transposed: true)
                                BF16Matmul.gemm(m: V, pe.baseAddress!, lda: E, packed, table, ldc: F)
                            } else {
                                gemm(transposeB: true, m: V, n: F, k: E, pe.baseAddress!, lda: E, step, ldb: w * E,
                                     beta: 0, table, ldc: F)
                            }
                        }
                    }
                }
            }
        }
    }

    /// D's probability that each sequence is real (padded or cut to D's length), as `probabilityReal` computes it.
    ///
    /// With `sharing`, the sequences come in runs that share their first tokens (the completions of one rollout
    /// prefix): each width's windows inside a run's shared prefix are summed and maxed once for the whole run, the
    /// windows that straddle its end have their prefix part summed once, and each sequence adds only the rest. A max
    /// is exact in any grouping and each sum keeps its order, so the scores are the same bits either way; a run that
    /// does not share its prefix is a programming error.
    public func probabilityReal(_ sequences: [[Int32]], batchSize: Int = 1024, sharing: SharedPrefix = .none) -> [Float] {
        let d = discriminator
        let (T, V) = (d.config.sequenceLength, d.config.vocabularySize)
        let widths = d.convolution.widths
        let total = d.convolution.featureCount
        let maxFilters = widths.map(\.filters).max() ?? 0
        let run = max(sharing.runLength, 1), L = min(max(sharing.length, 0), T)
        precondition(sequences.count % run == 0, "FrozenScorer: \(sequences.count) sequences are not runs of \(run)")
        // Per width: the windows 0 ..< shared[k] lie inside the shared prefix; those from shared[k] to straddle[k] start
        // inside it and reach past it, so the part of their sums over the prefix is the same for the whole run.
        let shared = widths.map { max(0, L - $0.width + 1) }
        let straddle = widths.map { min(L, T - $0.width + 1) }
        let featureOffsets = widths.reduce(into: [0]) { $0.append($0.last! + $1.filters) }
        let partialOffsets = widths.indices.reduce(into: [0]) {
            $0.append($0.last! + max(0, straddle[$1] - shared[$1]) * widths[$1].filters)
        }
        return CNNDiscriminator.inBatches(sequences, of: max(run, batchSize / run * run)) { chunk in
            let ids = d.pack(chunk)
            let B = chunk.count
            var features = Tensor(zeros: [B, total])
            features.withUnsafeMutableBufferPointer { pf in
                ids.withUnsafeBufferPointer { pi in
                    let (pf, pi) = (pf.baseAddress!, pi.baseAddress!)
                    Parallel.forEachChunk(B / run, grain: max(1, 8 / run)) { runs in
                        var acc = [Float](repeating: 0, count: maxFilters)
                        var prefixMax = [Float](repeating: 0, count: total)
                        var partials = [Float](repeating: 0, count: max(partialOffsets.last!, 1))
                        acc.withUnsafeMutableBufferPointer { acc in
                            prefixMax.withUnsafeMutableBufferPointer { prefixMax in
                            partials.withUnsafeMutableBufferPointer { partials in
                                /// out = max(initial, windows first ..< P of width k over `length` tokens of `row`),
                                /// the windows before `shared` continuing `partial`'s sums
                                func windowsMax(_ k: Int, row: UnsafePointer<Int32>, length: Int, first: Int,
                                                initial: UnsafePointer<Float>?, partial: UnsafePointer<Float>?,
                                                into out: UnsafeMutablePointer<Float>) {
                                    tables[k].withUnsafeBufferPointer { table in
                                        d.convolution.filters[k].bias.value.withUnsafeBufferPointer { bias in
                                            Vector.tableConvolutionMax(
                                                table: table.baseAddress!, vocabularySize: V, filters: widths[k].filters,
                                                width: widths[k].width, ids: row, length: length, bias: bias.baseAddress!,
                                                scratch: acc.baseAddress!, out: out, firstWindow: first, initial: initial,
                                                partial: partial, sharedLength: L)
                                        }
                                    }
                                }
                                for r in runs {
                                    let leader = pi + r * run * T
                                    for b in (r * run + 1)..<((r + 1) * run) {
                                        precondition(memcmp(leader, pi + b * T, L * MemoryLayout<Int32>.size) == 0,
                                                     "FrozenScorer: sequence \(b) does not share its run's first \(L) tokens")
                                    }
                                    for k in widths.indices where shared[k] > 0 {
                                        windowsMax(k, row: leader, length: L, first: 0, initial: nil, partial: nil,
                                                   into: prefixMax.baseAddress! + featureOffsets[k])
                                    }
                                    for k in widths.indices where straddle[k] > shared[k] {
                                        tables[k].withUnsafeBufferPointer { table in
                                            d.convolution.filters[k].bias.value.withUnsafeBufferPointer { bias in
                                                Vector.tableConvolutionPartials(
                                                    table: table.baseAddress!, vocabularySize: V, filters: widths[k].filters,
                                                    width: widths[k].width, ids: leader, sharedLength: L,
                                                    bias: bias.baseAddress!, windows: shared[k]..<straddle[k],
                                                    out: partials.baseAddress! + partialOffsets[k])
                                            }
                                        }
                                    }
                                    for b in (r * run)..<((r + 1) * run) {
                                        for k in widths.indices {
                                            windowsMax(k, row: pi + b * T, length: T, first: shared[k],
                                                       initial: shared[k] > 0 ? prefixMax.baseAddress! + featureOffsets[k] : nil,
                                                       partial: straddle[k] > shared[k] ? partials.baseAddress! + partialOffsets[k] : nil,
                                                       into: pf + b * total + featureOffsets[k])
                                        }
                                        for f in 0..<total { pf[b * total + f] = max(pf[b * total + f], 0) }  // ReLU
                                    }
                                }
                            }
                            }
                        }
                    }
                }
            }
            var unused = SeededGenerator(seed: 0)  // dropout is off, so no randomness is drawn
            let (h, _) = d.highway.forward(features, precision: d.precision)
            let (dropped, _) = d.dropout.forward(h, training: false, using: &unused)
            return softmax(d.output.forward(dropped))
        }
    }
}

extension CNNDiscriminatorConfig: SequenceDiscriminatorConfig {
    public static let kind = "cnn"

    public static let corpusFields = ["vocabularySize", "sequenceLength", "padToken"]

    public mutating func fit(to shape: SequenceShape) {
        vocabularySize = shape.vocabularySize
        sequenceLength = shape.maxLength
        padToken = shape.padToken
    }

    public func validate(section: String) throws {
        let check = ConfigCheck(section)
        try check.int("embeddingSize", embeddingSize, 1...8192)
        try check.require(!widths.isEmpty, "widths", "[]", "at least one width, e.g. [{\"width\": 2, \"filters\": 100}]")
        for (i, w) in widths.enumerated() {
            try check.int("widths.\(i).width", w.width, 1...1000)
            try check.int("widths.\(i).filters", w.filters, 1...100_000)
        }
        try check.number("keepProbability", keepProbability, 0...1, open: true)
        try check.number("l2", l2, 0...1000)
        try check.number("initStd", initStd, 0...10)
        try check.int("representations", representations, 1...1024)
        try check.supported("precision", precision)
        try check.int("sequenceLength", sequenceLength, 1...100_000)
        let longest = widths.map(\.width).min() ?? 0
        try check.require(vocabularySize == 0 || !effectiveWidths.isEmpty, "widths", "shortest width \(longest)",
                          "a width no longer than the sequences (\(sequenceLength) tokens)")
    }

    public func makeDiscriminator(using rng: inout SeededGenerator) -> any SequenceDiscriminator {
        CNNDiscriminator(self, using: &rng)
    }
}
