import ArgumentParser
import Foundation
import RunStore
import Workbench

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Runs side by side: the params that differ, then the latest value of every metric and score.",
        discussion: """
            Params equal in every run are folded into one line (--all lists them). A param missing from a run \
            shows as —. Metrics are the latest recorded value of each. Evaluations are the latest score under each \
            protocol, one row per metric and protocol (sample count, references, temperature, top-k, top-p), so \
            scores computed differently never share a row.
            """)

    @OptionGroup var database: DatabaseOptions

    @Argument(help: ArgumentHelp("Two or more run ids or names.", valueName: "run"))
    var runs: [String] = []

    @Option(help: ArgumentHelp(
        "Summarise a sweep instead (`textgan sweep`): its runs grouped by grid point, each latest metric and score as mean ± std over the seeds.",
        valueName: "name"))
    var sweep: String?

    @Flag(help: "Also list the params that are identical in every run.")
    var all = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if sweep != nil {
            guard runs.isEmpty else { throw ValidationError("--sweep compares the sweep's runs; give no run ids with it") }
            return
        }
        guard runs.count >= 2 else { throw ValidationError("give at least two run ids to compare (or --sweep NAME)") }
        guard Set(runs).count == runs.count else { throw ValidationError("each run may appear only once") }
    }

    func run() throws {
        if let sweep {
            let store = try database.openExisting()
            let ids = try store.runs(RunFilter(tags: [SweepPlan.tag(sweep)])).map { $0.run.id ?? 0 }.sorted()
            guard !ids.isEmpty else {
                let known = try store.sweepNames()
                throw WorkbenchError("no sweep \(sweep) in the run store (no run is tagged \(SweepPlan.tag(sweep)))"
                    + (known.isEmpty ? "" : "; sweeps: \(known.joined(separator: ", "))"))
            }
            try Self.printSweep(sweep, store: store, ids: ids, format: output.chosen)
            return
        }
        let ids = try runs.map { try database.runID($0) }
        guard Set(ids).count == ids.count else { throw WorkbenchError("each run may appear only once (\(runs.joined(separator: ", ")) name the same run twice)") }
        let comparison = try database.openExisting().compare(ids)
        switch output.chosen {
        case .table: printTable(comparison)
        case .json: print(Self.json(comparison, all: all).rendered())
        case .csv: print(Self.data(comparison, all: all).csv(), terminator: "")
        }
    }

    private func printTable(_ comparison: RunComparison) {
        let headers = ["", ] + comparison.runs.map { "#\($0.id ?? 0) \($0.name)" }
        let runRows: [[String]] = [
            ["algorithm"] + comparison.runs.map(\.algorithm),
            ["corpus"] + comparison.runs.map(\.corpus),
            ["status"] + comparison.runs.map(\.status.rawValue),
            ["duration"] + comparison.runs.map { Format.duration($0.duration) },
            ["code"] + comparison.runs.map { ($0.codeCommit.map { String($0.prefix(10)) } ?? "—")
                + ($0.codeDirty == true ? "+dirty" : "") },
        ]
        print(TextTable(headers: headers, rows: runRows).render())

        let differing = comparison.differingParams
        let identicalCount = comparison.params.count - differing.count
        print("\n" + Style.bold("params that differ (\(differing.count))"))
        if differing.isEmpty {
            print("none")
        } else {
            print(TextTable(headers: ["key"] + headers.dropFirst(),
                            rows: differing.map { [$0.key] + $0.values.map { $0 ?? "—" } }).render())
        }
        if all {
            let identical = comparison.params.filter { p in !differing.contains { $0.key == p.key } }
            print("\n" + Style.bold("identical params (\(identical.count))"))
            if !identical.isEmpty {
                print(TextTable(headers: ["key", "value"],
                                rows: identical.map { [$0.key, $0.values.first.flatMap { $0 } ?? "—"] }).render())
            }
        } else if identicalCount > 0 {
            print(Style.dim("\(identicalCount) identical param(s) folded; --all lists them"))
        }

        // Evaluations in one table per protocol: scores computed differently never share a row.
        var groups = [("metrics (latest)", comparison.metrics)]
        for label in comparison.evaluations.map(\.protocol).reduce(into: [String](), { if !$0.contains($1) { $0.append($1) } }) {
            groups.append(("evaluations (latest), \(label)",
                           comparison.evaluations.filter { $0.protocol == label }.map { ($0.key, $0.values) }))
        }
        if comparison.evaluations.isEmpty { groups.append(("evaluations (latest)", [])) }
        for (title, rows) in groups {
            print("\n" + Style.bold(title))
            if rows.isEmpty {
                print("none recorded")
                continue
            }
            print(TextTable(headers: ["key"] + headers.dropFirst(),
                            rows: rows.map { [$0.key] + $0.values.map(Format.number) },
                            rightAligned: Set(1...comparison.runs.count)).render())
        }
    }
}

// MARK: - Sweeps

