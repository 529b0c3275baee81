import ArgumentParser
import Foundation
import Layers
import Metrics
import Models
import TextPipeline
import Training

/// The training algorithms `textgan train` runs.
enum Algorithm: String, Codable, CaseIterable, ExpressibleByArgument {
    case seqgan, mle
}

/// Named starting points for a run's config; flags and `--config` files override them.
enum Preset: String, Codable, CaseIterable, ExpressibleByArgument {
    /// SeqGAN's reference schedule: 120 MLE epochs, 50 × 3 discriminator pretraining, 200 adversarial steps,
    /// 16 rollouts (hours on 2 cores; resume with --resume).
    case paper
    /// The whole pipeline in under a minute on 2 cores, for a first look and for CI: fewer epochs, rounds, steps and
    /// rollouts, and the discriminator's filter counts divided by four.
    case quick
}

/// Evaluation during training, at the trainers' evaluation interval (`mle.evaluateEvery` epochs,
/// `seqgan.evaluateEvery` adversarial steps).
struct EvaluationSettings: Codable, Equatable {
    /// Generator samples scored by the oracle for NLL-oracle (the SeqGAN paper: 10,000).
    var nllOracleSamples = 10_000
    /// Score the generator's NLL on the test split (text corpora).
    var testNLL = true
    /// Samples scored with BLEU-n against the whole test split (text corpora; 0: no BLEU during training). 2,000
    /// add about 1.5 s to an evaluation on COCO (release, 2 cores), and across seeds BLEU-4 of 2,000 samples varies
    /// by ±0.003 and BLEU-2 by ±0.008, well under the differences between checkpoints worth seeing; report the
    /// 10,000-sample numbers of `textgan eval`.
    var bleuSamples = 2_000
    var bleuOrders = [2, 3, 4, 5]
    var bleuSmoothing: BLEUSmoothing = .method1
    /// Also Self-BLEU-n of the same samples, each against the others: the mode-collapse alarm of GAN training.
    var selfBLEU = true

    init() {}

    // A config recorded before BLEU evaluation existed has none of its keys: it keeps training without BLEU, so a
    // resumed run records what its stored config says.
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        nllOracleSamples = try c.decode(Int.self, forKey: .nllOracleSamples)
        testNLL = try c.decode(Bool.self, forKey: .testNLL)
        bleuSamples = try c.decodeIfPresent(Int.self, forKey: .bleuSamples) ?? 0
        bleuOrders = try c.decodeIfPresent([Int].self, forKey: .bleuOrders) ?? bleuOrders
        bleuSmoothing = try c.decodeIfPresent(BLEUSmoothing.self, forKey: .bleuSmoothing) ?? bleuSmoothing
        selfBLEU = try c.decodeIfPresent(Bool.self, forKey: .selfBLEU) ?? selfBLEU
    }

    func validate() throws {
        guard nllOracleSamples >= 1 else { throw ValidationError("evaluation.nllOracleSamples must be at least 1") }
        guard bleuSamples >= 0 else { throw ValidationError("evaluation.bleuSamples must not be negative (0: no BLEU)") }
        guard !bleuOrders.isEmpty, bleuOrders.allSatisfy({ (1...9).contains($0) }) else {
            throw ValidationError("evaluation.bleuOrders must list BLEU orders in 1...9, e.g. [2, 3, 4, 5]")
        }
        guard !(selfBLEU && bleuSamples == 1) else {
            throw ValidationError("evaluation.selfBLEU needs at least 2 samples (evaluation.bleuSamples)")
        }
    }
}

/// Vocabulary settings for text corpora.
struct VocabularySettings: Codable, Equatable {
    var minCount = 1
    var maxSize: Int? = nil
}

/// Everything that determines a run. Printed at start, stored with the run (and flattened into its params), and
/// stored in every checkpoint, so a checkpoint alone rebuilds its models.
struct RunConfig: Codable, Equatable {
    var algorithm: Algorithm = .seqgan
    var preset: Preset? = nil
    var corpus: String
    var seed: UInt64 = 2017
    /// Tokenizer of a text corpus (nil: the corpus manifest's); unused for the oracle.
    var tokenizer: TokenizerConfig? = nil
    var vocabulary = VocabularySettings()
    /// Longest sequence in tokens, end token included (nil: the longest training example + 1; the oracle: 20).
    var maxLength: Int? = nil
    /// Generator sizes. `vocabularySize`, `maxLength`, `startToken` and `endToken` are filled in from the corpus.
    var generator = LSTMGeneratorConfig(vocabularySize: 0)
    /// Discriminator sizes; `vocabularySize` and `sequenceLength` come from the corpus.
    var discriminator = CNNDiscriminatorConfig(vocabularySize: 0, sequenceLength: 20)
    /// MLE training (for --algo seqgan: its generator pretraining phase).
    var mle = MLEConfig()
    var seqgan = SeqGANConfig()
    var evaluation = EvaluationSettings()

