import Layers
import Models
import NumericCore
import TestSupport
import XCTest

/// WGAN-GP's gradient penalty on the CNN discriminator: its input gradient and norms against central differences of
/// the critic, its double-backward parameter gradient against central differences of the penalty itself, both in
/// Double on a reference written straight from the definitions, for one and several representations, with dropout.
final class GradientPenaltyTests: XCTestCase {
    private func tinyConfig(representations: Int) -> CNNDiscriminatorConfig {
        var config = CNNDiscriminatorConfig(
            vocabularySize: 6, sequenceLength: 5, embeddingSize: 3,
            widths: [ConvolutionWidth(width: 1, filters: 2), ConvolutionWidth(width: 2, filters: 3),
                     ConvolutionWidth(width: 3, filters: 2)],
            keepProbability: 0.75, l2: 0.2, initStd: 0.5)
        config.representations = representations
        return config
    }

    /// A discriminator, interpolates x̂ = α·onehot(real) + (1 − α)·soft(fake) of three sequences (one padded), and
    /// the seed of the dropout mask. The seeds are chosen so that no max-over-time tie, no ReLU kink and no highway
    /// kink lies within 1e-3 of the point (`testTheFixtureAvoidsTiesAndKinks`).
    private struct Fixture {
        let discriminator: CNNDiscriminator
        let rows: Tensor
        let dropoutSeed: UInt64 = 21
        let training: Bool
        var reference: ReferencePenalty {
            var rng = SeededGenerator(seed: dropoutSeed)
            let views = rows.matrixShape.0 / discriminator.config.sequenceLength * discriminator.config.representations
            let C = discriminator.convolution.featureCount
            let mask = training
                ? discriminator.dropout.forward(Tensor(repeating: 1, shape: [views, C]), training: true, using: &rng).mask
                : nil
            return ReferencePenalty(discriminator, mask: mask.map { $0.scalars.map(Double.init) })
        }
    }

    private func fixture(representations: Int, training: Bool = true) -> Fixture {
        var rng = SeededGenerator(seed: 40 + UInt64(representations))
        let d = CNNDiscriminator(tinyConfig(representations: representations), using: &rng)
        let ids = d.pack([[1, 2, 3, 4, 5], [5, 1, 2], [3, 3, 4, 1, 2]])
        let V = d.config.vocabularySize, T = d.config.sequenceLength
        var rows = softmax(Tensor(randomNormal: [ids.count, V], std: 1.5, using: &rng))
        for b in 0..<(ids.count / T) {
            let alpha = rng.nextFloat()
            for n in (b * T)..<((b + 1) * T) {
                for v in 0..<V { rows[n, v] *= 1 - alpha }
                rows[n, Int(ids[n])] += alpha
            }
        }
        return Fixture(discriminator: d, rows: rows, training: training)
    }

    /// The fixture is away from every kink (so central differences see one smooth piece) and yet every branch is
    /// taken: features pooled at different positions, ReLUs on and off, highway units on and off, dropped units.
    func testTheFixtureAvoidsTiesAndKinks() {
        for representations in [1, 3] {
            let f = fixture(representations: representations)
            let pass = f.reference.evaluate(f.reference.values, rows: f.rows.scalars.map(Double.init))
            XCTAssertGreaterThan(pass.kinkMargin, 1e-3, "R = \(representations): a tie or kink within 1e-3")
            XCTAssertTrue(pass.features.contains { $0 > 0 } && pass.features.contains { $0 == 0 }, "ReLU both ways")
            XCTAssertTrue(pass.transform.contains { $0 > 0 } && pass.transform.contains { $0 < 0 }, "highway both ways")
            XCTAssertGreaterThan(Set(pass.argmax).count, 2, "pooled at several positions")
            XCTAssertTrue(f.reference.mask!.contains(0), "dropout drops some units")
        }
    }

