import Foundation
import Metrics
import TextPipeline

// Named evaluation protocols: what a published comparison fixed about its scores — how samples and references
// are split into tokens, which splits the vocabulary is built over, how many samples, against which references,
// BLEU's smoothing and orders, what Self-BLEU compares — as Codable values. `textgan eval --protocol NAME` applies
// the parts that scoring decides (samples, temperatures, references, smoothing) and checks the parts that training
// decided (the run's tokenizer and vocabulary) against the protocol, refusing a run that does not meet them; the
// name is stored with every score it produced.

public struct NamedProtocol: Codable, Sendable, Equatable {
    /// How texts become the tokens that are compared.
    public enum Tokenization: String, Codable, Sendable {
        /// The run's own tokenizer, as the corpus was split for training.
        case corpus
        /// Texygen's `nltk.word_tokenize` of each line, lowercased (see `treebankTokenize`).
        case nltkWordLowercase = "nltk-word-lowercase"
        /// Bare token ids (the synthetic benchmark).
        case ids
    }

    /// Which splits the vocabulary is built over.
    public enum VocabularyRule: String, Codable, Sendable {
        /// The training split only (ours): test words outside it are out of vocabulary, and match nothing.
        case trainingSplit = "training-split"
        /// The training and test splits (Texygen): no test token is out of vocabulary.
        case trainAndTest = "train-and-test"
        /// The oracle's fixed ids.
        case oracle
    }

    /// What Self-BLEU scores each sample against.
    public enum SelfBLEURule: String, Codable, Sendable {
        /// Every other sample of the same set (Texygen, GFS): n − 1 references.
        case otherSamples = "other-samples"
    }

    public var name: String
    /// Where it comes from.
    public var citation: String
    public var tokenization: Tokenization
    public var vocabulary: VocabularyRule
    /// Samples drawn and scored at each temperature.
    public var sampleCount: Int
    /// The temperatures scored, in order (one: no sweep).
    public var temperatures: [Double]
    /// "test": every sentence of the test split; "oracle": the oracle model (NLL-oracle).
    public var references: String
    public var bleuOrders: [Int]
    public var smoothing: BLEUSmoothing
    public var selfBLEU: SelfBLEURule?
    /// The likelihoods it reports: NLL of the test split (`nll_test`) or, as RelGAN's NLL-gen, of the training
    /// split (`nll_gen_train`).
    public var likelihoods: [LikelihoodSplit]
    /// What the protocol leaves to us, or where we depart from the published code, in a sentence.
    public var notes: String

    // MARK: - The named protocols

    /// Texygen (Zhu et al. 2018) on COCO and EMNLP News: nltk word tokens of lowercased text, the vocabulary over both
    /// splits, BLEU-2..5 with nltk's method1 against the whole test set, Self-BLEU among the samples.
    public static let texygen = NamedProtocol(
        name: "texygen", citation: "Zhu et al. 2018, Texygen: A Benchmarking Platform for Text Generation Models",
        tokenization: .nltkWordLowercase, vocabulary: .trainAndTest, sampleCount: 10_000, temperatures: [1],
        references: "test", bleuOrders: [2, 3, 4, 5], smoothing: .method1, selfBLEU: .otherSamples,
        likelihoods: [.test],
        notes: "Texygen's fast BLEU (its default) keeps the first 500 references only; this uses the whole test set. "
            + "Its sample count is whatever it generated; 10,000 here.")

    /// RelGAN (Nie et al. 2019) reports BLEU with Texygen's code on COCO and EMNLP News.
    public static let relgan = NamedProtocol(
        name: "relgan", citation: "Nie et al. 2019, RelGAN: Relational Generative Adversarial Networks for Text Generation",
        tokenization: .nltkWordLowercase, vocabulary: .trainAndTest, sampleCount: 10_000, temperatures: [1],
        references: "test", bleuOrders: [2, 3, 4, 5], smoothing: .method1, selfBLEU: .otherSamples,
        likelihoods: [.train],
        notes: "Texygen's scoring, as RelGAN uses it; RelGAN's NLL-gen is on the training data (nll_gen_train), "
            + "not the test split.")

