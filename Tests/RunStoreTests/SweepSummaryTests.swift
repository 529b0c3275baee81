import Foundation
@testable import RunStore
import XCTest

/// `compare --sweep`: runs grouped by grid point, the seed aside, and mean ± sample standard deviation per metric.
final class SweepSummaryTests: XCTestCase {
    func testTheSampleStandardDeviation() {
        let s = SeedStatistic(values: [1, 2, 3, 4])
        XCTAssertEqual(s.mean, 2.5)
        // √(((1.5² + 0.5²) · 2) / 3) = √(5/3)
        XCTAssertEqual(s.standardDeviation!, (5.0 / 3).squareRoot(), accuracy: 1e-15)
        XCTAssertNil(SeedStatistic(values: [7]).standardDeviation, "one run has no spread")
        XCTAssertEqual(SeedStatistic(values: [2, 2]).standardDeviation, 0)
    }

    func testRunsGroupByTheirGridPointAndSummariseOverSeeds() throws {
        let store = try RunDatabase.inMemory()
        // Two learning rates × three seeds, recorded out of order; one run of the second point has no BLEU.
        let specs: [(rate: Double, seed: Int, nll: Double, bleu: Double?)] = [
            (0.01, 1, 5.0, 0.20), (0.005, 1, 4.0, 0.30), (0.01, 2, 5.5, 0.22),
            (0.005, 2, 4.4, nil), (0.01, 3, 6.0, 0.24), (0.005, 3, 4.8, 0.34),
        ]
        var ids: [Int64] = []
        for spec in specs {
            let id = try store.startRun(makeRun(
                name: "s-\(ids.count)", algorithm: "mle",
                config: #"{"mle": {"learningRate": \#(spec.rate), "epochs": 3}, "seed": \#(spec.seed)}"#))
            try store.recordMetrics(run: id, phase: "mle", step: 1, values: ["loss": spec.nll + 1])
            try store.recordMetrics(run: id, phase: "mle", step: 2, values: ["loss": spec.nll])
            try store.recordEvaluation(run: id, step: 2, values: ["nll_test": spec.nll].merging(spec.bleu.map { ["bleu4": $0] } ?? [:]) { $1 },
                                       protocol: evaluationProtocol)
            ids.append(id)
        }
        let summary = try store.compare(ids).sweepSummary()
        XCTAssertEqual(summary.seedKeys, ["seed"])
        XCTAssertEqual(summary.groups.map(\.label), ["mle.learningRate=0.01", "mle.learningRate=0.005"])
        XCTAssertEqual(summary.groups.map(\.runIDs), [[ids[0], ids[2], ids[4]], [ids[1], ids[3], ids[5]]])

        let loss = try XCTUnwrap(summary.metrics.first { $0.key == "loss" })
        XCTAssertEqual(loss.statistics.map { $0?.values }, [[5.0, 5.5, 6.0], [4.0, 4.4, 4.8]], "the latest value of each run")
        XCTAssertEqual(loss.statistics[0]!.mean, 5.5, accuracy: 1e-12)
        XCTAssertEqual(loss.statistics[0]!.standardDeviation!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(loss.statistics[1]!.standardDeviation!, 0.4, accuracy: 1e-12)
        let bleu = try XCTUnwrap(summary.evaluations.first { $0.key == "bleu4" })
        XCTAssertEqual(bleu.statistics[1]!.values, [0.30, 0.34], "a run without the score is left out, not counted as 0")
        XCTAssertEqual(bleu.statistics[1]!.count, 2)

        // A sweep over seeds alone is one group.
        let seedsOnly = try store.compare([ids[0], ids[2], ids[4]]).sweepSummary()
        XCTAssertEqual(seedsOnly.groups.map(\.label), ["all runs"])
        XCTAssertEqual(seedsOnly.groups[0].runIDs.count, 3)
    }

    func testSweepNamesComeFromTheirTags() throws {
        let store = try RunDatabase.inMemory()
        let a = try store.startRun(makeRun(name: "a")), b = try store.startRun(makeRun(name: "b"))
        try store.changeTags(run: a, adding: ["sweep:lr", "baseline"])
        try store.changeTags(run: b, adding: ["sweep:seeds", "sweep:lr"])
        XCTAssertEqual(try store.sweepNames(), ["lr", "seeds"])
    }
}
