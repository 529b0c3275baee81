import Foundation
import Layers
import NumericCore

/// How the next token is drawn from the model's logits.
public struct SamplingOptions: Codable, Sendable, Equatable {
    /// Logits are divided by the temperature; 0 means greedy (arg-max) decoding.
    public var temperature: Float = 1
    /// Keep only the k most likely tokens (nil: all).
    public var topK: Int? = nil
    /// Keep the smallest set of most likely tokens whose probability reaches p (nil: all).
    public var topP: Float? = nil
    /// Stop every sequence at this many tokens (nil: the model's `maxLength`, which is also the upper bound).
    public var maxLength: Int? = nil
    /// For a latent generator (TextGAN's): every sequence decodes from this code z (nil: each draws its own from the
    /// prior). Other generators ignore it.
    public var latent: [Float]? = nil

    // Constraints on the tokens so far (the prefix and what was drawn), with the semantics of Hugging Face
    // `generate`'s logits processors of the same names. They apply to the logits before temperature, top-k and
    // top-p, in this order; nil turns each off.

    /// `repetition_penalty` (CTRL, Keskar et al. 2019): the logit of every token already in the sequence is divided
    /// by the penalty when positive and multiplied by it when negative (> 1 discourages repeats; 1 changes nothing).
    public var repetitionPenalty: Float? = nil
    /// `no_repeat_ngram_size`: a token that would complete an n-gram the sequence already holds cannot be drawn.
    public var noRepeatNGramSize: Int? = nil
    /// `min_length`: the end token cannot be drawn while the sequence (prefix included, as for a decoder-only model
    /// in Hugging Face) has fewer than this many tokens.
    public var minLength: Int? = nil

    public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil, maxLength: Int? = nil,
                repetitionPenalty: Float? = nil, noRepeatNGramSize: Int? = nil, minLength: Int? = nil,
                latent: [Float]? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.maxLength = maxLength
        self.latent = latent
        self.repetitionPenalty = repetitionPenalty
        self.noRepeatNGramSize = noRepeatNGramSize
        self.minLength = minLength
    }

    /// Whether any constraint reads the tokens so far.
    public var constrainsHistory: Bool { repetitionPenalty != nil || noRepeatNGramSize != nil || minLength != nil }
}

/// Draws one token from a row of logits: greedy, or by inverse CDF with one uniform draw per token, after
/// temperature, top-k and top-p filtering. Reuses its scratch buffers across rows.
struct TokenSampler {
    let options: SamplingOptions
    let vocabularySize: Int
    private var weights: [Float]
    private var order: [Int32]

    private var constrained: [Float]

    init(options: SamplingOptions, vocabularySize: Int) {
        precondition(options.temperature >= 0, "temperature must not be negative")
        precondition(options.topK.map { $0 > 0 } ?? true, "top-k must be positive")
        precondition(options.topP.map { $0 > 0 && $0 <= 1 } ?? true, "top-p must be in (0, 1]")
        precondition(options.repetitionPenalty.map { $0 > 0 && $0.isFinite } ?? true, "repetition penalty must be positive")
        precondition(options.noRepeatNGramSize.map { $0 > 0 } ?? true, "no-repeat n-gram size must be positive")
        precondition(options.minLength.map { $0 >= 0 } ?? true, "minimum length must not be negative")
        self.options = options
        self.vocabularySize = vocabularySize
        weights = [Float](repeating: 0, count: vocabularySize)
        order = []
        constrained = options.constrainsHistory ? [Float](repeating: 0, count: vocabularySize) : []
    }

    /// One token after the constraints on the tokens so far (`history`: the prefix and the tokens drawn, without
    /// the start token): repetition penalty, no-repeat n-gram, minimum length (see `SamplingOptions`). Without
    /// constraints, `draw(_:uniform:)` itself. Should every token be banned (a tiny vocabulary and a short n-gram),
    /// the n-gram bans are dropped for that token rather than draw from nothing.
    mutating func draw(_ logits: UnsafePointer<Float>, uniform: Double, history: [Int32], endToken: Int32?) -> Int32 {
        guard options.constrainsHistory else { return draw(logits, uniform: uniform) }
        let V = vocabularySize
        var x: [Float] = []
        swap(&x, &constrained)
        defer { swap(&x, &constrained) }
        return x.withUnsafeMutableBufferPointer { x in
            x.baseAddress!.update(from: logits, count: V)
            if let penalty = options.repetitionPenalty {
                for id in Set(history) where id >= 0 && Int(id) < V {
                    let l = x[Int(id)]
                    x[Int(id)] = l < 0 ? l * penalty : l / penalty
                }
            }
            var banned = Set<Int32>()
            if let n = options.noRepeatNGramSize, history.count >= n {
                // Every earlier n-gram whose first n − 1 tokens are the last n − 1 tokens bans its last token.
                let tail = history.suffix(n - 1)
                for start in 0...(history.count - n) where history[start..<(start + n - 1)].elementsEqual(tail) {
                    banned.insert(history[start + n - 1])
                }
            }
            if let minimum = options.minLength, let endToken, history.count < minimum {
                x[Int(endToken)] = -.infinity
            }
            let bans = banned.filter { $0 >= 0 && Int($0) < V }
            if (0..<V).contains(where: { x[$0] > -.infinity && !bans.contains(Int32($0)) }) {
                for id in bans { x[Int(id)] = -.infinity }
            }
            return draw(UnsafePointer(x.baseAddress!), uniform: uniform)
        }
    }

