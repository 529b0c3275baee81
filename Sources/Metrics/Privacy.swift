import Foundation

// What a generator leaks about its training data, from its per-sentence negative log-likelihoods (NLL).
//
//   membership AUC   a loss-threshold membership-inference attack (Yeom et al. 2018): a sentence with a lower NLL
//                    is guessed a training member. The ROC-AUC of telling members (training sentences) from
//                    non-members (held-out sentences of the same distribution) by −NLL: 0.5 when the model has not
//                    seen either set or does not fit its training set better, towards 1 as it memorises.
//                    The reference-model variant (Carlini et al. 2022's "LiRA offline" in its simplest form, the
//                    likelihood ratio) scores each sentence by NLL_reference − NLL_target, calibrating away how
//                    hard a sentence is for any model: members are those the target finds easier than the
//                    reference does.
//   canary exposure  Carlini et al., "The Secret Sharer" (2019): a random canary sentence is inserted into the
//                    training data; after training, rank it by NLL among itself and |R| − 1 random candidates of
//                    the same format (rank 1: the lowest NLL). exposure = log2 |R| − log2 rank, from 0 (the canary
//                    is no likelier than the worst candidate) to log2 |R| (it is the likeliest of all). A candidate
//                    with exactly the canary's NLL ranks ahead of it, so exposure is never overstated.

public enum PrivacyMetrics {
    /// Membership AUC of the loss attack: members (training sentences) against non-members by −NLL.
    public static func membershipAUC(memberNLL: [Double], nonMemberNLL: [Double]) -> Double {
        DetectionMetrics.rocAUC(positives: memberNLL.map { -$0 }, negatives: nonMemberNLL.map { -$0 })
    }

    /// The reference-model variant: each sentence scored by NLL_reference − NLL_target (arrays in the same order).
    public static func membershipAUC(memberNLL: [Double], nonMemberNLL: [Double], referenceMemberNLL: [Double],
                                     referenceNonMemberNLL: [Double]) -> Double {
        precondition(memberNLL.count == referenceMemberNLL.count && nonMemberNLL.count == referenceNonMemberNLL.count,
                     "membershipAUC: the reference model's NLLs must be of the same sentences")
        return DetectionMetrics.rocAUC(positives: zip(referenceMemberNLL, memberNLL).map { $0 - $1 },
                                       negatives: zip(referenceNonMemberNLL, nonMemberNLL).map { $0 - $1 })
    }

    /// The canary's rank (1-based) by NLL among itself and the candidates; ties rank ahead of the canary.
    public static func canaryRank(canaryNLL: Double, candidateNLL: [Double]) -> Int {
        1 + candidateNLL.filter { $0 <= canaryNLL }.count
    }

    /// log2 |R| − log2 rank with |R| = candidates + 1 (the canary among them).
    public static func canaryExposure(canaryNLL: Double, candidateNLL: [Double]) -> Double {
        guard !canaryNLL.isNaN, !candidateNLL.contains(where: \.isNaN) else { return .nan }
        let rank = canaryRank(canaryNLL: canaryNLL, candidateNLL: candidateNLL)
        return log2(Double(candidateNLL.count + 1)) - log2(Double(rank))
    }
}
