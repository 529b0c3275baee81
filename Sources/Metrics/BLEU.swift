import Foundation

// BLEU-n and Self-BLEU-n in the text-GAN convention (Texygen, RelGAN, …), exactly as nltk 3.10.4 computes them.
//
// BLEU-n of a sample set = mean over samples h of nltk's sentence_bleu(all references, h) with weights (1/n, …, 1/n):
//   p_k  = Σ_g min(count_h(g), max_r count_r(g)) / max(1, |h| − k + 1)     over the k-grams g of h, k = 1…n
//          (counts clipped by the largest count in any ONE reference)
//   BP   = 1 if |h| > c, else exp(1 − c/|h|)    c = the reference length closest to |h|, ties to the shorter
//   BLEU = BP · exp(Σ_k (1/n) · log p_k),  and 0 when no unigram of h matches (so an empty h scores 0)
// A zero-match order k > 1 is smoothed: method1 (default) uses p_k = 0.1 / max(1, |h| − k + 1); method0 (nltk
// without a smoothing function) uses p_k = 2.2250738585072014e-308 (sys.float_info.min), giving tiny scores such
// as 5.9e-155 rather than 0.
// Self-BLEU-n = mean over samples h of sentence_bleu(all OTHER samples, h): a sample is never its own reference.
//
// The fast path (this file) indexes a reference set once: every reference n-gram gets a trie node holding its
// largest and second-largest count in any one reference and which reference holds the largest, and the reference
// lengths are kept sorted. Scoring a hypothesis is then one trie walk, O(|h| · n), for every order at once; for
// Self-BLEU the clip of sample i is the second-largest count where i itself holds the largest. `NaiveBLEU.swift`
// follows nltk literally and the tests check the two agree.
//
// Undefined cases: with no references (or, for Self-BLEU, fewer than two samples) no sample has a reference, nltk
// raises, and the score is NaN (never 0, which would read as perfect diversity); the mean over zero hypotheses is
// NaN too.

// MARK: - Options and results

public enum BLEUSmoothing: String, Codable, Sendable, CaseIterable {
    /// No smoothing (nltk's method0): a zero-match order's precision is sys.float_info.min, so the score is tiny.
    case method0
    /// nltk's method1: a zero-match order's precision is 0.1 / (its number of hypothesis n-grams, at least 1).
    case method1
}

/// BLEU-n (or Self-BLEU-n) of a sample set: the mean and every sample's sentence BLEU, in input order.
public struct BLEUScore: Codable, Sendable, Equatable {
    public let order: Int
    public let mean: Double
    public let perSentence: [Double]

    public init(order: Int, perSentence: [Double]) {
        self.order = order
        self.perSentence = perSentence
        // Summed in index order, so the mean does not depend on how the work was split.
        self.mean = perSentence.reduce(0, +) / Double(perSentence.count)
    }
}

// MARK: - The reference index

/// A reference set prepared for BLEU: built once, O(total reference n-grams), then shared (it is a `Sendable`
/// value) by every scoring call and thread.
public struct BLEUReferenceIndex: Sendable {
    /// The largest n this index can score.
    public let maxOrder: Int
    public let referenceCount: Int

    private var trie: NGramTrie
    /// Per trie node: the largest count of its n-gram in any one reference, the second largest (the largest in
    /// any reference but `holder`; equal to `largest` when two references share the maximum), and the first
    /// reference that holds the largest.
    private var largest: [Int32] = [0]
    private var secondLargest: [Int32] = [0]
    private var holder: [Int32] = [-1]
    private let lengths: ReferenceLengths

    public init(references: [[Int32]], maxOrder: Int = 5) {
        precondition(references.count < Int(Int32.max), "too many references")
        self.maxOrder = maxOrder
        self.referenceCount = references.count
        self.lengths = ReferenceLengths(references.map(\.count))
        trie = NGramTrie(maxOrder: maxOrder)
        var nodes: [Int32] = []
        for (r, reference) in references.enumerated() {
            nodes.removeAll(keepingCapacity: true)
            trie.insertNGrams(of: reference, into: &nodes)
            while largest.count < trie.nodeCount {
                largest.append(0)
                secondLargest.append(0)
                holder.append(-1)
            }
            forEachDistinct(&nodes) { node, count in
                let i = Int(node)
                if count > largest[i] {
                    secondLargest[i] = largest[i]
                    largest[i] = count
                    holder[i] = Int32(r)
                } else if count > secondLargest[i] {
                    secondLargest[i] = count
                }
            }
        }
    }

