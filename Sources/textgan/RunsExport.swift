import ArgumentParser
import Foundation
import RunStore
import Workbench

extension RunsCommand {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export runs' config, metrics and evaluations as CSV or JSON Lines.",
            discussion: """
                jsonl: one JSON object per line, each with a "record" field: "run" (the run's row, its config as an \
                object and its tags), then one "metric" line per recorded metric value and one "evaluation" line per \
                score with its protocol, in recording order. csv (RFC 4180): one long table of every run's params \
                (the flattened config), metrics and evaluations, with the columns

                  run_id, run_name, record, phase, step, phase_step, epoch, key, value, kind, sample_count, \
                reference_set, reference_count, tokenizer, smoothing, seed, temperature, top_k, top_p, time

                where record is param, metric or evaluation and empty cells do not apply. A NaN is an empty value with \
                kind nan (infinities are inf and -inf). Times are ISO 8601 UTC. Both load directly into pandas \
                (read_csv, read_json(lines=True)) or a spreadsheet.
                """)

        enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
            case csv, jsonl
        }

        @OptionGroup var database: DatabaseOptions

        @Argument(help: ArgumentHelp("Run ids or names.", valueName: "run"))
        var runs: [String]

        @Option(help: "csv or jsonl.")
        var format: ExportFormat = .csv

        @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Write to this file (default: standard output).", valueName: "file"))
        var output: String?

        func validate() throws {
            guard !runs.isEmpty else { throw ValidationError("give the runs to export") }
        }

        func run() throws {
            let store = try database.openExisting()
            let ids = try database.runIDs(runs)
            var text = ""
            if format == .csv { text += CSV.record(Self.columns.map { JSONValue.string($0) }) }
            for id in ids {
                let run = try store.run(id)
                let metrics = try store.metrics(run: id)
                let evaluations = try store.evaluations(run: id).sorted { ($0.id ?? 0) < ($1.id ?? 0) }
                switch format {
                case .jsonl:
                    text += JSONValue.object([("record", .string("run"))] + Self.fields(of: RunsCommand.runObject(run))
                        + [("config", .raw(run.configJSON)), ("tags", .array(try store.tags(of: id).map { .string($0) }))]).rendered() + "\n"
                    for m in metrics { text += JSONValue.object(Self.metricFields(m)).rendered() + "\n" }
                    for e in evaluations { text += JSONValue.object(Self.evaluationFields(e)).rendered() + "\n" }
                case .csv:
                    let params = try store.details(of: id, sampleLimit: 0).params
                    for p in params { text += Self.row(run, ["record": .string("param"), "key": .string(p.key), "value": JSONValue(param: p)]) }
                    for m in metrics { text += Self.row(run, Dictionary(uniqueKeysWithValues: Self.metricFields(m))) }
                    for e in evaluations { text += Self.row(run, Dictionary(uniqueKeysWithValues: Self.evaluationFields(e))) }
                }
            }
            try writeOutput(text, to: output, saying: "exported \(ids.count) run\(ids.count == 1 ? "" : "s")")
        }

        static let columns = ["run_id", "run_name", "record", "phase", "step", "phase_step", "epoch", "key", "value",
                              "kind", "sample_count", "reference_set", "reference_count", "tokenizer", "smoothing",
                              "seed", "temperature", "top_k", "top_p", "time"]

        private static func row(_ run: Run, _ fields: [String: JSONValue]) -> String {
            var all = fields
            all["run_id"] = JSONValue(run.id)
            all["run_name"] = .string(run.name)
            return CSV.record(columns.map { all[$0] ?? .null })
        }

        private static func fields(of object: JSONValue) -> [(String, JSONValue)] {
            if case .object(let fields) = object { return fields }
            return []
        }

        private static func metricFields(_ m: Metric) -> [(String, JSONValue)] {
            [("record", .string("metric")), ("run_id", .integer(m.runID)), ("phase", .string(m.phase)), ("step", JSONValue(m.step)),
             ("phase_step", JSONValue(m.phaseStep)), ("epoch", JSONValue(m.epoch)), ("key", .string(m.key)),
             ("value", .number(m.value)), ("kind", .string(m.kind.rawValue)), ("time", .string(Format.isoDate(m.time)))]
        }

        private static func evaluationFields(_ e: Evaluation) -> [(String, JSONValue)] {
            let p = e.evaluationProtocol
            return [("record", .string("evaluation")), ("run_id", .integer(e.runID)), ("step", JSONValue(e.step)),
                    ("phase_step", JSONValue(e.phaseStep)), ("key", .string(e.metric)), ("value", .number(e.value)),
                    ("kind", .string(e.kind.rawValue)), ("sample_count", JSONValue(p.sampleCount)),
                    ("reference_set", .string(p.referenceSet)), ("reference_count", JSONValue(p.referenceCount)),
                    ("tokenizer", .string(p.tokenizer)), ("smoothing", JSONValue(p.smoothing)),
                    ("seed", JSONValue(p.seed.map(String.init))), ("temperature", JSONValue(p.temperature)),
                    ("top_k", JSONValue(p.topK)), ("top_p", JSONValue(p.topP)), ("time", .string(Format.isoDate(e.time)))]
        }
    }
}