    /// ‖∇_x̂ c_b‖ per sequence: the CNN's (Float) against central differences of the reference critic (Double), and
    /// the reference's analytic input gradient against the same differences.
    func testInputGradientNormsMatchCentralDifferences() throws {
        for representations in [1, 3] {
            let f = fixture(representations: representations)
            let reference = f.reference
            let x = f.rows.scalars.map(Double.init)
            let analytic = reference.evaluate(reference.values, rows: x)
            let (T, V) = (f.discriminator.config.sequenceLength, f.discriminator.config.vocabularySize)
            let B = x.count / (T * V)
            var numerical = [Double](repeating: 0, count: x.count)
            let h = 1e-6
            for i in x.indices {
                var plus = x, minus = x
                plus[i] += h
                minus[i] -= h
                numerical[i] = (reference.evaluate(reference.values, rows: plus).critic
                    - reference.evaluate(reference.values, rows: minus).critic) / (2 * h)
            }
            for i in x.indices {
                XCTAssertEqual(analytic.inputGradient[i], numerical[i], accuracy: 1e-6 + 1e-6 * abs(numerical[i]),
                               "R = \(representations): reference ∂c/∂x̂[\(i)]")
            }
            var rng = SeededGenerator(seed: f.dropoutSeed)
            let penalty = try f.discriminator.gradientPenalty(f.rows, weight: 10, training: true, backward: false, using: &rng)
            XCTAssertEqual(penalty.norms.count, B)
            for b in 0..<B {
                let norm = numerical[(b * T * V)..<((b + 1) * T * V)].reduce(0) { $0 + $1 * $1 }.squareRoot()
                XCTAssertEqual(Double(penalty.norms[b]), norm, accuracy: 1e-5 * norm, "R = \(representations), sequence \(b)")
            }
            XCTAssertEqual(Double(penalty.value), analytic.penalty(weight: 10), accuracy: 1e-5 * analytic.penalty(weight: 10))
            XCTAssertGreaterThan(penalty.value, 0)
        }
    }

    /// The double backward: ∂P/∂θ for every parameter tensor against central differences of the reference penalty
    /// in Double, with one and three representations, dropout on and off.
    func testPenaltyParameterGradientMatchesCentralDifferencesOfThePenalty() throws {
        for (representations, training) in [(1, true), (3, true), (1, false)] {
            let f = fixture(representations: representations, training: training)
            let d = f.discriminator
            d.zeroGrad()
            var rng = SeededGenerator(seed: f.dropoutSeed)
            _ = try d.gradientPenalty(f.rows, weight: 10, training: training, backward: true, using: &rng)
            let reference = f.reference
            let x = f.rows.scalars.map(Double.init)
            let h = 1e-6
            var worst: [(String, Int, Double, Double)] = []
            var checked = 0
            for (k, parameter) in d.parameters.enumerated() {
                let analytic = parameter.grad.scalars
                for i in analytic.indices {
                    var plus = reference.values, minus = reference.values
                    plus[k][i] += h
                    minus[k][i] -= h
                    let numerical = (reference.evaluate(plus, rows: x).penalty(weight: 10)
                        - reference.evaluate(minus, rows: x).penalty(weight: 10)) / (2 * h)
                    let a = Double(analytic[i])
                    if abs(a - numerical) > 1e-5 + 1e-4 * max(abs(a), abs(numerical)) {
                        worst.append((parameter.name, i, a, numerical))
                    }
                    checked += 1
                }
            }
            XCTAssertEqual(checked, d.parameters.reduce(0) { $0 + $1.value.count })
            XCTAssertTrue(worst.isEmpty, "R = \(representations), dropout \(training): \(worst.count) entries off, e.g. "
                          + worst.prefix(8).map { "\($0.0)[\($0.1)]: analytic \($0.2), numerical \($0.3)" }.joined(separator: "; "))
            // Every tensor but the output bias (which the margin's gradient does not see) gets a gradient.
            for parameter in d.parameters where parameter !== d.output.bias {
                XCTAssertGreaterThan(parameter.grad.squaredNorm, 0, parameter.name)
            }
            XCTAssertEqual(d.output.bias!.grad.squaredNorm, 0)
        }
    }

