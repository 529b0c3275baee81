import Foundation
import Plot
import RunStore
import Workbench

// `textgan report`: one self-contained HTML page about some runs — the runs table, then per run its facts, its
// config, its curves (inline SVG from `RunCharts`), its last samples and its latest scores under each protocol.
// No script, no stylesheet or font outside the file, no network: it opens from disk anywhere. The page is
// well-formed XML (XHTML syntax), so a test can parse it as well as a browser can.

struct ReportPage {
    /// The page.
    var html: String
    /// How many charts it holds.
    var chartCount: Int
    var runIDs: [Int64]

    /// The curves drawn for each run, each when the run recorded any of its keys in `metrics`.
    static let curves: [(title: String, keys: [String])] = [
        ("Training loss (MLE)", ["loss"]),
        ("Held-out likelihood", ["nll_oracle", "nll_gen_held_out", "nll_test"]),
        ("BLEU against the test split", ["bleu2", "bleu3", "bleu4", "bleu5"]),
        ("Self-BLEU of the samples", ["self_bleu2", "self_bleu3", "self_bleu4", "self_bleu5"]),
        ("Policy gradient: mean rollout reward", ["mean_reward"]),
    ]

    /// The order of BLEU-n and Self-BLEU-n on the quality–diversity plane (GFS's).
    static let qualityDiversityOrder = 5

    /// The report of `ids` (in that order), read from `store`; `source` names the store on the page.
    /// `experiments` are the published experiments whose `reproduce` runs get a table ours beside published.
    init(runs ids: [Int64], in store: RunDatabase, source: String, generatedAt: Date = Date(),
         experiments: [PublishedExperiment] = PublishedExperiment.registry) throws {
        runIDs = ids
        var charts = 0
        var body: [String] = []
        let summaries = try store.runs().filter { ids.contains($0.run.id!) }
            .sorted { ids.firstIndex(of: $0.run.id!)! < ids.firstIndex(of: $1.run.id!)! }

        body.append("<h1>textgan report</h1>")
        body.append("<p class=\"meta\">\(ids.count) run\(ids.count == 1 ? "" : "s") from <code>\(escapeXML(source))</code>, "
                    + "generated \(escapeXML(Format.date(generatedAt))) UTC.</p>")
        body.append(Self.runsTable(summaries))

        // Runs compared on the quality–diversity plane, when any was scored over a temperature sweep.
        let swept = try ids.filter { (try RunCharts.sweep(run: $0, order: Self.qualityDiversityOrder, in: store)?.points.count ?? 0) > 1 }
        if !swept.isEmpty {
            body.append("<section class=\"overview\"><h2>Quality and diversity</h2>")
            body.append("<p>BLEU-\(Self.qualityDiversityOrder) against Self-BLEU-\(Self.qualityDiversityOrder) over each "
                        + "run's temperature sweep (<code>textgan eval RUN --sweep …</code>): up and to the left is better.</p>")
            body.append(Self.figure(try RunCharts.qualityDiversity(runs: swept, order: Self.qualityDiversityOrder, in: store,
                                                                   identifier: "qd")))
            body.append("</section>")
            charts += 1
        }

        body.append(try Self.detectionTransfer(summaries.map(\.run), in: store))
        // The runs `textgan reproduce` trained, ours beside the published numbers.
        let reproduced = try Reproduction.recordedTables(runs: summaries.map(\.run), in: store, experiments: experiments)
        if !reproduced.isEmpty { body.append(Self.reproductions(reproduced)) }

        for summary in summaries {
            let (section, count) = try Self.section(summary.run, in: store)
            body.append(section)
            charts += count
        }
        chartCount = charts
        html = Self.page(title: "textgan report: " + summaries.map { "#\($0.run.id!) \($0.run.name)" }.joined(separator: ", "),
                         body: body)
    }

    // MARK: - Sections

