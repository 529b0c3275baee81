import Foundation
import Layers
import Models
import NumericCore
import TestSupport
@testable import Training
import XCTest

/// The Gumbel-softmax path: the noise's law given the emitted token, the relaxation's gradient into the generator,
/// the annealing formulas, and a seeded run with a bit-identical resume.
final class GumbelTests: XCTestCase {
    /// Drawing y ~ softmax(o) and then g given argmax(o + g) = y gives the law of RelGAN's forward construction
    /// (g iid Gumbel, y = argmax): the same conditional means of every z_v = o_v + g_v for each emitted token.
    func testPosteriorNoiseHasTheLawOfTheForwardGumbelMax() {
        let o: [Float] = [0.3, -0.8, 1.1]
        let V = o.count, draws = 60_000
        var forward = [[Double]](repeating: [Double](repeating: 0, count: V), count: V), forwardCount = [Double](repeating: 0, count: V)
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<draws {
            let z = o.map { Double($0) + gumbel(&rng) }
            let y = z.indices.max { z[$0] < z[$1] }!
            forwardCount[y] += 1
            for v in 0..<V { forward[y][v] += z[v] }
        }
        let logits = Tensor(shape: [1, V], scalars: o)
        let lse = Foundation.log(o.reduce(0.0) { $0 + Foundation.exp(Double($1)) })
        var posterior = [[Double]](repeating: [Double](repeating: 0, count: V), count: V), posteriorCount = [Double](repeating: 0, count: V)
        for _ in 0..<draws {
            // y ~ softmax(o) by inverse CDF
            var u = rng.nextDouble(), y = 0
            for v in 0..<V {
                u -= Foundation.exp(Double(o[v]) - lse)
                if u < 0 { y = v; break }
                y = v
            }
            let g = GumbelSoftmax.posteriorNoise(logits: logits, tokens: [Int32(y)], weights: [1], using: &rng)
            let z = (0..<V).map { Double(o[$0]) + Double(g.scalars[$0]) }
            XCTAssertEqual(z.indices.max { z[$0] < z[$1] }, y, "the emitted token is the argmax")
            posteriorCount[y] += 1
            for v in 0..<V { posterior[y][v] += z[v] }
        }
        for y in 0..<V {
            XCTAssertEqual(posteriorCount[y] / Double(draws), forwardCount[y] / Double(draws), accuracy: 0.01)
            for v in 0..<V {
                XCTAssertEqual(posterior[y][v] / posteriorCount[y], forward[y][v] / forwardCount[y], accuracy: 0.05,
                               "E[z_\(v) | y = \(y)]")
            }
        }
        // The emitted token's perturbed logit is the maximum: logsumexp(o) + Euler's γ on average.
        let meanMax = (0..<V).reduce(0.0) { $0 + posterior[$1][$1] } / Double(draws)
        XCTAssertEqual(meanMax, lse + 0.5772, accuracy: 0.03)
    }

    /// A standard Gumbel draw in Double, −log(−log u): the forward construction the kernel is checked against.
    private func gumbel(_ rng: inout SeededGenerator) -> Double {
        -Foundation.log(-Foundation.log(max(rng.nextDouble(), Double.leastNormalMagnitude)))
    }

