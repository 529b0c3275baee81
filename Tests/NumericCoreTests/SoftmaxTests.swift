import Foundation
import NumericCore
import TestSupport
import XCTest

final class SoftmaxTests: XCTestCase {
    private var rng = SeededGenerator(seed: 2)

    func testSoftmaxIsStableForLargeLogits() {
        let x = Tensor(shape: [2, 3], scalars: [1000, 1001, 1002, -1e30, 0, -1e30])
        let y = softmax(x)
        XCTAssertFalse(y.scalars.contains { !$0.isFinite })
        XCTAssertEqual(y[0, 2], 0.66524096, accuracy: 1e-6)
        XCTAssertEqual(y[1, 1], 1, accuracy: 1e-7)
        let ly = logSoftmax(x)
        XCTAssertEqual(ly[0, 0], -2.40760596, accuracy: 1e-4)  // Float spacing at 1000 is 6e-5
        XCTAssertEqual(ly[1, 1], 0, accuracy: 1e-7)
    }

    /// The scaled row gradient (the Gumbel-softmax relaxation's backward) against the same formula in Double on rows
    /// of 5,003 columns (a tail past the eight lanes) at s = 10, and against central differences of ⟨d, softmax(s·x)⟩
    /// on a short row. A wrong scale or a missing ⟨d, y⟩ term fails both.
    func testTheScaledSoftmaxGradientMatchesDoubleAndCentralDifferences() {
        let V = 5003, s: Float = 10
        let x = Tensor(randomNormal: [V], std: 0.5, using: &rng), d = Tensor(randomNormal: [V], using: &rng)
        var y = [Float](repeating: 0, count: V), dx = y
        let scaled = x.scalars.map { s * $0 }
        Softmax.forward(scaled, &y, rows: 1, columns: V)
        Softmax.scaledBackward(y, d.scalars, scale: s, into: &dx, columns: V)
        let inner = (0..<V).reduce(0.0) { $0 + Double(d.scalars[$1]) * Double(y[$1]) }
        for v in 0..<V {
            let expected = Double(s) * Double(y[v]) * (Double(d.scalars[v]) - inner)
            XCTAssertEqual(Double(dx[v]), expected, accuracy: 1e-6 * max(1, abs(expected)))
        }
        // Central differences in Double of L(x) = Σ d_v · softmax(s·x)_v.
        let n = 6
        let xs = (0..<n).map { Double(x.scalars[$0]) }, ds = (0..<n).map { Double(d.scalars[$0]) }
        func loss(_ x: [Double]) -> Double {
            let z = x.map { Double(s) * $0 }, top = z.max()!
            let e = z.map { Foundation.exp($0 - top) }, sum = e.reduce(0, +)
            return (0..<n).reduce(0) { $0 + ds[$1] * e[$1] / sum }
        }
        var short = [Float](repeating: 0, count: n), shortGradient = short
        Softmax.forward(xs.map { Float(s) * Float($0) }, &short, rows: 1, columns: n)
        Softmax.scaledBackward(short, ds.map(Float.init), scale: s, into: &shortGradient, columns: n)
        for i in 0..<n {
            var up = xs, down = xs
            up[i] += 1e-5
            down[i] -= 1e-5
            XCTAssertEqual(Double(shortGradient[i]), (loss(up) - loss(down)) / 2e-5, accuracy: 1e-4)
        }
    }

    func testLogSoftmaxEqualsLogOfSoftmax() {
        let x = Tensor(randomNormal: [4, 9], std: 3, using: &rng)
        let a = logSoftmax(x), b = softmax(x)
        for i in 0..<x.count { XCTAssertEqual(a.scalars[i], log(b.scalars[i]), accuracy: 1e-5) }
        for r in 0..<4 { XCTAssertEqual(b.scalars[(r * 9)..<(r * 9 + 9)].reduce(0, +), 1, accuracy: 1e-6) }
    }

