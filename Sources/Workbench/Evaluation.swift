import Foundation
import Metrics
import Models
import NumericCore
import RunStore
import TextPipeline
import Training

// Scoring shared by training-time evaluation (`TrainingData.evaluator`) and `textgan eval` (`EvaluationSuite`): samples and corpus
// sentences as the token-id sentences the metrics compare, reference sets prepared once per run, BLEU-n and
// Self-BLEU-n of samples, test NLL, and the protocol stored beside each score.

// MARK: - Token ids for scoring

/// Turns generator samples and corpus sentences into the id sentences the metrics compare, so that comparing ids is
/// comparing the tokens a reader sees:
/// - a sample ends before its first <eos>, and <pad> and <bos> are dropped, as `Vocabulary.decode(_:stopAtEOS: true,
///   skipPadAndBOS: true)` does;
/// - a corpus token the vocabulary knows gets its vocabulary id; one it does not know (a test-split word that never
///   made the training vocabulary) gets an id from `vocabulary.count` up, one per distinct string;
/// - so a sampled <unk> (id 3) matches no reference token, just as the literal "<unk>" of decoded text would not.
/// Scores on these ids therefore equal the metrics on the decoded token strings. The oracle's tokens are bare ids.
public struct ScoringTokens: Sendable {
    /// nil for the synthetic benchmark.
    public let vocabulary: Vocabulary?

    public init(vocabulary: Vocabulary?) { self.vocabulary = vocabulary }

    /// Tokenized corpus sentences as ids (they are never cut: the whole sentence is the reference).
    public func corpus(_ sentences: [[String]]) -> [[Int32]] {
        guard let vocabulary else { preconditionFailure("the oracle has no token strings") }
        var unknown: [String: Int32] = [:]
        return sentences.map { sentence in
            sentence.map { token in
                if vocabulary.contains(token) { return vocabulary.id(of: token) }
                if let id = unknown[token] { return id }
                let id = Int32(vocabulary.count + unknown.count)
                unknown[token] = id
                return id
            }
        }
    }

    /// A generated sequence as the tokens a reader sees.
    public func sample(_ ids: [Int32]) -> [Int32] {
        guard vocabulary != nil else { return ids }
        var out: [Int32] = []
        out.reserveCapacity(ids.count)
        for id in ids {
            if id == Vocabulary.eos { break }
            if id == Vocabulary.pad || id == Vocabulary.bos { continue }
            out.append(id)
        }
        return out
    }
}

// MARK: - Reference sets and BLEU

/// A reference set prepared once per run and shared by all its evaluations: the id sentences and their BLEU index.
public struct ReferenceSet: Sendable {
    /// How the run store names it: "coco:test", "coco:train", "file:refs.txt".
    public let name: String
    public let sentences: [[Int32]]
    public let index: BLEUReferenceIndex

    public init(name: String, sentences: [[Int32]], maxOrder: Int) {
        self.name = name
        self.sentences = sentences
        index = BLEUReferenceIndex(references: sentences, maxOrder: maxOrder)
    }
}

/// BLEU-n of samples against a reference set, and optionally Self-BLEU-n among the samples: the one
/// implementation behind training-time evaluation and `textgan eval`. Metric names are `bleu<n>` and `self_bleu<n>`.
public struct BLEUEvaluator: Sendable {
    public let references: ReferenceSet
    public let orders: [Int]
    public let smoothing: BLEUSmoothing

    public init(references: ReferenceSet, orders: [Int], smoothing: BLEUSmoothing) {
        self.references = references
        self.orders = orders
        self.smoothing = smoothing
    }

    /// `hypotheses` are scoring ids (`ScoringTokens.sample`).
    public func scores(_ hypotheses: [[Int32]], selfBLEU: Bool, threads: Int) -> [String: Double] {
        var out: [String: Double] = [:]
        for s in references.index.score(hypotheses, orders: orders, smoothing: smoothing, threads: threads) {
            out["bleu\(s.order)"] = s.mean
        }
        if selfBLEU { out.merge(Self.selfScores(hypotheses, orders: orders, smoothing: smoothing, threads: threads)) { $1 } }
        return out
    }

    /// Self-BLEU-n alone (also for the oracle, whose ids have no reference text).
    public static func selfScores(_ hypotheses: [[Int32]], orders: [Int], smoothing: BLEUSmoothing, threads: Int) -> [String: Double] {
        var out: [String: Double] = [:]
        for s in Metrics.selfBLEU(hypotheses, orders: orders, smoothing: smoothing, threads: threads) {
            out["self_bleu\(s.order)"] = s.mean
        }
        return out
    }
}