    /// The noise kernel against the same construction in Double, on the same uniforms: rows of 1,000 logits spread
    /// over ±60 (uniforms at both extremes included), and 2,000 rows of 20 logits within ±3, where the maximum M often
    /// falls below some logits (the kernel's second branch). Every g within 1e-5·max(1, |g|) of the reference, the
    /// emitted token's z at M, and the returned runner-up the largest of the others.
    func testNoiseKernelMatchesTheConstructionInDouble() {
        var rng = SeededGenerator(seed: 31)
        var belowLogits = 0
        func check(_ o: [Float], _ u: [Float], token y: Int) {
            let V = o.count
            let top = o.max()!
            let lse = Double(top) + Foundation.log(o.reduce(0.0) { $0 + Foundation.exp(Double($1 - top)) })
            var g = [Float](repeating: 0, count: V)
            let best = Vector.gumbelNoise(logits: o, count: V, token: y, logSumExp: Float(lse), uniforms: u, into: &g)
            let M = Double(Float(lse) - Float(Foundation.log(-Foundation.log(Double(u[V])))))
            var runnerUp = -Float.infinity
            for i in 0..<V {
                let E = -Foundation.log(Double(u[i]))
                let reference: Double
                if y < 0 {
                    reference = -Foundation.log(E)
                } else if i == y {
                    reference = M - Double(o[i])
                } else {
                    // z = −ln(e^{−M} + e^{−o_i}·E) = M − ln(1 + e^{M − o_i}·E)
                    reference = M - Foundation.log(1 + Foundation.exp(M - Double(o[i])) * E) - Double(o[i])
                    if Double(o[i]) > M { belowLogits += 1 }
                }
                XCTAssertEqual(Double(g[i]), reference, accuracy: 1e-5 * max(1, abs(reference)), "y \(y), entry \(i) of \(V)")
                if i != y { runnerUp = max(runnerUp, o[i] + g[i]) }
            }
            if y >= 0 { XCTAssertEqual(best, runnerUp, "y \(y): the largest perturbed logit but the token's") }
        }
        let wide = (0..<1000).map { _ in Float(rng.nextDouble() * 120 - 60) }
        var u = (0...1000).map { _ in SeededGenerator.openUniform(rng.next()) }
        (u[0], u[1]) = (SeededGenerator.openUniform(0), SeededGenerator.openUniform(.max))
        for y in [-1, 0, 7, 999] { check(wide, u, token: y) }
        for _ in 0..<2000 {
            let o = (0..<20).map { _ in Float(rng.nextDouble() * 6 - 3) }
            let u = (0...20).map { _ in SeededGenerator.openUniform(rng.next()) }
            check(o, u, token: rng.nextInt(below: 20))
        }
        XCTAssertGreaterThan(belowLogits, 25, "rows where M falls below a logit were exercised")
    }

    /// The noise's uniforms stay strictly inside (0, 1) at both ends of the random bits, and the noise is finite.
    func testUniformsAreStrictlyInsideTheUnitInterval() {
        for bits in [UInt64.max, UInt64.max - 1, 0, 1, 1 << 63] {
            let u = SeededGenerator.openUniform(bits)
            XCTAssertGreaterThan(u, 0)
            XCTAssertLessThan(u, 1, "bits \(bits)")
            XCTAssertTrue((-Foundation.log(-Foundation.log(u))).isFinite)
        }
    }

    private let tinyDiscriminator = CNNDiscriminatorConfig(
        vocabularySize: 7, sequenceLength: 5, embeddingSize: 4,
        widths: [ConvolutionWidth(width: 2, filters: 3), ConvolutionWidth(width: 3, filters: 3)], keepProbability: 1)

