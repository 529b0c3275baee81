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
    var runs: [String]

    @Flag(help: "Also list the params that are identical in every run.")
    var all = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard runs.count >= 2 else { throw ValidationError("give at least two run ids to compare") }
        guard Set(runs).count == runs.count else { throw ValidationError("each run may appear only once") }
    }

    func run() throws {
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
