import ArgumentParser
import Digest
import Foundation
import Metrics
import Models
import NumericCore
import TextPipeline
import Training

/// A corpus turned into token-id sequences for training: the SeqGAN oracle's synthetic data, or a text corpus
/// tokenized and encoded with a vocabulary built from its training split.
struct TrainingData {
    let corpus: String
    let sha256: String
    let description: String
    let train: SequenceDataset
    let test: SequenceDataset?
    let vocabularySize: Int
    /// Step-0 input, end token and pad token of the sequences.
    let startToken: Int32
    let endToken: Int32?
    let maxLength: Int
    /// The oracle (synthetic benchmark only), for NLL-oracle.
    let oracle: Oracle?
    /// The text corpus's vocabulary (nil for the oracle, whose tokens are bare ids).
    let vocabulary: Vocabulary?
    let tokenizer: Tokenizer?
    /// The splits as the tokenizer gives them, never cut (text corpora): BLEU and ROUGE-L references and the
    /// memorisation index.
    let trainTokens: [[String]]?
    let testTokens: [[String]]?

    /// Token ids as readable text.
    func render(_ ids: [Int32]) -> String {
        guard let vocabulary, let tokenizer else { return ids.map(String.init).joined(separator: " ") }
        return tokenizer.detokenize(vocabulary.decode(ids, stopAtEOS: true, skipPadAndBOS: true))
    }

    /// How the run store names the vocabulary.
    var vocabularyDescription: String {
        vocabulary.map { "\($0.count) tokens, \($0.config)" } ?? "oracle ids 0..<\(vocabularySize)"
    }

    /// How the run store names the tokens that metrics compare.
    var tokenizerDescription: String { tokenizer.map { "\($0.config)" } ?? "ids" }

    // MARK: - The SeqGAN synthetic benchmark

    /// SeqGAN's reference samples 10,000 training sequences from the oracle with seed 88 (its `SEED`).
    static let oracleTrainingSeed: UInt64 = 88

    static func oracle(sharedData: URL?, config: RunConfig) throws -> TrainingData {
        let oracle = try Oracle.loadOrRandom(directory: sharedData?.appendingPathComponent("seqgan-oracle"))
        let sequences = oracle.sampleCorpus(count: 10_000, seed: oracleTrainingSeed)
        // The corpus is what the oracle's weights and the seed produce: hash the sampled ids.
        var digest = SHA256()
        digest.update(Data(oracle.origin.utf8))
        for s in sequences { s.withUnsafeBytes { digest.update(Data($0)) } }
        let label = oracle.origin == "seqgan-original"
            ? "SeqGAN synthetic benchmark: 10,000 sequences of 20 tokens from the original oracle LSTM (vocabulary 5000)"
            : "SeqGAN-shaped synthetic data from a STAND-IN oracle (\(oracle.origin)); ../shared/data/seqgan-oracle "
                + "is absent, so numbers are not comparable with the paper"
        return TrainingData(
            corpus: "oracle", sha256: digest.hexDigest, description: label,
            train: SequenceDataset(sequences: sequences, length: 20), test: nil, vocabularySize: 5000,
            startToken: 0, endToken: nil, maxLength: 20, oracle: oracle, vocabulary: nil, tokenizer: nil,
            trainTokens: nil, testTokens: nil)
    }

    // MARK: - Text corpora

    static func text(root: URL, sharedData: URL?, config: RunConfig, minExamples: Int) throws -> TrainingData {
        let corpus = try Corpus.load(
            config.corpus, corporaDirectory: root.appendingPathComponent("corpora"), sharedData: sharedData,
            options: CorpusOptions(tokenizer: config.tokenizer, minExamples: minExamples))
        let tokenizer = try corpus.tokenizer()
        let trainTokens = corpus.train.map { tokenizer.tokenize($0) }
        let vocabulary = Vocabulary.build(
            from: trainTokens, config: tokenizer.config, minCount: config.vocabulary.minCount,
            maxSize: config.vocabulary.maxSize)
        let longest = trainTokens.map(\.count).max() ?? 0
        let maxLength = config.maxLength ?? (longest + 1)
        // Sequences end with eos; an example longer than maxLength − 1 tokens is cut (counted in the summary).
        func encode(_ lines: [[String]]) -> [[Int32]] {
            lines.map { Array(vocabulary.encode($0).prefix(maxLength - 1)) + [Vocabulary.eos] }
        }
        let testTokens = corpus.test.map { tokenizer.tokenize($0) }
        let test = testTokens.isEmpty ? nil : SequenceDataset(sequences: encode(testTokens), length: maxLength)
        return TrainingData(
            corpus: corpus.name, sha256: corpus.sha256, description: corpus.manifest.description,
            train: SequenceDataset(sequences: encode(trainTokens), length: maxLength), test: test,
            vocabularySize: vocabulary.count, startToken: Vocabulary.bos, endToken: Vocabulary.eos,
            maxLength: maxLength, oracle: nil, vocabulary: vocabulary, tokenizer: tokenizer,
            trainTokens: trainTokens, testTokens: testTokens.isEmpty ? nil : testTokens)
    }

    // MARK: - Evaluation

    /// The evaluation run after epochs and adversarial steps: NLL-oracle for the synthetic benchmark; test NLL and
    /// BLEU-n (with Self-BLEU-n) of `settings.bleuSamples` samples against the test split for text corpora. The
    /// reference index is built here, once per run. Each call gets its own random generator from the trainer.
    func evaluator(_ settings: EvaluationSettings) -> (LSTMGenerator, inout SeededGenerator) -> [String: Double] {
        let oracle = self.oracle, test = settings.testNLL ? self.test : nil
        let bleu = settings.bleuSamples > 0 ? testBLEU(settings) : nil
        let tokens = scoringTokens
        return { generator, rng in
            var metrics: [String: Double] = [:]
            if let oracle {
                let samples = generator.sample(count: settings.nllOracleSamples, batchSize: 500, using: &rng)
                metrics["nll_oracle"] = oracle.negativeLogLikelihood(samples)
            }
            if let test { metrics["nll_test"] = meanTokenNLL(generator, on: test) }
            if let bleu {
                let samples = generator.sample(count: settings.bleuSamples, batchSize: 500, using: &rng)
                metrics.merge(bleu.scores(samples.map(tokens.sample), selfBLEU: settings.selfBLEU,
                                          threads: Parallel.threads)) { _, new in new }
            }
            return metrics
        }
    }

    /// Samples and corpus sentences as the ids the metrics compare.
    var scoringTokens: ScoringTokens { ScoringTokens(vocabulary: vocabulary) }

    /// BLEU against the test split, as training records it; nil for the oracle (its tokens are ids, and BLEU
    /// against its samples measures nothing NLL-oracle does not) and for a corpus without a test split.
    func testBLEU(_ settings: EvaluationSettings) -> BLEUEvaluator? {
        guard let testTokens else { return nil }
        let references = ReferenceSet(name: "\(corpus):test", sentences: scoringTokens.corpus(testTokens),
                                      maxOrder: settings.bleuOrders.max() ?? 1)
        return BLEUEvaluator(references: references, orders: settings.bleuOrders, smoothing: settings.bleuSmoothing)
    }
}