    /// With the noise held fixed, D's generator loss is a function of the generator's parameters through the soft
    /// rows; its gradient (rows → logits → BPTT or the causal pass) matches central differences.
    func testTheRelaxedGeneratorLossGradientMatchesCentralDifferences() throws {
        var rng = SeededGenerator(seed: 12)
        let generators: [any SequenceGenerator] = [
            LSTMGenerator(LSTMGeneratorConfig(vocabularySize: 7, embeddingSize: 3, hiddenSize: 4, maxLength: 5,
                                              startToken: 1, endToken: 2, initStd: 0.5), using: &rng),
            TransformerGenerator(TransformerGeneratorConfig(vocabularySize: 7, maxLength: 5, startToken: 1, endToken: 2,
                                                            layers: 1, heads: 2, width: 4, mlpExpansion: 2, initStd: 0.4),
                                 using: &rng),
        ]
        let d = CNNDiscriminator(tinyDiscriminator, using: &rng)
        for generator in generators {
            for loss in [GANObjective.rsgan, .standard] {
                let gan = loss.makeLoss()
                let relaxed = try GumbelSoftmax.generate(generator, count: 4, inverseTemperature: 2, discriminator: d,
                                                         using: &rng)
                XCTAssertGreaterThan(relaxed.softRows.compactMap { $0 }.count, 4)
                let real = d.forward(.tokens(d.pack([[3, 4, 5], [6, 6, 2], [4, 4, 4, 4, 4], [5, 2]])), training: false,
                                     using: &rng).logits
                func value() throws -> Double {
                    let (logits, _) = try generator.logits(relaxed.batch)
                    let (rows, _) = GumbelSoftmax.relax(logits: logits, noise: relaxed.noise, inverseTemperature: 2,
                                                        batch: relaxed.batch, sequences: relaxed.sequences,
                                                        discriminator: d)
                    var unused = SeededGenerator(seed: 0)
                    let fake = d.forward(.rows(rows), training: false, using: &unused).logits
                    return Double(gan.generatorLoss(fake: fake, real: gan.pairsExamples ? real : nil).loss)
                }
                generator.zeroGrad()
                d.zeroGrad()
                var unused = SeededGenerator(seed: 0)
                let pass = d.forward(.rows(relaxed.rows), training: false, using: &unused)
                let (_, dFake) = gan.generatorLoss(fake: pass.logits, real: gan.pairsExamples ? real : nil)
                let dRows = try XCTUnwrap(d.backward(pass, logitGradient: dFake, featureGradient: nil))
                try GumbelSoftmax.backward(dRows, of: relaxed, generator: generator)
                let norm = generator.parameters.reduce(0.0) { $0 + $1.grad.scalars.reduce(0.0) { $0 + Double($1 * $1) } }
                XCTAssertGreaterThan(norm, 1e-8, "D's gradient reaches the \(generator.kind) generator")
                assertGradientsMatch(generator.parameters.map { ($0, $0.grad) },
                                     options: GradientCheckOptions(epsilon: 1e-2, maxEntriesPerTensor: 24)) {
                    (try? value()) ?? .nan
                }
            }
        }
    }

    /// RelGAN's formulas at n = 0, N/2 and N−1 (N = 1000, β_max = 100).
    func testAnnealingPoliciesAtTheStartMiddleAndEnd() {
        let (N, m) = (1000, 100.0)
        let expected: [TemperatureAnnealing: [Double]] = [
            .no: [100, 100, 100],
            .lin: [1, 1 + 500.0 / 999 * 99, 100],
            .exp: [1, 10, Foundation.pow(100, 0.999)],
            .log: [1, 1 + 99 * Foundation.log(501) / Foundation.log(1000), 1 + 99 * Foundation.log(1000) / Foundation.log(1000)],
            .sigmoid: [1 + 99 / (1 + Foundation.exp(10)), 50.5, 1 + 99 / (1 + Foundation.exp(-499 * 20.0 / 1000))],
            .quad: [1, 1 + 99 * 250_000 / (999.0 * 999), 100],
            .sqrt: [1, 1 + 99 * Foundation.sqrt(500) / Foundation.sqrt(999), 100],
        ]
        for policy in TemperatureAnnealing.allCases {
            let got = [0, N / 2, N - 1].map { policy.inverseTemperature(step: $0, of: N, maximum: m) }
            for (g, e) in zip(got, expected[policy]!) { XCTAssertEqual(g, e, accuracy: 1e-9 * max(1, e), "\(policy)") }
        }
        for policy in TemperatureAnnealing.allCases {
            XCTAssertTrue(policy.inverseTemperature(step: 0, of: 1, maximum: m).isFinite, "\(policy) with one step")
        }
    }

