import Foundation
import Models
import NumericCore

// The Gumbel-softmax relaxation of generated sequences (RelGAN, Nie et al. ICLR 2019), for any generator that gives
// teacher-forced logits with a backward pass.
//
// RelGAN's generator, at each step t: logits o_t, noise g_t ~ Gumbel(0, 1)^V, emitted token y_t = argmax(o_t + g_t)
// (an exact sample of softmax(o_t)), next input the embedding of y_t; D reads softmax(β·(o_t + g_t)). Since the next
// input is the hard token, o_t is the teacher-forced logit of the emitted sequence, and the same joint law of
// (y, g) comes from two steps that use the generator's own fast sampler:
//   1. y ~ G (ordinary sampling, temperature 1);
//   2. g_t drawn from its law given argmax(o_t + g_t) = y_t ("top-down" Gumbel, Maddison et al. 2014; the REBAR
//      construction): the maximum M = logsumexp(o_t) + Gumbel, z_{y_t} = M, and every other z_i is a Gumbel of
//      location o_i truncated below M: z_i = M − softplus(M − (o_i + G_i)); then g = z − o.
// With g held fixed, the rows r_t = softmax(β·(o_t + g_t)) are a differentiable function of o_t, and so of the
// generator's parameters: d/do_t = β·softmax'(r_t), back through the teacher-forced pass (BPTT for the LSTM, the
// causal pass for the Transformer) by `logitsBackward`.
// D's steps need no gradient into the generator, only rows: there the generators sample RelGAN's way directly
// (`sampleGumbelMax`: free noise at each step, the argmax emitted, z = o + g kept), which saves the teacher-forced pass,
// the sampler's and the posterior's exponentials (`discriminatorRows`).

/// A batch of generated sequences, relaxed: the emitted tokens, their noise, and the rows D reads.
public struct GumbelSoftmaxBatch {
    /// The emitted sequences (each ends at the end token or the generator's length).
    public let sequences: [[Int32]]
    /// The teacher-forced batch of those sequences (padded to the longest), and the logits' backward cache.
    public let batch: TokenBatch
    /// g [B·T, V], batch-major like the logits: z = o + g has its maximum at each emitted token.
    public let noise: Tensor
    /// β: the rows are softmax(β·(o + g)).
    public let inverseTemperature: Float
    /// D's rows [B·T_D, V] (T_D: D's sequence length): soft within each sequence, one-hot padding after it.
    public let rows: Tensor
    /// Which rows of `rows` are soft: its position in the logits, or nil for a padding row.
    let softRows: [Int?]
    let cache: Any
}

public enum GumbelSoftmax {
    /// Samples `count` sequences from `generator`, draws their noise, and relaxes them into D's rows: positions of
    /// each sequence (up to D's length `discriminatorLength`) get softmax(β·(o + g)), later positions the one-hot row
    /// of D's pad token, exactly as a real sequence of that length packs.
    public static func generate(
        _ generator: any SequenceGenerator, count: Int, inverseTemperature beta: Float,
        discriminator: any SequenceDiscriminator, using rng: inout SeededGenerator
    ) throws -> GumbelSoftmaxBatch {
        let sequences = generator.sample(count: count, batchSize: count, using: &rng)
        // No dropout in this pass: the noise is drawn given tokens the generator sampled without it, so the logits
        // must be that same distribution's for (tokens, noise) to have RelGAN's joint law.
        let batch = TokenBatch(sequences: sequences, length: max(sequences.map(\.count).max() ?? 1, 1))
        let (logits, cache) = try generator.logits(batch)
        let noise = posteriorNoise(logits: logits, tokens: batch.tokens, weights: batch.weights, using: &rng)
        let (rows, softRows) = relax(logits: logits, noise: noise, inverseTemperature: beta, batch: batch,
                                     sequences: sequences, discriminator: discriminator)
        return GumbelSoftmaxBatch(sequences: sequences, batch: batch, noise: noise, inverseTemperature: beta, rows: rows,
                                  softRows: softRows, cache: cache)
    }

