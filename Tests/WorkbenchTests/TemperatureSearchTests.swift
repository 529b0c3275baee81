import Foundation
import Workbench
import XCTest

/// `TemperatureSearch` (behind `eval --match-self-bleu`) on fake statistics: a Self-BLEU-like curve falling with
/// temperature plus noise that is a fixed function of the temperature (as scores from one seed are), a saturating
/// curve, and a jump.
final class TemperatureSearchTests: XCTestCase {
    /// 0.97·e^(−1.1 T), 0.97 at greedy and 0.107 at T = 2, with up to ±`noise` added.
    struct FakeSelfBLEU {
        var noise = 0.0008
        var calls: [Double] = []

        static func mean(_ t: Double) -> Double { 0.97 * exp(-1.1 * t) }
        /// The temperature where the mean is `value`.
        static func inverse(_ value: Double) -> Double { -log(value / 0.97) / 1.1 }

        mutating func callAsFunction(_ t: Double) -> Double {
            calls.append(t)
            // A hash of the temperature (SplitMix64's finaliser): the same noise at the same temperature.
            var z = t.bitPattern &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            let u = Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)  // [0, 1)
            return Self.mean(t) + noise * (2 * u - 1)
        }
    }

    private func search(_ target: Double, tolerance: Double = 0.002, maximumTemperature: Double = 2,
                        probes: Int = 8) -> TemperatureSearch {
        TemperatureSearch(target: target, tolerance: tolerance, maximumTemperature: maximumTemperature, maximumProbes: probes)
    }

    func testReachableTargetsAreMatchedWithinToleranceInFewProbes() throws {
        var counts: [Int] = []
        for target in stride(from: 0.15, through: 0.95, by: 0.05) {
            var fake = FakeSelfBLEU()
            let result = try search(target).run { fake($0) }
            XCTAssertEqual(result.outcome, .matched, "target \(target): \(result.probes)")
            XCTAssertLessThanOrEqual(abs(result.closest.value - target), 0.002, "target \(target)")
            // The probes are the measurements, in order, each temperature once, within [0, 2] and to 4 decimals.
            XCTAssertEqual(result.probes.map(\.temperature), fake.calls)
            XCTAssertEqual(Set(fake.calls).count, fake.calls.count, "no temperature measured twice: \(fake.calls)")
            XCTAssertTrue(fake.calls.allSatisfy { (0...2).contains($0) && abs(($0 * 10_000).rounded() - $0 * 10_000) < 1e-6 }, "\(fake.calls)")
            XCTAssertLessThanOrEqual(result.probes.count, 8)
            XCTAssertEqual(result.probes.first?.temperature, 1, "the search starts at T=1")
            XCTAssertNil(result.bracket)
            // The matched temperature is the true one, up to what tolerance and noise allow (the slope is at least
            // 0.97·1.1·e^(−2.2) ≈ 0.118 in [0, 2]).
            XCTAssertEqual(result.closest.temperature, FakeSelfBLEU.inverse(target), accuracy: (0.002 + 0.0008) / 0.118 + 1e-4,
                           "target \(target)")
            counts.append(result.probes.count)
        }
        // Regula falsi, not bisection: bisection would need about log2(2 / 0.01) ≈ 8 narrowing probes for this
        // tolerance; the Illinois steps need a few.
        XCTAssertLessThanOrEqual(Double(counts.reduce(0, +)) / Double(counts.count), 5.5, "\(counts)")
    }

    func testASaturatingCurveIsMatchedToo() throws {
        // Flat near greedy, steep further on (as an under-trained model's Self-BLEU): regula falsi alone crawls
        // here, Illinois's halving keeps the bracket shrinking from both ends.
        func curve(_ t: Double) -> Double { 1 - 0.7 * tanh(pow(t / 0.2, 2)) }
        for target in [0.45, 0.6, 0.8, 0.9, 0.956, 0.98] {
            let result = try search(target, probes: 12).run(curve)
            XCTAssertEqual(result.outcome, .matched, "target \(target): \(result.probes)")
            XCTAssertLessThanOrEqual(abs(result.closest.value - target), 0.002)
        }
    }

    func testTargetsOutOfReachAreSaidToBeSoAtTheEdgeOfTheRange() throws {
        // Below reach: even T=2 gives 0.107, more alike than 0.05; the search steps out 1, 1.25, 1.75, 2 and stops.
        var fake = FakeSelfBLEU()
        let below = try search(0.05).run { fake($0) }
        XCTAssertEqual(below.outcome, .belowReach)
        XCTAssertEqual(below.probes.map(\.temperature), [1, 1.25, 1.75, 2])
        XCTAssertEqual(below.closest.temperature, 2)
        XCTAssertNil(below.bracket)
        // A wider range reaches it.
        var wider = FakeSelfBLEU()
        let reached = try search(0.05, maximumTemperature: 4).run { wider($0) }
        XCTAssertEqual(reached.outcome, .matched, "\(reached.probes)")
        XCTAssertEqual(reached.closest.temperature, FakeSelfBLEU.inverse(0.05), accuracy: 0.05)

        // Above reach: greedy's 0.97 is more varied than 0.99; the search steps down 1, 0.75, 0.25, 0 and stops.
        var cool = FakeSelfBLEU()
        let above = try search(0.99).run { cool($0) }
        XCTAssertEqual(above.outcome, .aboveReach)
        XCTAssertEqual(above.probes.map(\.temperature), [1, 0.75, 0.25, 0])
        XCTAssertEqual(above.closest.temperature, 0)
        // A target within tolerance of greedy's Self-BLEU is matched at T=0, not out of reach.
        let greedy = try search(0.971).run(FakeSelfBLEU.mean)
        XCTAssertEqual(greedy.outcome, .matched)
        XCTAssertEqual(greedy.closest.temperature, 0)
    }

    func testTheProbesAreBounded() throws {
        for limit in 2...5 {
            var fake = FakeSelfBLEU()
            let result = try search(0.2, tolerance: 1e-6, probes: limit).run { fake($0) }
            XCTAssertEqual(result.outcome, .probesExhausted, "limit \(limit)")
            XCTAssertEqual(fake.calls.count, limit)
            XCTAssertEqual(result.probes.count, limit)
            // Once bracketed (0.2 lies between T=1.25 and T=1.75), the bracket is said; before, it is not.
            if limit >= 3 {
                let bracket = try XCTUnwrap(result.bracket, "limit \(limit)")
                XCTAssertGreaterThan(bracket.cooler.value, 0.2)
                XCTAssertLessThan(bracket.hotter.value, 0.2)
                XCTAssertLessThan(bracket.cooler.temperature, bracket.hotter.temperature)
            } else {
                XCTAssertNil(result.bracket)
            }
        }
    }

    func testAJumpAcrossTheTargetEndsTheSearchAsNoisy() throws {
        // Self-BLEU that jumps from 0.6 to 0.4 at T = 0.8: no temperature gives 0.5.
        var calls = 0
        let result = try search(0.5, tolerance: 0.01, probes: 60).run { t in
            calls += 1
            return t < 0.8 ? 0.6 : 0.4
        }
        XCTAssertEqual(result.outcome, .noisy)
        let bracket = try XCTUnwrap(result.bracket)
        XCTAssertLessThan(bracket.cooler.temperature, 0.8)
        XCTAssertGreaterThanOrEqual(bracket.hotter.temperature, 0.8)
        XCTAssertLessThan(bracket.hotter.temperature - bracket.cooler.temperature, 0.002 + 1e-9)
        XCTAssertLessThan(calls, 60, "it stops when the bracket is narrow, not when the probes run out")
    }

    func testSettingsAndUndefinedScoresAreRefused() {
        for (settings, flag) in [(search(0), "target"), (search(1), "target"), (search(.nan), "target"),
                                 (search(0.5, tolerance: 0), "--match-tolerance"),
                                 (search(0.5, maximumTemperature: 0), "--match-max-temperature"),
                                 (search(0.5, maximumTemperature: .infinity), "--match-max-temperature"),
                                 (search(0.5, probes: 1), "--match-max-probes")] {
            XCTAssertThrowsError(try settings.run { _ in 0.5 }) { error in
                XCTAssertTrue("\(error)".contains(flag), "\(error)")
            }
        }
        XCTAssertThrowsError(try search(0.5).run { _ in .nan }) { error in
            XCTAssertTrue("\(error)".contains("undefined"), "\(error)")
        }
    }
}