    init(corpus: String) {
        self.corpus = corpus
    }

    /// The defaults with a preset applied.
    static func defaults(corpus: String, preset: Preset?) -> RunConfig {
        var config = RunConfig(corpus: corpus)
        config.preset = preset
        switch preset {
        case nil, .paper?:
            config.mle.evaluateEvery = 5  // the reference evaluates NLL-oracle every 5 epochs
        case .quick?:
            config.mle.epochs = 15
            config.mle.evaluateEvery = 5
            config.seqgan.discriminatorPretrainRounds = 4
            config.seqgan.discriminatorPretrainEpochs = 1
            config.seqgan.adversarialSteps = 12
            config.seqgan.discriminatorRounds = 1
            config.seqgan.discriminatorEpochs = 1
            config.seqgan.rollouts = 4
            config.seqgan.negatives = 1_000
            config.seqgan.evaluateEvery = 4
            config.evaluation.nllOracleSamples = 1_000
            config.evaluation.bleuSamples = 1_000
            config.discriminator.widths = config.discriminator.widths.map {
                ConvolutionWidth(width: $0.width, filters: max(8, $0.filters / 4))
            }
        }
        return config
    }

    // MARK: - Layering: defaults ← preset ← --config file ← flags

    /// Applies a JSON object (a `--config` file) over this config: keys it names replace these values, nested
    /// objects merge, and a key that names nothing in the config is an error (a typo must not pass silently).
    func merging(json data: Data, source: String) throws -> RunConfig {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let base = try JSONSerialization.jsonObject(with: encoder.encode(self)) as? [String: Any] else {
            throw ValidationError("internal: the config does not encode as a JSON object")
        }
        let overlay: Any
        do {
            overlay = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ValidationError("\(source) is not valid JSON: \(error.localizedDescription)")
        }
        guard let overlay = overlay as? [String: Any] else {
            throw ValidationError("\(source) must hold a JSON object (of config fields), not \(type(of: overlay))")
        }
        let merged = Self.merge(base, overlay)
        let config: RunConfig
        do {
            config = try JSONDecoder().decode(RunConfig.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch let error as DecodingError {
            throw ValidationError("\(source): \(Self.describe(error))")
        }
        // Every key of the file must survive a round trip through the config; one that does not names nothing.
        let known = try JSONSerialization.jsonObject(with: encoder.encode(config)) as! [String: Any]
        if let unknown = Self.unknownKeys(overlay, known: known, base: base).first {
            throw ValidationError("\(source): unknown config key '\(unknown)'")
        }
        return config
    }

    private static func merge(_ base: [String: Any], _ overlay: [String: Any]) -> [String: Any] {
        var out = base
        for (key, value) in overlay {
            if let b = base[key] as? [String: Any], let o = value as? [String: Any] {
                out[key] = merge(b, o)
            } else {
                out[key] = value
            }
        }
        return out
    }

    /// Dotted paths of keys in `overlay` that neither the decoded config nor the defaults hold (null values are
    /// allowed: they clear an optional).
    private static func unknownKeys(_ overlay: [String: Any], known: [String: Any], base: [String: Any], path: String = "") -> [String] {
        overlay.keys.sorted().flatMap { key -> [String] in
            let here = path.isEmpty ? key : "\(path).\(key)"
            let value = overlay[key]!
            if value is NSNull { return [] }
            guard let k = known[key] ?? base[key] else { return [here] }
            if let o = value as? [String: Any], let kk = k as? [String: Any] {
                return unknownKeys(o, known: kk, base: base[key] as? [String: Any] ?? [:], path: here)
            }
            return []
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
            return "'\(path(c))': \(c.debugDescription)"
        case .keyNotFound(let key, let c):
            return "'\(path(c))' is missing '\(key.stringValue)'"
        @unknown default:
            return "\(error)"
        }
    }

    /// Pretty, stable JSON (sorted keys): what is printed and stored.
    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}
