import Digest
import Foundation
import Metrics
import Models
import NumericCore
import TextPipeline
import Training

/// A corpus turned into token-id sequences for training: the SeqGAN oracle's synthetic data, or a text corpus
/// tokenized and encoded with a vocabulary built from its training split.
public struct TrainingData {
    public let corpus: String
    public let sha256: String
    public let description: String
    public let train: SequenceDataset
    public let test: SequenceDataset?
    public let vocabularySize: Int
    /// Step-0 input, end token and pad token of the sequences.
    public let startToken: Int32
    public let endToken: Int32?
    public let maxLength: Int
    /// The oracle (synthetic benchmark only), for NLL-oracle.
    public let oracle: Oracle?
    /// The text corpus's vocabulary (nil for the oracle, whose tokens are bare ids).
    public let vocabulary: Vocabulary?
    public let tokenizer: Tokenizer?
    /// The splits as the tokenizer gives them, never cut (text corpora): BLEU and ROUGE-L references and the
    /// memorisation index.
    public let trainTokens: [[String]]?
    public let testTokens: [[String]]?

    /// Token ids as readable text.
    public func render(_ ids: [Int32]) -> String { renderText(ids, vocabulary: vocabulary, tokenizer: tokenizer) }

    /// The tokens an attack may move and project onto: the words (never pad, bos, eos or unk); every id of the oracle.
    public var wordTokens: [Int32] {
        vocabulary == nil ? Array(0..<Int32(vocabularySize)) : Array(Int32(Vocabulary.specialTokens.count)..<Int32(vocabularySize))
    }

    /// What the corpus decides about every model's sequences.
    public var shape: SequenceShape {
        SequenceShape(vocabularySize: vocabularySize, maxLength: maxLength, startToken: startToken, endToken: endToken,
                      padToken: Vocabulary.pad)
    }

    /// The vocabulary file the run read (`vocabulary.file`, `train --vocab`), with its SHA-256; nil when the
    /// vocabulary was built from the corpus.
    public let vocabularyFile: (path: String, sha256: String)?
    /// The splits a vocabulary built from the corpus was counted over (`vocabulary.splits`).
    public var vocabularySplits: VocabularySettings.Splits = .train

    /// How the run store names the vocabulary (the `runs.vocabulary` column, shown by `runs show`).
    public var vocabularyDescription: String {
        guard let vocabulary else { return "oracle ids 0..<\(vocabularySize)" }
        let origin = vocabularyFile.map { "file \($0.path) sha256 \($0.sha256.prefix(16))" }
            ?? "built from \(corpus):\(vocabularySplits == .trainAndTest ? "train+test" : "train"), min-count \(vocabulary.minCount)" + (vocabulary.maxSize.map { " max-size \($0)" } ?? "")
        return "\(vocabulary.count) tokens, \(vocabulary.config); \(origin)"
    }

    /// Refuses a length the corpus set (`maxLength` unset) past `limit`: one huge example would make every sequence
    /// that long. Says how long the others are and how to cut or allow it.
    public func checkFittedLength(limit: Int) throws {
        guard maxLength > limit, let trainTokens, !trainTokens.isEmpty else { return }
        let lengths = trainTokens.map(\.count).sorted()
        let typical = lengths[(lengths.count - 1) * 99 / 100]
        let longer = lengths.count - (lengths.lastIndex { $0 + 1 <= limit }.map { $0 + 1 } ?? 0)
        let longest = trainTokens.max { $0.count < $1.count }!
        let opening = longest.prefix(6).joined(separator: " ")
        throw WorkbenchError(
            "the longest training example of \(corpus) has \(longest.count) tokens (\"\(opening.prefix(60)) …\"), so every "
            + "sequence would be \(maxLength) tokens long, more than maxLengthLimit \(limit); \(longer) of "
            + "\(lengths.count) examples are that long, and 99% have at most \(typical) tokens. Cut longer examples with "
            + "--max-length \(typical + 1) (config maxLength), or allow them with --max-length-limit \(maxLength) "
            + "(config maxLengthLimit)")
    }

    /// How the run store names the tokens that metrics compare.
    public var tokenizerDescription: String { tokenizer.map { "\($0.config)" } ?? "ids" }

