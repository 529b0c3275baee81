import Foundation

// MS-Jaccard-n (Montahaei, Alihosseini and Soleymani Baghshah, "Jointly Measuring Diversity and Quality in Text
// Generation Models", 2019): how alike the n-gram multisets of the samples and of the references are, so a model
// that is fluent but repetitive and one that is varied but off the references both score low.
//
// For one order n, each n-gram g gets a rate in each set, its occurrences over all sentences divided by the number
// of sentences (so sets of different sizes compare), and the generalized Jaccard similarity of the two rate vectors
// is J_n = Σ_g min(r_S(g), r_R(g)) / Σ_g max(r_S(g), r_R(g)). MS-Jaccard-N is the geometric mean of J_1 … J_N.
// Sentences shorter than n give no n-gram of that order; when neither set has one, J_n is 0/0 and MS-Jaccard-N is NaN.
// Public implementations of the metric divide counts by the number of sentences in the same way (rates, not raw
// counts), which matters whenever the two sets differ in size.

public struct MSJaccardScore: Codable, Sendable, Equatable {
    /// N: the geometric mean runs over n = 1 … N.
    public let order: Int
    /// The geometric mean of `similarities`.
    public let value: Double
    /// J_1 … J_N.
    public let similarities: [Double]

    public init(order: Int, similarities: [Double]) {
        self.order = order
        self.similarities = similarities
        value = similarities.reduce(1, *) == 0 ? 0 : exp(similarities.map(log).reduce(0, +) / Double(order))
    }
}

/// The references' n-gram rates, built once and shared by every sample set scored against them (each temperature
/// of a sweep).
public struct MSJaccardIndex: Sendable {
    private let trie: NGramTrie
    /// Occurrences of each trie node among the references.
    private let referenceCounts: [Int32]
    public let referenceCount: Int
    public var maxOrder: Int { trie.maxOrder }

    public init(references: [[Int32]], maxOrder: Int) {
        var trie = NGramTrie(maxOrder: maxOrder)
        var nodes: [Int32] = []
        for sentence in references { trie.insertNGrams(of: sentence, into: &nodes) }
        var counts = [Int32](repeating: 0, count: trie.nodeCount)
        for node in nodes { counts[Int(node)] += 1 }
        self.trie = trie
        referenceCounts = counts
        referenceCount = references.count
    }

    /// MS-Jaccard-N of `samples` for each N in `orders` (each at most `maxOrder`), in the order given.
    public func score(_ samples: [[Int32]], orders: [Int]) -> [MSJaccardScore] {
        precondition(orders.allSatisfy { (1...maxOrder).contains($0) }, "MS-Jaccard orders must be in 1...\(maxOrder)")
        // The samples' n-grams join the references' trie (a copy), so one node id names an n-gram in both sets.
        var joint = trie
        var nodes: [Int32] = []
        for sentence in samples { joint.insertNGrams(of: sentence, into: &nodes) }
        var sampleCounts = [Int32](repeating: 0, count: joint.nodeCount)
        for node in nodes { sampleCounts[Int(node)] += 1 }

        var minimum = [Double](repeating: 0, count: maxOrder + 1), maximum = minimum
        let (s, r) = (Double(samples.count), Double(referenceCount))
        for node in 1..<joint.nodeCount {
            let sampleRate = s > 0 ? Double(sampleCounts[node]) / s : 0
            let referenceRate = node < referenceCounts.count && r > 0 ? Double(referenceCounts[node]) / r : 0
            let n = Int(joint.order[node])
            minimum[n] += min(sampleRate, referenceRate)
            maximum[n] += max(sampleRate, referenceRate)
        }
        let similarities = (1...maxOrder).map { n in maximum[n] > 0 ? minimum[n] / maximum[n] : .nan }
        return orders.map { MSJaccardScore(order: $0, similarities: Array(similarities.prefix($0))) }
    }
}

/// MS-Jaccard-N of `samples` against `references` for each N in `orders`.
public func msJaccard(samples: [[Int32]], references: [[Int32]], orders: [Int] = [2, 3, 4, 5]) -> [MSJaccardScore] {
    MSJaccardIndex(references: references, maxOrder: orders.max()!).score(samples, orders: orders)
}

/// `msJaccard` on string tokens.
public func msJaccard(samples: [[String]], references: [[String]], orders: [Int] = [2, 3, 4, 5]) -> [MSJaccardScore] {
    var ids = TokenIDMap()
    let referenceIDs = ids.encode(references)
    return msJaccard(samples: ids.encode(samples), references: referenceIDs, orders: orders)
}
