// Distinct-n (Li et al., 2016): the number of distinct n-grams over the whole sample set divided by the total
// number of n-grams, Σ_h max(0, |h| − n + 1). It is a corpus-level ratio (not a mean of per-sample ratios), so a
// generator that repeats itself across samples scores low even when each sample is varied. With no n-gram at all
// (every sample shorter than n) the ratio is 0/0 and reported as NaN.

public struct DistinctScore: Codable, Sendable, Equatable {
    public let order: Int
    public let distinct: Int
    public let total: Int
    public var ratio: Double { Double(distinct) / Double(total) }

    public init(order: Int, distinct: Int, total: Int) {
        self.order = order
        self.distinct = distinct
        self.total = total
    }
}

/// Distinct-n of `samples` for each n in `orders`, in the order given.
public func distinctN(_ samples: [[Int32]], orders: [Int] = [1, 2, 3, 4]) -> [DistinctScore] {
    precondition(!orders.isEmpty && orders.allSatisfy { $0 >= 1 }, "distinct-n orders must be at least 1")
    var trie = NGramTrie(maxOrder: orders.max()!)
    var nodes: [Int32] = []
    for sample in samples {
        nodes.removeAll(keepingCapacity: true)
        trie.insertNGrams(of: sample, into: &nodes)
    }
    var distinct = [Int](repeating: 0, count: trie.maxOrder + 1)
    for n in trie.order { distinct[Int(n)] += 1 }
    return orders.map { n in
        DistinctScore(order: n, distinct: distinct[n], total: samples.reduce(0) { $0 + max(0, $1.count - n + 1) })
    }
}

/// `distinctN` on string tokens.
public func distinctN(_ samples: [[String]], orders: [Int] = [1, 2, 3, 4]) -> [DistinctScore] {
    var ids = TokenIDMap()
    return distinctN(ids.encode(samples), orders: orders)
}