// MARK: - Likelihood

/// The generator's mean per-token negative log-likelihood of fixed sequences, teacher forced (every real token,
/// the end token included): NLL-test on the encoded test split.
/// Sequences are batched by length, each batch padded only to its longest: the same sum, and on COCO (mean 12
/// tokens, padded to 36) a third of the work: its 10,000 test sentences took 15.5 s padded, 6.3 s bucketed.
public func meanTokenNLL(_ generator: any SequenceGenerator, on dataset: SequenceDataset, batchSize: Int = 256) -> Double {
    let byLength = dataset.sequences.sorted { $0.count < $1.count }
    var total = 0.0, tokens = 0
    for start in stride(from: 0, to: byLength.count, by: batchSize) {
        let sequences = Array(byLength[start..<min(start + batchSize, byLength.count)])
        let batch = TokenBatch(sequences: sequences, length: sequences.last!.count)
        let n = batch.realTokenCount
        total += Double(generator.weightedNLL(batch, backward: false)) * Double(n)
        tokens += n
    }
    return tokens == 0 ? .nan : total / Double(tokens)
}

/// The split a likelihood is computed on, named in its metric: the test split (`nll_test`, held-out data, what
/// Texygen reports as NLL-test) or the training split (`nll_gen_train`, RelGAN's NLL-gen). The synthetic benchmark's
/// training-time `nll_gen_held_out` is on fresh oracle sequences.
public enum LikelihoodSplit: String, Codable, Sendable, CaseIterable {
    case test, train

    /// The metric the run store records it as.
    public var metric: String { self == .test ? "nll_test" : "nll_gen_train" }

    /// The split's encoded sequences in `data` (nil when the corpus has no test split).
    public func dataset(in data: TrainingData) -> SequenceDataset? { self == .test ? data.test : data.train }

    /// How the score is computed: teacher-forced NLL of every sentence of the split.
    public func evaluationProtocol(_ data: TrainingData) -> EvaluationProtocol? {
        guard let dataset = dataset(in: data) else { return nil }
        return self == .test ? .testNLL(corpus: data.corpus, sentences: dataset.count, tokenizer: data.tokenizerDescription)
            : EvaluationProtocol(sampleCount: dataset.count, referenceSet: "\(data.corpus):train",
                                 referenceCount: dataset.count, tokenizer: data.tokenizerDescription)
    }

    /// The generator's per-token NLL of each split of `splits` that `data` has, by metric name.
    public static func scores(_ generator: any SequenceGenerator, data: TrainingData, splits: [LikelihoodSplit]) -> [String: Double] {
        var out: [String: Double] = [:]
        for split in splits { if let dataset = split.dataset(in: data) { out[split.metric] = meanTokenNLL(generator, on: dataset) } }
        return out
    }
}

// MARK: - The suite behind `textgan eval`

/// Everything prepared once per evaluation: the reference index, the training-set index and the token mapping;
/// then each temperature costs sampling plus O(samples) metric work.
public struct EvaluationSuite {
    /// The orders of BLEU-n and Self-BLEU-n, and of distinct-n.
    public static let bleuOrders = [2, 3, 4, 5]
    public static let distinctOrders = [1, 2, 3, 4]

    public let tokens: ScoringTokens
    public let tokenizer: String
    public let bleu: BLEUEvaluator?
    /// MS-Jaccard-n against the same references as BLEU (n in `bleuOrders`); nil without references.
    public let msJaccard: MSJaccardIndex?
    public let smoothing: BLEUSmoothing
    public let trainingSet: (name: String, count: Int, index: TrainingSetIndex)
    public let oracle: Oracle?
    public let threads: Int
    /// Scores the samples with an LM trained on real data (`lm_score`), when set.
    public var languageModel: ScoringLanguageModel?
    /// Trains an LM on the samples and scores the real held-out data with it (`reverse_lm_score`), when set.
    public var reverseLM: ReverseLMSchedule?
    private let data: TrainingData

