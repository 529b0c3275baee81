@testable import Layers
import NumericCore
import TestSupport
import XCTest

// The fused output layer + softmax cross-entropy (`Linear.softmaxCrossEntropy`) against its gradient by central
// differences, against the straightforward three-step version, and against itself on one and two threads.

final class LinearCrossEntropyTests: XCTestCase {
    private var rng = SeededGenerator(seed: 5_000_32)

    private func problem(rows N: Int, inputs I: Int, classes V: Int)
        -> (layer: Linear, x: Tensor, targets: [Int32], weights: [Float]) {
        crossEntropyProblem(rows: N, inputs: I, classes: V, using: &rng)
    }

    func testGradientsMatchCentralDifferences() {
        // 70 rows: three blocks of 32 (the last partial), so two runs and the partial-sum path are checked.
        let (layer, x0, targets, weights) = problem(rows: 70, inputs: 4, classes: 9)
        let x = Parameter("x", x0)
        layer.zeroGrad()
        let (_, dx) = layer.softmaxCrossEntropy(x.value, targets: targets, weights: weights, normalizer: 40, backward: true)
        assertGradientsMatch([(x, dx!), (layer.weight, layer.weight.grad), (layer.bias!, layer.bias!.grad)]) {
            Double(layer.softmaxCrossEntropy(x.value, targets: targets, weights: weights, normalizer: 40, backward: false).loss)
        }
    }

    func testMatchesTheStraightforwardSteps() {
        let (V, I) = (1_000, 16)
        for N in [1, 31, 200, 1_280] {
            let (layer, x, targets, weights) = problem(rows: N, inputs: I, classes: V)
            // Straightforward: all logits, the loss's gradient in place, then the layer's backward pass.
            layer.zeroGrad()
            var logits = layer.forward(x)
            let expectedLoss = softmaxCrossEntropyGradientInPlace(&logits, targets: targets, weights: weights, normalizer: 50)
            let expectedDx = layer.backward(logits, input: x)
            let (expectedDW, expectedDb) = (layer.weight.grad, layer.bias!.grad)
            // Fused, accumulating onto gradients that already hold something.
            layer.zeroGrad()
            layer.weight.grad.fill(0.25)
            let (loss, dx) = layer.softmaxCrossEntropy(x, targets: targets, weights: weights, normalizer: 50, backward: true)
            let forwardOnly = layer.softmaxCrossEntropy(x, targets: targets, weights: weights, normalizer: 50, backward: false)
            XCTAssertEqual(loss, expectedLoss, accuracy: 1e-5 * abs(expectedLoss), "N = \(N)")
            XCTAssertEqual(forwardOnly.loss, loss, "N = \(N): the loss does not depend on backward")
            XCTAssertNil(forwardOnly.dx)
            XCTAssertLessThan(dx!.maxAbsDifference(expectedDx), 1e-6, "dx, N = \(N)")
            var dW = layer.weight.grad
            dW.add(Tensor(repeating: 0.25, shape: dW.shape), scaledBy: -1)
            XCTAssertLessThan(dW.maxAbsDifference(expectedDW), 1e-6, "dW, N = \(N)")
            XCTAssertLessThan(layer.bias!.grad.maxAbsDifference(expectedDb), 1e-6, "db, N = \(N)")
            XCTAssertGreaterThan(expectedDW.squaredNorm, 0)
        }
    }

    func testUnweightedLossIsTheMeanCrossEntropy() {
        let (layer, x, targets, _) = problem(rows: 45, inputs: 6, classes: 11)
        let expected = softmaxCrossEntropy(logits: layer.forward(x), targets: targets)
        let fused = layer.softmaxCrossEntropy(x, targets: targets, backward: false).loss
        XCTAssertEqual(fused, expected, accuracy: 1e-5 * expected)
    }

    func testThreadCountChangesNoBit() throws {
        try XCTSkipUnless(GEMMBackend.current != .openblas, "bit-identity across thread counts holds for the AVX-512 kernel and MKL's fixed blocks")
        let (layer, x, targets, weights) = problem(rows: 1_280, inputs: 32, classes: 5_000)
        let saved = Parallel.threads
        defer { BLAS.setThreads(saved) }
        var results: [(Float, Tensor, Tensor, Tensor)] = []
        for threads in [1, 2, 3] {
            BLAS.setThreads(threads)
            layer.zeroGrad()
            let (loss, dx) = layer.softmaxCrossEntropy(x, targets: targets, weights: weights, backward: true)
            results.append((loss, dx!, layer.weight.grad, layer.bias!.grad))
        }
        for other in results.dropFirst() {
            XCTAssertEqual(other.0, results[0].0)
            XCTAssertEqual(other.1, results[0].1)
            XCTAssertEqual(other.2, results[0].2)
            XCTAssertEqual(other.3, results[0].3)
        }
    }
}

/// A layer, inputs, targets and weights (some 0) with more rows than fit one block and one run (shared with
/// `LinearCrossEntropyBF16Tests`).
func crossEntropyProblem(rows N: Int, inputs I: Int, classes V: Int, using rng: inout SeededGenerator)
    -> (layer: Linear, x: Tensor, targets: [Int32], weights: [Float]) {
    let layer = Linear("out", inputSize: I, outputSize: V, weightInit: .normal(std: 0.5), biasInit: .normal(std: 0.5),
                       using: &rng)
    let x = Tensor(randomNormal: [N, I], using: &rng)
    let targets = (0..<N).map { _ in Int32(rng.nextInt(below: V)) }
    let weights = (0..<N).map { r -> Float in r % 7 == 3 ? 0 : 0.5 + Float(r % 5) * 0.25 }
    return (layer, x, targets, weights)
}
