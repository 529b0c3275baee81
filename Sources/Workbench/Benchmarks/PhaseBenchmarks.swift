import Layers
import Models
import NumericCore
import Training

/// The SeqGAN synthetic setup's phases, with the sizes, data and schedule of the PyTorch reference in
/// `../shared/bench/torch_seqgan.py`: vocabulary 5000, embedding 32, hidden 32, length 20, batch 64; an oracle drawn
/// N(0, 1) and a generator N(0, 0.1); the paper's discriminator.
///
/// Operation counts (multiply and add counted separately, matrix products only) follow the reference's analytic model:
///   per token forward: 4H(E+H) (LSTM cell) + H·V (output layer); training: 3× forward − 4H·E (no embedding input
///   gradient); the discriminator: Σ_w (T−w+1)·w·E_D·F_w + 2·ΣF² + 2·ΣF per sequence forward, 3× for training.
public enum PhaseBenchmarks {
    public static let (V, E, H, T, B) = (5000, 32, 32, 20, 64)
    public static let sequences = 10_000

    // MARK: - Operation counts

    public static let lstmMAC = Double(4 * H * (E + H))
    public static let projectionMAC = Double(H * V)
    public static let tokenForward = lstmMAC + projectionMAC
    public static let tokenTrain = 3 * tokenForward - Double(4 * H * E)
    public static var discriminatorForwardMAC: Double {
        let widths = CNNDiscriminatorConfig.paperWidths
        let conv = widths.reduce(0.0) { $0 + Double((T - $1.width + 1) * $1.width * 64 * $1.filters) }
        let features = Double(widths.reduce(0) { $0 + $1.filters })
        return conv + 2 * features * features + 2 * features
    }
    public static var flops: [String: Double] {
        let mleTokens = Double((sequences / B) * B * T)
        let sample10k = 2 * Double(sequences * T) * tokenForward
        let dEpoch = 2 * Double((2 * sequences / B) * B) * 3 * discriminatorForwardMAC
        var rollout = Double(B * T) * lstmMAC + Double(B + 16 * B * (T - 1)) * discriminatorForwardMAC
        for g in 1..<T { rollout += 16 * Double(B) * (Double(T - g) * projectionMAC + Double(T - 1 - g) * lstmMAC) }
        let pg = 2 * Double(B * T) * tokenTrain
        return [
            "mle": 2 * mleTokens * tokenTrain,
            "gen": sample10k,
            "nll": sample10k + 2 * Double(sequences * T) * tokenForward,
            "dis": dEpoch,
            "rollout": 2 * rollout,
            "adv": 2 * Double(B * T) * tokenForward + 2 * rollout + pg + 5 * (sample10k + 3 * dEpoch),
        ]
    }

    // The Transformer phases (`../shared/bench/torch_textgans.py`, `tmle`/`tgen`/`trollout`): 2 pre-LN blocks of
    // width 64, 4 heads, MLP 256, untied output, same vocabulary, length, batch and data. Its analytic count: per
    // position and layer 12·C² (qkv 3, projection 1, MLP 8) plus the attention products, 2·C per key (QKᵀ and PV);
    // the teacher-forced pass counts all T keys of every position (as PyTorch's SDPA computes the full block), the
    // cached step t counts its t + 1 keys.
    public static let (transformerWidth, transformerLayers) = (64, 2)
    static var transformerBlockMAC: Double { Double(12 * transformerWidth * transformerWidth) }
    static var transformerTokenFull: Double {
        Double(transformerLayers) * (transformerBlockMAC + Double(2 * T * transformerWidth)) + Double(transformerWidth * V)
    }
    static func transformerStep(_ t: Int) -> Double {
        Double(transformerLayers) * (transformerBlockMAC + Double(2 * (t + 1) * transformerWidth))
            + Double(transformerWidth * V)
    }
    public static var transformerFlops: [String: Double] {
        let rollouts = 16
        var rollout = Double(B * T) * transformerTokenFull
        for g in 1..<T { for t in (g + 1)..<T { rollout += Double(rollouts * B) * transformerStep(t) } }
        rollout += Double(rollouts * B * (T - 1) + B) * discriminatorForwardMAC
        // A Gumbel iteration as torch_textgans.py counts it: G step = 3·B·(generation) + 3·B·(D on rows), plus D on the
        // real batch; each of 5 D steps = B·(generation) + 2·B·(2·rows·E + 3·D body). Rows·E = T·V·64 per sequence.
        let rowsMAC = Double(T * V * 64), body = discriminatorForwardMAC
        let lstmSequence = Double(T) * tokenForward
        let transformerSequence = (0..<T).reduce(0.0) { $0 + transformerStep($1) }
        func gumbel(_ generation: Double) -> Double {
            let g = 3 * Double(B) * generation + 2 * Double(B) * (rowsMAC + body) + Double(B) * (rowsMAC + body)
            let d = Double(B) * generation + 2 * Double(B) * (2 * rowsMAC + 3 * body)
            return 2 * (g + 5 * d)
        }
        // A TextGAN iteration (z of 32): the soft-argmax decoding adds each fed row's product with E, (T − 1)·V·E.
        let Z = 32, features = Double(CNNDiscriminatorConfig.paperWidths.reduce(0) { $0 + $1.filters })
        let latentSequence = Double(T) * (Double(4 * H * (E + Z + H)) + projectionMAC) + Double((T - 1) * V * E) + Double(Z * H)
        let mmd = 3 * Double(4 * B * B) * features
        let textganG = 3 * Double(B) * latentSequence + 3 * Double(B) * (rowsMAC + body) + mmd
        let textganD = Double(B) * latentSequence + 2 * Double(B) * (2 * rowsMAC + 3 * body + 3 * features)
            + 3 * Double(B) * features * Double(Z) + mmd
        return [
            "gumbel": gumbel(lstmSequence), "tgumbel": gumbel(transformerSequence),
            "textgan": 2 * (textganG + textganD),
            "tmle": 2 * 3 * Double((sequences / B) * B * T) * transformerTokenFull,
            "tgen": 2 * Double(sequences) * (0..<T).reduce(0) { $0 + transformerStep($1) },
            "trollout": 2 * rollout,
        ]
    }