extension CompareCommand {
    /// A sweep's summary: one column per grid point, each cell the mean ± sample standard deviation of the latest
    /// values over the point's runs (n of them).
    static func printSweep(_ name: String, store: RunDatabase, ids: [Int64], format: OutputFormat = .table) throws {
        let comparison = try store.compare(ids)
        let summary = comparison.sweepSummary()
        switch format {
        case .json: print(sweepJSON(name, summary).rendered())
        case .csv: print(sweepData(summary).csv(), terminator: "")
        case .table:
            let statuses = Dictionary(grouping: comparison.runs, by: \.status.rawValue).map { "\($0.value.count) \($0.key)" }.sorted()
            print(Style.bold("sweep \(name)") + ": \(ids.count) run(s) (\(statuses.joined(separator: ", "))), \(summary.groups.count) grid point(s)"
                + (summary.seedKeys.isEmpty ? "" : "; over \(summary.seedKeys.joined(separator: ", "))"))
            let headers = ["key"] + summary.groups.enumerated().map { index, group in
                "\(index + 1): \(group.label) (runs \(group.runIDs.map(String.init).joined(separator: ",")))"
            }
            func cell(_ statistic: SeedStatistic?) -> String {
                guard let statistic else { return "—" }
                let spread = statistic.standardDeviation.map { " ± " + Format.number($0) } ?? ""
                return Format.number(statistic.mean) + spread + " (n=\(statistic.count))"
            }
            // Scores recorded as evaluations are shown once, under their protocol, not again among the metrics.
            let scored = Set(summary.evaluations.map(\.key))
            var sections = [("metrics (latest), mean ± std over seeds", summary.metrics.filter { !scored.contains($0.key) })]
            for label in summary.evaluations.compactMap(\.protocol).reduce(into: [String](), { if !$0.contains($1) { $0.append($1) } }) {
                sections.append(("evaluations (latest), \(label)", summary.evaluations.filter { $0.protocol == label }))
            }
            for (title, rows) in sections where !rows.isEmpty {
                print("\n" + Style.bold(title))
                print(TextTable(headers: headers, rows: rows.map { [$0.key] + $0.statistics.map(cell) },
                                rightAligned: Set(1...summary.groups.count)).render())
            }
        }
    }

    static func sweepJSON(_ name: String, _ summary: SweepSummary) -> JSONValue {
        func statistic(_ s: SeedStatistic?) -> JSONValue {
            guard let s else { return .null }
            return .object([("n", JSONValue(s.count)), ("mean", .number(s.mean)), ("std", JSONValue(s.standardDeviation)),
                            ("values", .array(s.values.map { .number($0) }))])
        }
        func rows(_ rows: [SweepSummary.Row]) -> JSONValue {
            .array(rows.map { row in
                .object([("key", .string(row.key)), ("protocol", JSONValue(row.protocol)),
                         ("groups", .array(row.statistics.map(statistic)))])
            })
        }
        return .object([
            ("sweep", .string(name)),
            ("groups", .array(summary.groups.map { group in
                .object([("params", .object(group.assignments.map { ($0.key, JSONValue($0.value)) })),
                         ("runs", .array(group.runIDs.map { .integer($0) }))])
            })),
            ("metrics", rows(summary.metrics)),
            ("evaluations", rows(summary.evaluations)),
        ])
    }

    /// `section,key,protocol,group,params,n,mean,std`: one row per metric and grid point.
    static func sweepData(_ summary: SweepSummary) -> DataTable {
        var rows: [[JSONValue]] = []
        for (section, list) in [("metric", summary.metrics), ("evaluation", summary.evaluations)] {
            for row in list {
                for (index, statistic) in row.statistics.enumerated() {
                    guard let statistic else { continue }
                    rows.append([.string(section), .string(row.key), JSONValue(row.protocol), JSONValue(index + 1),
                                 .string(summary.groups[index].label), JSONValue(statistic.count), .number(statistic.mean),
                                 JSONValue(statistic.standardDeviation)])
                }
            }
        }
        return DataTable(columns: ["section", "key", "protocol", "group", "params", "n", "mean", "std"], rows: rows)
    }
}

// MARK: - As data

extension CompareCommand {
    /// `compare --format json`: the runs' rows, then params (those that differ, or all with --all), metrics and
    /// evaluations, each value listed in the order of `runs`.
    static func json(_ c: RunComparison, all: Bool) -> JSONValue {
        let params = all ? c.params : c.differingParams
        return .object([
            ("runs", .array(c.runs.map(RunsCommand.runObject))),
            ("params", .array(params.map { p in
                .object([("key", .string(p.key)), ("values", .array(p.values.map(JSONValue.init)))])
            })),
            ("metrics", .array(c.metrics.map { m in
                .object([("key", .string(m.key)), ("values", .array(m.values.map(JSONValue.init)))])
            })),
            ("evaluations", .array(c.evaluations.map { e in
                .object([("key", .string(e.key)), ("protocol", .string(e.protocol)),
                         ("values", .array(e.values.map(JSONValue.init)))])
            })),
        ])
    }

    /// `compare --format csv`: `section,key,protocol,run_<id>…`, one row per run field, param (those that differ,
    /// or all with --all), metric and evaluation.
    static func data(_ c: RunComparison, all: Bool) -> DataTable {
        var rows: [[JSONValue]] = []
        let fields: [(String, (Run) -> JSONValue)] = [
            ("name", { .string($0.name) }), ("algorithm", { .string($0.algorithm) }), ("corpus", { .string($0.corpus) }),
            ("status", { .string($0.status.rawValue) }), ("duration_s", { .number($0.duration) }),
            ("code_commit", { JSONValue($0.codeCommit) }),
        ]
        rows += fields.map { name, value in [.string("run"), .string(name), .null] + c.runs.map(value) }
        rows += (all ? c.params : c.differingParams).map { [.string("param"), .string($0.key), .null] + $0.values.map(JSONValue.init) }
        rows += c.metrics.map { [.string("metric"), .string($0.key), .null] + $0.values.map(JSONValue.init) }
        rows += c.evaluations.map { [.string("evaluation"), .string($0.key), .string($0.protocol)] + $0.values.map(JSONValue.init) }
        return DataTable(columns: ["section", "key", "protocol"] + c.runs.map { "run_\($0.id ?? 0)" }, rows: rows)
    }
}
