// How well a score separates two sets: a detector's P(generated) of generated (positive) vs real (negative)
// sentences, or a membership attack's score of training (positive) vs held-out (negative) sentences. Higher scores
// mean "positive" throughout.
//
//   ROC-AUC        the Mann-Whitney statistic: the probability that a random positive scores above a random
//                  negative, a tie counting one half. 0.5 is chance, 1 perfect separation. Computed from
//                  mid-ranks, O((P + N) log(P + N)).
//   TPR at FPR α   classify "positive" when score ≥ t. Among the thresholds t at the observed scores (and +∞) whose
//                  false-positive rate is ≤ α, take the one with the highest true-positive rate (the lowest such t)
//                  and report its TPR: the empirical ROC curve read as a step function, never interpolated between
//                  two operating points, so the rate is one a real threshold achieves.
//   accuracy       correct decisions at a fixed threshold (score > t ⇒ positive) over all examples.
// Empty sets or a NaN score make every one of these NaN.

public enum DetectionMetrics {
    /// ROC-AUC of `positives` against `negatives` (ties count one half).
    public static func rocAUC(positives: [Double], negatives: [Double]) -> Double {
        let (P, N) = (positives.count, negatives.count)
        guard P > 0, N > 0, !(positives + negatives).contains(where: \.isNaN) else { return .nan }
        // Scores sorted ascending with their label; each run of equal scores gets the mean of its ranks (1-based).
        let all = (positives.map { ($0, true) } + negatives.map { ($0, false) }).sorted { $0.0 < $1.0 }
        var positiveRankSum = 0.0
        var start = 0
        while start < all.count {
            var end = start
            while end + 1 < all.count && all[end + 1].0 == all[start].0 { end += 1 }
            let midRank = Double(start + end + 2) / 2
            for i in start...end where all[i].1 { positiveRankSum += midRank }
            start = end + 1
        }
        // U = R₊ − P(P + 1)/2 counts the pairs a positive wins (ties one half); AUC = U / (P·N).
        return (positiveRankSum - Double(P) * Double(P + 1) / 2) / (Double(P) * Double(N))
    }

    /// The true-positive rate at the lowest threshold whose false-positive rate is at most `maximumFPR` (see the
    /// top of the file: no interpolation).
    public static func truePositiveRate(atFalsePositiveRate maximumFPR: Double, positives: [Double],
                                        negatives: [Double]) -> Double {
        let (P, N) = (positives.count, negatives.count)
        guard P > 0, N > 0, !(positives + negatives).contains(where: \.isNaN) else { return .nan }
        let pos = positives.sorted(by: >), neg = negatives.sorted(by: >)
        // Walk the distinct scores from the top: at threshold t, every score ≥ t is called positive.
        var best = 0.0  // t = +∞: nothing is called positive, FPR 0, TPR 0
        var (i, j) = (0, 0)
        while i < P || j < N {
            let t = max(i < P ? pos[i] : -.infinity, j < N ? neg[j] : -.infinity)
            while i < P && pos[i] >= t { i += 1 }
            while j < N && neg[j] >= t { j += 1 }
            guard Double(j) / Double(N) <= maximumFPR else { break }
            best = Double(i) / Double(P)
        }
        return best
    }

    /// The share of correct decisions when score > `threshold` means positive.
    public static func accuracy(positives: [Double], negatives: [Double], threshold: Double = 0.5) -> Double {
        let total = positives.count + negatives.count
        guard total > 0, !(positives + negatives).contains(where: \.isNaN) else { return .nan }
        let correct = positives.filter { $0 > threshold }.count + negatives.filter { $0 <= threshold }.count
        return Double(correct) / Double(total)
    }
}