    /// The corpus a config names: the SeqGAN oracle's data, or a text corpus (named, or a file).
    /// With `config.canaries`, the canary sentences are added to the training split, each `repeats` times.
    public static func load(_ config: RunConfig, root: URL, sharedData: URL?, minExamples: Int) throws -> TrainingData {
        let data = config.corpus == "oracle"
            ? try oracle(sharedData: sharedData, config: config)
            : try text(root: root, sharedData: sharedData, config: config, minExamples: minExamples)
        return try config.canaries.map { data.inserting(try $0.sentences(for: data, runSeed: config.seed), repeats: $0.repeats) } ?? data
    }

    /// The corpus as a loaded run trained on it, checked against the SHA-256 the run store recorded and the
    /// checkpoint's vocabulary, so scores never come from different data than the run saw.
    public static func load(for loaded: LoadedRun, recordedSHA256: String?, runID: Int64?, root: URL,
                            sharedData: URL?) throws -> TrainingData {
        let data: TrainingData
        do {
            // A run trained on a vocabulary file scores with the vocabulary its checkpoint holds (the same tokens,
            // checked below), so moving or deleting the file later does not stop its evaluation.
            data = try loaded.config.corpus == "oracle"
                ? load(loaded.config, root: root, sharedData: sharedData, minExamples: 1)
                : text(root: root, sharedData: sharedData, config: loaded.config, minExamples: 1,
                       vocabulary: loaded.config.vocabulary.file != nil ? loaded.vocabulary : nil)
        } catch {
            throw WorkbenchError("cannot load the run's corpus '\(loaded.config.corpus)' (a path is relative to where "
                + "`textgan train` ran): \(error)")
        }
        if let recordedSHA256, recordedSHA256 != data.sha256 {
            throw WorkbenchError("run \(runID.map(String.init) ?? "?") was trained on \(data.corpus) with SHA-256 "
                + "\(recordedSHA256), but the corpus now has \(data.sha256); refusing to score against different data")
        }
        if data.vocabulary != loaded.vocabulary {
            throw WorkbenchError("the corpus \(data.corpus) no longer gives the vocabulary stored in "
                + "\(loaded.checkpoint.path); refusing to score against different data")
        }
        return data
    }

    /// Reference sentences for BLEU and ROUGE-L, named as the run store names them: the "test" or "train" split, or
    /// `file`'s lines (tokenized like the corpus). Nil for the oracle, whose tokens are ids.
    public func references(_ choice: String, file: (name: String, lines: [String])? = nil) throws -> (name: String, tokens: [[String]])? {
        guard let tokenizer else {
            guard choice == "test" else {
                throw WorkbenchError("the synthetic benchmark's tokens are ids: BLEU and ROUGE-L need reference text, "
                    + "so --references does not apply (NLL-oracle measures quality)")
            }
            return nil
        }
        switch choice {
        case "test":
            guard let testTokens else {
                throw WorkbenchError("corpus \(corpus) has no test split; use --references train or a file")
            }
            return ("\(corpus):test", testTokens)
        case "train":
            return ("\(corpus):train", trainTokens ?? [])
        default:
            guard let file else { throw WorkbenchError("no reference file given for '\(choice)'") }
            return (file.name, file.lines.map(tokenizer.tokenize))
        }
    }

    // MARK: - The SeqGAN synthetic benchmark

    /// SeqGAN's reference samples 10,000 training sequences from the oracle with seed 88 (its `SEED`).
    public static let oracleTrainingSeed: UInt64 = 88
    /// NLL-gen's held-out oracle sequences: 2,048 (as ../shared/bench's reference), from their own seed.
    public static let (oracleHeldOutCount, oracleHeldOutSeed): (Int, UInt64) = (2_048, 0x4E11_6E4E)

