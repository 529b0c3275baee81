import Foundation

// The reference implementation of BLEU, kept beside the fast one in BLEU.swift: nltk 3.10.4's sentence_bleu
// (corpus_bleu on one pair, modified_precision, closest_ref_length, brevity_penalty, smoothing method0/method1)
// written out literally, with a dictionary of n-gram counts per reference and no index. It costs
// O(|h| · total reference length) per hypothesis, so it is for tests and small sets only.

public enum NaiveBLEU {
    /// nltk's sentence_bleu(references, hypothesis, weights: (1/n, …, 1/n), smoothing). NaN with no references
    /// (where nltk raises).
    public static func sentence<Token: Hashable>(
        references: [[Token]], hypothesis: [Token], order n: Int, smoothing: BLEUSmoothing = .method1
    ) -> Double {
        guard !references.isEmpty else { return .nan }
        let precisions = (1...n).map { modifiedPrecision(references: references, hypothesis: hypothesis, order: $0) }
        // nltk returns 0 when no unigram matches, before smoothing.
        if precisions[0].numerator == 0 { return 0 }

        let referenceLength = closestReferenceLength(references: references, hypothesisLength: hypothesis.count)
        let bp = brevityPenalty(closestReferenceLength: referenceLength, hypothesisLength: hypothesis.count)
        let smoothed: [Double] = precisions.map { p in
            if p.numerator != 0 { return Double(p.numerator) / Double(p.denominator) }
            switch smoothing {
            case .method0: return Double.leastNormalMagnitude  // sys.float_info.min
            case .method1: return (Double(p.numerator) + 0.1) / Double(p.denominator)
            }
        }
        let weight = 1 / Double(n)
        let s = smoothed.map { weight * log($0) }.reduce(0, +)
        return bp * exp(s)
    }

    /// Mean over hypotheses of `sentence(references: all references, hypothesis)`.
    public static func mean<Token: Hashable>(
        hypotheses: [[Token]], references: [[Token]], order: Int, smoothing: BLEUSmoothing = .method1
    ) -> (mean: Double, perSentence: [Double]) {
        let scores = hypotheses.map {
            sentence(references: references, hypothesis: $0, order: order, smoothing: smoothing)
        }
        return (scores.reduce(0, +) / Double(scores.count), scores)
    }

    /// Mean over samples of `sentence(references: all other samples, sample)`.
    public static func selfBLEU<Token: Hashable>(
        samples: [[Token]], order: Int, smoothing: BLEUSmoothing = .method1
    ) -> (mean: Double, perSentence: [Double]) {
        let scores = samples.indices.map { i in
            var others = samples
            others.remove(at: i)
            return sentence(references: others, hypothesis: samples[i], order: order, smoothing: smoothing)
        }
        return (scores.reduce(0, +) / Double(scores.count), scores)
    }

    // MARK: - nltk's pieces

    /// Clipped n-gram matches over max(1, number of hypothesis n-grams), as an unreduced fraction.
    static func modifiedPrecision<Token: Hashable>(
        references: [[Token]], hypothesis: [Token], order n: Int
    ) -> (numerator: Int, denominator: Int) {
        let counts = ngramCounts(hypothesis, n)
        var maxCounts: [[Token]: Int] = [:]
        for reference in references {
            let referenceCounts = ngramCounts(reference, n)
            for ngram in counts.keys {
                maxCounts[ngram] = max(maxCounts[ngram] ?? 0, referenceCounts[ngram] ?? 0)
            }
        }
        let numerator = counts.reduce(0) { $0 + min($1.value, maxCounts[$1.key]!) }
        let denominator = max(1, counts.values.reduce(0, +))
        return (numerator, denominator)
    }

    static func ngramCounts<Token: Hashable>(_ sentence: [Token], _ n: Int) -> [[Token]: Int] {
        var counts: [[Token]: Int] = [:]
        if sentence.count >= n {
            for start in 0...(sentence.count - n) { counts[Array(sentence[start..<start + n]), default: 0] += 1 }
        }
        return counts
    }

    /// The reference length minimising (|length − hypothesis length|, length).
    static func closestReferenceLength<Token>(references: [[Token]], hypothesisLength: Int) -> Int {
        references.map(\.count).min { a, b in
            (abs(a - hypothesisLength), a) < (abs(b - hypothesisLength), b)
        }!
    }

    static func brevityPenalty(closestReferenceLength r: Int, hypothesisLength c: Int) -> Double {
        if c > r { return 1 }
        if c == 0 { return 0 }
        return exp(1 - Double(r) / Double(c))
    }
}