    public init(data: TrainingData, references: (name: String, tokens: [[String]])?, smoothing: BLEUSmoothing, threads: Int) {
        let tokens = data.scoringTokens
        self.data = data
        self.tokens = tokens
        tokenizer = data.tokenizerDescription
        self.smoothing = smoothing
        self.threads = threads
        oracle = data.oracle
        bleu = references.map { references in
            BLEUEvaluator(
                references: ReferenceSet(name: references.name, sentences: tokens.corpus(references.tokens),
                                         maxOrder: EvaluationSuite.bleuOrders.max()!),
                orders: EvaluationSuite.bleuOrders, smoothing: smoothing)
        }
        msJaccard = bleu.map { MSJaccardIndex(references: $0.references.sentences, maxOrder: EvaluationSuite.bleuOrders.max()!) }
        let training = data.trainTokens.map(tokens.corpus) ?? data.train.sequences
        trainingSet = ("\(data.corpus):train", training.count, TrainingSetIndex(training))
    }

    /// Samples `count` sequences from `seed` and scores them with every metric.
    public func evaluate(_ generator: any SequenceGenerator, options: SamplingOptions, temperature: Double, count: Int,
                  seed: UInt64) throws -> TemperatureResult {
        let start = DispatchTime.now().uptimeNanoseconds
        var rng = SeededGenerator(seed: seed)
        let samples = generator.sample(count: count, options: options, batchSize: 500, using: &rng)
        let sampled = DispatchTime.now().uptimeNanoseconds
        let hypotheses = samples.map(tokens.sample)

        var metrics: [String: Double] = [:]
        if let oracle { metrics["nll_oracle"] = oracle.negativeLogLikelihood(samples) }
        if let bleu {
            metrics.merge(bleu.scores(hypotheses, selfBLEU: true, threads: threads)) { $1 }
            metrics["rouge_l"] = rougeL(hypotheses: hypotheses, references: bleu.references.sentences, threads: threads).meanF
            for score in msJaccard!.score(hypotheses, orders: EvaluationSuite.bleuOrders) {
                metrics["ms_jaccard\(score.order)"] = score.value
            }
        } else {
            metrics.merge(BLEUEvaluator.selfScores(hypotheses, orders: EvaluationSuite.bleuOrders, smoothing: smoothing,
                                                   threads: threads)) { $1 }
        }
        for d in distinctN(hypotheses, orders: EvaluationSuite.distinctOrders) { metrics["distinct\(d.order)"] = d.ratio }
        let copies = memorisation(samples: hypotheses, training: trainingSet.index, threads: threads)
        metrics["memorisation_rate"] = copies.verbatimRate
        metrics["longest_copied"] = Double(copies.maxLongestCopied)
        metrics["longest_copied_mean"] = copies.meanLongestCopied
        if let languageModel { metrics["lm_score"] = languageModel.score(samples) }
        if let reverseLM, let heldOut = data.heldOut {
            metrics["reverse_lm_score"] = try reverseLM.score(samples: samples, heldOut: heldOut.sequences, data: data)
        }
        let scored = DispatchTime.now().uptimeNanoseconds
        return TemperatureResult(
            temperature: temperature, sampleCount: count, metrics: metrics, examples: Array(samples.prefix(3)),
            samplingSeconds: Double(sampled - start) / 1e9, scoringSeconds: Double(scored - sampled) / 1e9)
    }

    /// Each metric of a result grouped under the protocol that produced it.
    public func protocols(of result: TemperatureResult, seed: UInt64) -> [(EvaluationProtocol, [String: Double])] {
        let (n, t) = (result.sampleCount, result.temperature)
        func onSamples(_ referenceSet: String, _ referenceCount: Int?, smoothing: String? = nil) -> EvaluationProtocol {
            EvaluationProtocol(sampleCount: n, referenceSet: referenceSet, referenceCount: referenceCount,
                               tokenizer: tokenizer, smoothing: smoothing, seed: seed, temperature: t)
        }
        var groups: [(EvaluationProtocol, [String])] = []
        if let bleu {
            let references = bleu.references
            groups.append((.bleu(samples: n, references: references.name, referenceCount: references.sentences.count,
                                 tokenizer: tokenizer, smoothing: smoothing, seed: seed, temperature: t),
                           bleu.orders.map { "bleu\($0)" }))
            groups.append((onSamples(references.name, references.sentences.count),
                           ["rouge_l"] + EvaluationSuite.bleuOrders.map { "ms_jaccard\($0)" }))
        }
        groups.append((.selfBLEU(samples: n, tokenizer: tokenizer, smoothing: smoothing, seed: seed, temperature: t),
                       EvaluationSuite.bleuOrders.map { "self_bleu\($0)" }))
        groups.append((onSamples("self", nil), EvaluationSuite.distinctOrders.map { "distinct\($0)" }))
        groups.append((onSamples(trainingSet.name, trainingSet.count),
                       ["memorisation_rate", "longest_copied", "longest_copied_mean"]))
        if let oracle { groups.append((onSamples("oracle:\(oracle.origin)", nil), ["nll_oracle"])) }
        if let languageModel, result.metrics["lm_score"] != nil {
            var lm = onSamples("lm", nil)
            lm.languageModel = languageModel.name
            groups.append((lm, ["lm_score"]))
        }
        if let reverseLM, let heldOut = data.heldOut, result.metrics["reverse_lm_score"] != nil {
            var reverse = onSamples(heldOut.name, heldOut.sequences.count)
            reverse.languageModel = try? reverseLM.description(for: data)
            groups.append((reverse, ["reverse_lm_score"]))
        }
        return groups.map { evaluationProtocol, names in
            (evaluationProtocol, Dictionary(uniqueKeysWithValues: names.map { ($0, result.metrics[$0]!) }))
        }
    }
}

