import Foundation
import NumericCore
import XCTest

/// The vectorised exp against libm's expf (the naive reference), over its whole range.
final class VectorMathTests: XCTestCase {
    func testExpRelativeErrorOverTheWholeRange() {
        var worst: Double = 0, at: Float = 0
        var x: Float = -103
        var inputs: [Float] = []
        while x < 88.7 {
            inputs.append(x)
            x += 0.000_731  // not a multiple of ln2 or any power of two
        }
        var outputs = [Float](repeating: 0, count: inputs.count)
        Vector.exp(inputs, &outputs, count: inputs.count)
        for (v, y) in zip(inputs, outputs) {
            let exact = Foundation.exp(Double(v))
            // Relative error where the result is normal; subnormal results are checked for absolute error.
            let error = exact < Double(Float.leastNormalMagnitude) ? abs(Double(y) - exact) / Double(Float.leastNormalMagnitude)
                                                                   : abs(Double(y) - exact) / exact
            if error > worst { (worst, at) = (error, v) }
        }
        XCTAssertLessThan(worst, 3e-7, "worst relative error \(worst) at x = \(at)")
    }

    func testExpSpecialValues() {
        let x: [Float] = [0, -.infinity, .infinity, 89, 100, -104, -200, .nan, 1, -1]
        var y = [Float](repeating: 0, count: x.count)
        Vector.exp(x, &y, count: x.count)
        XCTAssertEqual(y[0], 1)
        XCTAssertEqual(y[1], 0)
        XCTAssertEqual(y[2], .infinity)
        XCTAssertEqual(y[3], .infinity)
        XCTAssertEqual(y[4], .infinity)
        XCTAssertEqual(y[5], 0)
        XCTAssertEqual(y[6], 0)
        XCTAssertTrue(y[7].isNaN)
        XCTAssertEqual(y[8], Float(M_E), accuracy: 3e-7)
        XCTAssertEqual(y[9], Float(1 / M_E), accuracy: 1e-7)
    }

    func testSigmoidAndTanhAgainstLibm() {
        let n = 1003  // not a multiple of 8, so the tail path runs
        let x = (0..<n).map { Float($0 - n / 2) * 0.047 }
        var s = [Float](repeating: 0, count: n), t = [Float](repeating: 0, count: n)
        Vector.sigmoid(x, &s, count: n)
        Vector.tanh(x, &t, count: n)
        for i in 0..<n {
            XCTAssertEqual(Double(s[i]), 1 / (1 + Foundation.exp(-Double(x[i]))), accuracy: 2e-7, "sigmoid(\(x[i]))")
            XCTAssertEqual(Double(t[i]), Foundation.tanh(Double(x[i])), accuracy: 3e-7, "tanh(\(x[i]))")
        }
        var extremes: [Float] = [-100, 100, -1e30, 1e30]
        Vector.tanh(extremes, &extremes, count: 4)
        XCTAssertEqual(extremes, [-1, 1, -1, 1])
    }

    func testExpSumAndMaximum() {
        let x: [Float] = (0..<21).map { Float($0) * 0.3 - 2 }
        var y = [Float](repeating: 0, count: 21)
        let s = Vector.expSum(x, &y, count: 21, shift: 1)
        let exact = x.reduce(0.0) { $0 + Foundation.exp(Double($1) - 1) }
        XCTAssertEqual(Double(s), exact, accuracy: exact * 1e-6)
        XCTAssertEqual(Vector.maximum(x, count: 21), x.max()!)
        XCTAssertEqual(Vector.maximum(x, count: 0), -.infinity)
    }

    func testExpSumInPlaceHandlesArgumentsOutsideTheCoreRange() {
        // Logits spread over more than 87 (a random N(0, 1) oracle has them): in place, the exact small values must
        // come from the original arguments, not from the exponentials already written over them.
        let x: [Float] = (0..<37).map { $0 % 3 == 0 ? -95 - Float($0) : Float($0 % 5) }
        var separate = [Float](repeating: 0, count: x.count)
        let s = Vector.expSum(x, &separate, count: x.count, shift: 4)
        var inPlace = x
        let t = inPlace.withUnsafeMutableBufferPointer { p in Vector.expSum(p.baseAddress!, p.baseAddress!, count: x.count, shift: 4) }
        XCTAssertEqual(inPlace, separate)
        XCTAssertEqual(t, s)
        for (v, e) in zip(x, separate) {
            // Subnormal results carry few bits: the tolerance is relative, or two of the smallest subnormals.
            let exact = Foundation.exp(Double(v) - 4)
            XCTAssertEqual(Double(e), exact, accuracy: max(1e-6 * exact, 3e-45), "exp(\(v) − 4)")
        }
    }