    func testSoftmaxGradient() {
        let x = Parameter("x", Tensor(randomNormal: [3, 5], using: &rng))
        let w = Tensor(randomNormal: [3, 5], using: &rng)
        let y = softmax(x.value)
        var dx = Tensor(zeros: [3, 5])
        y.withUnsafeBufferPointer { py in w.withUnsafeBufferPointer { pw in dx.withUnsafeMutableBufferPointer { pd in
            Softmax.backward(py.baseAddress!, pw.baseAddress!, pd.baseAddress!, rows: 3, columns: 5)
        } } }
        assertGradientsMatch([(x, dx)]) { weightedSum(softmax(x.value), w) }
    }

    func testLogSoftmaxGradient() {
        let x = Parameter("x", Tensor(randomNormal: [3, 5], using: &rng))
        let w = Tensor(randomNormal: [3, 5], using: &rng)
        let y = logSoftmax(x.value)
        var dx = Tensor(zeros: [3, 5])
        y.withUnsafeBufferPointer { py in w.withUnsafeBufferPointer { pw in dx.withUnsafeMutableBufferPointer { pd in
            Softmax.logBackward(py.baseAddress!, pw.baseAddress!, pd.baseAddress!, rows: 3, columns: 5)
        } } }
        assertGradientsMatch([(x, dx)]) { weightedSum(logSoftmax(x.value), w) }
    }

    func testCrossEntropyValueAndGradientWithMask() {
        let logits = Parameter("logits", Tensor(randomNormal: [5, 7], std: 2, using: &rng))
        let targets: [Int32] = [0, 6, 3, 3, 1]
        let weights: [Float] = [1, 1, 0, 1, 0.5]  // row 2 is padding
        let (loss, grad) = softmaxCrossEntropyWithGradient(logits: logits.value, targets: targets, weights: weights)
        // Against the definition, in Double.
        var expected = 0.0
        let lp = logSoftmax(logits.value)
        for r in 0..<5 { expected -= Double(weights[r]) * Double(lp[r, Int(targets[r])]) }
        expected /= 3.5
        XCTAssertEqual(Double(loss), expected, accuracy: 1e-5)
        XCTAssertEqual(Array(grad.scalars[14..<21]), [Float](repeating: 0, count: 7))
        assertGradientsMatch([(logits, grad)]) {
            Double(softmaxCrossEntropy(logits: logits.value, targets: targets, weights: weights))
        }
        // The loss without a gradient buffer is the same number.
        XCTAssertEqual(softmaxCrossEntropy(logits: logits.value, targets: targets, weights: weights), loss)
    }

    /// The parallel path gives exactly the single-threaded numbers.
    func testCrossEntropyIsIdenticalOnOneAndTwoThreads() {
        let logits = Tensor(randomNormal: [300, 257], std: 3, using: &rng)
        let targets = (0..<300).map { _ in Int32(rng.nextInt(below: 257)) }
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 1
        let one = softmaxCrossEntropyWithGradient(logits: logits, targets: targets)
        Parallel.threads = 2
        let two = softmaxCrossEntropyWithGradient(logits: logits, targets: targets)
        XCTAssertEqual(one.loss, two.loss)
        XCTAssertEqual(one.gradient, two.gradient)
    }

    /// The in-place variant gives the same loss and gradient to the bit, also for logits far below the row maximum
    /// (where the exp kernel takes its exact edge path) and masked rows.
    func testCrossEntropyInPlaceEqualsTheSeparateGradient() {
        var rng = SeededGenerator(seed: 21)
        var logits = Tensor(randomNormal: [130, 300], std: 3, using: &rng)
        for r in stride(from: 0, to: 130, by: 7) { logits.scalars[r * 300 + 11] = -200 }  // e^(−200−max) underflows
        logits.scalars[5 * 300] = 150
        let targets = (0..<130).map { Int32(($0 * 37) % 300) }
        let weights = (0..<130).map { $0 % 9 == 0 ? Float(0) : Float(1 + $0 % 3) }
        let (loss, gradient) = softmaxCrossEntropyWithGradient(logits: logits, targets: targets, weights: weights)
        var inPlace = logits
        let inPlaceLoss = softmaxCrossEntropyGradientInPlace(&inPlace, targets: targets, weights: weights)
        XCTAssertEqual(inPlaceLoss.bitPattern, loss.bitPattern)
        XCTAssertEqual(inPlace.scalars.map(\.bitPattern), gradient.scalars.map(\.bitPattern))
    }