    /// One table per reproduced experiment, budget and seed.
    static func reproductions(_ tables: [(experiment: PublishedExperiment, budget: Budget, seed: UInt64, lines: [Reproduction.Line])]) -> String {
        func cell(_ value: Double?) -> String { value.map { $0.isNaN ? "undefined" : String(format: "%.3f", $0) } ?? "—" }
        var out = ["<section class=\"overview\" id=\"reproduced\"><h2>Reproduced experiments</h2>"]
        for table in tables {
            let e = table.experiment
            let sweep = Set(table.lines.map(\.temperature)).count > 1
            out.append("<h3>\(escapeXML(e.title))</h3>")
            out.append("<p class=\"meta\">\(escapeXML(e.citation)); \(escapeXML(e.source)). Budget \(table.budget.rawValue), "
                       + "seed \(table.seed), protocol <code>\(escapeXML(e.protocolName))</code>: <code>textgan reproduce "
                       + "\(escapeXML(e.name)) --budget \(table.budget.rawValue) --seed \(table.seed)</code>.</p>")
            out.append("<table class=\"scores\"><thead><tr><th>run</th>" + (sweep ? "<th>T</th>" : "")
                       + "<th>metric</th><th>ours</th><th>published</th></tr></thead><tbody>")
            for line in table.lines {
                out.append("<tr><td><a href=\"#run-\(line.runID)\">\(escapeXML(line.label))</a></td>"
                           + (sweep ? "<td class=\"num\">\(Format.number(line.temperature))</td>" : "")
                           + "<td><code>\(escapeXML(line.metric))</code></td><td class=\"num\">\(cell(line.ours))</td>"
                           + "<td class=\"num\">\(cell(line.published))</td></tr>")
            }
            out.append("</tbody></table>")
        }
        out.append("</section>")
        return out.joined(separator: "\n")
    }

    static func runsTable(_ summaries: [RunSummary]) -> String {
        var rows = ["<table class=\"runs\"><thead><tr><th>id</th><th>name</th><th>algorithm</th><th>generator</th>"
                    + "<th>corpus</th><th>status</th><th>started (UTC)</th><th>duration</th><th>best bleu4 (T=1)</th>"
                    + "<th>nll_oracle</th><th>nll_test</th></tr></thead><tbody>"]
        for s in summaries {
            let r = s.run
            rows.append("<tr><td class=\"num\"><a href=\"#run-\(r.id!)\">\(r.id!)</a></td><td>\(escapeXML(r.name))</td>"
                        + "<td>\(escapeXML(r.algorithm))</td><td>\(escapeXML(r.generator))</td><td>\(escapeXML(r.corpus))</td>"
                        + "<td class=\"status \(r.status.rawValue)\">\(r.status.rawValue)</td><td>\(Format.date(r.startedAt))</td>"
                        + "<td class=\"num\">\(Format.duration(r.duration))</td><td class=\"num\">\(Format.number(s.bestBLEU4))</td>"
                        + "<td class=\"num\">\(Format.number(s.latestNLLOracle))</td><td class=\"num\">\(Format.number(s.latestNLLTest))</td></tr>")
        }
        rows.append("</tbody></table>")
        return rows.joined(separator: "\n")
    }

    /// The detectors among the runs, each against every generator it was measured on: the transfer matrix of
    /// ROC-AUC (empty when no detector is in the report).
    static func detectionTransfer(_ runs: [Run], in store: RunDatabase) throws -> String {
        let transfer = try DetectionTransfer(detectors: runs.filter { $0.algorithm == DetectAlgorithm.name }.map { $0.id! }, in: store)
        guard !transfer.detectors.isEmpty else { return "" }
        let header = "<tr><th>detector ↓ on samples of →</th>" + transfer.generators.map { "<th>run \($0)</th>" }.joined() + "</tr>"
        let rows = zip(transfer.detectors, transfer.values).map { detector, values in
            "<tr><td>run \(detector)</td>" + values.map { "<td class=\"num\">\($0.map { Format.number($0) } ?? "—")</td>" }.joined() + "</tr>"
        }
        return "<section class=\"overview\"><h2>Detection transfer (ROC-AUC)</h2>"
            + "<p>Each detector's latest ROC-AUC on held-out real sentences against samples of each generator run "
            + "(<code>textgan detect train</code>, <code>textgan detect eval</code>): how far a detector trained against one "
            + "generator carries to another.</p>"
            + "<table class=\"scores\"><thead>\(header)</thead><tbody>" + rows.joined() + "</tbody></table></section>"
    }

