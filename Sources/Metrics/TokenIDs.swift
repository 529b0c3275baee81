// Token ids: every metric works on sentences of Int32 ids (what the models produce); text callers map their
// tokens to ids once with `TokenIDMap` and then score ids. A metric only asks whether two tokens are equal, so
// any injective mapping gives the same scores as the strings themselves.

// MARK: - Token ids

/// Numbers distinct string tokens 0, 1, 2, … in order of first appearance.
public struct TokenIDMap: Sendable {
    public private(set) var ids: [String: Int32] = [:]

    public init() {}

    public var count: Int { ids.count }

    /// Ids of `sentence`, numbering tokens not seen before.
    public mutating func encode(_ sentence: [String]) -> [Int32] {
        sentence.map { token in
            if let id = ids[token] { return id }
            let id = Int32(ids.count)
            ids[token] = id
            return id
        }
    }

    public mutating func encode(_ sentences: [[String]]) -> [[Int32]] {
        sentences.map { encode($0) }
    }

    /// Ids of `sentence` without growing the map: every unseen token gets `Int32(count)`, an id no mapped token
    /// has, so unseen tokens match nothing that was mapped (they may match each other, which no metric here
    /// asks about when the map was built from the references).
    public func encodeKnown(_ sentence: [String]) -> [Int32] {
        let unseen = Int32(ids.count)
        return sentence.map { ids[$0] ?? unseen }
    }
}

// MARK: - The `space` convention of the text-GAN benchmarks

/// Tokens of one line in the convention of Texygen's COCO scoring and of `../shared/bleu/vectors.json`:
/// strip surrounding whitespace, lowercase, split one final "." off as its own token, split on whitespace.
/// `"A dog sits."` → `["a", "dog", "sits", "."]`; `"woods.."` → `["woods.", "."]`.
public func spaceTokenize(_ line: String) -> [String] {
    var text = line.lowercased()[...]
    while let last = text.last, last.isWhitespace { text = text.dropLast() }
    var tokens = text.split(whereSeparator: \.isWhitespace).map(String.init)
    if let last = tokens.last, last.hasSuffix(".") {
        tokens[tokens.count - 1] = String(last.dropLast())
        if tokens[tokens.count - 1].isEmpty { tokens.removeLast() }
        tokens.append(".")
    }
    return tokens
}
