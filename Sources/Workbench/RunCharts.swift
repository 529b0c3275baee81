import Foundation
import Plot
import RunStore

// What `textgan plot` and `textgan report` draw, selected from the run store: a metric over run steps with the
// training phases shaded, the quality–diversity plane of temperature sweeps, and D's accuracy over training. The
// chart itself (`SVGChart`) knows nothing of runs; this file turns rows into its series.

public enum RunCharts {
    /// One or more keys over run steps for one or more runs. A key is read from `metrics` (training's rows, with
    /// their phase) when the run has it there, else from `evaluations`, one series per protocol. `phase` keeps
    /// the rows of one phase only. A run without a key is an error naming the keys it has.
    public static func metric(_ keys: [String], runs ids: [Int64], phase: String? = nil, in store: RunDatabase,
                              title: String? = nil, yLabel: String? = nil, yDomain: ClosedRange<Double>? = nil,
                              seriesNames: [String: String] = [:],
                              identifier: String = "chart") throws -> SVGChart {
        precondition(!keys.isEmpty && !ids.isEmpty)
        let runs = try ids.map { try store.run($0) }
        var series: [SVGChart.Series] = []
        for (r, run) in runs.enumerated() {
            let recorded = try store.recordedKeys(run: run.id!)
            for (k, key) in keys.enumerated() {
                let color = SVGChart.palette[(runs.count == 1 ? k : r) % SVGChart.palette.count]
                let dash = SVGChart.Dash.allCases[(runs.count == 1 ? k / SVGChart.palette.count : k) % 3]
                var name = runs.count == 1 ? (seriesNames[key] ?? key)
                    : "#\(run.id!) \(run.name)" + (keys.count > 1 ? " · \(seriesNames[key] ?? key)" : "")
                if recorded.metrics.contains(key) {
                    let rows = try store.metricHistory(run: run.id!, key: key).filter { phase == nil || $0.phase == phase }
                    guard !rows.isEmpty else {
                        throw WorkbenchError("run \(run.id!) recorded no \(key) in phase \(phase!) (its phases: "
                            + (try store.phaseSpans(run: run.id!).map(\.phase).joined(separator: ", ")) + ")")
                    }
                    series.append(.init(name: name, points: rows.map { .init(x: Double($0.step), y: $0.value) },
                                        color: color, dash: dash))
                } else if recorded.evaluations.contains(key) {
                    let rows = try store.evaluations(run: run.id!).filter { $0.metric == key }
                    let byProtocol = Dictionary(grouping: rows, by: protocolLabel)
                    let labels = byProtocol.keys.sorted()
                    for (p, label) in labels.enumerated() {
                        if labels.count > 1 { name = (runs.count == 1 ? key : "#\(run.id!) \(key)") + " (\(label))" }
                        series.append(.init(
                            name: name, points: byProtocol[label]!.map { .init(x: Double($0.step), y: $0.value) },
                            color: labels.count > 1 && runs.count == 1 ? SVGChart.palette[p % SVGChart.palette.count] : color,
                            dash: dash, markers: true))
                    }
                } else {
                    throw WorkbenchError("run \(run.id!) (\(run.name)) recorded no metric \(key); it has "
                        + describe(recorded))
                }
            }
        }
        let (bands, markers) = try phases(of: runs, only: phase, in: store)
        let runList = runs.map { "#\($0.id!) \($0.name)" }.joined(separator: ", ")
        return SVGChart(
            title: title ?? keys.joined(separator: ", ") + (phase.map { " (\($0))" } ?? ""),
            subtitle: (runs.count == 1 ? "run \(runList): \(runs[0].algorithm) on \(runs[0].corpus)" : "runs \(runList)")
                + (bands.isEmpty ? "" : "; training phases shaded"),
            xLabel: "run step", yLabel: yLabel ?? (keys.count == 1 ? (seriesNames[keys[0]] ?? keys[0]) : "value"),
            series: series, bands: bands, markers: markers, yDomain: yDomain, identifier: identifier)
    }

    /// D's accuracy on real and on generated sequences over training (`d_accuracy_real`, `d_accuracy_fake`), on
    /// a 0…1 axis, phases shaded.
    public static func discriminatorAccuracy(runs ids: [Int64], in store: RunDatabase,
                                             identifier: String = "chart") throws -> SVGChart {
        try metric(["d_accuracy_real", "d_accuracy_fake"], runs: ids, in: store,
                   title: "The discriminator's accuracy over training", yLabel: "share of sequences", yDomain: 0...1,
                   seriesNames: ["d_accuracy_real": "real judged real", "d_accuracy_fake": "generated judged generated"],
                   identifier: identifier)
    }

    /// The quality–diversity plane: BLEU-n against Self-BLEU-n, one curve per run over the temperatures of its
    /// sweep (`textgan eval --sweep`). Of a run's sweeps (evaluations sharing step, sample count, seed, sampling
    /// filters, tokenizer and smoothing), the one with the most temperatures is drawn, the latest on ties;
    /// `samples` keeps sweeps of that sample count only.
    public static func qualityDiversity(runs ids: [Int64], order: Int, samples: Int? = nil, in store: RunDatabase,
                                        identifier: String = "chart") throws -> SVGChart {
        let runs = try ids.map { try store.run($0) }
        var series: [SVGChart.Series] = []
        var protocols: [String] = []
        for (r, run) in runs.enumerated() {
            guard let sweep = try Self.sweep(run: run.id!, order: order, samples: samples, in: store) else {
                throw WorkbenchError("run \(run.id!) (\(run.name)) has no bleu\(order) and self_bleu\(order) scored on "
                    + "the same samples\(samples.map { " (\($0) samples)" } ?? ""); score a sweep with "
                    + "`textgan eval \(run.id!) --sweep 0.5,0.7,1.0,1.2,1.5`")
            }
            series.append(.init(
                name: "#\(run.id!) \(run.name) (\(run.algorithm))",
                points: sweep.points.map { .init(x: $0.selfBLEU, y: $0.bleu, label: "T=\(compact($0.temperature))") },
                color: SVGChart.palette[r % SVGChart.palette.count], markers: true))
            protocols.append("#\(run.id!): \(sweep.description)")
        }
        return SVGChart(
            title: "Quality and diversity over the sampling temperature",
            subtitle: protocols.joined(separator: "; "),
            xLabel: "Self-BLEU-\(order) (lower: more diverse)", yLabel: "BLEU-\(order) (higher: closer to the references)",
            series: series, identifier: identifier)
    }

