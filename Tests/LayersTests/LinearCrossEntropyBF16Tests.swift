@testable import Layers
import NumericCore
import TestSupport
import XCTest

// The fused output layer + softmax cross-entropy with bf16 products (`softmaxCrossEntropy(precision: .bf16)`, the
// generators' `precision`): against the straightforward bf16 steps, against fp32 within stated bounds, and against
// itself on one to three threads, on every bf16 kernel this CPU has.

final class LinearCrossEntropyBF16Tests: XCTestCase {
    private var rng = SeededGenerator(seed: 5_000_16)

    override func setUpWithError() throws {
        guard BF16Matmul.isAvailable else { throw XCTSkip("this CPU has no AVX512_BF16 (\(CPUFeatures.current))") }
        _ = BF16Matmul.environmentChoice  // the process's choice first, so no test makes it later
    }

    override func tearDown() { BF16Matmul.select(.vdpbf16ps) }

    private func problem(rows N: Int, inputs I: Int, classes V: Int)
        -> (layer: Linear, x: Tensor, targets: [Int32], weights: [Float]) {
        crossEntropyProblem(rows: N, inputs: I, classes: V, using: &rng)
    }

    private func bits(_ t: Tensor) -> [UInt32] { t.scalars.map(\.bitPattern) }

    /// Loss, dx, dW and db of the fused pass, onto gradients that start at zero.
    private func fused(_ layer: Linear, _ x: Tensor, _ targets: [Int32], _ weights: [Float], _ precision: Precision)
        -> (loss: Float, dx: Tensor, dW: Tensor, db: Tensor) {
        layer.zeroGrad()
        let (loss, dx) = layer.softmaxCrossEntropy(x, targets: targets, weights: weights, normalizer: 50, backward: true,
                                                   precision: precision)
        return (loss, dx!, layer.weight.grad, layer.bias!.grad)
    }

    func testMatchesTheStraightforwardBF16Steps() {
        let (V, I) = (1_000, 16)
        for kernel in BF16Matmul.availableKernels {
            BF16Matmul.select(kernel)
            // 1 and 31 rows: an odd last pair in the logit gradients' packing; 1280 rows: 20 blocks in 4 runs.
            for N in [1, 31, 200, 1_280] {
                let (layer, x, targets, weights) = problem(rows: N, inputs: I, classes: V)
                layer.zeroGrad()
                var logits = layer.forward(x, precision: .bf16)
                let expectedLoss = softmaxCrossEntropyGradientInPlace(&logits, targets: targets, weights: weights, normalizer: 50)
                let expectedDx = layer.backward(logits, input: x, precision: .bf16)
                let (expectedDW, expectedDb) = (layer.weight.grad, layer.bias!.grad)
                let got = fused(layer, x, targets, weights, .bf16)
                let label = "\(kernel.rawValue), N = \(N)"
                XCTAssertEqual(got.loss, expectedLoss, accuracy: 1e-5 * abs(expectedLoss), label)
                // The gradient rows are the fp32 fused path's (a few ulps from the straightforward rows), so dx and
                // dW agree to bf16's rounding of an operand here and there, not to the bit.
                XCTAssertLessThan(got.dx.maxAbsDifference(expectedDx), 1e-5 * max(1, expectedDx.scalars.map(abs).max()!), "dx, \(label)")
                XCTAssertLessThan(got.dW.maxAbsDifference(expectedDW), 1e-5 * max(1, expectedDW.scalars.map(abs).max()!), "dW, \(label)")
                XCTAssertLessThan(got.db.maxAbsDifference(expectedDb), 1e-6, "db, \(label)")
                XCTAssertGreaterThan(expectedDW.squaredNorm, 0)
                // Accumulating: onto a gradient that holds something, dW adds.
                layer.zeroGrad()
                layer.weight.grad.fill(0.25)
                _ = layer.softmaxCrossEntropy(x, targets: targets, weights: weights, normalizer: 50, backward: true,
                                              precision: .bf16)
                var added = layer.weight.grad
                added.add(Tensor(repeating: 0.25, shape: added.shape), scaledBy: -1)
                XCTAssertLessThan(added.maxAbsDifference(got.dW), 1e-5 * max(1, got.dW.scalars.map(abs).max()!), "dW accumulates, \(label)")
            }
        }
    }