    /// `annealingSteps` is the horizon N (RelGAN: 5000 for 2,000 steps); unset, the run's own steps; past it, β_max.
    func testAnnealingHorizon() throws {
        var config = GumbelConfig()
        config.adversarialSteps = 2000
        config.maximumInverseTemperature = 100
        XCTAssertEqual(config.inverseTemperature(step: 1000), 10, accuracy: 1e-4)
        config.annealingSteps = 5000
        XCTAssertEqual(config.inverseTemperature(step: 1999), Float(Foundation.pow(100, 1999.0 / 5000)), accuracy: 1e-4)
        XCTAssertEqual(config.inverseTemperature(step: 2500), 10, accuracy: 1e-4)
        config.annealingSteps = 100
        XCTAssertEqual(config.inverseTemperature(step: 99), Float(Foundation.pow(100, 0.99)), accuracy: 1e-3)
        XCTAssertEqual(config.inverseTemperature(step: 100), 100)
        XCTAssertEqual(config.inverseTemperature(step: 1999), 100)
        let decoded = try JSONDecoder().decode(GumbelConfig.self, from: Data(#"{"annealingSteps": 5000}"#.utf8))
        XCTAssertEqual(decoded.annealingSteps, 5000)
        XCTAssertNil(try JSONDecoder().decode(GumbelConfig.self, from: Data("{}".utf8)).annealingSteps)
    }

    private func tinyTrainer(directory: URL?, loss: GANObjective = .rsgan, representations: Int = 1,
                             keepProbability: Float = 1) -> GumbelTrainer {
        var rng = SeededGenerator(seed: 3)
        let g = LSTMGenerator(LSTMGeneratorConfig(vocabularySize: 7, embeddingSize: 4, hiddenSize: 6, maxLength: 5,
                                                  startToken: 1, endToken: 2), using: &rng)
        var discriminatorConfig = tinyDiscriminator
        discriminatorConfig.representations = representations
        discriminatorConfig.keepProbability = keepProbability
        let d = CNNDiscriminator(discriminatorConfig, using: &rng)
        var data = SeededGenerator(seed: 7)
        let positives = SequenceDataset(sequences: (0..<32).map { _ in
            let s = data.nextInt(below: 3)
            return (0..<4).map { Int32(3 + (s + $0) % 4) } + [2]
        })
        var config = GumbelConfig()
        config.adversarialSteps = 4
        config.discriminatorSteps = 2
        config.batchSize = 8
        config.maximumInverseTemperature = 10
        config.evaluateEvery = 2
        config.generatorLearningRate = 1e-2
        let trainer = GumbelTrainer(generator: g, discriminator: d, positives: positives,
                                    pretrain: MLEConfig(epochs: 2, batchSize: 8, logEvery: 1, samplesPerEpoch: 0),
                                    config: config, gan: GANConfig(loss: loss))
        trainer.checkpointDirectory = directory
        return trainer
    }

    /// A seeded run goes MLE → adversarial → done, records β as annealed and the losses finite; stopped after its
    /// first adversarial step and resumed in a fresh trainer, it ends bit-identical.
    func testASeededRunAndItsMidAdversarialResumeAreBitIdentical() throws {
        let straight = tinyTrainer(directory: nil)
        var straightState = GumbelState(seed: 4)
        var betas: [Double] = []
        _ = try straight.run(state: &straightState) { event in
            if case .step("adversarial", _, _, let metrics, _) = event {
                betas.append(metrics["inverse_temperature"]!)
                XCTAssertTrue(metrics["g_loss"]!.isFinite && metrics["d_loss"]!.isFinite)
            }
            return .proceed
        }
        XCTAssertEqual(straightState.phase, .done)
        XCTAssertEqual(betas, (0..<4).map { Double(Float(Foundation.pow(10, Double($0) / 4))) })

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("textgan-gumbel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let first = tinyTrainer(directory: directory)
        var state = GumbelState(seed: 4)
        let outcome = try first.run(state: &state) { event in
            if case .step("adversarial", 1, _, _, _) = event { return .stop }
            return .proceed
        }
        XCTAssertEqual(outcome, .stopped)
        let second = tinyTrainer(directory: directory)
        var resumed = try second.restore(from: directory.appendingPathComponent("latest.safetensors"))
        XCTAssertEqual(resumed.adversarialStep, 1)
        _ = try second.run(state: &resumed) { _ in .proceed }
        XCTAssertEqual(resumed, straightState)
        XCTAssertEqual(second.generator.namedTensors, straight.generator.namedTensors)
        XCTAssertEqual(second.discriminator.namedTensors, straight.discriminator.namedTensors)
    }

    /// WGAN-GP's interpolates: one α ~ U(0, 1) per sequence from the seeded generator, x̂ = α·onehot(real) +
    /// (1 − α)·fake on every row of that sequence, so each row still sums to 1.
    func testWassersteinInterpolatesMixEachSequenceByItsOwnAlpha() {
        var rng = SeededGenerator(seed: 9)
        let (T, V) = (3, 4)
        let ids: [Int32] = [1, 2, 0, 3, 3, 1]
        let fake = softmax(Tensor(randomNormal: [6, V], using: &rng))
        var draw = SeededGenerator(seed: 5)
        let x = WassersteinPenalty.interpolates(real: ids, fake: fake, length: T, using: &draw)
        var same = SeededGenerator(seed: 5)
        let alphas = [same.nextFloat(), same.nextFloat()]
        XCTAssertEqual(draw, same, "one draw per sequence")
        XCTAssertNotEqual(alphas[0], alphas[1])
        for n in 0..<6 {
            let alpha = alphas[n / T]
            var sum: Float = 0
            for v in 0..<V {
                let expected = (1 - alpha) * fake[n, v] + (v == Int(ids[n]) ? alpha : 0)
                XCTAssertEqual(x[n, v], expected, accuracy: 1e-6)
                sum += x[n, v]
            }
            XCTAssertEqual(sum, 1, accuracy: 1e-5)
        }
    }

    /// `wgan-gp` in the Gumbel trainer (with dropout and RelGAN's several representations): D's loss holds the
    /// penalty and moves over the steps, the penalty and ‖∇D(x̂)‖ are recorded, and a resume mid-adversarial ends
    /// bit-identical to the straight run.
    func testAWGANGPRunMovesItsDLossAndResumesBitIdentically() throws {
        func trainer(_ directory: URL?) -> GumbelTrainer {
            tinyTrainer(directory: directory, loss: .wganGP, representations: 2, keepProbability: 0.75)
        }
        let straight = trainer(nil)
        XCTAssertEqual(straight.gan.gpWeight, 10)
        var straightState = GumbelState(seed: 4)
        var dLosses: [Double] = [], penalties: [Double] = [], norms: [Double] = []
        _ = try straight.run(state: &straightState) { event in
            if case .step("adversarial", _, _, let metrics, _) = event {
                dLosses.append(metrics["d_loss"]!)
                penalties.append(metrics["gradient_penalty"]!)
                norms.append(metrics["gradient_norm_interpolates"]!)
            }
            return .proceed
        }
        XCTAssertEqual(straightState.phase, .done)
        XCTAssertEqual(dLosses.count, 4)
        XCTAssertTrue((dLosses + penalties + norms).allSatisfy(\.isFinite), "\(dLosses) \(penalties) \(norms)")
        XCTAssertTrue(penalties.allSatisfy { $0 > 0 }, "\(penalties)")
        XCTAssertGreaterThan(dLosses.max()! - dLosses.min()!, 1e-3, "D's loss moves: \(dLosses)")
        XCTAssertGreaterThan(penalties.max()! - penalties.min()!, 1e-4, "the penalty moves: \(penalties)")

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("textgan-wgangp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let first = trainer(directory)
        var state = GumbelState(seed: 4)
        let outcome = try first.run(state: &state) { event in
            if case .step("adversarial", 2, _, _, _) = event { return .stop }
            return .proceed
        }
        XCTAssertEqual(outcome, .stopped)
        let second = trainer(directory)
        var resumed = try second.restore(from: directory.appendingPathComponent("latest.safetensors"))
        XCTAssertEqual(resumed.adversarialStep, 2)
        var resumedLosses: [Double] = []
        _ = try second.run(state: &resumed) { event in
            if case .step("adversarial", _, _, let metrics, _) = event { resumedLosses.append(metrics["d_loss"]!) }
            return .proceed
        }
        XCTAssertEqual(resumed, straightState)
        XCTAssertEqual(resumedLosses.map(\.bitPattern), dLosses.suffix(2).map(\.bitPattern))
        XCTAssertEqual(second.generator.namedTensors, straight.generator.namedTensors)
        XCTAssertEqual(second.discriminator.namedTensors, straight.discriminator.namedTensors)
    }

    /// A discriminator kind without the double backward: the role's default refuses the penalty, and a wgan-gp run
    /// with it stops at its first D step, naming what is missing.
    func testADiscriminatorWithoutTheDoubleBackwardRefusesWGANGP() throws {
        var rng = SeededGenerator(seed: 3)
        let plain = PlainDiscriminator(CNNDiscriminator(tinyDiscriminator, using: &rng))
        XCTAssertThrowsError(try plain.gradientPenalty(Tensor(zeros: [5, 7]), weight: 10, training: false, backward: true,
                                                       using: &rng)) {
            XCTAssertEqual($0 as? ModelError, .unsupported(model: "plain", capability: "WGAN-GP's gradient penalty (a double backward pass)"))
        }
        let g = LSTMGenerator(LSTMGeneratorConfig(vocabularySize: 7, embeddingSize: 4, hiddenSize: 6, maxLength: 5,
                                                  startToken: 1, endToken: 2), using: &rng)
        var config = GumbelConfig()
        config.batchSize = 4
        let trainer = GumbelTrainer(generator: g, discriminator: plain, positives: SequenceDataset(sequences: [[3, 4, 2]]),
                                    pretrain: MLEConfig(epochs: 0), config: config, gan: GANConfig(loss: .wganGP))
        XCTAssertThrowsError(try trainer.iteration(inverseTemperature: 1, step: 1, using: &rng)) {
            XCTAssertTrue("\($0)".contains("does not support WGAN-GP's gradient penalty"), "\($0)")
        }
    }

    /// The CNN behind the role's requirements only: no `gradientPenalty` of its own.
    private final class PlainDiscriminator: SequenceDiscriminator {
        let cnn: CNNDiscriminator
        init(_ cnn: CNNDiscriminator) { self.cnn = cnn }
        var parameters: [Parameter] { cnn.parameters }
        var kind: String { "plain" }
        var vocabularySize: Int { cnn.vocabularySize }
        var sequenceLength: Int { cnn.sequenceLength }
        func pack(_ sequences: [[Int32]]) -> [Int32] { cnn.pack(sequences) }
        func forward(_ input: DiscriminatorInput, training: Bool, using rng: inout SeededGenerator) -> DiscriminatorPass {
            cnn.forward(input, training: training, using: &rng)
        }
        func backward(_ pass: DiscriminatorPass, logitGradient: Tensor, featureGradient: Tensor?, inputGradient: Bool) -> Tensor? {
            cnn.backward(pass, logitGradient: logitGradient, featureGradient: featureGradient, inputGradient: inputGradient)
        }
        func regularization(backward: Bool) -> Float { cnn.regularization(backward: backward) }
        func probabilityReal(_ sequences: [[Int32]], batchSize: Int) -> [Float] { cnn.probabilityReal(sequences, batchSize: batchSize) }
        func frozenScorer() -> SequenceScorer { cnn.frozenScorer() }
    }
}

/// RelGAN's generator step as the generators sample it for D's steps (`sampleGumbelMax`): the tokens are the argmax
/// of the perturbed logits, the perturbation is free standard Gumbel noise on the teacher-forced logits, the tokens
/// have the generator's law, the thread count changes no bit, and D's rows are their relaxation.
final class GumbelMaxSamplingTests: XCTestCase {
    private func tinyGenerators(_ rng: inout SeededGenerator) -> [any SequenceGenerator] {
        [
            LSTMGenerator(LSTMGeneratorConfig(vocabularySize: 7, embeddingSize: 3, hiddenSize: 4, maxLength: 5,
                                              startToken: 1, endToken: 2, initStd: 0.5), using: &rng),
            TransformerGenerator(TransformerGeneratorConfig(vocabularySize: 7, maxLength: 5, startToken: 1, endToken: 2,
                                                            layers: 1, heads: 2, width: 4, mlpExpansion: 2, initStd: 0.4),
                                 using: &rng),
        ]
    }

    func testTheSamplesAreTheArgmaxOfFreeGumbelNoiseOnTheTeacherForcedLogits() throws {
        var rng = SeededGenerator(seed: 31)
        for generator in tinyGenerators(&rng) {
            let count = 3000, T = 5, V = 7
            let (sequences, perturbed) = try XCTUnwrap(generator.sampleGumbelMax(count: count, using: &rng))
            XCTAssertEqual(sequences.count, count)
            XCTAssertEqual(perturbed.shape, [count * T, V])
            let batch = TokenBatch(sequences: sequences, length: sequences.map(\.count).max()!)
            let (logits, _) = try generator.logits(batch)
            var noise: [Double] = []
            var firstTokens = [Double](repeating: 0, count: V)
            for (b, s) in sequences.enumerated() {
                XCTAssertTrue((1...T).contains(s.count))
                XCTAssertTrue(s.count == T || s.last == 2, "a sequence ends at the end token or the length")
                firstTokens[Int(s[0])] += 1
                for t in 0..<T {
                    let z = (0..<V).map { perturbed[b * T + t, $0] }
                    guard t < s.count else {
                        XCTAssertEqual(z, [Float](repeating: 0, count: V), "rows past the end are zero")
                        continue
                    }
                    XCTAssertEqual(z.indices.max { z[$0] < z[$1] }, Int(s[t]), "the token is the argmax of z")
                    for v in 0..<V { noise.append(Double(z[v]) - Double(logits[b * batch.length + t, v])) }
                }
            }
            // Standard Gumbel: mean Euler's γ, variance π²/6 (the tolerances are about 4 standard errors).
            let mean = noise.reduce(0, +) / Double(noise.count)
            let variance = noise.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(noise.count - 1)
            XCTAssertEqual(mean, 0.5772, accuracy: 0.02, "\(generator.kind)")
            XCTAssertEqual(variance, Double.pi * Double.pi / 6, accuracy: 0.08, "\(generator.kind)")
            // The first token's law is softmax of the first position's logits (the same for every sequence).
            let o = (0..<V).map { Double(logits[0, $0]) }
            let lse = Foundation.log(o.reduce(0) { $0 + Foundation.exp($1) })
            for v in 0..<V {
                XCTAssertEqual(firstTokens[v] / Double(count), Foundation.exp(o[v] - lse), accuracy: 0.03,
                               "\(generator.kind): P(first token = \(v))")
            }
        }
    }

    func testTheThreadCountChangesNoBit() throws {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        var rng = SeededGenerator(seed: 32)
        for generator in tinyGenerators(&rng) {
            var results: [([[Int32]], [UInt32])] = []
            for threads in [1, 2] {
                Parallel.threads = threads
                var stream = SeededGenerator(seed: 9)
                let (sequences, perturbed) = try XCTUnwrap(generator.sampleGumbelMax(count: 70, using: &stream))
                results.append((sequences, perturbed.scalars.map(\.bitPattern)))
            }
            XCTAssertEqual(results[0].0, results[1].0)
            XCTAssertEqual(results[0].1, results[1].1)
        }
    }

    /// D's rows for a D step: softmax(β·z) at each emitted position up to D's length, one-hot pad rows after.
    func testTheDiscriminatorsRowsAreTheRelaxationOfTheSample() throws {
        var rng = SeededGenerator(seed: 33)
        let d = CNNDiscriminator(CNNDiscriminatorConfig(vocabularySize: 7, sequenceLength: 6, embeddingSize: 4,
                                                        widths: [ConvolutionWidth(width: 2, filters: 3)],
                                                        keepProbability: 1, padToken: 0), using: &rng)
        let beta: Float = 3
        for generator in tinyGenerators(&rng) {
            var a = SeededGenerator(seed: 4), b = SeededGenerator(seed: 4)
            let (sequences, perturbed) = try XCTUnwrap(generator.sampleGumbelMax(count: 16, using: &a))
            let (same, rows) = try GumbelSoftmax.discriminatorRows(generator, count: 16, inverseTemperature: beta,
                                                                   discriminator: d, using: &b)
            XCTAssertEqual(same, sequences)
            XCTAssertEqual(rows.shape, [16 * 6, 7])
            for (n, s) in sequences.enumerated() {
                for t in 0..<6 {
                    let row = (0..<7).map { Double(rows[n * 6 + t, $0]) }
                    if t < s.count {
                        let z = (0..<7).map { Double(beta) * Double(perturbed[n * 5 + t, $0]) }
                        let top = z.max()!, sum = z.reduce(0) { $0 + Foundation.exp($1 - top) }
                        for v in 0..<7 { XCTAssertEqual(row[v], Foundation.exp(z[v] - top) / sum, accuracy: 1e-6) }
                    } else {
                        XCTAssertEqual(row, (0..<7).map { $0 == 0 ? 1 : 0 }, "pad rows are D's pad token, one-hot")
                    }
                }
            }
        }
    }
}