    public static func oracle(sharedData: URL?, config: RunConfig) throws -> TrainingData {
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
            trainTokens: nil, testTokens: nil, vocabularyFile: nil)
    }

    // MARK: - Text corpora

    /// A text corpus as training data. The vocabulary is `vocabulary` when given (a checkpoint's), else the
    /// config's `vocabulary.file`, else built from the training split.
    public static func text(root: URL, sharedData: URL?, config: RunConfig, minExamples: Int,
                            vocabulary given: Vocabulary? = nil) throws -> TrainingData {
        let corpus = try Corpus.load(
            config.corpus, corporaDirectory: root.appendingPathComponent("corpora"), sharedData: sharedData,
            options: CorpusOptions(tokenizer: config.tokenizer, minExamples: minExamples))
        let tokenizer = try corpus.tokenizer()
        let trainTokens = corpus.train.map { tokenizer.tokenize($0) }
        let testTokens = corpus.test.map { tokenizer.tokenize($0) }
        let vocabulary: Vocabulary
        var vocabularyFile: (path: String, sha256: String)?
        if let file = config.vocabulary.file {
            let sha256 = try config.vocabulary.sha256 ?? vocabularyFileSHA256(file)
            vocabulary = try given ?? readVocabularyFile(file, sha256: sha256, corpus: corpus.name,
                                                         tokenizer: tokenizer.config, trainTokens: trainTokens)
            vocabularyFile = (file, sha256)
        } else {
            let counted = config.vocabulary.splits == .trainAndTest ? trainTokens + testTokens : trainTokens
            vocabulary = Vocabulary.build(
                from: counted, config: tokenizer.config, minCount: config.vocabulary.minCount,
                maxSize: config.vocabulary.maxSize)
        }
        let longest = trainTokens.map(\.count).max() ?? 0
        let maxLength = config.maxLength ?? (longest + 1)
        // Sequences end with eos; an example longer than maxLength − 1 tokens is cut (counted in the summary).
        func encode(_ lines: [[String]]) -> [[Int32]] {
            lines.map { Array(vocabulary.encode($0).prefix(maxLength - 1)) + [Vocabulary.eos] }
        }
        let test = testTokens.isEmpty ? nil : SequenceDataset(sequences: encode(testTokens), length: maxLength)
        return TrainingData(
            corpus: corpus.name, sha256: corpus.sha256, description: corpus.manifest.description,
            train: SequenceDataset(sequences: encode(trainTokens), length: maxLength), test: test,
            vocabularySize: vocabulary.count, startToken: Vocabulary.bos, endToken: Vocabulary.eos,
            maxLength: maxLength, oracle: nil, vocabulary: vocabulary, tokenizer: tokenizer,
            trainTokens: trainTokens, testTokens: testTokens.isEmpty ? nil : testTokens, vocabularyFile: vocabularyFile,
            vocabularySplits: config.vocabulary.splits)
    }

    /// The SHA-256 of a vocabulary file, or an error naming it when it cannot be read.
    public static func vocabularyFileSHA256(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw WorkbenchError("the vocabulary file \(path) (vocabulary.file) does not exist; build one with "
                + "`textgan vocab build <corpus>`")
        }
        return try SHA256.hex(ofFile: URL(fileURLWithPath: path))
    }

    /// Reads `vocabulary.file` for a corpus: the file must be the one the run started with (`sha256`), built with
    /// the tokenizer settings the corpus uses, and know some of its training tokens.
    static func readVocabularyFile(_ path: String, sha256: String, corpus: String, tokenizer: TokenizerConfig,
                                   trainTokens: [[String]]) throws -> Vocabulary {
        let now = try vocabularyFileSHA256(path)
        guard now == sha256 else {
            throw WorkbenchError("the vocabulary file \(path) changed since the run started (SHA-256 \(sha256.prefix(16))…, "
                + "now \(now.prefix(16))…); the run's ids would mean other tokens. Restore the file, or train a new run")
        }
        let vocabulary: Vocabulary
        do {
            vocabulary = try Vocabulary.load(from: URL(fileURLWithPath: path))
        } catch {
            throw WorkbenchError("the vocabulary file \(path) cannot be read: \(error)")
        }
        guard vocabulary.config == tokenizer else {
            throw WorkbenchError("the vocabulary file \(path) was built with tokenizer settings \(vocabulary.config), "
                + "but corpus \(corpus) is tokenized with \(tokenizer); build it from this corpus with `textgan vocab "
                + "build \(corpus)` (and the same tokenizer options)")
        }
        let tokens = trainTokens.reduce(0) { $0 + $1.count }
        let known = trainTokens.reduce(0) { count, line in count + line.filter(vocabulary.contains).count }
        guard tokens == 0 || known > 0 else {
            throw WorkbenchError("the vocabulary file \(path) knows none of the \(tokens) training tokens of \(corpus): "
                + "it was built from another corpus")
        }
        return vocabulary
    }

    /// The share of training tokens the vocabulary maps to <unk> (text corpora).
    public var trainingUnknownRate: Double? {
        guard let vocabulary, let trainTokens else { return nil }
        let tokens = trainTokens.reduce(0) { $0 + $1.count }
        guard tokens > 0 else { return nil }
        let unknown = trainTokens.reduce(0) { count, line in count + line.filter { !vocabulary.contains($0) }.count }
        return Double(unknown) / Double(tokens)
    }

    // MARK: - Evaluation

    /// The evaluation run after epochs and adversarial steps: NLL-oracle for the synthetic benchmark; test NLL and
    /// BLEU-n (with Self-BLEU-n) of `settings.bleuSamples` samples against the test split for text corpora. The
    /// reference index is built here, once per run. Each call gets its own random generator from the trainer.
    public func evaluator(_ settings: EvaluationSettings) -> GeneratorEvaluator {
        let oracle = self.oracle, test = settings.testNLL ? self.test : nil
        // NLL-gen on the synthetic benchmark: the generator's NLL of fresh oracle sequences, never trained on (the
        // oracle's data has no test split). It rises when the generator sharpens onto few modes while NLL-oracle
        // falls — the overfitting and mode-dropping check beside NLL-oracle.
        let heldOut = oracle.map { SequenceDataset(sequences: $0.sampleCorpus(count: Self.oracleHeldOutCount, seed: Self.oracleHeldOutSeed)) }
        let bleu = settings.bleuSamples > 0 ? testBLEU(settings) : nil
        let tokens = scoringTokens
        return { generator, rng in
            var metrics: [String: Double] = [:]
            if let oracle {
                let samples = generator.sample(count: settings.nllOracleSamples, batchSize: 500, using: &rng)
                metrics["nll_oracle"] = oracle.negativeLogLikelihood(samples)
                if let heldOut, settings.testNLL { metrics["nll_gen_held_out"] = meanTokenNLL(generator, on: heldOut) }
                for d in distinctN(samples, orders: EvaluationSuite.distinctOrders) { metrics["distinct\(d.order)"] = d.ratio }
            }
            if let test { metrics["nll_test"] = meanTokenNLL(generator, on: test) }
            if let bleu {
                let samples = generator.sample(count: settings.bleuSamples, batchSize: 500, using: &rng).map(tokens.sample)
                metrics.merge(bleu.scores(samples, selfBLEU: settings.selfBLEU, threads: Parallel.threads)) { _, new in new }
                // Diversity beside quality, so a collapse to few modes shows where a user looks.
                for d in distinctN(samples, orders: EvaluationSuite.distinctOrders) { metrics["distinct\(d.order)"] = d.ratio }
            }
            return metrics
        }
    }

    /// Samples and corpus sentences as the ids the metrics compare.
    public var scoringTokens: ScoringTokens { ScoringTokens(vocabulary: vocabulary) }

    /// BLEU against the test split, as training records it; nil for the oracle (its tokens are ids, and BLEU
    /// against its samples measures nothing NLL-oracle does not) and for a corpus without a test split.
    public func testBLEU(_ settings: EvaluationSettings) -> BLEUEvaluator? {
        guard let testTokens else { return nil }
        let references = ReferenceSet(name: "\(corpus):test", sentences: scoringTokens.corpus(testTokens),
                                      maxOrder: settings.bleuOrders.max() ?? 1)
        return BLEUEvaluator(references: references, orders: settings.bleuOrders, smoothing: settings.bleuSmoothing)
    }
}

/// Token ids as a reader sees them: decoded up to <eos> without <pad> and <bos>, then detokenized; the oracle's
/// bare ids (no vocabulary) as numbers.
func renderText(_ ids: [Int32], vocabulary: Vocabulary?, tokenizer: Tokenizer?) -> String {
    guard let vocabulary, let tokenizer else { return ids.map(String.init).joined(separator: " ") }
    return tokenizer.detokenize(vocabulary.decode(ids, stopAtEOS: true, skipPadAndBOS: true))
}
