import Models
import NumericCore

/// How a discriminator did over some epochs: mean loss and accuracy on real and on generated sequences.
public struct DiscriminatorReport: Sendable, Equatable {
    public var loss: Double
    public var accuracyReal: Double
    public var accuracyFake: Double
    /// D's clean and robust accuracy on the sequences adversarial training attacked (none without it).
    public var robustness = RobustnessTally()

    public var metrics: [String: Double] {
        ["d_loss": loss, "d_accuracy_real": accuracyReal, "d_accuracy_fake": accuracyFake].merging(robustness.metrics) { $1 }
    }
}

/// Trains D for `epochs` passes over positives (real) and negatives (generated) with the GAN loss `loss` plus D's
/// own regularization; batches of `batchSize` sequences, the last partial batch dropped, as in the reference
/// (20,000 sequences → 312 batches of 64).
/// - Unpaired losses (SeqGAN's cross-entropy): positives and negatives are shuffled together each epoch.
/// - Paired losses (relativistic): each batch holds batchSize/2 real and as many generated sequences, real i paired
///   with generated i; both sides are shuffled each epoch and the pairs run to the shorter side.
/// A non-finite loss throws `TrainingError.nonFinite` (naming `phase` and `step`) before its update.
/// Accuracies are measured on the training batches as they are seen (with dropout on): a sequence is judged real
/// when its "real" logit is the larger.
/// With `adversarial`, each batch has its share of adversarial examples (`AdversarialExamples.mix`); the report's
/// `robustness` holds D's clean and robust accuracy on them.
public func trainDiscriminator(
    _ discriminator: any SequenceDiscriminator, loss: any GANLoss = CrossEntropyGANLoss(), optimizer: some Optimizer,
    positives: [[Int32]], negatives: [[Int32]], epochs: Int, batchSize: Int, phase: String = Phase.discriminator,
    step: Int = 0, adversarial: AdversarialExamples? = nil, using rng: inout SeededGenerator
) throws -> DiscriminatorReport {
    var lossSum = 0.0, batches = 0
    var correct = [0, 0], seen = [0, 0]  // by label: fake, real
    var robustness = RobustnessTally()

    /// One optimizer step on a batch of sequences with labels (1 real, 0 generated).
    func update(_ sequences: [[Int32]], _ labels: [Int32]) throws {
        var input = DiscriminatorInput.tokens(discriminator.pack(sequences))
        if let adversarial {
            input = try adversarial.mix(input, labels: labels, discriminator: discriminator, tally: &robustness)
        }
        discriminator.zeroGrad()
        let pass = discriminator.forward(input, training: true, using: &rng)
        // The loss reads every view's logits (one per sequence for SeqGAN's CNN), as RelGAN applies it.
        let (value, gradient) = loss.discriminatorLoss(logits: pass.viewLogits, labels: pass.viewLabels(labels))
        try TrainingError.check([("discriminator loss", value)], phase: phase, step: step)
        let penalty = discriminator.regularization(backward: true)
        discriminator.backward(pass, logitGradient: gradient, featureGradient: nil, inputGradient: false)
        optimizer.update()
        lossSum += Double(value + penalty)
        batches += 1
        for (b, label) in labels.enumerated() {
            seen[Int(label)] += 1
            if (pass.logits[b, 1] > pass.logits[b, 0]) == (label == 1) { correct[Int(label)] += 1 }
        }
    }

    if loss.pairsExamples {
        let half = batchSize / 2, pairs = min(positives.count, negatives.count)
        precondition(half > 0, "trainDiscriminator: a paired batch needs at least 2 sequences")
        for _ in 0..<epochs {
            let realOrder = rng.permutation(positives.count), fakeOrder = rng.permutation(negatives.count)
            for start in stride(from: 0, through: pairs - half, by: half) {
                let reals = realOrder[start..<(start + half)].map { positives[$0] }
                let fakes = fakeOrder[start..<(start + half)].map { negatives[$0] }
                try update(reals + fakes, [Int32](repeating: 1, count: half) + [Int32](repeating: 0, count: half))
            }
        }
    } else {
        let examples = positives.map { ($0, Int32(1)) } + negatives.map { ($0, Int32(0)) }
        for _ in 0..<epochs {
            let order = rng.permutation(examples.count)
            for start in stride(from: 0, through: examples.count - batchSize, by: batchSize) {
                let members = order[start..<(start + batchSize)].map { examples[$0] }
                try update(members.map(\.0), members.map(\.1))
            }
        }
    }
    return DiscriminatorReport(
        loss: lossSum / Double(max(batches, 1)),
        accuracyReal: Double(correct[1]) / Double(max(seen[1], 1)),
        accuracyFake: Double(correct[0]) / Double(max(seen[0], 1)), robustness: robustness)
}