    /// At the generators' sizes (1280 rows, width 64, 5000 words) bf16 is within these bounds of fp32, and not equal
    /// to it. Measured on an Intel Xeon model 167, both kernels: the loss within 1.7e-7 of fp32's (relative), dx and
    /// dW within 5.9e-3 and 7.9e-3 of their largest element.
    func testIsCloseToFP32AndNotEqual() {
        let (layer, x, targets, weights) = problem(rows: 1_280, inputs: 64, classes: 5_000)
        let reference = fused(layer, x, targets, weights, .fp32)
        for kernel in BF16Matmul.availableKernels {
            BF16Matmul.select(kernel)
            let got = fused(layer, x, targets, weights, .bf16)
            let label = kernel.rawValue
            XCTAssertEqual(got.loss, reference.loss, accuracy: 1e-3 * reference.loss, label)
            XCTAssertLessThan(got.dx.maxAbsDifference(reference.dx), 2e-2 * reference.dx.scalars.map(abs).max()!, "dx, \(label)")
            XCTAssertLessThan(got.dW.maxAbsDifference(reference.dW), 2e-2 * reference.dW.scalars.map(abs).max()!, "dW, \(label)")
            XCTAssertNotEqual(bits(got.dW), bits(reference.dW), "bf16 products are in use, \(label)")
            XCTAssertNotEqual(got.loss, reference.loss, "bf16 logits are in use, \(label)")
        }
    }

    func testThreadCountChangesNoBit() {
        let (layer, x, targets, weights) = problem(rows: 1_280, inputs: 32, classes: 5_000)
        let saved = Parallel.threads
        defer { BLAS.setThreads(saved) }
        for kernel in BF16Matmul.availableKernels {
            BF16Matmul.select(kernel)
            var results: [(Float, [UInt32], [UInt32], [UInt32])] = []
            for threads in [1, 2, 3] {
                BLAS.setThreads(threads)
                let got = fused(layer, x, targets, weights, .bf16)
                results.append((got.loss, bits(got.dx), bits(got.dW), bits(got.db)))
            }
            for other in results.dropFirst() {
                XCTAssertEqual(other.0.bitPattern, results[0].0.bitPattern, "loss, \(kernel.rawValue)")
                XCTAssertEqual(other.1, results[0].1, "dx, \(kernel.rawValue)")
                XCTAssertEqual(other.2, results[0].2, "dW, \(kernel.rawValue)")
                XCTAssertEqual(other.3, results[0].3, "db, \(kernel.rawValue)")
            }
        }
    }

    /// A block of rows projected with W's packing (sampling's path) is, row by row, what the whole bf16 forward
    /// pass gives.
    func testBlockForwardIsTheWholeForward() {
        let (layer, x, _, _) = problem(rows: 45, inputs: 24, classes: 300)
        for kernel in BF16Matmul.availableKernels {
            BF16Matmul.select(kernel)
            let whole = layer.forward(x, precision: .bf16)
            var block = [Float](repeating: .nan, count: 13 * 300)
            x.withUnsafeBufferPointer { px in
                block.withUnsafeMutableBufferPointer { pb in
                    layer.forward(rows: 13, px.baseAddress! + 20 * 24, into: pb.baseAddress!, packed: layer.bf16Packing(.bf16))
                }
            }
            XCTAssertEqual(block.map(\.bitPattern), Array(whole.scalars[(20 * 300)..<(33 * 300)]).map(\.bitPattern), kernel.rawValue)
            XCTAssertNil(layer.bf16Packing(.fp32))
        }
    }
}
