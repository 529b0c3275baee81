import Foundation
import Models
import NumericCore

// The GAN objectives: the discriminator's loss and the generator's, as functions of D's logits on real and generated
// sequences, each with its gradient with respect to those logits. Every discriminator gives two logits per sequence,
// (fake, real); losses that need one score per sequence use the margin m = l_real − l_fake (the log-odds of "real").
//
// A loss that compares a real sequence with a generated one (relativistic losses) asks for paired batches: D's
// training batches then hold n real rows followed by n generated rows, real i paired with generated i.

public protocol GANLoss: Sendable {
    /// The name configs and the run store use.
    var name: String { get }
    /// Whether batches pair each real sequence with a generated one (rows: n real, then n generated).
    var pairsExamples: Bool { get }
    /// D's loss on a batch's logits [B, 2] with labels (1 real, 0 generated), and d(loss)/d(logits).
    func discriminatorLoss(logits: Tensor, labels: [Int32]) -> (loss: Float, gradient: Tensor)
    /// G's loss on D's logits for generated sequences [n, 2] (and, when the loss pairs, for n real ones), and
    /// d(loss)/d(fake logits).
    func generatorLoss(fake: Tensor, real: Tensor?) -> (loss: Float, gradient: Tensor)
}

/// SeqGAN's: the mean 2-class softmax cross-entropy of D's logits against the labels; the generator's side is the
/// non-saturating −log D(G(z)). (SeqGAN's generator itself learns from rewards, not from this loss.)
public struct CrossEntropyGANLoss: GANLoss {
    public init() {}
    public var name: String { "cross_entropy" }
    public var pairsExamples: Bool { false }

    public func discriminatorLoss(logits: Tensor, labels: [Int32]) -> (loss: Float, gradient: Tensor) {
        softmaxCrossEntropyWithGradient(logits: logits, targets: labels)
    }

    public func generatorLoss(fake: Tensor, real: Tensor?) -> (loss: Float, gradient: Tensor) {
        softmaxCrossEntropyWithGradient(logits: fake, targets: [Int32](repeating: 1, count: fake.matrixShape.0))
    }
}

/// The relativistic standard GAN loss (RSGAN; Jolicoeur-Martineau 2018, RelGAN's choice), on paired sequences:
///     L_D = mean_i softplus(−(m(real_i) − m(fake_i))),   L_G = mean_i softplus(−(m(fake_i) − m(real_i))).
public struct RelativisticGANLoss: GANLoss {
    public init() {}
    public var name: String { "rsgan" }
    public var pairsExamples: Bool { true }

    public func discriminatorLoss(logits: Tensor, labels: [Int32]) -> (loss: Float, gradient: Tensor) {
        let n = logits.matrixShape.0 / 2
        precondition(logits.matrixShape == (2 * n, 2) && labels.count == 2 * n
                     && labels.prefix(n).allSatisfy { $0 == 1 } && labels.suffix(n).allSatisfy { $0 == 0 },
                     "RelativisticGANLoss: D's batch must be n real rows, then n generated rows")
        var gradient = Tensor(zeros: logits.shape)
        let loss = Self.pairedLoss(logits, first: 0, second: n, count: n, gradient: &gradient)
        return (loss, gradient)
    }

    public func generatorLoss(fake: Tensor, real: Tensor?) -> (loss: Float, gradient: Tensor) {
        guard let real, real.shape == fake.shape else {
            preconditionFailure("RelativisticGANLoss: the generator's loss needs as many real logits as generated ones")
        }
        let n = fake.matrixShape.0
        var both = Tensor(zeros: [2 * n, 2])
        for r in 0..<n {
            for c in 0..<2 {
                both[r, c] = fake[r, c]
                both[n + r, c] = real[r, c]
            }
        }
        var gradient = Tensor(zeros: both.shape)
        let loss = Self.pairedLoss(both, first: 0, second: n, count: n, gradient: &gradient)
        var fakeGradient = Tensor(zeros: fake.shape)
        for r in 0..<n { for c in 0..<2 { fakeGradient[r, c] = gradient[r, c] } }
        return (loss, fakeGradient)
    }

    /// mean_i softplus(−(m(a_i) − m(b_i))) over rows a = first + i, b = second + i, and its gradient. In Double: the
    /// softplus of a large margin must not round away.
    private static func pairedLoss(_ logits: Tensor, first: Int, second: Int, count n: Int,
                                   gradient: inout Tensor) -> Float {
        var total = 0.0
        for i in 0..<n {
            let (a, b) = (first + i, second + i)
            let z = (Double(logits[a, 1]) - Double(logits[a, 0])) - (Double(logits[b, 1]) - Double(logits[b, 0]))
            total += softplus(-z)
            // d softplus(−z)/dz = −σ(−z); z rises with a's margin and falls with b's.
            let dz = -sigmoid(-z) / Double(n)
            gradient[a, 1] += Float(dz)
            gradient[a, 0] -= Float(dz)
            gradient[b, 1] -= Float(dz)
            gradient[b, 0] += Float(dz)
        }
        return Float(total / Double(max(n, 1)))
    }

    private static func softplus(_ x: Double) -> Double { max(x, 0) + log1p(exp(-abs(x))) }
    private static func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }
}
