import CKernels
import NumericCore
import XCTest

final class OptimizerTests: XCTestCase {
    /// Adam against the update rule written out in Double, over several steps with L2.
    func testAdamMatchesReferenceRule() {
        let p = Parameter("w", Tensor(shape: [3], scalars: [0.5, -1, 2]))
        let config = Adam.Config(learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1)
        let adam = Adam([p], config: config)
        var w: [Double] = [0.5, -1, 2], m = [0.0, 0, 0], v = [0.0, 0, 0]
        for step in 1...5 {
            // Gradient of Σ w³/3 is w².
            for i in 0..<3 { p.grad.scalars[i] = p.value.scalars[i] * p.value.scalars[i] }
            let g0 = w.map { $0 * $0 }
            adam.update()
            for i in 0..<3 {
                let g = g0[i] + 0.1 * w[i]
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                let mHat = m[i] / (1 - pow(0.9, Double(step))), vHat = v[i] / (1 - pow(0.999, Double(step)))
                w[i] -= 0.01 * mHat / (vHat.squareRoot() + 1e-8)
                XCTAssertEqual(Double(p.value.scalars[i]), w[i], accuracy: 1e-5, "step \(step) entry \(i)")
            }
        }
        XCTAssertEqual(adam.step, 5)
    }

    /// The vectorised, thread-split update equals the scalar Float rule to the bit, for plain Adam, coupled L2 and
    /// AdamW, on parameters large enough to be split over two threads: one large tensor, and the same elements as
    /// several tensors of uneven sizes (the update lays them end to end, so chunks cross parameter boundaries).
    func testAdamKernelEqualsTheScalarRuleBitForBit() {
        let saved = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = saved }
        var rng = SeededGenerator(seed: 11)
        let n = 300_001
        let start = (0..<n).map { _ in rng.nextNormal() }
        for config in [Adam.Config(learningRate: 0.01), Adam.Config(learningRate: 0.01, weightDecay: 0.2),
                       Adam.Config(learningRate: 0.01, weightDecay: 0.2, decoupledWeightDecay: true)] {
            for sizes in [[n], [7, 70_001, 1, 129_992, 100_000]] {
                let ends = sizes.reduce(into: [0]) { $0.append($0.last! + $1) }
                let parameters = sizes.indices.map { k in
                    Parameter("w\(k)", Tensor(shape: [sizes[k]], scalars: Array(start[ends[k]..<ends[k + 1]])))
                }
                let adam = Adam(parameters, config: config)
                var w = start, m = [Float](repeating: 0, count: n), v = m
                for step in 1...3 {
                    for p in parameters {
                        for i in 0..<p.value.count { p.grad.scalars[i] = sin(3 * p.value.scalars[i]) }
                    }
                    let g = parameters.flatMap(\.grad.scalars)
                    adam.update()
                    let c1 = 1 - powf(config.beta1, Float(step)), c2 = 1 - powf(config.beta2, Float(step))
                    let stepSize = config.learningRate / c1
                    for i in 0..<n {
                        var gi = g[i]
                        if config.decoupledWeightDecay {
                            w[i] -= config.learningRate * config.weightDecay * w[i]
                        } else if config.weightDecay != 0 {
                            gi += config.weightDecay * w[i]
                        }
                        m[i] = config.beta1 * m[i] + (1 - config.beta1) * gi
                        v[i] = config.beta2 * v[i] + (1 - config.beta2) * gi * gi
                        w[i] -= stepSize * m[i] / ((v[i] / c2).squareRoot() + config.epsilon)
                    }
                    let updated = parameters.flatMap(\.value.scalars)
                    let mismatches = (0..<n).filter { w[$0].bitPattern != updated[$0].bitPattern }
                    XCTAssertEqual(mismatches.count, 0,
                                   "\(config) \(sizes) step \(step): first at \(mismatches.first ?? -1)")
                }
            }
        }
    }

    func testAdamStateRoundTripContinuesIdentically() throws {
        func makeParameter() -> Parameter { Parameter("w", Tensor(shape: [4], scalars: [1, -2, 3, -4])) }
        func gradient(_ p: Parameter) { for i in 0..<4 { p.grad.scalars[i] = sin(p.value.scalars[i]) } }
        let straight = makeParameter()
        let a = Adam([straight], config: .init(learningRate: 0.1))
        for _ in 0..<6 { gradient(straight); a.update() }

        let first = makeParameter()
        let b = Adam([first], config: .init(learningRate: 0.1))
        for _ in 0..<3 { gradient(first); b.update() }
        let resumed = Parameter("w", first.value)
        let c = Adam([resumed], config: .init(learningRate: 0.1))
        try c.loadState(b.stateTensors)
        for _ in 0..<3 { gradient(resumed); c.update() }
        XCTAssertEqual(resumed.value.scalars, straight.value.scalars)
        XCTAssertEqual(c.step, 6)
        XCTAssertThrowsError(try c.loadState([:]))
    }

    func testSGDWithMomentum() {
        let p = Parameter("w", Tensor(shape: [1], scalars: [1]))
        let sgd = SGD([p], config: .init(learningRate: 0.1, momentum: 0.9))
        p.grad.scalars[0] = 1
        sgd.update()  // b = 1, w = 0.9
        sgd.update()  // b = 1.9, w = 0.71
        XCTAssertEqual(p.value.scalars[0], 0.71, accuracy: 1e-6)
    }

    /// The clip's vectorised Σg² against `Tensor.squaredNorm`, its straightforward twin, for lengths around the
    /// kernel's 8 partial sums.
    func testSumOfSquaresKernelMatchesTheStraightforwardSum() {
        var rng = SeededGenerator(seed: 77)
        for n in [0, 1, 7, 8, 9, 1_001, 160_000] {
            let t = Tensor(randomNormal: [n], using: &rng)
            let fast = t.withUnsafeBufferPointer { tg_sum_squares($0.baseAddress, Int64(n)) }
            XCTAssertEqual(fast, t.squaredNorm, accuracy: 1e-12 * max(t.squaredNorm, 1), "n = \(n)")
        }
    }

    func testGlobalNormClipping() {
        let a = Parameter("a", Tensor(zeros: [2])), b = Parameter("b", Tensor(zeros: [1]))
        a.grad = Tensor(shape: [2], scalars: [3, 0])
        b.grad = Tensor(shape: [1], scalars: [4])
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 1), 5, accuracy: 1e-6)
        XCTAssertEqual(a.grad.scalars[0], 0.6, accuracy: 1e-6)
        XCTAssertEqual(b.grad.scalars[0], 0.8, accuracy: 1e-6)
        // Under the limit: unchanged.
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 5), 1, accuracy: 1e-6)
        XCTAssertEqual(b.grad.scalars[0], 0.8, accuracy: 1e-6)
    }

    // MARK: - Pending gradient products and the fused update

    func testGradientReadsNotedZerosAndPendingProducts() {
        var rng = SeededGenerator(seed: 31)
        let p = Parameter("w", Tensor(randomNormal: [3, 4], using: &rng))
        let (a, b) = (Tensor(randomNormal: [5, 3], using: &rng), Tensor(randomNormal: [5, 4], using: &rng))
        p.grad = Tensor(repeating: 7, shape: [3, 4])
        p.zeroGrad()
        XCTAssertEqual(p.grad, Tensor(zeros: [3, 4]), "zeroGrad reads as zeros")
        p.accumulateGradient(transposing: a, times: b)
        let product = matmul(a, b, transposeA: true)
        XCTAssertLessThan(p.grad.maxAbsDifference(product), 1e-6)
        // A second product adds to the first; a plain += on top of a pending product adds too.
        p.accumulateGradient(transposing: a, times: b)
        p.grad.add(Tensor(repeating: 1, shape: [3, 4]))
        var expected = product
        expected.add(product)
        expected.add(Tensor(repeating: 1, shape: [3, 4]))
        XCTAssertLessThan(p.grad.maxAbsDifference(expected), 1e-5)
        // Setting the gradient drops whatever was pending.
        p.accumulateGradient(transposing: a, times: b)
        p.grad = Tensor(repeating: 2, shape: [3, 4])
        XCTAssertEqual(p.grad, Tensor(repeating: 2, shape: [3, 4]))
    }

    /// Adam from a pending product (computed and applied a block of rows at a time) against Adam from the same
    /// gradient written out in full: the same bits for the values and both moments, over several steps, with and
    /// without another term already in the gradient, with coupled L2, on one and two threads; and `grad` still reads
    /// the product after the update.
    func testFusedAdamFromAPendingProductEqualsTheUnfusedUpdate() throws {
        try XCTSkipUnless(GEMMBackend.current != .openblas, "rows of a product are bit-independent with the AVX-512 kernel")
        let saved = Parallel.threads
        defer { BLAS.setThreads(saved) }
        for threads in [1, 2] {
            BLAS.setThreads(threads)
            var rng = SeededGenerator(seed: UInt64(40 + threads))
            let (N, R, C) = (64, 100, 70)  // 100 rows: six full blocks of 16 and a partial one
            let start = Tensor(randomNormal: [R, C], std: 0.1, using: &rng)
            let fused = Parameter("w", start), plain = Parameter("w", start)
            let config = Adam.Config(learningRate: 0.01, weightDecay: 0.05)
            let fusedAdam = Adam([fused], config: config), plainAdam = Adam([plain], config: config)
            for step in 0..<4 {
                let (a, b) = (Tensor(randomNormal: [N, R], using: &rng), Tensor(randomNormal: [N, C], using: &rng))
                let extra = Tensor(randomNormal: [R, C], std: 0.01, using: &rng)
                for p in [fused, plain] {
                    p.zeroGrad()
                    if step % 2 == 1 { p.grad.add(extra) }  // another term already in the gradient
                    p.accumulateGradient(transposing: a, times: b)
                }
                _ = plain.grad  // written out in full: the unfused update
                fusedAdam.update()
                plainAdam.update()
                XCTAssertEqual(fused.value, plain.value, "values, step \(step), \(threads) threads")
                XCTAssertEqual(fusedAdam.stateTensors, plainAdam.stateTensors, "moments, step \(step), \(threads) threads")
                XCTAssertEqual(fused.grad, plain.grad, "the gradient still reads whole after the update")
            }
            XCTAssertGreaterThan(fused.value.maxAbsDifference(start), 0.01, "the updates moved the values")
        }
    }
}