    /// backward: false leaves every gradient alone; backward: true only adds (onto what is there).
    func testThePenaltyAccumulatesAndOnlyWhenAsked() throws {
        let f = fixture(representations: 1)
        let d = f.discriminator
        d.zeroGrad()
        var rng = SeededGenerator(seed: 1)
        let value = try d.gradientPenalty(f.rows, weight: 10, training: false, backward: false, using: &rng)
        XCTAssertTrue(d.parameters.allSatisfy { $0.grad.squaredNorm == 0 })
        _ = try d.gradientPenalty(f.rows, weight: 10, training: false, backward: true, using: &rng)
        let once = d.parameters.map(\.grad)
        let again = try d.gradientPenalty(f.rows, weight: 10, training: false, backward: true, using: &rng)
        XCTAssertEqual(again, value)
        for (parameter, first) in zip(d.parameters, once) {
            XCTAssertEqual(parameter.grad.maxAbsDifference(Tensor(shape: first.shape, scalars: first.scalars.map { 2 * $0 })),
                           0, accuracy: 1e-5, parameter.name)
        }
    }
}

/// The CNN discriminator's critic c = Σ_b Σ_r (l_real − l_fake), its input gradient and WGAN-GP's penalty in Double,
/// straight from the definitions: every convolution at every position, max over time by search, the input gradient
/// by the chain rule written out. Parameter values are passed in (in `CNNDiscriminator.parameters`' order), so
/// central differences can perturb them.
struct ReferencePenalty {
    let config: CNNDiscriminatorConfig
    let widths: [ConvolutionWidth]
    let values: [[Double]]
    /// The dropout mask [B·R, C] (already scaled by 1/keep), or nil.
    let mask: [Double]?

    init(_ d: CNNDiscriminator, mask: [Double]?) {
        config = d.config
        widths = d.convolution.widths
        values = d.parameters.map { $0.value.scalars.map(Double.init) }
        self.mask = mask
    }

    struct Pass {
        var critic = 0.0
        var inputGradient: [Double] = []
        var norms: [Double] = []
        /// ReLU outputs z, transform pre-activations a, and arg-max positions, for every (view, feature).
        var features: [Double] = []
        var transform: [Double] = []
        var argmax: [Int] = []
        /// The smallest distance to a kink: |m|, |a| and the gap between each pooling's best and second-best window.
        var kinkMargin = Double.infinity

        func penalty(weight: Double) -> Double {
            weight * norms.reduce(0) { $0 + ($1 - 1) * ($1 - 1) } / Double(norms.count)
        }
    }