    func testElementwiseKernelsInPlaceEqualOutOfPlace() {
        // Arguments outside exp's core range in full blocks and the tail: in place, the edge values must come from
        // the original arguments (exp wrote over them before its edge pass read them).
        let x: [Float] = (0..<45).map { (i: Int) -> Float in
            if i % 4 == 0 { return -95 - Float(i) }
            return i % 7 == 0 ? 95 : Float(i % 9) * 0.37 - 1.5
        }
        typealias Kernel = (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
        let kernels: [(String, Kernel)] = [
            ("exp", { Vector.exp($0, $1, count: $2) }), ("sigmoid", { Vector.sigmoid($0, $1, count: $2) }),
            ("tanh", { Vector.tanh($0, $1, count: $2) }),
        ]
        for (name, kernel) in kernels {
            var separate = [Float](repeating: 0, count: x.count)
            kernel(x, &separate, x.count)
            var inPlace = x
            inPlace.withUnsafeMutableBufferPointer { p in kernel(p.baseAddress!, p.baseAddress!, x.count) }
            XCTAssertEqual(inPlace, separate, name)
        }
    }
    func testGatherAxpyMatchesTheStraightforwardSum() {
        var rng = SeededGenerator(seed: 64)
        let base = (0..<4_000).map { _ in rng.nextNormal() }
        for (n, rows) in [(64, 5), (128, 4), (1_280, 7), (37, 3), (200, 0), (15, 1), (80, 2)] {
            let offsets = (0..<rows).map { _ in Int64(rng.nextInt(below: base.count - n)) }
            let coefficients = (0..<rows).map { _ in rng.nextNormal() }
            let start = (0..<n).map { _ in rng.nextNormal() }
            var out = start
            Vector.gatherAxpy(into: &out, count: n, base: base, offsets: offsets, coefficients: coefficients, rows: rows)
            // Without accumulating, out's old values (NaN here) are never read.
            var fresh = [Float](repeating: .nan, count: n)
            Vector.gatherAxpy(into: &fresh, count: n, base: base, offsets: offsets, coefficients: coefficients, rows: rows,
                              accumulate: false)
            for j in 0..<n {
                var sum = 0.0
                for i in 0..<rows { sum += Double(coefficients[i]) * Double(base[Int(offsets[i]) + j]) }
                let expected = Double(start[j]) + sum
                XCTAssertEqual(Double(out[j]), expected, accuracy: 1e-5 * (1 + abs(expected)), "n \(n), rows \(rows), j \(j)")
                XCTAssertEqual(Double(fresh[j]), sum, accuracy: 1e-5 * (1 + abs(sum)), "fresh: n \(n), rows \(rows), j \(j)")
            }
        }
    }

    func testMaxOverTimeTakesTheFirstMaximum() {
        var rng = SeededGenerator(seed: 65)
        for (P, F) in [(1, 5), (20, 100), (11, 37), (6, 160)] {
            // Few distinct values, so ties are common: the first position attaining the maximum must win.
            let conv = (0..<(P * F)).map { _ in Float(rng.nextInt(below: 4)) }
            var out = [Float](repeating: 0, count: F)
            var argmax = [Int32](repeating: -1, count: F)
            Vector.maxOverTime(conv, positions: P, filters: F, into: &out, argmax: &argmax)
            for f in 0..<F {
                let column = (0..<P).map { conv[$0 * F + f] }
                XCTAssertEqual(out[f], column.max()!)
                XCTAssertEqual(Int(argmax[f]), column.firstIndex(of: column.max()!)!, "P \(P), f \(f)")
            }
        }
    }
}