    /// BLEU-n of `hypotheses` against every reference, for each n in `orders`, in the order given.
    /// - Parameter threads: at most this many threads score hypotheses at once; the result does not depend on it.
    public func score(
        _ hypotheses: [[Int32]], orders: [Int] = [2, 3, 4, 5], smoothing: BLEUSmoothing = .method1,
        threads: Int = defaultMetricThreads
    ) -> [BLEUScore] {
        scoreAll(hypotheses, excludingSelf: false, orders: orders, smoothing: smoothing, threads: threads)
    }

    /// Self-BLEU: reference i is hypothesis i, scored against every reference but itself.
    func selfScore(orders: [Int], smoothing: BLEUSmoothing, samples: [[Int32]], threads: Int) -> [BLEUScore] {
        precondition(samples.count == referenceCount)
        return scoreAll(samples, excludingSelf: true, orders: orders, smoothing: smoothing, threads: threads)
    }

    private func validate(_ orders: [Int]) {
        precondition(!orders.isEmpty, "no BLEU orders requested")
        for n in orders {
            precondition((1...maxOrder).contains(n), "BLEU-\(n) needs an index built with maxOrder ≥ \(n)")
        }
    }

    private func scoreAll(
        _ hypotheses: [[Int32]], excludingSelf: Bool, orders: [Int], smoothing: BLEUSmoothing, threads: Int
    ) -> [BLEUScore] {
        validate(orders)
        let rows: [[Double]] = chunkedMap(count: hypotheses.count, threads: threads) { range in
            var scratch: [Int32] = []
            return range.map { i in
                let statistics = statistics(
                    of: hypotheses[i], excluding: excludingSelf ? Int32(i) : nil, scratch: &scratch)
                return orders.map { statistics.bleu(order: $0, smoothing: smoothing) }
            }
        }
        return orders.indices.map { k in BLEUScore(order: orders[k], perSentence: rows.map { $0[k] }) }
    }

    /// Clipped matches of every order up to maxOrder, and the closest reference length; `excluding` names a
    /// reference that does not count (the hypothesis itself in Self-BLEU).
    private func statistics(
        of hypothesis: [Int32], excluding excluded: Int32?, scratch nodes: inout [Int32]
    ) -> SentenceStatistics {
        var matches = [Int](repeating: 0, count: maxOrder)
        nodes.removeAll(keepingCapacity: true)
        trie.matchNGrams(of: hypothesis, into: &nodes)
        forEachDistinct(&nodes) { node, count in
            let i = Int(node)
            let clip = holder[i] == excluded ? secondLargest[i] : largest[i]
            matches[Int(trie.order[i]) - 1] += Int(min(count, clip))
        }
        let excludedLength = excluded.map { _ in hypothesis.count }
        return SentenceStatistics(
            matches: matches, length: hypothesis.count,
            closestReferenceLength: lengths.closest(to: hypothesis.count, excludingOneOf: excludedLength))
    }
}

// MARK: - Entry points

/// BLEU-n of each hypothesis against the whole reference set, mean over hypotheses, for each n in `orders`.
public func bleu(
    hypotheses: [[Int32]], references: [[Int32]], orders: [Int] = [2, 3, 4, 5],
    smoothing: BLEUSmoothing = .method1, threads: Int = defaultMetricThreads
) -> [BLEUScore] {
    BLEUReferenceIndex(references: references, maxOrder: orders.max() ?? 1)
        .score(hypotheses, orders: orders, smoothing: smoothing, threads: threads)
}

/// `bleu` on string tokens (mapped to ids once; hypothesis tokens absent from the references match nothing).
public func bleu(
    hypotheses: [[String]], references: [[String]], orders: [Int] = [2, 3, 4, 5],
    smoothing: BLEUSmoothing = .method1, threads: Int = defaultMetricThreads
) -> [BLEUScore] {
    var ids = TokenIDMap()
    let referenceIDs = ids.encode(references)
    return bleu(
        hypotheses: hypotheses.map(ids.encodeKnown), references: referenceIDs, orders: orders,
        smoothing: smoothing, threads: threads)
}