extension EvaluationSuite {
    /// Records every score of `results` (and the likelihoods, `LikelihoodSplit.scores`) for a run at `step`, each
    /// under its protocol; returns how many scores were written.
    /// `protocolName` names the protocol (`eval --protocol`) on every row.
    public func record(_ results: [TemperatureResult], likelihoods: [String: Double], data: TrainingData, seed: UInt64,
                       topK: Int?, topP: Double?, run: Int64, step: Int, phaseStep: Int?, protocolName: String? = nil,
                       in store: RunDatabase) throws -> Int {
        var count = 0
        for result in results {
            for (var evaluationProtocol, values) in protocols(of: result, seed: seed) {
                // Every protocol here is on samples, so the sampling filters are part of each.
                evaluationProtocol.topK = topK
                evaluationProtocol.topP = topP
                evaluationProtocol.name = protocolName
                try store.recordEvaluation(run: run, step: step, phaseStep: phaseStep, values: values,
                                           protocol: evaluationProtocol, signOfLife: false)
                count += values.count
            }
        }
        for split in LikelihoodSplit.allCases {
            guard let value = likelihoods[split.metric], var evaluationProtocol = split.evaluationProtocol(data) else { continue }
            evaluationProtocol.name = protocolName
            try store.recordEvaluation(run: run, step: step, phaseStep: phaseStep, values: [split.metric: value],
                                       protocol: evaluationProtocol, signOfLife: false)
            count += 1
        }
        return count
    }
}

/// The scores at one temperature.
public struct TemperatureResult {
    public let temperature: Double
    public let sampleCount: Int
    public let metrics: [String: Double]
    /// The first few samples as token ids, for the table.
    public let examples: [[Int32]]
    public let samplingSeconds: Double
    public let scoringSeconds: Double
}

// MARK: - Protocols

extension EvaluationProtocol {
    /// BLEU-n of `samples` generated samples against every sentence of a reference set.
    public static func bleu(samples: Int, references: String, referenceCount: Int, tokenizer: String,
                     smoothing: BLEUSmoothing, seed: UInt64?, temperature: Double) -> EvaluationProtocol {
        EvaluationProtocol(sampleCount: samples, referenceSet: references, referenceCount: referenceCount,
                           tokenizer: tokenizer, smoothing: smoothing.rawValue, seed: seed, temperature: temperature)
    }

    /// NLL-test: the generator's per-token NLL of all `sentences` test sentences (no sampling: no seed or
    /// temperature).
    public static func testNLL(corpus: String, sentences: Int, tokenizer: String) -> EvaluationProtocol {
        EvaluationProtocol(sampleCount: sentences, referenceSet: "\(corpus):test", referenceCount: sentences,
                           tokenizer: tokenizer)
    }

    /// Self-BLEU-n: each of `samples` samples against the other samples − 1.
    public static func selfBLEU(samples: Int, tokenizer: String, smoothing: BLEUSmoothing, seed: UInt64?,
                         temperature: Double) -> EvaluationProtocol {
        EvaluationProtocol(sampleCount: samples, referenceSet: "self", referenceCount: max(samples - 1, 0),
                           tokenizer: tokenizer, smoothing: smoothing.rawValue, seed: seed, temperature: temperature)
    }
}