    /// Carries d(loss)/d(rows) back into the generator's parameter gradients (the noise held fixed).
    public static func backward(_ dRows: Tensor, of relaxed: GumbelSoftmaxBatch, generator: any SequenceGenerator) throws {
        let V = relaxed.rows.matrixShape.1
        var dLogits = Tensor(zeros: [relaxed.batch.batchSize * relaxed.batch.length, V])
        let beta = relaxed.inverseTemperature
        relaxed.rows.withUnsafeBufferPointer { pr in
            dRows.withUnsafeBufferPointer { pd in
                dLogits.withUnsafeMutableBufferPointer { pl in
                    let rows = relaxed.softRows.enumerated().compactMap { r, position in position.map { (r, $0) } }
                    Parallel.forEachChunk(rows.count, grain: 8) { range in
                        for (r, position) in rows[range] {
                            // r = softmax(βz): dz = β·r ⊙ (dr − ⟨dr, r⟩); ∂z/∂o = 1 with g fixed.
                            Softmax.scaledBackward(pr.baseAddress! + r * V, pd.baseAddress! + r * V, scale: beta,
                                                   into: pl.baseAddress! + position * V, columns: V)
                        }
                    }
                }
            }
        }
        try generator.logitsBackward(dLogits, cache: relaxed.cache)
    }

    /// D's rows of `logits + noise` at inverse temperature β, laid out as D packs `sequences`.
    public static func relax(
        logits: Tensor, noise: Tensor, inverseTemperature beta: Float, batch: TokenBatch, sequences: [[Int32]],
        discriminator: any SequenceDiscriminator
    ) -> (rows: Tensor, softRows: [Int?]) {
        logits.withUnsafeBufferPointer { po in
            noise.withUnsafeBufferPointer { pg in
                relax(positions: batch.length, vocabularySize: logits.matrixShape.1, inverseTemperature: beta,
                      sequences: sequences, discriminator: discriminator) { position, out, V in
                    let (o, g) = (po.baseAddress! + position * V, pg.baseAddress! + position * V)
                    for v in 0..<V { out[v] = o[v] + g[v] }
                }
            }
        }
    }

    /// D's rows softmax(β·z), z the perturbed logits of each position (`perturbed`: position b·T + t, T =
    /// `positions` per sequence, writes z [V] into its buffer), laid out as D packs `sequences`: soft within each
    /// sequence (up to D's length), the one-hot row of D's pad token after it.
    static func relax(
        positions T: Int, vocabularySize V: Int, inverseTemperature beta: Float, sequences: [[Int32]],
        discriminator: any SequenceDiscriminator,
        perturbed: (_ position: Int, _ into: UnsafeMutablePointer<Float>, _ V: Int) -> Void
    ) -> (rows: Tensor, softRows: [Int?]) {
        let packed = discriminator.pack(sequences)
        let B = sequences.count
        let length = B > 0 ? packed.count / B : 0
        var softRows = [Int?](repeating: nil, count: B * length)
        for b in 0..<B { for t in 0..<min(length, sequences[b].count, T) { softRows[b * length + t] = b * T + t } }
        let rows = Tensor(uninitializedShape: [B * length, V]) { pr in
            Parallel.forEachChunk(B * length, grain: 8) { range in
                for r in range {
                    let out = pr.baseAddress! + r * V
                    guard let position = softRows[r] else {
                        out.update(repeating: 0, count: V)
                        out[Int(packed[r])] = 1
                        continue
                    }
                    perturbed(position, out, V)
                    for v in 0..<V { out[v] = beta * out[v] }
                    Softmax.forward(out, out, rows: 1, columns: V)
                }
            }
        }
        return (rows, softRows)
    }