    // MARK: - Sweeps

    /// One run's temperature sweep: BLEU-n and Self-BLEU-n at each temperature, of the same samples.
    public struct Sweep: Sendable, Equatable {
        public struct Point: Sendable, Equatable {
            public var temperature: Double
            public var bleu: Double
            public var selfBLEU: Double

            public init(temperature: Double, bleu: Double, selfBLEU: Double) {
                self.temperature = temperature
                self.bleu = bleu
                self.selfBLEU = selfBLEU
            }
        }

        public var points: [Point]
        public var step: Int
        public var sampleCount: Int
        public var references: String
        public var seed: UInt64?

        public var description: String {
            "\(sampleCount) samples at step \(step)" + (seed.map { ", seed \($0)" } ?? "") + ", BLEU vs \(references)"
        }
    }

    /// The run's sweep with the most temperatures (the latest on ties), or nil when no temperature has both scores.
    public static func sweep(run id: Int64, order: Int, samples: Int? = nil, in store: RunDatabase) throws -> Sweep? {
        let rows = try store.evaluations(run: id).filter {
            ($0.metric == "bleu\(order)" || $0.metric == "self_bleu\(order)")
                && $0.temperature != nil && (samples == nil || $0.sampleCount == samples)
        }
        struct Key: Hashable {
            var step: Int, samples: Int, seed: UInt64?, topK: Int?, topP: Double?, tokenizer: String, smoothing: String?
        }
        let groups = Dictionary(grouping: rows) { e in
            let p = e.evaluationProtocol
            return Key(step: e.step, samples: p.sampleCount, seed: p.seed, topK: p.topK, topP: p.topP,
                       tokenizer: p.tokenizer, smoothing: p.smoothing)
        }
        let sweeps: [(sweep: Sweep, latest: Int64)] = groups.compactMap { key, rows in
            let byTemperature = Dictionary(grouping: rows) { $0.temperature! }
            var points: [Sweep.Point] = []
            var references = ""
            for (t, rows) in byTemperature {
                // The latest row of each metric at this temperature.
                let bleu = rows.filter { $0.metric == "bleu\(order)" }.max { $0.id! < $1.id! }
                let selfBLEU = rows.filter { $0.metric == "self_bleu\(order)" }.max { $0.id! < $1.id! }
                guard let bleu, let selfBLEU else { continue }
                points.append(.init(temperature: t, bleu: bleu.value, selfBLEU: selfBLEU.value))
                references = bleu.referenceSet
            }
            guard !points.isEmpty else { return nil }
            return (Sweep(points: points.sorted { $0.temperature < $1.temperature }, step: key.step,
                          sampleCount: key.samples, references: references, seed: key.seed),
                    rows.map { $0.id! }.max()!)
        }
        return sweeps.max { ($0.sweep.points.count, $0.latest) < ($1.sweep.points.count, $1.latest) }?.sweep
    }

    // MARK: - Phases

    /// Shaded bands for the phases when every run has the same ones at the same steps; otherwise a marker where each
    /// run enters each phase after its first.
    static func phases(of runs: [Run], only phase: String?, in store: RunDatabase) throws
        -> (bands: [SVGChart.Band], markers: [SVGChart.Marker])
    {
        let spans = try runs.map { run in try store.phaseSpans(run: run.id!).filter { phase == nil || $0.phase == phase } }
        if spans.allSatisfy({ $0 == spans[0] }) {
            let own = spans[0]
            return (own.enumerated().map { i, span in
                SVGChart.Band(label: span.phase, lower: Double(span.firstStep),
                              upper: Double(i + 1 < own.count ? own[i + 1].firstStep : span.lastStep))
            }, [])
        }
        var markers: [SVGChart.Marker] = []
        for (r, run) in runs.enumerated() {
            for span in spans[r].dropFirst() {
                markers.append(.init(x: Double(span.firstStep), label: "#\(run.id!) \(span.phase)",
                                     color: SVGChart.palette[r % SVGChart.palette.count]))
            }
        }
        return ([], markers)
    }

    // MARK: - Labels

    /// What sets an evaluation's protocol apart, in a few words.
    static func protocolLabel(_ e: Evaluation) -> String {
        var parts = ["\(e.sampleCount) samples", e.referenceSet]
        if let t = e.temperature { parts.append("T=\(compact(t))") }
        if let k = e.topK { parts.append("top-k \(k)") }
        if let p = e.topP { parts.append("top-p \(compact(p))") }
        if let by = e.recordedBy { parts.append(by) }
        return parts.joined(separator: ", ")
    }

    static func describe(_ recorded: (metrics: [String], evaluations: [String])) -> String {
        let all = Array(Set(recorded.metrics + recorded.evaluations)).sorted()
        return all.isEmpty ? "none recorded" : all.joined(separator: ", ")
    }

    static func compact(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e9 ? String(format: "%.1f", value) : String(format: "%g", value)
    }
}
