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

// MARK: - RelGAN's loss family

/// The unpaired GAN objectives as RelGAN's code writes them (`get_losses`), on one score per sequence, the margin
/// s = l_real − l_fake (RelGAN's D has a single logit; ours has two, and s is its log-odds of "real"):
///
/// | objective  | D loss                                   | G loss                |
/// |------------|------------------------------------------|-----------------------|
/// | `standard` | mean softplus(−s_r) + mean softplus(s_f)  | mean softplus(−s_f)   |
/// | `js`       | as standard                              | −mean softplus(s_f)   |
/// | `kl`       | as standard                              | −mean s_f             |
/// | `hinge`    | mean relu(1 − s_r) + mean relu(1 + s_f)   | −mean s_f             |
/// | `tv`       | mean tanh(s_f) − mean tanh(s_r)           | −mean tanh(s_f)       |
/// | `ls`       | mean (s_r − 1)² + mean s_f²               | mean (s_f − 1)²       |
/// | `wgan`     | mean s_f − mean s_r (D's weights clipped) | −mean s_f             |
/// | `wgan-gp`  | mean s_f − mean s_r + λ·GP                | −mean s_f             |
///
/// GP is WGAN-GP's gradient penalty (Gulrajani et al. 2017) on interpolates of real and generated rows
/// (`WassersteinPenalty`); it needs D's input rows, so it is added by the trainer, not by this loss.
/// (softplus(−s) is sigmoid cross-entropy against "real", softplus(s) against "generated".) `rsgan`, which pairs,
/// is `RelativisticGANLoss`; `GANObjective.makeLoss()` gives each by name.
public struct ScoreGANLoss: GANLoss {
    public let objective: GANObjective

    public init(_ objective: GANObjective) {
        precondition(objective != .rsgan, "ScoreGANLoss: RSGAN pairs examples; use RelativisticGANLoss")
        self.objective = objective
    }

    public var name: String { objective.rawValue }
    public var pairsExamples: Bool { false }

    public func discriminatorLoss(logits: Tensor, labels: [Int32]) -> (loss: Float, gradient: Tensor) {
        let n = logits.matrixShape.0
        precondition(logits.matrixShape == (n, 2) && labels.count == n, "ScoreGANLoss: logits \(logits.shape) for \(labels.count) labels")
        let realCount = labels.filter { $0 == 1 }.count, fakeCount = n - realCount
        var gradient = Tensor(zeros: logits.shape)
        var total = 0.0
        for r in 0..<n {
            let s = Double(logits[r, 1]) - Double(logits[r, 0])
            let real = labels[r] == 1
            let (value, slope) = real ? realTerm(s) : fakeTerm(s)
            let count = Double(max(real ? realCount : fakeCount, 1))
            total += value / count
            gradient[r, 1] = Float(slope / count)
            gradient[r, 0] = Float(-slope / count)
        }
        return (Float(total), gradient)
    }

    public func generatorLoss(fake: Tensor, real: Tensor?) -> (loss: Float, gradient: Tensor) {
        let n = fake.matrixShape.0
        var gradient = Tensor(zeros: fake.shape)
        var total = 0.0
        for r in 0..<n {
            let s = Double(fake[r, 1]) - Double(fake[r, 0])
            let (value, slope) = generatorTerm(s)
            total += value / Double(max(n, 1))
            gradient[r, 1] = Float(slope / Double(max(n, 1)))
            gradient[r, 0] = Float(-slope / Double(max(n, 1)))
        }
        return (Float(total), gradient)
    }

    /// D's term for a real sequence's score and its derivative.
    private func realTerm(_ s: Double) -> (Double, Double) {
        switch objective {
        case .standard, .js, .kl: return (softplus(-s), -sigmoid(-s))
        case .hinge: return (max(1 - s, 0), s < 1 ? -1 : 0)
        case .tv: let t = tanh(s); return (-t, -(1 - t * t))
        case .ls: return ((s - 1) * (s - 1), 2 * (s - 1))
        case .wgan, .wganGP: return (-s, -1)
        case .rsgan: preconditionFailure("unreachable: RSGAN pairs examples")
        }
    }

    /// D's term for a generated sequence's score and its derivative.
    private func fakeTerm(_ s: Double) -> (Double, Double) {
        switch objective {
        case .standard, .js, .kl: return (softplus(s), sigmoid(s))
        case .hinge: return (max(1 + s, 0), s > -1 ? 1 : 0)
        case .tv: let t = tanh(s); return (t, 1 - t * t)
        case .ls: return (s * s, 2 * s)
        case .wgan, .wganGP: return (s, 1)
        case .rsgan: preconditionFailure("unreachable: RSGAN pairs examples")
        }
    }

