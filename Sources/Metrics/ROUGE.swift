// ROUGE-L (Lin, 2004) of each sample against its best-matching reference.
//
// For a hypothesis h and a reference r with L = |LCS(h, r)| (longest common subsequence of tokens):
//   P = L / |h|,  R = L / |r|,  F_β = (1 + β²) · P · R / (R + β² · P) = (1 + β²) · L / (|h| + β² · |r|)
// and P = R = F = 0 when L = 0 (so an empty hypothesis or reference scores 0). A sample is scored against the
// reference with the highest F_β, the first such reference on ties (as Google's rouge-score `score_multi` does);
// P and R are that reference's. The score is the mean F over samples. β = 1 (F1) by default. Tokens are compared
// as given: tokenize (and lowercase) before calling. With no references every score is NaN.
//
// Scanning every reference is O(samples × references) pairs, so the LCS is computed bit-parallel (Hyyrö 2004):
// for |h| ≤ 64 the DP row is one 64-bit word and each reference token costs a few word operations; longer
// hypotheses fall back to the plain DP `longestCommonSubsequence`, which the tests also use as the reference.

public struct ROUGELMatch: Codable, Sendable, Equatable {
    public let precision: Double
    public let recall: Double
    public let f: Double
    /// LCS length with the best-matching reference.
    public let lcs: Int
    /// Index of the best-matching reference (−1 when there are no references).
    public let reference: Int
}

public struct ROUGELScore: Codable, Sendable, Equatable {
    public let beta: Double
    /// Mean of `perSentence[i].f`.
    public let meanF: Double
    public let perSentence: [ROUGELMatch]
}

/// ROUGE-L F_β of each hypothesis against its best-matching reference, and the mean over hypotheses.
public func rougeL(
    hypotheses: [[Int32]], references: [[Int32]], beta: Double = 1, threads: Int = defaultMetricThreads
) -> ROUGELScore {
    precondition(beta > 0, "ROUGE-L β must be positive")
    let corpus = DenseReferences(references)
    let matches: [ROUGELMatch] = chunkedMap(count: hypotheses.count, threads: threads) { range in
        var masks = [UInt64](repeating: 0, count: corpus.vocabularySize + 1)
        return range.map { corpus.bestMatch(hypotheses[$0], beta: beta, masks: &masks) }
    }
    let meanF = matches.reduce(0) { $0 + $1.f } / Double(matches.count)
    return ROUGELScore(beta: beta, meanF: meanF, perSentence: matches)
}

/// `rougeL` on string tokens.
public func rougeL(
    hypotheses: [[String]], references: [[String]], beta: Double = 1, threads: Int = defaultMetricThreads
) -> ROUGELScore {
    var ids = TokenIDMap()
    let referenceIDs = ids.encode(references)
    return rougeL(hypotheses: hypotheses.map(ids.encodeKnown), references: referenceIDs, beta: beta, threads: threads)
}

/// Length of the longest common subsequence, by the textbook dynamic programme (one row kept).
public func longestCommonSubsequence<Token: Equatable>(_ a: [Token], _ b: [Token]) -> Int {
    var row = [Int](repeating: 0, count: b.count + 1)
    for x in a {
        var diagonal = 0  // the previous row's entry left of the one being replaced
        for (j, y) in b.enumerated() {
            let above = row[j + 1]
            row[j + 1] = x == y ? diagonal + 1 : max(above, row[j])
            diagonal = above
        }
    }
    return row[b.count]
}

// MARK: - The scan over references

/// References flattened into one array of dense ids 0..<vocabularySize, so a hypothesis token's match mask is an
/// array lookup.
private struct DenseReferences: Sendable {
    let tokens: [Int32]
    let starts: [Int]  // reference i is tokens[starts[i]..<starts[i + 1]]
    let ids: [Int32: Int32]
    var vocabularySize: Int { ids.count }
    var count: Int { starts.count - 1 }

    init(_ references: [[Int32]]) {
        var ids: [Int32: Int32] = [:]
        var tokens: [Int32] = []
        var starts = [0]
        for reference in references {
            for token in reference {
                if let id = ids[token] {
                    tokens.append(id)
                } else {
                    let id = Int32(ids.count)
                    ids[token] = id
                    tokens.append(id)
                }
            }
            starts.append(tokens.count)
        }
        (self.tokens, self.starts, self.ids) = (tokens, starts, ids)
    }

    /// `masks` has vocabularySize + 1 entries, all zero on entry and on return.
    func bestMatch(_ hypothesis: [Int32], beta: Double, masks: inout [UInt64]) -> ROUGELMatch {
        guard count > 0 else { return ROUGELMatch(precision: .nan, recall: .nan, f: .nan, lcs: 0, reference: -1) }
        let unseen = Int32(vocabularySize)  // matches no reference token
        let h = hypothesis.map { ids[$0] ?? unseen }
        let m = h.count
        let bitParallel = m <= 64
        if bitParallel { for (i, token) in h.enumerated() { masks[Int(token)] |= 1 << UInt64(i) } }
        let b2 = beta * beta
        var best = (f: -1.0, lcs: 0, reference: 0)
        tokens.withUnsafeBufferPointer { tokens in
            for r in 0..<count {
                let reference = tokens[starts[r]..<starts[r + 1]]
                let lcs: Int
                if bitParallel {
                    // Hyyrö: bit i of ~v is set where the LCS of h[0...i] with the reference so far grows.
                    var v = UInt64.max
                    for token in reference {
                        let match = masks[Int(token)]
                        let u = v & match
                        v = (v &+ u) | (v & ~match)
                    }
                    lcs = (~v & (m == 64 ? .max : (1 << UInt64(m)) - 1)).nonzeroBitCount
                } else {
                    lcs = longestCommonSubsequence(h, Array(reference))
                }
                let f = lcs == 0 ? 0 : (1 + b2) * Double(lcs) / (Double(m) + b2 * Double(reference.count))
                if f > best.f { best = (f, lcs, r) }
            }
        }
        if bitParallel { for token in h { masks[Int(token)] = 0 } }
        let referenceLength = starts[best.reference + 1] - starts[best.reference]
        let precision = best.lcs == 0 ? 0 : Double(best.lcs) / Double(m)
        let recall = best.lcs == 0 ? 0 : Double(best.lcs) / Double(referenceLength)
        return ROUGELMatch(precision: precision, recall: recall, f: best.f, lcs: best.lcs, reference: best.reference)
    }
}