/// Self-BLEU-n: each sample scored against all the other samples, mean over samples, for each n in `orders`.
/// Duplicates count as references of each other; only the sample's own position is left out. With fewer than two
/// samples no sample has a reference and every score is NaN (undefined), not 0.
public func selfBLEU(
    _ samples: [[Int32]], orders: [Int] = [2, 3, 4, 5], smoothing: BLEUSmoothing = .method1,
    threads: Int = defaultMetricThreads
) -> [BLEUScore] {
    BLEUReferenceIndex(references: samples, maxOrder: orders.max() ?? 1)
        .selfScore(orders: orders, smoothing: smoothing, samples: samples, threads: threads)
}

/// `selfBLEU` on string tokens.
public func selfBLEU(
    _ samples: [[String]], orders: [Int] = [2, 3, 4, 5], smoothing: BLEUSmoothing = .method1,
    threads: Int = defaultMetricThreads
) -> [BLEUScore] {
    var ids = TokenIDMap()
    return selfBLEU(ids.encode(samples), orders: orders, smoothing: smoothing, threads: threads)
}

// MARK: - The formula

/// What BLEU needs from one hypothesis: clipped matches per order (index k−1 for k-grams), its length, and the
/// closest reference length (nil when it has no reference).
struct SentenceStatistics {
    var matches: [Int]
    var length: Int
    var closestReferenceLength: Int?

    func bleu(order n: Int, smoothing: BLEUSmoothing) -> Double {
        guard let referenceLength = closestReferenceLength else { return .nan }
        if matches[0] == 0 { return 0 }  // also covers the empty hypothesis
        let brevityPenalty = length > referenceLength ? 1 : exp(1 - Double(referenceLength) / Double(length))
        let weight = 1 / Double(n)
        var logSum = 0.0
        for k in 1...n {
            let denominator = max(1, length - k + 1)
            let precision: Double
            if matches[k - 1] > 0 {
                precision = Double(matches[k - 1]) / Double(denominator)
            } else {
                switch smoothing {
                case .method0: precision = Double.leastNormalMagnitude  // Python's sys.float_info.min
                case .method1: precision = 0.1 / Double(denominator)
                }
            }
            logSum += weight * log(precision)
        }
        return brevityPenalty * exp(logSum)
    }
}

// MARK: - Reference lengths

/// The multiset of reference lengths, sorted, for nltk's closest_ref_length by binary search.
struct ReferenceLengths: Sendable {
    /// Distinct lengths, ascending, and how many references have each.
    private let values: [Int]
    private let counts: [Int]

    init(_ lengths: [Int]) {
        var histogram: [Int: Int] = [:]
        for length in lengths { histogram[length, default: 0] += 1 }
        values = histogram.keys.sorted()
        counts = values.map { histogram[$0]! }
    }

    /// The reference length closest to `length`, ties to the shorter; `excludingOneOf` removes one reference of
    /// that length first (the hypothesis itself, in Self-BLEU). nil when no reference remains.
    func closest(to length: Int, excludingOneOf excluded: Int? = nil) -> Int? {
        func available(_ i: Int) -> Bool { counts[i] - (values[i] == excluded ? 1 : 0) > 0 }
        // First distinct length ≥ `length`.
        var low = 0, high = values.count
        while low < high {
            let mid = (low + high) / 2
            if values[mid] < length { low = mid + 1 } else { high = mid }
        }
        // At most one distinct length is unavailable, so the nearest available one on each side is at most one
        // step further out.
        var above = low, below = low - 1
        if above < values.count && !available(above) { above += 1 }
        if below >= 0 && !available(below) { below -= 1 }
        let candidateAbove = above < values.count ? values[above] : nil
        let candidateBelow = below >= 0 ? values[below] : nil
        switch (candidateBelow, candidateAbove) {
        case (nil, nil): return nil
        case (let b?, nil): return b
        case (nil, let a?): return a
        case (let b?, let a?): return a - length < length - b ? a : b
        }
    }
}