    /// One run's section and how many charts it holds.
    static func section(_ run: Run, in store: RunDatabase) throws -> (String, Int) {
        let id = run.id!
        let details = try store.details(of: id, sampleLimit: 10)
        var out = ["<section class=\"run\" id=\"run-\(id)\">", "<h2>#\(id) \(escapeXML(run.name))</h2>"]

        // What it was.
        var facts: [(String, String)] = [
            ("algorithm", run.algorithm), ("generator", run.generator), ("discriminator", run.discriminator ?? "none"),
            ("corpus", run.corpus), ("vocabulary", run.vocabulary ?? "—"), ("seed", String(run.seedValue)),
            ("status", run.status.rawValue), ("started", Format.date(run.startedAt) + " UTC"), ("duration", Format.duration(run.duration)),
            ("code", (run.codeCommit.map { String($0.prefix(10)) } ?? "—") + (run.codeDirty == true ? " (uncommitted changes)" : "")),
        ]
        if let reason = run.exitReason { facts.append(("exit", reason)) }
        out.append("<dl class=\"facts\">" + facts.map { "<dt>\($0.0)</dt><dd>\(escapeXML($0.1))</dd>" }.joined() + "</dl>")
        out.append("<details class=\"config\"><summary>config: \(details.params.count) settings</summary>"
                   + "<table><tbody>" + details.params.map { "<tr><td><code>\(escapeXML($0.key))</code></td>"
                       + "<td>\(escapeXML($0.text))</td></tr>" }.joined() + "</tbody></table></details>")

        // Curves.
        var charts = 0
        out.append("<div class=\"charts\">")
        let recorded = Set(try store.recordedKeys(run: id).metrics)
        for (index, curve) in curves.enumerated() {
            let keys = curve.keys.filter(recorded.contains)
            guard !keys.isEmpty else { continue }
            out.append(figure(try RunCharts.metric(keys, runs: [id], in: store, title: curve.title,
                                                   identifier: "run\(id)-\(index)")))
            charts += 1
        }
        if recorded.contains("d_accuracy_real") && recorded.contains("d_accuracy_fake") {
            out.append(figure(try RunCharts.discriminatorAccuracy(runs: [id], in: store, identifier: "run\(id)-d")))
            charts += 1
        }
        out.append("</div>")
        if charts == 0 { out.append("<p class=\"none\">No training metrics recorded.</p>") }

        // Samples.
        out.append("<h3>Samples</h3>")
        if let first = details.lastSamples.first {
            out.append("<p class=\"meta\">The last \(details.lastSamples.count) recorded, at run step \(first.step), "
                       + "temperature \(Format.number(first.temperature)).</p>")
            out.append("<ol class=\"samples\">" + details.lastSamples.map { "<li>\(escapeXML($0.text))</li>" }.joined() + "</ol>")
        } else {
            out.append("<p class=\"none\">No samples recorded.</p>")
        }

        // Scores, one table per protocol.
        out.append("<h3>Latest evaluations, by protocol</h3>")
        let evaluations = try store.compare([id]).evaluations
        if evaluations.isEmpty { out.append("<p class=\"none\">No evaluations recorded.</p>") }
        var protocols: [String] = []
        for e in evaluations where !protocols.contains(e.protocol) { protocols.append(e.protocol) }
        if !protocols.isEmpty {
            // One table: a heading row per protocol, then its scores.
            var rows: [String] = []
            for label in protocols {
                rows.append("<tr><th class=\"protocol\" colspan=\"2\">\(escapeXML(label))</th></tr>")
                rows += evaluations.filter { $0.protocol == label }.map {
                    "<tr><td><code>\(escapeXML($0.key))</code></td><td class=\"num\">\(Format.number($0.values[0]))</td></tr>"
                }
            }
            out.append("<table class=\"scores\"><tbody>" + rows.joined() + "</tbody></table>")
        }
        out.append("</section>")
        return (out.joined(separator: "\n"), charts)
    }

    static func figure(_ chart: SVGChart) -> String {
        "<figure class=\"chart\">" + chart.svg() + "</figure>"
    }

    // MARK: - Page

    static let style = """
        body { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #222;
               max-width: 1080px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
        h1 { font-size: 1.6em; margin-bottom: 0.2em; }
        h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
        h3 { font-size: 1.05em; margin-top: 1.4em; }
        .meta, .none { color: #666; }
        table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
        th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
        th { background: #f5f5f5; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        .status.finished { color: #1a7f37; } .status.failed, .status.crashed { color: #c62828; }
        .status.interrupted { color: #b26a00; } .status.running { color: #0b6aa2; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.1em 1em; margin: 0.5em 0; }
        dl.facts dt { color: #666; } dl.facts dd { margin: 0; }
        details.config summary { cursor: pointer; color: #0b6aa2; }
        figure.chart { margin: 1em 0; } figure.chart svg { max-width: 100%; height: auto; border: 1px solid #eee; }
        div.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 0 1em; }
        div.charts figure.chart { margin: 0.5em 0; }
        ol.samples li { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: 0.9em; }
        table.scores th.protocol { font-weight: 500; color: #444; background: #f3f6fa; }
        """

    static func page(title: String, body: [String]) -> String {
        """
        <!DOCTYPE html>
        <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
        <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>\(escapeXML(title))</title>
        <style>
        \(style)
        </style>
        </head>
        <body>
        \(body.joined(separator: "\n"))
        </body>
        </html>

        """
    }
}
