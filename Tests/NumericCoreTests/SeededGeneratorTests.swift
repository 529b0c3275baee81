import Foundation
import NumericCore
import XCTest

final class SeededGeneratorTests: XCTestCase {
    func testSameSeedSameStreamDifferentSeedDifferentStream() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let sa = (0..<100).map { _ in a.next() }
        XCTAssertEqual(sa, (0..<100).map { _ in b.next() })
        XCTAssertNotEqual(sa, (0..<100).map { _ in c.next() })
    }

    func testKnownFirstOutputs() {
        // Pins the algorithm (xoshiro256** seeded by SplitMix64): a change here changes every seeded run.
        var g = SeededGenerator(seed: 0)
        XCTAssertEqual((0..<3).map { _ in g.next() },
                       [0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0])
    }

    func testStateRoundTripsThroughJSON() throws {
        var g = SeededGenerator(seed: 7)
        for _ in 0..<10 { _ = g.next() }
        var restored = try JSONDecoder().decode(SeededGenerator.self, from: JSONEncoder().encode(g))
        XCTAssertEqual((0..<5).map { _ in g.next() }, (0..<5).map { _ in restored.next() })
    }

    func testNormalMoments() {
        var g = SeededGenerator(seed: 9)
        let n = 200_000
        var s = 0.0, s2 = 0.0
        for _ in 0..<n {
            let v = Double(g.nextNormal())
            s += v
            s2 += v * v
        }
        let mean = s / Double(n), variance = s2 / Double(n) - mean * mean
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(variance, 1, accuracy: 0.01)
    }

    func testUniformRangesAndShuffle() {
        var g = SeededGenerator(seed: 11)
        for _ in 0..<10_000 {
            let f = g.nextFloat()
            XCTAssertTrue(f >= 0 && f < 1)
            XCTAssertTrue((0..<7).contains(g.nextInt(below: 7)))
        }
        let p = g.permutation(50)
        XCTAssertEqual(p.sorted(), Array(0..<50))
        XCTAssertNotEqual(p, Array(0..<50))
    }
}