    // MARK: - Phases

    public enum Phase: String, CaseIterable {
        case mle, gen, rollout, dis, adv, nll
        case tmle, tgen, trollout
        case gumbel, tgumbel, gumbelgp
        case textgan
    }

    /// `precision`: the discriminator's (`CNNDiscriminatorConfig.precision`), in every phase that runs it;
    /// `generatorPrecision`: the LSTM's and the Transformer's (`generator.precision`), in every phase that runs one
    /// (TextGAN's latent LSTM has no bf16 path).
    public static func run(_ phases: [Phase], _ runner: BenchmarkRunner, precision: Precision = .fp32,
                           generatorPrecision: Precision = .fp32) -> [BenchmarkResult] {
        let oracle = Oracle.random(seed: 2017)
        let data = SequenceDataset(sequences: oracle.sampleCorpus(count: sequences, seed: 88), length: T)
        var rng = SeededGenerator(seed: 1)
        var config = LSTMGeneratorConfig(vocabularySize: V, embeddingSize: E, hiddenSize: H, maxLength: T)
        config.precision = generatorPrecision
        let generator = LSTMGenerator(config, using: &rng)
        var discriminatorConfig = CNNDiscriminatorConfig(vocabularySize: V, sequenceLength: T)
        discriminatorConfig.precision = precision
        let discriminator = CNNDiscriminator(discriminatorConfig, using: &rng)
        var transformerRNG = SeededGenerator(seed: 3)
        var transformerConfig = TransformerGeneratorConfig(vocabularySize: V, maxLength: T, layers: transformerLayers,
                                                           heads: 4, width: transformerWidth)
        transformerConfig.precision = generatorPrecision
        let transformer = TransformerGenerator(transformerConfig, using: &transformerRNG)
        let flops = self.flops.merging(transformerFlops) { a, _ in a }
        var results: [BenchmarkResult] = []
        for phase in phases {
            let name = phase.rawValue
            switch phase {
            case .mle:
                let trainer = MLETrainer(generator: generator, loader: BatchLoader(dataset: data, batchSize: B),
                                         config: MLEConfig(epochs: 1, batchSize: B, logEvery: 1_000_000, samplesPerEpoch: 0))
                results.append(runner.measure(phase: name, name: "mle epoch (156 batches)", flops: flops[name],
                                              work: (Double((sequences / B) * B * T), "tokens")) {
                    var state = MLEState(seed: rng.next())
                    _ = try? trainer.run(state: &state) { _ in .proceed }
                })
            case .gen:
                results.append(runner.measure(phase: name, name: "generate 10,000 (batch 64)", flops: flops[name],
                                              work: (Double(sequences), "sequences")) {
                    _ = generator.sample(count: sequences, batchSize: B, using: &rng)
                })
            case .nll:
                results.append(runner.measure(phase: name, name: "nll-oracle of 10,000 samples", flops: flops[name],
                                              work: (Double(sequences), "sequences")) {
                    _ = oracle.negativeLogLikelihood(generator.sample(count: sequences, batchSize: B, using: &rng))
                })
            case .rollout:
                let rollout = RolloutPolicy(copying: generator)
                let batch = generator.sample(count: B, using: &rng)
                results.append(runner.measure(phase: name, name: "rollout rewards, 64 × 16 rollouts", flops: flops[name],
                                              work: (Double(B), "sequences")) {
                    // As training does: D's convolution tables are built once, then every completion is scored.
                    _ = rollout.rewards(for: batch, rollouts: 16, score: discriminator.frozenScorer(), using: &rng)
                })
            case .dis:
                let negatives = generator.sample(count: sequences, batchSize: B, using: &rng)
                let optimizer = Adam(discriminator.parameters, config: .init(learningRate: 1e-4))
                results.append(runner.measure(phase: name, name: "discriminator epoch (312 batches)", flops: flops[name],
                                              work: (Double((2 * sequences / B) * B), "sequences")) {
                    _ = try? trainDiscriminator(discriminator, optimizer: optimizer, positives: data.sequences,
                                           negatives: negatives, epochs: 1, batchSize: B, using: &rng)
                })
            case .tmle:
                let mle = MLEConfig(epochs: 1, batchSize: B, learningRate: 1e-3, logEvery: 1_000_000, samplesPerEpoch: 0)
                let trainer = MLETrainer(generator: transformer, loader: BatchLoader(dataset: data, batchSize: B),
                                         config: mle)
                results.append(runner.measure(phase: name, name: "transformer mle epoch (156 batches)",
                                              flops: flops[name], work: (Double((sequences / B) * B * T), "tokens")) {
                    var state = MLEState(seed: rng.next())
                    _ = try? trainer.run(state: &state) { _ in .proceed }
                })
            case .tgen:
                results.append(runner.measure(phase: name, name: "transformer generate 10,000 (batch 64)",
                                              flops: flops[name], work: (Double(sequences), "sequences")) {
                    _ = transformer.sample(count: sequences, batchSize: B, using: &rng)
                })
            case .trollout:
                let rollout = RolloutPolicy(copying: transformer)
                let batch = transformer.sample(count: B, using: &rng)
                results.append(runner.measure(phase: name, name: "transformer rollout rewards, 64 × 16 rollouts",
                                              flops: flops[name], work: (Double(B), "sequences")) {
                    _ = rollout.rewards(for: batch, rollouts: 16, score: discriminator.frozenScorer(), using: &rng)
                })
            case .gumbel, .tgumbel, .gumbelgp:
                // One RelGAN iteration at β = 10 (`torch_textgans.py --phase gumbel`): 1 G step + 5 D steps, RSGAN,
                // Adam 1e-4, clip 5, batch 64, the paper's CNN with embedding 64.
                var config = GumbelConfig()
                config.batchSize = B
                let trainer = GumbelTrainer(
                    generator: phase == .tgumbel ? transformer.copy() : generator.copy(), discriminator: discriminator,
                    positives: data, pretrain: MLEConfig(epochs: 0), config: config,
                    gan: GANConfig(loss: phase == .gumbelgp ? .wganGP : nil))
                let label = phase == .tgumbel ? "transformer" : "lstm"
                let loss = phase == .gumbelgp ? "wgan-gp" : "rsgan"
                results.append(runner.measure(phase: name, name: "gumbel iteration, \(label) (1 G + 5 D steps, β 10, \(loss))",
                                              flops: flops[name]) {
                    _ = try? trainer.iteration(inverseTemperature: 10, step: 1, using: &rng)
                })
            case .textgan:
                // One TextGAN iteration (`torch_textgans.py --phase textgan`): 1 G + 1 D step, MMD² over σ ∈ {1, 2, 5,
                // 10, 20, 40}, L = 1000, λ 0.001 both, Adam G 5e-5 and D 1e-4, clip 5, batch 64, z of 32.
                var latentRNG = SeededGenerator(seed: 5)
                let latent = LatentLSTMGenerator(
                    LatentLSTMGeneratorConfig(vocabularySize: V, embeddingSize: E, hiddenSize: H, latentSize: 32, maxLength: T),
                    using: &latentRNG)
                var config = TextGANConfig()
                config.batchSize = B
                let trainer = TextGANTrainer(generator: latent, discriminator: discriminator, positives: data,
                                             pretrain: MLEConfig(epochs: 0), config: config, using: &latentRNG)
                results.append(runner.measure(phase: name, name: "textgan iteration (1 G + 1 D step, L 1000)",
                                              flops: flops[name]) {
                    _ = try? trainer.iteration(step: 1, using: &rng)
                })
            case .adv:
                var seqgan = SeqGANConfig()
                seqgan.discriminatorPretrainRounds = 0
                seqgan.adversarialSteps = 1
                seqgan.negatives = sequences
                seqgan.evaluateEvery = 1_000_000
                seqgan.samplesPerEvaluation = 0
                let trainer = SeqGANTrainer(generator: generator, discriminator: discriminator, positives: data,
                                            pretrain: MLEConfig(epochs: 0), config: seqgan)
                results.append(runner.measure(phase: name, name: "adversarial epoch (paper)", flops: flops[name]) {
                    var state = SeqGANState(seed: rng.next())
                    _ = try? trainer.run(state: &state) { _ in .proceed }
                })
            }
            // The phases that run the discriminator say in which precision.
            if ![.mle, .gen, .nll, .tmle, .tgen].contains(phase) { results[results.count - 1].precision = precision.rawValue }
            if ![.dis, .textgan].contains(phase) { results[results.count - 1].generatorPrecision = generatorPrecision.rawValue }
        }
        return results
    }
}