    func evaluate(_ values: [[Double]], rows x: [Double]) -> Pass {
        let (V, T, E, R) = (config.vocabularySize, config.sequenceLength, config.embeddingSize, config.representations)
        let K = widths.count, C = widths.reduce(0) { $0 + $1.filters }
        let B = x.count / (T * V), views = B * R
        let table = values[0]
        let (Wh, bh, Wt, bt, Wo, bo) = (values[1 + 2 * K], values[2 + 2 * K], values[3 + 2 * K], values[4 + 2 * K],
                                        values[5 + 2 * K], values[6 + 2 * K])
        var pass = Pass()
        // e[view, t, j] = Σ_v x[b, t, v] · table[v, r·E + j]
        var e = [Double](repeating: 0, count: views * T * E)
        for b in 0..<B { for r in 0..<R { for t in 0..<T { for j in 0..<E {
            var s = 0.0
            for v in 0..<V { s += x[(b * T + t) * V + v] * table[v * R * E + r * E + j] }
            e[((b * R + r) * T + t) * E + j] = s
        } } } }
        // Convolutions at every position, max over time (first maximum), ReLU.
        var m = [Double](repeating: 0, count: views * C), z = m
        var argmax = [Int](repeating: 0, count: views * C)
        for view in 0..<views {
            var column = 0
            for (k, spec) in widths.enumerated() {
                let (W, bias) = (values[1 + 2 * k], values[2 + 2 * k])
                for f in 0..<spec.filters {
                    var conv: [Double] = []
                    for p in 0...(T - spec.width) {
                        var s = bias[f]
                        for i in 0..<spec.width { for j in 0..<E {
                            s += W[f * spec.width * E + i * E + j] * e[(view * T + p + i) * E + j]
                        } }
                        conv.append(s)
                    }
                    let best = conv.indices.max { conv[$0] < conv[$1] || (conv[$0] == conv[$1] && $0 > $1) }!
                    let second = conv.indices.filter { $0 != best }.map { conv[$0] }.max()
                    if let second { pass.kinkMargin = min(pass.kinkMargin, conv[best] - second) }
                    m[view * C + column + f] = conv[best]
                    argmax[view * C + column + f] = best
                    z[view * C + column + f] = max(conv[best], 0)
                    pass.kinkMargin = min(pass.kinkMargin, abs(conv[best]))
                }
                column += spec.filters
            }
        }
        // Highway, dropout, output; the critic sums every view's margin.
        var a = [Double](repeating: 0, count: views * C), g = a
        for view in 0..<views { for c in 0..<C {
            var sa = bh[c], sg = bt[c]
            for i in 0..<C {
                sa += z[view * C + i] * Wh[i * C + c]
                sg += z[view * C + i] * Wt[i * C + c]
            }
            a[view * C + c] = sa
            g[view * C + c] = sg
            pass.kinkMargin = min(pass.kinkMargin, abs(sa))
        } }
        let hw = a.map { max($0, 0) }, tg = g.map { 1 / (1 + Foundation.exp(-$0)) }
        let M = mask ?? [Double](repeating: 1, count: views * C)
        for view in 0..<views {
            var l0 = bo[0], l1 = bo[1]
            for c in 0..<C {
                let i = view * C + c
                let y = tg[i] * hw[i] + (1 - tg[i]) * z[i]
                l0 += y * M[i] * Wo[c * 2]
                l1 += y * M[i] * Wo[c * 2 + 1]
            }
            pass.critic += l1 - l0
        }
        // The input gradient by the chain rule: ∂c/∂y, through the highway, the pooled windows, the embedding.
        var dz = [Double](repeating: 0, count: views * C)
        for view in 0..<views {
            for c in 0..<C {
                let i = view * C + c
                let dy = (Wo[c * 2 + 1] - Wo[c * 2]) * M[i]
                dz[i] += dy * (1 - tg[i])
                let da = a[i] > 0 ? dy * tg[i] : 0
                let dg = dy * (hw[i] - z[i]) * tg[i] * (1 - tg[i])
                for row in 0..<C {
                    dz[view * C + row] += da * Wh[row * C + c] + dg * Wt[row * C + c]
                }
            }
        }
        var de = [Double](repeating: 0, count: views * T * E)
        for view in 0..<views {
            var column = 0
            for (k, spec) in widths.enumerated() {
                let W = values[1 + 2 * k]
                for f in 0..<spec.filters {
                    let i = view * C + column + f
                    guard m[i] > 0 else { continue }
                    for s in 0..<spec.width { for j in 0..<E {
                        de[(view * T + argmax[i] + s) * E + j] += dz[i] * W[f * spec.width * E + s * E + j]
                    } }
                }
                column += spec.filters
            }
        }
        var u = [Double](repeating: 0, count: x.count)
        for b in 0..<B { for t in 0..<T { for v in 0..<V {
            var s = 0.0
            for r in 0..<R { for j in 0..<E { s += de[((b * R + r) * T + t) * E + j] * table[v * R * E + r * E + j] } }
            u[(b * T + t) * V + v] = s
        } } }
        pass.inputGradient = u
        pass.norms = (0..<B).map { b in u[(b * T * V)..<((b + 1) * T * V)].reduce(0) { $0 + $1 * $1 }.squareRoot() }
        pass.features = z
        pass.transform = a
        pass.argmax = argmax
        return pass
    }
}