    func testCrossEntropyWithNormalizer() {
        let logits = Tensor(zeros: [4, 10])
        let loss = softmaxCrossEntropy(logits: logits, targets: [1, 2, 3, 4], normalizer: 2)
        XCTAssertEqual(loss, 2 * log(10), accuracy: 1e-5)  // four rows of log 10, divided by 2
    }
}

final class ActivationTests: XCTestCase {
    private var rng = SeededGenerator(seed: 3)

    private typealias Forward = (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void

    /// Checks one activation's backward (given the tensor its backward reads: the output, or the input for GELU).
    private func check(_ forward: @escaping Forward, backwardReadsInput: Bool = false,
                       _ backward: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void,
                       file: StaticString = #filePath, line: UInt = #line) {
        // Keep inputs away from 0, where ReLU has its kink.
        var values = Tensor(randomNormal: [40], std: 2, using: &rng)
        for i in 0..<values.count where abs(values.scalars[i]) < 0.05 { values.scalars[i] = 0.3 }
        let x = Parameter("x", values)
        let w = Tensor(randomNormal: [40], using: &rng)
        func apply(_ t: Tensor) -> Tensor {
            var y = Tensor(zeros: t.shape)
            t.withUnsafeBufferPointer { pt in y.withUnsafeMutableBufferPointer { py in forward(pt.baseAddress!, py.baseAddress!, t.count) } }
            return y
        }
        let saved = backwardReadsInput ? x.value : apply(x.value)
        var dx = Tensor(zeros: [40])
        saved.withUnsafeBufferPointer { ps in w.withUnsafeBufferPointer { pw in dx.withUnsafeMutableBufferPointer { pd in
            backward(ps.baseAddress!, pw.baseAddress!, pd.baseAddress!, 40)
        } } }
        assertGradientsMatch([(x, dx)], file: file, line: line) { weightedSum(apply(x.value), w) }
    }

    func testSigmoid() { check(Activation.sigmoidForward) { Activation.sigmoidBackward(y: $0, dy: $1, dx: $2, count: $3) } }
    func testTanh() { check(Activation.tanhForward) { Activation.tanhBackward(y: $0, dy: $1, dx: $2, count: $3) } }
    func testReLU() { check(Activation.reluForward) { Activation.reluBackward(y: $0, dy: $1, dx: $2, count: $3) } }
    func testGELU() {
        check(Activation.geluForward, backwardReadsInput: true) { Activation.geluBackward(x: $0, dy: $1, dx: $2, count: $3) }
    }

    func testGELUKnownValues() {
        // GPT-2's tanh approximation at a few points.
        let x: [Float] = [-3, -1, 0, 0.5, 2]
        var y = [Float](repeating: 0, count: 5)
        Activation.geluForward(x, &y, count: 5)
        let expected: [Float] = [-0.00363752, -0.15880801, 0, 0.34571401, 1.95459769]
        for i in 0..<5 { XCTAssertEqual(y[i], expected[i], accuracy: 1e-6) }
    }
}

/// The checker itself must reject a wrong gradient, or every gradient test above could pass vacuously.
final class GradientCheckerTests: XCTestCase {
    func testCheckerRejectsAWrongGradient() {
        var rng = SeededGenerator(seed: 4)
        let x = Parameter("x", Tensor(randomNormal: [10], using: &rng))
        let w = Tensor(randomNormal: [10], using: &rng)
        // d/dx Σ w·x² = 2wx; report 2.2wx instead.
        var wrong = x.value
        for i in 0..<10 { wrong.scalars[i] = 2.2 * w.scalars[i] * x.value.scalars[i] }
        var right = x.value
        for i in 0..<10 { right.scalars[i] = 2 * w.scalars[i] * x.value.scalars[i] }
        let loss = { (0..<10).reduce(0.0) { $0 + Double(w.scalars[$1]) * Double(x.value.scalars[$1] * x.value.scalars[$1]) } }
        XCTAssertTrue(gradientMismatches([(x, right)], loss: loss).isEmpty)
        XCTAssertGreaterThan(gradientMismatches([(x, wrong)], loss: loss).count, 5)
    }
}