    /// D's rows of `count` fresh generated sequences for a discriminator step, where nothing flows back into the
    /// generator: RelGAN's Gumbel-max sampling straight from the generator (`sampleGumbelMax`: one pass, no
    /// teacher-forced logits, no posterior noise) when it has it, else `generate`'s sample-then-noise, which has
    /// the same law.
    public static func discriminatorRows(
        _ generator: any SequenceGenerator, count: Int, inverseTemperature beta: Float,
        discriminator: any SequenceDiscriminator, using rng: inout SeededGenerator
    ) throws -> (sequences: [[Int32]], rows: Tensor) {
        guard let (sequences, perturbed) = generator.sampleGumbelMax(count: count, using: &rng) else {
            let relaxed = try generate(generator, count: count, inverseTemperature: beta, discriminator: discriminator,
                                       using: &rng)
            return (relaxed.sequences, relaxed.rows)
        }
        let (N, V) = perturbed.matrixShape
        let rows = perturbed.withUnsafeBufferPointer { pz in
            relax(positions: count > 0 ? N / count : 0, vocabularySize: V, inverseTemperature: beta,
                  sequences: sequences, discriminator: discriminator) { position, out, V in
                out.update(from: pz.baseAddress! + position * V, count: V)
            }.rows
        }
        return (sequences, rows)
    }

    /// Gumbel noise g [N, V] for logits [N, V] conditioned on argmax(o + g) = each position's token (positions of
    /// weight 0, padding, get unconditioned noise). Each row draws its V + 1 uniforms from its own stream, seeded from
    /// `rng` in row order, so rows run on several threads and the thread count changes no bit.
    public static func posteriorNoise(logits: Tensor, tokens: [Int32], weights: [Float],
                                      using rng: inout SeededGenerator) -> Tensor {
        let (N, V) = logits.matrixShape
        precondition(tokens.count == N, "posteriorNoise: \(tokens.count) tokens for \(N) rows of logits")
        let seeds = (0..<N).map { _ in rng.next() }
        // Rows are handled eight at a time, their uniform streams drawn side by side. Every entry is written.
        let group = 8
        return logits.withUnsafeBufferPointer { po in
            Tensor(uninitializedShape: [N, V]) { pg in
                Parallel.forEachChunk((N + group - 1) / group, grain: 1) { groups in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: group * (V + 1)) { uniforms in
                        for first in groups.lowerBound * group..<min(groups.upperBound * group, N) where first % group == 0 {
                            let rows = first..<min(first + group, N)
                            let u = rows.map { uniforms.baseAddress! + ($0 - first) * (V + 1) }
                            SeededGenerator.openUniforms(seeds: seeds[rows], count: V + 1, into: u)
                            for n in rows {
                                let (o, g) = (po.baseAddress! + n * V, pg.baseAddress! + n * V)
                                let y = weights[n] > 0 ? Int(tokens[n]) : -1
                                var lse: Float = 0
                                if y >= 0 {
                                    let top = Vector.maximum(o, count: V)
                                    lse = top + Foundation.log(Self.expSum(o, count: V, shift: top, scratch: g))
                                }
                                let best = Vector.gumbelNoise(logits: o, count: V, token: y, logSumExp: lse,
                                                              uniforms: u[n - first], into: g)
                                guard y >= 0 else { continue }
                                // Rounding must not let another entry tie or pass the emitted token's.
                                // (ulps of g are not ulps of the sum when |o| ≫ |g|: step until the sum passes)
                                var target = best.nextUp
                                while o[y] + g[y] <= best {
                                    g[y] = target - o[y]
                                    target = target.nextUp
                                }
                            }
                        }
                    }
                }
            }
        }
    }


    /// Σ exp(x − shift), using `scratch` [count] (overwritten) for the exponentials.
    private static func expSum(_ x: UnsafePointer<Float>, count: Int, shift: Float, scratch: UnsafeMutablePointer<Float>) -> Float {
        Vector.expSum(x, scratch, count: count, shift: shift)
    }

}