    /// Language GANs Falling Short (Caccia et al. 2020): BLEU-5 against Self-BLEU-5 of 10,000 samples over a sweep
    /// of the softmax temperature, the curve on which GANs and MLE compare.
    public static let gfs = NamedProtocol(
        name: "gfs", citation: "Caccia et al. 2020, Language GANs Falling Short",
        tokenization: .corpus, vocabulary: .trainingSplit, sampleCount: 10_000, temperatures: [0.5, 0.7, 1.0, 1.2, 1.5],
        references: "test", bleuOrders: [5], smoothing: .method1, selfBLEU: .otherSamples, likelihoods: [.test],
        notes: "The temperatures are ours: the paper sweeps the temperature until the curves cross.")

    /// SeqGAN's synthetic benchmark (Yu et al. 2017): NLL-oracle of 10,000 samples, as its code evaluates.
    public static let seqganSynthetic = NamedProtocol(
        name: "seqgan-synthetic", citation: "Yu et al. 2017, SeqGAN: Sequence Generative Adversarial Nets with Policy Gradient",
        tokenization: .ids, vocabulary: .oracle, sampleCount: 10_000, temperatures: [1], references: "oracle",
        bleuOrders: [], smoothing: .method1, selfBLEU: nil, likelihoods: [],
        notes: "The reference code scores 10,000 samples; seqgan-synthetic-100k is the paper's 100,000.")

    /// The same with the 100,000 samples the SeqGAN paper states for its table.
    public static let seqganSynthetic100k: NamedProtocol = {
        var p = seqganSynthetic
        p.name = "seqgan-synthetic-100k"
        p.sampleCount = 100_000
        p.notes = "The paper's table states 100,000 samples; its code evaluates 10,000 (seqgan-synthetic)."
        return p
    }()

    public static let all = [texygen, relgan, gfs, seqganSynthetic, seqganSynthetic100k]

    public static func named(_ name: String) throws -> NamedProtocol {
        guard let found = all.first(where: { $0.name == name }) else {
            throw WorkbenchError("no evaluation protocol \(name); the protocols are "
                + all.map(\.name).joined(separator: ", "))
        }
        return found
    }

    // MARK: - Tokenization and vocabulary

    /// `line` split as the protocol splits texts; nil for `corpus` (the run's tokenizer) and `ids`.
    public func tokenize(_ line: String) -> [String]? {
        switch tokenization {
        case .nltkWordLowercase: treebankTokenize(line.lowercased())
        case .corpus, .ids: nil
        }
    }

    /// The tokens the vocabulary rule puts in the vocabulary, given the splits' tokens.
    public func vocabularyTokens(train: [[String]], test: [[String]]) -> Set<String> {
        switch vocabulary {
        case .trainingSplit: Set(train.joined())
        case .trainAndTest: Set(train.joined()).union(test.joined())
        case .oracle: []
        }
    }

    /// Why a run trained on `data` does not meet the protocol (its tokens or vocabulary differ), or nil when it does.
    public func unmet(by data: TrainingData) -> String? {
        if (tokenization == .ids) != (data.tokenizer == nil) {
            return tokenization == .ids ? "\(name) is for the synthetic benchmark; \(data.corpus) is text"
                : "\(name) scores text; the synthetic benchmark's tokens are ids"
        }
        guard let tokenizer = data.tokenizer, let train = data.trainTokens, let runVocabulary = data.vocabulary else { return nil }
        guard let test = data.testTokens else { return "\(name) scores against the test split; \(data.corpus) has none" }
        if tokenization != .corpus {
            // The run's tokens must already be the protocol's: splitting them again the protocol's way changes none.
            if let run = (train + test).first(where: { tokenize($0.joined(separator: " ")) != $0 }) {
                return "\(name) splits text as \(tokenization.rawValue), but the run's tokenizer (\(tokenizer.config)) "
                    + "does not: it gives \(run), the protocol \(tokenize(run.joined(separator: " "))!)"
            }
        }
        // Any vocabulary built from the training split meets `trainingSplit` (a minimum count included); one that
        // must cover both splits must hold every token of both.
        let missing = vocabularyTokens(train: train, test: test).filter { !runVocabulary.contains($0) }
        if vocabulary == .trainAndTest && !missing.isEmpty {
            let testTokens = test.joined()
            let oov = testTokens.filter { !runVocabulary.contains($0) }.count
            return "\(name) builds the vocabulary over \(vocabulary.rawValue), but the run's vocabulary lacks "
                + "\(missing.count) of those tokens (e.g. \(missing.sorted().prefix(3).joined(separator: ", "))): "
                + String(format: "%.1f%%", 100 * Double(oov) / Double(max(1, testTokens.count)))
                + " of the test split's tokens are out of its vocabulary"
        }
        return nil
    }
}