    /// Whether `draw` consumes a uniform (greedy decoding at temperature 0 does not).
    var usesRandomness: Bool { options.temperature != 0 }

    /// One token from the distribution the logits and options define; `uniform` in [0, 1) (drawn by the caller, so
    /// rows can be drawn on several threads with the numbers a sequential pass would have used).
    mutating func draw(_ logits: UnsafePointer<Float>, uniform: Double) -> Int32 {
        let V = vocabularySize
        if options.temperature == 0 { return Int32(argmax(logits, V)) }
        let mx = Vector.maximum(logits, count: V)
        let inverseTemperature = 1 / options.temperature
        let filtered = options.topK != nil || options.topP != nil
        // Work on the scratch buffers as locals (swapped out and back), so self is not accessed while they are.
        var buffer: [Float] = [], ranking: [Int32] = []
        swap(&buffer, &weights)
        swap(&ranking, &order)
        defer {
            swap(&buffer, &weights)
            swap(&ranking, &order)
        }
        return buffer.withUnsafeMutableBufferPointer { w in
            // Unnormalised probabilities exp((logit − max)/T).
            let total: Float
            if inverseTemperature == 1 {
                total = Vector.expSum(logits, w.baseAddress!, count: V, shift: mx)
            } else {
                for j in 0..<V { w[j] = logits[j] * inverseTemperature }
                total = Vector.expSum(w.baseAddress!, w.baseAddress!, count: V, shift: mx * inverseTemperature)
            }
            let kept = filtered ? Self.filter(w, total: total, options: options, order: &ranking) : total
            // Inverse CDF: the first token whose cumulative weight exceeds u·total.
            let u = Float(uniform) * kept
            return Int32(Vector.inverseCDF(w.baseAddress!, count: V, target: u))
        }
    }

    /// Zeroes the weights outside top-k / top-p; returns the new total.
    private static func filter(
        _ w: UnsafeMutableBufferPointer<Float>, total: Float, options: SamplingOptions, order: inout [Int32]
    ) -> Float {
        let V = w.count
        if order.count != V { order = (0..<Int32(V)).map { $0 } }
        // Descending by weight, ties by token id, so the filter is deterministic.
        order.sort { w[Int($0)] != w[Int($1)] ? w[Int($0)] > w[Int($1)] : $0 < $1 }
        var keep = min(options.topK ?? V, V)
        if let p = options.topP {
            // Top-p within what top-k kept (the order Hugging Face applies them in).
            let topKTotal = options.topK == nil ? total : order.prefix(keep).reduce(0) { $0 + w[Int($1)] }
            var cumulative: Float = 0
            for (rank, id) in order.prefix(keep).enumerated() {
                cumulative += w[Int(id)]
                if cumulative >= p * topKTotal {
                    keep = rank + 1
                    break
                }
            }
        }
        var kept: Float = 0
        for (rank, id) in order.enumerated() {
            if rank < keep { kept += w[Int(id)] } else { w[Int(id)] = 0 }
        }
        return kept
    }

    private func argmax(_ x: UnsafePointer<Float>, _ n: Int) -> Int {
        var best = 0
        for j in 1..<n where x[j] > x[best] { best = j }
        return best
    }
}

extension TokenSampler {
    /// Rows processed together by `Linear.drawTokens`: their logits (`blockRows` × V floats, 640 KB at V = 5000)
    /// stay in a core's L2 cache between the product that writes them and the passes that sample from them.
    static let blockRows = 32
}

