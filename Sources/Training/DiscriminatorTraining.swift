import Models
import NumericCore

/// How a discriminator did over some epochs: mean loss and accuracy on real and on generated sequences.
public struct DiscriminatorReport: Sendable, Equatable {
    public var loss: Double
    public var accuracyReal: Double
    public var accuracyFake: Double

    public var metrics: [String: Double] {
        ["d_loss": loss, "d_accuracy_real": accuracyReal, "d_accuracy_fake": accuracyFake]
    }
}

/// Trains D for `epochs` passes over positives (label 1) and negatives (label 0), shuffled together each epoch and
/// cut into batches (the last partial batch dropped, as in the reference: 20,000 sequences → 312 batches of 64).
/// Accuracies are measured on the training batches as they are seen (with dropout on).
public func trainDiscriminator(
    _ discriminator: CNNDiscriminator, optimizer: some Optimizer, positives: [[Int32]], negatives: [[Int32]],
    epochs: Int, batchSize: Int, using rng: inout SeededGenerator
) -> DiscriminatorReport {
    let examples = positives.map { ($0, Int32(1)) } + negatives.map { ($0, Int32(0)) }
    var lossSum = 0.0, batches = 0
    var correct = [0, 0], seen = [0, 0]  // by label: fake, real
    for _ in 0..<epochs {
        let order = rng.permutation(examples.count)
        for start in stride(from: 0, through: examples.count - batchSize, by: batchSize) {
            let members = order[start..<(start + batchSize)].map { examples[$0] }
            let sequences = members.map(\.0), labels = members.map(\.1)
            discriminator.zeroGrad()
            let (loss, judgedReal) = discriminator.loss(sequences, labels: labels, backward: true, using: &rng)
            optimizer.update()
            lossSum += Double(loss)
            batches += 1
            for (real, label) in zip(judgedReal, labels) {
                seen[Int(label)] += 1
                if real == (label == 1) { correct[Int(label)] += 1 }
            }
        }
    }
    return DiscriminatorReport(
        loss: lossSum / Double(max(batches, 1)),
        accuracyReal: Double(correct[1]) / Double(max(seen[1], 1)),
        accuracyFake: Double(correct[0]) / Double(max(seen[0], 1)))
}
