// Numbers a researcher checks before training on a corpus: sizes, lengths, vocabulary and out-of-vocabulary rate.

public struct LengthStatistics: Codable, Sendable, Equatable {
    public var examples = 0
    public var tokens = 0
    public var minimum = 0
    public var maximum = 0
    public var mean = 0.0
    public var median = 0
    public var percentile95 = 0

    public init(lengths: [Int]) {
        guard !lengths.isEmpty else { return }
        let sorted = lengths.sorted()
        examples = sorted.count
        tokens = sorted.reduce(0, +)
        minimum = sorted.first!
        maximum = sorted.last!
        mean = Double(tokens) / Double(examples)
        median = sorted[(sorted.count - 1) / 2]  // the lower median
        percentile95 = sorted[min(sorted.count - 1, Int((0.95 * Double(sorted.count)).rounded(.up)) - 1)]
    }
}

/// A histogram of example lengths with equal-width bins of a round width (1, 2, 5, 10, 20, 50, …).
public struct LengthHistogram: Codable, Sendable, Equatable {
    public struct Bin: Codable, Sendable, Equatable {
        /// Lengths in lower...upper, inclusive.
        public var lower: Int
        public var upper: Int
        public var count: Int
    }

    public var bins: [Bin] = []

    public init(lengths: [Int], maxBins: Int = 12) {
        guard let low = lengths.min(), let high = lengths.max() else { return }
        var width = 1
        let steps = [1, 2, 5]
        var k = 0
        while (high / width) - (low / width) + 1 > maxBins {
            k += 1
            width = steps[k % 3] * Int(pow10(k / 3))
        }
        let first = low / width
        var counts = [Int](repeating: 0, count: high / width - first + 1)
        for length in lengths { counts[length / width - first] += 1 }
        bins = counts.enumerated().map { i, count in
            Bin(lower: (first + i) * width, upper: (first + i) * width + width - 1, count: count)
        }
    }

    private func pow10(_ n: Int) -> Int { (0..<n).reduce(1) { acc, _ in acc * 10 } }
}

public struct CorpusStatistics: Codable, Sendable, Equatable {
    public var train: LengthStatistics
    public var test: LengthStatistics
    /// Distinct tokens in the training split.
    public var trainTypes: Int
    /// Size of the vocabulary built from the training split (with the special tokens).
    public var vocabularySize: Int
    public var minCount: Int
    public var maxSize: Int?
    /// Test tokens that map to <unk>, over all test tokens (nil without a test split).
    public var testOOVRate: Double?
    /// Distinct test tokens not in the vocabulary.
    public var testOOVTypes: Int
    public var testTypes: Int
    public var histogram: LengthHistogram

    /// Tokenizes both splits with the corpus's tokenizer and builds a vocabulary from the training split.
    public init(corpus: Corpus, minCount: Int = 1, maxSize: Int? = nil) throws {
        let tokenizer = try corpus.tokenizer()
        let trainTokens = corpus.train.map(tokenizer.tokenizeAll)
        let testTokens = corpus.test.map(tokenizer.tokenizeAll)
        let vocabulary = Vocabulary.build(from: trainTokens, config: tokenizer.config, minCount: minCount,
                                          maxSize: maxSize)
        self.init(trainTokens: trainTokens, testTokens: testTokens, vocabulary: vocabulary)
    }

    public init(trainTokens: [[String]], testTokens: [[String]], vocabulary: Vocabulary) {
        train = LengthStatistics(lengths: trainTokens.map(\.count))
        test = LengthStatistics(lengths: testTokens.map(\.count))
        trainTypes = Set(trainTokens.joined()).count
        vocabularySize = vocabulary.count
        minCount = vocabulary.minCount
        maxSize = vocabulary.maxSize
        histogram = LengthHistogram(lengths: trainTokens.map(\.count))
        var unknown = 0
        var testTypeSet = Set<String>()
        for token in testTokens.joined() {
            testTypeSet.insert(token)
            if vocabulary.id(of: token) == Vocabulary.unk { unknown += 1 }
        }
        testTypes = testTypeSet.count
        testOOVTypes = testTypeSet.filter { vocabulary.id(of: $0) == Vocabulary.unk }.count
        testOOVRate = test.tokens > 0 ? Double(unknown) / Double(test.tokens) : nil
    }
}
