// The n-gram trie every count-based metric shares (BLEU, Self-BLEU, distinct-n).
//
// Each distinct n-gram (n ≤ the trie's max order) is a node with an Int32 id: node 0 is the empty n-gram, and the
// node of g·t (n-gram g followed by token t) is the child of g's node on t, found in one hash map keyed by the pair
// (parent id, token) packed into a UInt64. A node id therefore names its n-gram exactly, whatever the vocabulary
// size or n, and a sentence's n-grams of all orders cost one lookup each. An n-gram whose prefix is absent is
// absent too, so a walk from a start position stops at the first miss.

struct NGramTrie: Sendable {
    private var children: [UInt64: Int32] = [:]
    /// n of each node (0 for the root).
    private(set) var order: [UInt8] = [0]

    let maxOrder: Int

    init(maxOrder: Int) {
        precondition((1...255).contains(maxOrder), "n-gram order must be in 1...255 (got \(maxOrder))")
        self.maxOrder = maxOrder
    }

    var nodeCount: Int { order.count }

    private static func key(_ parent: Int32, _ token: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: parent)) << 32 | UInt64(UInt32(bitPattern: token))
    }

    /// Adds every n-gram of `sentence` (n ≤ maxOrder) and appends their node ids, one per occurrence, to `nodes`.
    mutating func insertNGrams(of sentence: [Int32], into nodes: inout [Int32]) {
        for start in sentence.indices {
            var node: Int32 = 0
            for position in start..<min(start + maxOrder, sentence.count) {
                let key = Self.key(node, sentence[position])
                if let child = children[key] {
                    node = child
                } else {
                    let child = Int32(order.count)
                    precondition(child < Int32.max, "more than 2³¹ distinct n-grams")
                    children[key] = child
                    order.append(order[Int(node)] + 1)
                    node = child
                }
                nodes.append(node)
            }
        }
    }

    /// Appends to `nodes` the node id of every occurrence in `sentence` of an n-gram (n ≤ maxOrder) that the trie
    /// holds; n-grams it does not hold are skipped.
    func matchNGrams(of sentence: [Int32], into nodes: inout [Int32]) {
        for start in sentence.indices {
            var node: Int32 = 0
            for position in start..<min(start + maxOrder, sentence.count) {
                guard let child = children[Self.key(node, sentence[position])] else { break }
                node = child
                nodes.append(node)
            }
        }
    }
}

/// Sorts `nodes` and calls `body(node, occurrences)` once per distinct node, in increasing node order.
func forEachDistinct(_ nodes: inout [Int32], _ body: (Int32, Int32) -> Void) {
    nodes.sort()
    var i = 0
    while i < nodes.count {
        var j = i + 1
        while j < nodes.count && nodes[j] == nodes[i] { j += 1 }
        body(nodes[i], Int32(j - i))
        i = j
    }
}
