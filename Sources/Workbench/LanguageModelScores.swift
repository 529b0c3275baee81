import Foundation
import Models
import NumericCore
import RunStore
import Training

// The two language-model scores of Language GANs Falling Short (Caccia et al. 2020, §3.2), both lower-is-better
// per-token NLLs, computed with our own models and MLE code:
// - LM score (`lm_score`, quality): the NLL of the generator's samples under a language model trained on the real
//   training data, here one of our own MLE runs named by the user (`eval --lm RUN`);
// - reverse-LM score (`reverse_lm_score`, quality and diversity): the NLL of the real held-out data under a language
//   model trained on the generator's samples, here a fresh LSTM trained by `MLETrainer` inside the evaluation with
//   the fixed, small `ReverseLMSchedule` below (`eval --reverse-lm`). A generator that drops modes gives it samples
//   that do not cover the test set, and the score rises.
// Each score's LM is stored beside it (`evaluations.language_model`).

/// The LM that scores samples: a run's generator, trained on the same vocabulary as the evaluated run.
public struct ScoringLanguageModel {
    /// How the run store names it: the run and the checkpoint file with its digest.
    public let name: String
    public let generator: any SequenceGenerator

    public init(name: String, generator: any SequenceGenerator) {
        self.name = name
        self.generator = generator
    }

    /// The LM's mean per-token NLL of `samples` (teacher forced, every token up to and including the end token).
    public func score(_ samples: [[Int32]]) -> Double {
        meanTokenNLL(generator, on: SequenceDataset(sequences: samples.filter { !$0.isEmpty }))
    }
}

/// The reverse LM and how it is trained: SeqGAN's LSTM (embedding 32, hidden 32, N(0, 0.1)) fitted to the corpus,
/// by MLE for `epochs` epochs over the samples (batch 64, Adam 0.01, clip 5: the reference's pretraining rates),
/// from `seed`. Five epochs: on COCO an LSTM of this size reaches its lowest NLL-test at about epoch 5 and
/// overfits after (docs/textgan.md), and a fixed schedule keeps the score a function of the samples alone.
public struct ReverseLMSchedule: Codable, Sendable, Equatable {
    public var epochs = 5
    public var batchSize = 64
    public var learningRate: Float = 0.01
    public var embeddingSize = 32
    public var hiddenSize = 32
    /// The seed of the LM's initialisation and batch order (`eval --seed`).
    public var seed: UInt64 = 0

    public init(seed: UInt64 = 0) { self.seed = seed }

    /// The run config of the reverse LM: an `mle` run of this schedule, fitted to `data`.
    public func config(for data: TrainingData) throws -> RunConfig {
        var config = RunConfig(algorithm: MLEAlgorithm.self, corpus: data.corpus, preset: nil, generatorKind: "lstm")
        config.seed = seed
        var lstm = LSTMGeneratorConfig(vocabularySize: data.vocabularySize, embeddingSize: embeddingSize, hiddenSize: hiddenSize)
        lstm.fit(to: data.shape)
        config.generator = GeneratorSettings(lstm)
        var mle = MLEConfig(epochs: epochs, batchSize: batchSize, learningRate: learningRate, samplesPerEpoch: 0)
        mle.evaluateEvery = epochs
        config[section: MLEConfig.self] = mle
        return config
    }

    /// Trains the reverse LM on `samples` and returns its per-token NLL of `heldOut` (the real test split).
    public func score(samples: [[Int32]], heldOut: SequenceDataset, data: TrainingData) throws -> Double {
        let config = try self.config(for: data)
        let sequences = samples.filter { !$0.isEmpty }
        let mle = config[section: MLEConfig.self]
        guard sequences.count >= mle.batchSize else {
            throw WorkbenchError("the reverse LM needs at least \(mle.batchSize) samples (one batch), not \(sequences.count)")
        }
        var rng = SeededGenerator(seed: seed)
        let generator = config.generator.config.makeGenerator(using: &rng)
        let trainer = MLETrainer(generator: generator,
                                 loader: BatchLoader(dataset: SequenceDataset(sequences: sequences, length: data.maxLength),
                                                     batchSize: mle.batchSize),
                                 config: mle)
        var state = MLEState(seed: rng.next())
        _ = try trainer.run(state: &state) { _ in .proceed }
        return meanTokenNLL(generator, on: heldOut)
    }

    /// What `evaluations.language_model` says of a reverse LM trained with this schedule on `data`'s shape.
    public func description(for data: TrainingData) throws -> String {
        "reverse LM trained on the samples: " + (try config(for: data)).compactJSON
    }
}

extension TrainingData {
    /// The real held-out sequences a reverse LM is scored on: the test split, or for the synthetic benchmark the
    /// 2,048 fresh oracle sequences of `nll_gen_held_out`; with its name in the run store.
    public var heldOut: (name: String, sequences: SequenceDataset)? {
        if let test { return ("\(corpus):test", test) }
        guard let oracle else { return nil }
        return ("oracle:\(oracle.origin):held-out",
                SequenceDataset(sequences: oracle.sampleCorpus(count: Self.oracleHeldOutCount, seed: Self.oracleHeldOutSeed)))
    }
}

extension RunConfig {
    /// The config as one line of JSON (keys sorted).
    public var compactJSON: String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return json }
        return String(decoding: data, as: UTF8.self)
    }
}