extension Linear {
    /// One token for each of `rows` (indices into the rows of `hidden` [n, inputSize]), the i-th drawn with
    /// `uniforms[i]` from this output projection's logits. The projection runs a block of rows at a time, and each
    /// block is sampled from while its logits are in cache; blocks are spread over threads, so the thread count
    /// changes no token. Rows not listed cost nothing. `precision` is the projection's (bf16: bf16 operands, fp32
    /// sums).
    /// With constraints on the tokens so far (`options.constrainsHistory`), `sequences[rows[i]]` is row i's
    /// history and `endToken` the token `minLength` holds back.
    func drawTokens(after hidden: Tensor, rows: [Int], uniforms: [Double], options: SamplingOptions,
                    sequences: [[Int32]] = [], endToken: Int32? = nil, precision: Precision = .fp32) -> [Int32] {
        precondition(!options.constrainsHistory || sequences.count > (rows.max() ?? -1), "drawTokens: constraints need the sequences")
        let V = outputSize
        var drawn = [Int32](repeating: 0, count: rows.count)
        drawn.withUnsafeMutableBufferPointer { pd in
            forEachLogitBlock(after: hidden, rows: rows, precision: precision) { range, logits in
                var sampler = TokenSampler(options: options, vocabularySize: V)
                for (r, i) in range.enumerated() {
                    pd[i] = options.constrainsHistory
                        ? sampler.draw(logits + r * V, uniform: uniforms[i], history: sequences[rows[i]], endToken: endToken)
                        : sampler.draw(logits + r * V, uniform: uniforms[i])
                }
            }
        }
        return drawn
    }

    /// The logits of `rows` (indices into the rows of `hidden` [n, inputSize]), a block of `TokenSampler.blockRows`
    /// rows at a time, blocks spread over threads: `body` gets the block's indices into `rows` and its logits
    /// [count, outputSize] while they are in cache. Rows not listed cost nothing.
    private func forEachLogitBlock(after hidden: Tensor, rows: [Int], precision: Precision,
                                   _ body: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        let (H, V, B) = (inputSize, outputSize, TokenSampler.blockRows)
        let packed = bf16Packing(precision)
        hidden.withUnsafeBufferPointer { ph in
            Parallel.forEachChunk((rows.count + B - 1) / B) { blocks in
                let x = UnsafeMutablePointer<Float>.allocate(capacity: B * H)
                let logits = UnsafeMutablePointer<Float>.allocate(capacity: B * V)
                defer {
                    x.deallocate()
                    logits.deallocate()
                }
                for block in blocks {
                    let range = (block * B)..<min(rows.count, (block + 1) * B)
                    for (r, i) in range.enumerated() {
                        (x + r * H).update(from: ph.baseAddress! + rows[i] * H, count: H)
                    }
                    forward(rows: range.count, x, into: logits, packed: packed)
                    body(range, logits)
                }
            }
        }
    }
}

/// How a sampling loop turns each step's hidden rows into tokens. Both generators' loops take one, so ordinary
/// sampling and RelGAN's Gumbel-max step share the loop.
enum TokenDraw {
    /// The sampler of these options (`Linear.drawTokens`): one uniform per unfinished row and step when it is random.
    case sampler(SamplingOptions)
    /// RelGAN's generator step (`Linear.drawGumbelMax`): per unfinished row and step one seed, for V fresh standard
    /// Gumbels g; the token is argmax(o + g), and z = o + g is written to row b·length + t of `perturbed` (V floats
    /// per row), t being the position the token takes in sequence b.
    case gumbelMax(perturbed: UnsafeMutablePointer<Float>, length: Int)

    /// The sampler's options (the default ones for Gumbel-max, which has no temperature or filter).
    var options: SamplingOptions {
        if case .sampler(let options) = self { return options }
        return SamplingOptions()
    }
}

extension Linear {
    /// One token for each of `rows` of `hidden`, drawn as `how` says, their randomness taken from `rng` in row order
    /// (so the tokens do not depend on the thread count). `sequences` are the tokens so far: the history a
    /// constrained sampler checks, and where a Gumbel-max row goes. `precision` is the projection's.
    func draw(_ how: TokenDraw, after hidden: Tensor, rows: [Int], sequences: [[Int32]], endToken: Int32?,
              precision: Precision = .fp32, using rng: inout SeededGenerator) -> [Int32] {
        switch how {
        case .sampler(let options):
            let randomized = TokenSampler(options: options, vocabularySize: outputSize).usesRandomness
            let uniforms = randomized ? rows.map { _ in rng.nextDouble() } : [Double](repeating: 0, count: rows.count)
            return drawTokens(after: hidden, rows: rows, uniforms: uniforms, options: options, sequences: sequences,
                              endToken: endToken, precision: precision)
        case .gumbelMax(let perturbed, let length):
            let seeds = rows.map { _ in rng.next() }
            let destinations = rows.map { b in
                precondition(sequences[b].count < length, "draw: position \(sequences[b].count) is past \(length)")
                return perturbed + (b * length + sequences[b].count) * outputSize
            }
            return drawGumbelMax(after: hidden, rows: rows, seeds: seeds, into: destinations, precision: precision)
        }
    }

