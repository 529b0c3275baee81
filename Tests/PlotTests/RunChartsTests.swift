import Foundation
import TestSupport
import Plot
import RunStore
import Workbench
import XCTest

/// A SeqGAN-shaped history written straight into an in-memory store, and the charts selected from it.
enum ChartFixture {
    static let tokenizer = "mode=word lowercase=false normalization=nfc max-length=none"

    /// MLE steps 1…10 (loss 3.0 − 0.2·step), discriminator rounds at run steps 12–13, adversarial steps at 15–18
    /// (`shift` moves the later phases), D's accuracies on both; bleu4/self_bleu4 from training at steps 10 and 18
    /// (T = 1, 40 samples) and a three-temperature eval sweep at step 18 (100 samples).
    @discardableResult
    static func seqganRun(_ store: RunDatabase, name: String = "tiny-seqgan", shift: Int = 0) throws -> Int64 {
        let id = try store.startRun(NewRun(
            name: name, algorithm: "seqgan", generator: "lstm", discriminator: "cnn", corpus: "tiny", seed: 1,
            configJSON: #"{"mle": {"learningRate": 0.01}}"#))
        for step in 1...10 {
            try store.recordMetrics(run: id, phase: "mle", step: step, phaseStep: step, values: ["loss": 3.0 - 0.2 * Double(step)])
        }
        for (round, step) in [12, 13].enumerated() {
            try store.recordMetrics(run: id, phase: "discriminator", step: step + shift, phaseStep: round + 1, values: [
                "d_accuracy_real": 0.5 + 0.1 * Double(round), "d_accuracy_fake": 0.6 + 0.1 * Double(round)])
        }
        for (a, step) in [15, 16, 17, 18].enumerated() {
            try store.recordMetrics(run: id, phase: "adversarial", step: step + shift, phaseStep: a + 1, values: [
                "d_accuracy_real": 0.7, "d_accuracy_fake": a == 2 ? .nan : 0.8, "pg_loss": Double(a)])
        }
        for (step, bleu) in [(10, 0.3), (18 + shift, 0.35)] {
            let p = EvaluationProtocol(sampleCount: 40, referenceSet: "tiny:test", referenceCount: 24, tokenizer: tokenizer,
                                       smoothing: "method1", seed: 1, temperature: 1)
            try store.recordEvaluation(run: id, step: step, values: ["bleu4": bleu], protocol: p)
            var s = p
            s.referenceSet = "self"
            try store.recordEvaluation(run: id, step: step, values: ["self_bleu4": 0.9], protocol: s)
        }
        for (t, bleu, selfBLEU) in [(1.5, 0.2, 0.4), (0.5, 0.45, 0.8), (1.0, 0.3, 0.6)] {
            let p = EvaluationProtocol(sampleCount: 100, referenceSet: "tiny:test", referenceCount: 24, tokenizer: tokenizer,
                                       smoothing: "method1", seed: 0, temperature: t)
            try store.recordEvaluation(run: id, step: 18 + shift, values: ["bleu4": bleu, "distinct2": 0.1 * t],
                                       protocol: p, signOfLife: false)
            var s = p
            s.referenceSet = "self"
            try store.recordEvaluation(run: id, step: 18 + shift, values: ["self_bleu4": selfBLEU], protocol: s,
                                       signOfLife: false)
        }
        try store.finish(run: id, status: .finished)
        return id
    }
}

final class RunChartsTests: XCTestCase {
    func testAMetricOverStepsCarriesEveryRowWithThePhasesShaded() throws {
        let store = try RunDatabase.inMemory()
        let id = try ChartFixture.seqganRun(store)

        let chart = try RunCharts.metric(["loss"], runs: [id], in: store)
        XCTAssertEqual(chart.series.count, 1)
        XCTAssertEqual(chart.series[0].points.map(\.x), (1...10).map(Double.init))
        for (point, step) in zip(chart.series[0].points, 1...10) { XCTAssertEqual(point.y, 3.0 - 0.2 * Double(step), accuracy: 1e-12) }
        XCTAssertEqual(chart.bands, [.init(label: "mle", lower: 1, upper: 12), .init(label: "discriminator", lower: 12, upper: 15),
                                     .init(label: "adversarial", lower: 15, upper: 18)])
        XCTAssertEqual(chart.xLabel, "run step")
        XCTAssertTrue(try parseXML(chart.svg()).elements("g", class: "series").count == 1)

        // One phase only: its rows, its band.
        let adversarial = try RunCharts.metric(["d_accuracy_real"], runs: [id], phase: "adversarial", in: store)
        XCTAssertEqual(adversarial.series[0].points.map(\.x), [15, 16, 17, 18])
        XCTAssertEqual(adversarial.bands.map(\.label), ["adversarial"])
    }

    func testAKeyOnlyInEvaluationsGivesOneSeriesPerProtocol() throws {
        let store = try RunDatabase.inMemory()
        let id = try ChartFixture.seqganRun(store)
        // bleu4 is in evaluations only here (training wrote it there, and eval's sweep): four protocols.
        let chart = try RunCharts.metric(["bleu4"], runs: [id], in: store)
        XCTAssertEqual(chart.series.count, 4)
        let training = try XCTUnwrap(chart.series.first { $0.name.contains("40 samples") })
        XCTAssertEqual(training.points.map(\.x), [10, 18])
        XCTAssertEqual(training.points.map(\.y), [0.3, 0.35])
    }

    func testRunsWithPhasesAtOtherStepsGetMarkersAndOneColourEach() throws {
        let store = try RunDatabase.inMemory()
        let a = try ChartFixture.seqganRun(store, name: "a"), b = try ChartFixture.seqganRun(store, name: "b", shift: 3)
        let chart = try RunCharts.metric(["d_accuracy_real", "d_accuracy_fake"], runs: [a, b], in: store)
        XCTAssertEqual(chart.series.map(\.name), ["#1 a · d_accuracy_real", "#1 a · d_accuracy_fake",
                                                  "#2 b · d_accuracy_real", "#2 b · d_accuracy_fake"])
        XCTAssertEqual(chart.series.map(\.color), [SVGChart.palette[0], SVGChart.palette[0], SVGChart.palette[1], SVGChart.palette[1]])
        XCTAssertEqual(chart.series.map(\.dash), [.solid, .dashed, .solid, .dashed])
        XCTAssertTrue(chart.bands.isEmpty)
        XCTAssertEqual(chart.markers.map(\.x), [12, 15, 15, 18])
        XCTAssertEqual(chart.markers.map(\.label), ["#1 discriminator", "#1 adversarial", "#2 discriminator", "#2 adversarial"])
        // The NaN of adversarial step 3 stays in the data and breaks the drawn line.
        XCTAssertTrue(chart.series[1].points[4].y.isNaN)
        XCTAssertEqual(chart.series[1].segments.map(\.count), [4, 1])
    }

    func testDAccuracyIsOnAZeroToOneAxis() throws {
        let store = try RunDatabase.inMemory()
        let id = try ChartFixture.seqganRun(store)
        let chart = try RunCharts.discriminatorAccuracy(runs: [id], in: store)
        XCTAssertEqual(chart.yDomain, 0...1)
        XCTAssertEqual(chart.series.map(\.name), ["real judged real", "generated judged generated"])
        XCTAssertEqual(chart.series[0].points.map(\.y), [0.5, 0.6, 0.7, 0.7, 0.7, 0.7])
    }

    func testTheQualityDiversityPlaneTakesTheWidestSweep() throws {
        let store = try RunDatabase.inMemory()
        let id = try ChartFixture.seqganRun(store)
        let chart = try RunCharts.qualityDiversity(runs: [id], order: 4, in: store)
        XCTAssertEqual(chart.series.count, 1)
        XCTAssertEqual(chart.series[0].points, [.init(x: 0.8, y: 0.45, label: "T=0.5"), .init(x: 0.6, y: 0.3, label: "T=1.0"),
                                                .init(x: 0.4, y: 0.2, label: "T=1.5")])
        XCTAssertEqual(chart.xLabel, "Self-BLEU-4 (lower: more diverse)")
        XCTAssertTrue(chart.subtitle!.contains("100 samples at step 18, seed 0"), chart.subtitle!)
        // Training's single-temperature rows are a sweep of one point.
        let training = try XCTUnwrap(RunCharts.sweep(run: id, order: 4, samples: 40, in: store))
        XCTAssertEqual(training.points, [.init(temperature: 1, bleu: 0.35, selfBLEU: 0.9)])
        XCTAssertEqual(training.step, 18, "the latest of two one-point sweeps")
    }

    func testMissingDataIsAOneLineErrorNamingWhatExists() throws {
        let store = try RunDatabase.inMemory()
        let id = try ChartFixture.seqganRun(store)
        XCTAssertThrowsError(try RunCharts.metric(["blue4"], runs: [id], in: store)) { error in
            XCTAssertEqual("\(error)", "run 1 (tiny-seqgan) recorded no metric blue4; it has bleu4, d_accuracy_fake, "
                           + "d_accuracy_real, distinct2, loss, pg_loss, self_bleu4")
        }
        XCTAssertThrowsError(try RunCharts.metric(["loss"], runs: [id], phase: "adversarial", in: store)) { error in
            XCTAssertEqual("\(error)", "run 1 recorded no loss in phase adversarial (its phases: mle, discriminator, adversarial)")
        }
        XCTAssertThrowsError(try RunCharts.qualityDiversity(runs: [id], order: 5, in: store)) { error in
            XCTAssertTrue("\(error)".hasPrefix("run 1 (tiny-seqgan) has no bleu5 and self_bleu5"), "\(error)")
            XCTAssertFalse("\(error)".contains("\n"))
        }
    }
}
