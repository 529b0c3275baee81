import Foundation
import Metrics
import Models
import NumericCore
import RunStore
import TextPipeline
import Training

// Scoring shared by training-time evaluation (`TrainingData.evaluator`) and `textgan eval`: samples and corpus
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
struct ScoringTokens: Sendable {
    /// nil for the synthetic benchmark.
    let vocabulary: Vocabulary?

    /// Tokenized corpus sentences as ids (they are never cut: the whole sentence is the reference).
    func corpus(_ sentences: [[String]]) -> [[Int32]] {
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
    func sample(_ ids: [Int32]) -> [Int32] {
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
struct ReferenceSet: Sendable {
    /// How the run store names it: "coco:test", "coco:train", "file:refs.txt".
    let name: String
    let sentences: [[Int32]]
    let index: BLEUReferenceIndex

    init(name: String, sentences: [[Int32]], maxOrder: Int) {
        self.name = name
        self.sentences = sentences
        index = BLEUReferenceIndex(references: sentences, maxOrder: maxOrder)
    }
}

/// BLEU-n of samples against a reference set, and optionally Self-BLEU-n among the samples: the one
/// implementation behind training-time evaluation and `textgan eval`. Metric names are `bleu<n>` and `self_bleu<n>`.
struct BLEUEvaluator: Sendable {
    let references: ReferenceSet
    let orders: [Int]
    let smoothing: BLEUSmoothing

    /// `hypotheses` are scoring ids (`ScoringTokens.sample`).
    func scores(_ hypotheses: [[Int32]], selfBLEU: Bool, threads: Int) -> [String: Double] {
        var out: [String: Double] = [:]
        for s in references.index.score(hypotheses, orders: orders, smoothing: smoothing, threads: threads) {
            out["bleu\(s.order)"] = s.mean
        }
        if selfBLEU { out.merge(Self.selfScores(hypotheses, orders: orders, smoothing: smoothing, threads: threads)) { $1 } }
        return out
    }

    /// Self-BLEU-n alone (also for the oracle, whose ids have no reference text).
    static func selfScores(_ hypotheses: [[Int32]], orders: [Int], smoothing: BLEUSmoothing, threads: Int) -> [String: Double] {
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
func meanTokenNLL(_ generator: LSTMGenerator, on dataset: SequenceDataset, batchSize: Int = 256) -> Double {
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

// MARK: - Protocols

extension EvaluationProtocol {
    /// BLEU-n of `samples` generated samples against every sentence of a reference set.
    static func bleu(samples: Int, references: String, referenceCount: Int, tokenizer: String,
                     smoothing: BLEUSmoothing, seed: UInt64?, temperature: Double) -> EvaluationProtocol {
        EvaluationProtocol(sampleCount: samples, referenceSet: references, referenceCount: referenceCount,
                           tokenizer: tokenizer, smoothing: smoothing.rawValue, seed: seed, temperature: temperature)
    }

    /// NLL-test: the generator's per-token NLL of all `sentences` test sentences (no sampling: no seed or
    /// temperature).
    static func testNLL(corpus: String, sentences: Int, tokenizer: String) -> EvaluationProtocol {
        EvaluationProtocol(sampleCount: sentences, referenceSet: "\(corpus):test", referenceCount: sentences,
                           tokenizer: tokenizer)
    }

    /// Self-BLEU-n: each of `samples` samples against the other samples − 1.
    static func selfBLEU(samples: Int, tokenizer: String, smoothing: BLEUSmoothing, seed: UInt64?,
                         temperature: Double) -> EvaluationProtocol {
        EvaluationProtocol(sampleCount: samples, referenceSet: "self", referenceCount: max(samples - 1, 0),
                           tokenizer: tokenizer, smoothing: smoothing.rawValue, seed: seed, temperature: temperature)
    }
}