    /// The Gumbel-max trick on this projection's logits: for each of `rows`, o = its logits, g = V standard Gumbels
    /// −ln(−ln u) from the uniforms of `SeededGenerator(seed: seeds[i])`, z = o + g written to `destinations[i]`,
    /// and the token argmax z (the first of equal maxima), an exact sample of softmax(o). Blocks of rows run on
    /// several threads, each row from its own stream, so the thread count changes no bit.
    func drawGumbelMax(after hidden: Tensor, rows: [Int], seeds: [UInt64],
                       into destinations: [UnsafeMutablePointer<Float>], precision: Precision = .fp32) -> [Int32] {
        precondition(seeds.count == rows.count && destinations.count == rows.count, "drawGumbelMax: one seed and row each")
        let V = outputSize
        let group = 8  // rows whose uniform streams run side by side (`SeededGenerator.openUniforms`)
        var drawn = [Int32](repeating: 0, count: rows.count)
        drawn.withUnsafeMutableBufferPointer { pd in
            forEachLogitBlock(after: hidden, rows: rows, precision: precision) { range, logits in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: group * V) { uniforms in
                    let u = uniforms.baseAddress!
                    for first in stride(from: range.lowerBound, to: range.upperBound, by: group) {
                        let members = first..<min(first + group, range.upperBound)
                        SeededGenerator.openUniforms(seeds: seeds[members], count: V, into: members.map { u + ($0 - first) * V })
                        for i in members {
                            pd[i] = Int32(Vector.gumbelMax(logits: logits + (i - range.lowerBound) * V, count: V,
                                                           uniforms: u + (i - first) * V, into: destinations[i]))
                        }
                    }
                }
            }
        }
        return drawn
    }
}

/// The frame of a generator's `sampleGumbelMax`: `sample` fills z rows [count·length, V] (row b·length + t:
/// sequence b's position t) from a stream forked from `rng`, and returns the sequences; the rows past each
/// sequence's end are then zeroed, so every element is defined.
func gumbelMaxBatch(count: Int, length: Int, vocabularySize V: Int, using rng: inout SeededGenerator,
                    _ sample: (UnsafeMutablePointer<Float>, inout SeededGenerator) -> [[Int32]])
    -> (sequences: [[Int32]], perturbed: Tensor) {
    var stream = rng.fork()
    var sequences: [[Int32]] = []
    let perturbed = Tensor(uninitializedShape: [count * length, V]) { z in
        sequences = sample(z.baseAddress!, &stream)
        for (b, s) in sequences.enumerated() where s.count < length {
            (z.baseAddress! + (b * length + s.count) * V).update(repeating: 0, count: (length - s.count) * V)
        }
    }
    return (sequences, perturbed)
}

/// `count` sequences in batches of `batchSize`: every batch draws from its own stream forked from `rng` in batch
/// order, and independent batches run side by side, one per thread (a lone batch spreads its own steps over the
/// threads), so the tokens do not depend on the thread count. `shouldStop` is asked before every round of batches;
/// once it returns true the batches done so far are returned. Both generators sample this way.
func sampleInBatches(count: Int, batchSize: Int, using rng: inout SeededGenerator, shouldStop: () -> Bool,
                     _ sampleBatch: (_ size: Int, _ stream: inout SeededGenerator) -> [[Int32]]) -> [[Int32]] {
    precondition(batchSize > 0, "sample: batchSize must be positive")
    let sizes = stride(from: 0, to: max(count, 0), by: batchSize).map { min(batchSize, count - $0) }
    var streams = sizes.map { _ in rng.fork() }
    var batches = [[[Int32]]](repeating: [], count: sizes.count)
    var next = 0
    while next < sizes.count && !shouldStop() {
        let round = min(max(Parallel.threads, 1), sizes.count - next)
        streams.withUnsafeMutableBufferPointer { streams in
            batches.withUnsafeMutableBufferPointer { batches in
                Parallel.forEachChunk(round) { range in
                    for k in range { batches[next + k] = sampleBatch(sizes[next + k], &streams[next + k]) }
                }
            }
        }
        next += round
    }
    return Array(batches.joined())
}
