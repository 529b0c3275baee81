// Memorisation: how much of the training set a generator reproduces.
//
//   verbatim rate   fraction of samples whose whole token sequence equals some training sentence
//   longest copy    per sample, the length of its longest contiguous token span that also occurs contiguously
//                   inside one training sentence (spans never straddle two training sentences); 0 for a sample
//                   sharing no token with the training set. Reported per sample, as max and as mean.
// A sample that copies a 12-token stretch of a training caption has copied it whatever BLEU says.
//
// The training sentences' suffixes are sorted once (a suffix array over sentences). The longest prefix of a
// pattern that occurs in the training set is its longest common prefix with one of the two suffixes around its
// insertion point, found by binary search; the longest copy of a sample is the maximum of that over its start
// positions, O(|s| · log(training tokens) · copy length) per sample.

public struct MemorisationReport: Codable, Sendable, Equatable {
    public let sampleCount: Int
    public let verbatimCount: Int
    /// Longest copied span of each sample, in input order.
    public let longestCopied: [Int]

    /// verbatimCount / sampleCount (NaN with no samples).
    public var verbatimRate: Double { Double(verbatimCount) / Double(sampleCount) }
    public var maxLongestCopied: Int { longestCopied.max() ?? 0 }
    /// Mean of `longestCopied` (NaN with no samples).
    public var meanLongestCopied: Double { Double(longestCopied.reduce(0, +)) / Double(sampleCount) }
}

/// A training set prepared for memorisation queries; build once, share across threads.
public struct TrainingSetIndex: Sendable {
    private let sentences: Set<[Int32]>
    /// All training tokens, sentence after sentence, and for each position the end of its sentence.
    private let tokens: [Int32]
    private let sentenceEnd: [Int32]
    /// Start positions of every suffix of every sentence, sorted lexicographically (a proper prefix sorts first).
    private let suffixes: [Int32]

    public init(_ training: [[Int32]]) {
        sentences = Set(training)
        var tokens: [Int32] = [], sentenceEnd: [Int32] = []
        for sentence in training {
            let end = Int32(tokens.count + sentence.count)
            tokens += sentence
            sentenceEnd += repeatElement(end, count: sentence.count)
        }
        precondition(tokens.count < Int(Int32.max), "training set too large")
        (self.tokens, self.sentenceEnd) = (tokens, sentenceEnd)
        var suffixes = (0..<Int32(tokens.count)).map { $0 }
        suffixes.sort { a, b in
            let (ea, eb) = (Int(sentenceEnd[Int(a)]), Int(sentenceEnd[Int(b)]))
            var (i, j) = (Int(a), Int(b))
            while i < ea && j < eb {
                if tokens[i] != tokens[j] { return tokens[i] < tokens[j] }
                i += 1
                j += 1
            }
            return i == ea && j < eb
        }
        self.suffixes = suffixes
    }

    /// Whether `sample` is, token for token, one of the training sentences.
    public func containsVerbatim(_ sample: [Int32]) -> Bool { sentences.contains(sample) }

    /// The length of the longest contiguous span of `sample` that occurs contiguously in one training sentence.
    public func longestCopiedSpan(_ sample: [Int32]) -> Int {
        var longest = 0
        for start in sample.indices where sample.count - start > longest {
            longest = max(longest, longestPrefixMatch(sample[start...]))
        }
        return longest
    }

    /// The longest prefix of `pattern` occurring in the training set.
    private func longestPrefixMatch(_ pattern: ArraySlice<Int32>) -> Int {
        // Insertion point: the first suffix not less than the pattern.
        var low = 0, high = suffixes.count
        while low < high {
            let mid = (low + high) / 2
            if compare(suffix: suffixes[mid], pattern).suffixIsLess { low = mid + 1 } else { high = mid }
        }
        var best = 0
        if low < suffixes.count { best = compare(suffix: suffixes[low], pattern).common }
        if low > 0 { best = max(best, compare(suffix: suffixes[low - 1], pattern).common) }
        return best
    }

    /// The common prefix length of a suffix and the pattern, and whether the suffix sorts before the pattern.
    private func compare(suffix start: Int32, _ pattern: ArraySlice<Int32>) -> (common: Int, suffixIsLess: Bool) {
        let end = Int(sentenceEnd[Int(start)])
        var (i, j) = (Int(start), pattern.startIndex)
        while i < end && j < pattern.endIndex {
            if tokens[i] != pattern[j] { return (j - pattern.startIndex, tokens[i] < pattern[j]) }
            i += 1
            j += 1
        }
        // One is a prefix of the other: the suffix is less when it ran out first.
        return (j - pattern.startIndex, i == end && j < pattern.endIndex)
    }
}

/// Verbatim copies and longest copied spans of `samples` with respect to a training set.
public func memorisation(
    samples: [[Int32]], training: TrainingSetIndex, threads: Int = defaultMetricThreads
) -> MemorisationReport {
    let longest = chunkedMap(count: samples.count, threads: threads) { range in
        range.map { training.longestCopiedSpan(samples[$0]) }
    }
    return MemorisationReport(
        sampleCount: samples.count, verbatimCount: samples.filter(training.containsVerbatim).count,
        longestCopied: longest)
}

/// `memorisation` on string tokens.
public func memorisation(
    samples: [[String]], training: [[String]], threads: Int = defaultMetricThreads
) -> MemorisationReport {
    var ids = TokenIDMap()
    let index = TrainingSetIndex(ids.encode(training))
    return memorisation(samples: samples.map(ids.encodeKnown), training: index, threads: threads)
}