    /// G's term for a generated sequence's score and its derivative.
    private func generatorTerm(_ s: Double) -> (Double, Double) {
        switch objective {
        case .standard: return (softplus(-s), -sigmoid(-s))
        case .js: return (-softplus(s), -sigmoid(s))
        case .kl, .hinge, .wgan, .wganGP: return (-s, -1)
        case .tv: let t = tanh(s); return (-t, -(1 - t * t))
        case .ls: return ((s - 1) * (s - 1), 2 * (s - 1))
        case .rsgan: preconditionFailure("unreachable: RSGAN pairs examples")
        }
    }

    private func softplus(_ x: Double) -> Double { max(x, 0) + log1p(exp(-abs(x))) }
    private func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }
}

/// The GAN objective an adversarial algorithm trains with: the run config's `gan` section, which SeqGAN and the
/// Gumbel-softmax algorithm read alike.
public struct GANConfig: Codable, Sendable, Equatable {
    /// D's objective (nil: the algorithm's own, SeqGAN's 2-class cross-entropy or the Gumbel-softmax algorithm's
    /// RSGAN, RelGAN's choice).
    public var loss: GANObjective? = nil
    /// WGAN's weight clip c (the `wgan` loss only; Arjovsky et al.'s 0.01).
    public var weightClip: Float = 0.01
    /// WGAN-GP's penalty weight λ (the `wgan-gp` loss only; Gulrajani et al.'s 10).
    public var gpWeight: Float = 10

    public init(loss: GANObjective? = nil) { self.loss = loss }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = GANConfig()
        loss = try c.decodeIfPresent(GANObjective.self, forKey: .loss)
        weightClip = try c.decodeIfPresent(Float.self, forKey: .weightClip) ?? d.weightClip
        gpWeight = try c.decodeIfPresent(Float.self, forKey: .gpWeight) ?? d.gpWeight
    }
}

/// The GAN objectives by the names configs use (`gan.loss`, `--loss`), RelGAN's spelled in lower case.
public enum GANObjective: String, Codable, Sendable, CaseIterable {
    case standard, js, kl, hinge, tv, ls, wgan, rsgan
    case wganGP = "wgan-gp"

    public func makeLoss() -> any GANLoss {
        self == .rsgan ? RelativisticGANLoss() : ScoreGANLoss(self)
    }

    /// WGAN's critic keeps its weights in [−c, c] after every update (Arjovsky et al. 2017: c = 0.01).
    public var clipsDiscriminatorWeights: Bool { self == .wgan }

    /// WGAN-GP adds the gradient penalty on interpolates to D's loss (`WassersteinPenalty`).
    public var penalizesGradient: Bool { self == .wganGP }
}

/// WGAN-GP's penalty term as RelGAN's code builds it (`gradient_penalty`): per sequence b an α_b ~ U(0, 1), the
/// interpolate x̂_b = α_b·onehot(real_b) + (1 − α_b)·soft(fake_b) over all its [T, V] rows, and
/// λ/B · Σ_b (‖∇_{x̂_b} D(x̂_b)‖₂ − 1)² with the norm over the whole [T, V] input of each sequence
/// (`SequenceDiscriminator.gradientPenalty`). λ = 10 is Gulrajani et al.'s (RelGAN reads `reg_param`, which its
/// `run.py` never defines).
public enum WassersteinPenalty {
    /// x̂ [B·T, V] from real token ids [B·T] (packed to D's length T) and generated rows [B·T, V], one α per sequence
    /// drawn from `rng` in sequence order.
    public static func interpolates(real ids: [Int32], fake rows: Tensor, length T: Int,
                                    using rng: inout SeededGenerator) -> Tensor {
        let (N, V) = rows.matrixShape
        precondition(ids.count == N && N % T == 0, "WassersteinPenalty: \(ids.count) real ids for generated rows \(rows.shape)")
        var x = rows
        x.withUnsafeMutableBufferPointer { p in
            for b in 0..<(N / T) {
                let alpha = rng.nextFloat()
                for n in (b * T)..<((b + 1) * T) {
                    for j in 0..<V { p[n * V + j] *= 1 - alpha }
                    p[n * V + Int(ids[n])] += alpha
                }
            }
        }
        return x
    }
}
