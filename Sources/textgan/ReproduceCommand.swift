import ArgumentParser
import Foundation
import NumericCore
import RunStore
import Workbench

struct ReproduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reproduce",
        abstract: "Run a published experiment and print our numbers beside the published ones.",
        discussion: """
            An experiment (Sources/Workbench/PublishedExperiments.swift) names its paper, the numbers it published, \
            the runs that reproduce it (an algorithm and a config overlay per budget) and the evaluation protocol \
            its numbers follow. reproduce trains those runs as ordinary runs of the run store, named \
            <experiment>-<run>-<budget>-seed<N>, scores each under the protocol (recorded like `eval --protocol`) \
            and prints ours beside the published numbers with the citation and the budget that ran.

            Running it again reuses what is there: a finished run with the same config is not trained again, an \
            interrupted or crashed one is resumed, and scores already recorded under the protocol are read back. \
            --budget full is the published schedule (hours on two cores for SeqGAN); short is a shortened one of \
            minutes, stated per run in the registry and in docs/results.md.

            Experiments: \(PublishedExperiment.registry.map(\.name).joined(separator: ", ")).

            Examples:
              textgan reproduce seqgan-oracle --budget short
              textgan reproduce texygen-coco --budget short --runs MLE,SeqGAN --format csv
              textgan reproduce --list
            """)

    @Argument(help: "The experiment (see --list).")
    var experiment: String?

    @Option(help: "full (the published schedule) or short (minutes; see docs/results.md).")
    var budget: Budget = .full

    @Option(help: "The seed of every run's training and of the scoring samples.")
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp("Only these runs of the experiment, comma-separated labels (a run's source comes too).",
                               valueName: "labels"),
            transform: { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } })
    var runs: [String]?

    @Option(help: ArgumentHelp("Also read experiments from this JSON file (an array in the registry's form).",
                               valueName: "file"), completion: .file(extensions: ["json"]))
    var experiments: String?

    @Flag(help: "List the experiments, their runs and published numbers, and exit.")
    var list = false

    @Option(help: "Threads for training, sampling and scoring.")
    var threads: Int = 2

    @OptionGroup var output: OutputOptions
    @OptionGroup var workspace: WorkspaceOptions
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        if experiment == nil && !list { throw ValidationError("name an experiment (see `textgan reproduce --list`)") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be from 1 to 1024, not \(threads)") }
    }

    /// The registry, with the --experiments file's experiments after it.
    func known() throws -> [PublishedExperiment] {
        try PublishedExperiment.registry + (experiments.map { try PublishedExperiment.load(from: URL(fileURLWithPath: $0)) } ?? [])
    }

    /// The experiment named `name`, or a one-line error with the closest name.
    static func find(_ name: String, in experiments: [PublishedExperiment]) throws -> PublishedExperiment {
        if let found = experiments.first(where: { $0.name == name }) { return found }
        let names = experiments.map(\.name)
        let suggestion = CommandSuggestion.closest(to: name, among: names).map { "did you mean \($0)? " } ?? ""
        throw WorkbenchError("no experiment \(name); \(suggestion)the experiments are \(names.joined(separator: ", "))")
    }

    func run() throws {
        let experiments = try known()
        if list {
            printList(experiments)
            return
        }
        let chosen = try Self.find(experiment!, in: experiments)
        BLAS.setThreads(threads)
        Parallel.threads = threads
        let root = try workspace.packageRoot()
        let store = try RunDatabase(path: database.path)  // created on first use, as `train` does
        var reproduction = try Reproduction(
            experiment: chosen, budget: budget, seed: seed, runs: runs, store: store, runsDirectory: database.runsDirectory,
            root: root, sharedData: workspace.sharedDataDirectory(root: root), threads: threads)
        // Progress goes to stderr when stdout carries JSON or CSV.
        let format = output.chosen
        let progress: (String) -> Void = format == .table ? { print($0) }
            : { FileHandle.standardError.write(Data(("\($0)\n").utf8)) }
        reproduction.log = progress
        var reporters: [ConsoleReporter] = []
        if format == .table {
            reproduction.observer = { session in
                let reporter = ConsoleReporter(render: session.data.render, selfBLEUAlarm: session.config.evaluation.selfBLEUAlarm)
                reporters.append(reporter)
                return reporter.handle
            }
        }
        let result = try reproduction.run()
        reporters.forEach { $0.finish() }
        let table = ReproductionTable(experiment: chosen, budget: budget, seed: seed, result: result)
        switch format {
        case .table: print(table.text())
        case .json: print(table.json().rendered())
        case .csv: print(table.data().csv(), terminator: "")
        }
        if let code = result.interruptionExitCode { throw ExitCode(code) }
    }

    private func printList(_ experiments: [PublishedExperiment]) {
        for e in experiments {
            print("\(e.name): \(e.title)")
            print("  \(e.citation); \(e.source)")
            print("  corpus \(e.corpus), protocol \(e.protocolName); runs: "
                + e.runs.map { $0.label + ($0.initFrom.map { " (from \($0))" } ?? "") }.joined(separator: ", "))
        }
    }
}

extension Budget: ExpressibleByArgument {}

/// Ours beside the published, in the three output formats.
struct ReproductionTable {
    let experiment: PublishedExperiment
    let budget: Budget
    let seed: UInt64
    let result: Reproduction.Result

    private var sweeps: Bool { Set(result.lines.map(\.temperature)).count > 1 }

    func text() -> String {
        var lines = ["textgan reproduce \(experiment.name) — \(experiment.title)",
                     "  published  \(experiment.citation); \(experiment.source)",
                     "  budget     \(budget.rawValue), seed \(seed); protocol \(experiment.protocolName)"]
        for run in result.runs {
            let how = run.reused ? "reused (finished before)" : String(format: "trained in %.1f min", run.trainingSeconds / 60)
            lines.append("  run \(run.runID)     \(run.label): \(run.name), \(how)\(run.scoresReused ? "; scores read back" : "")")
        }
        lines.append("  notes      \(experiment.notes)")
        lines.append("")
        var headers = ["run", "metric"]
        if sweeps { headers.insert("T", at: 1) }
        headers += ["ours", "published", "ours − published"]
        let rows: [[String]] = result.lines.map { line in
            var row = [line.label, line.metric]
            if sweeps { row.insert(Format.number(line.temperature), at: 1) }
            var gap = ""
            if let ours = line.ours, let published = line.published { gap = String(format: "%+.3f", ours - published) }
            return row + [cell(line.ours), cell(line.published), gap]
        }
        let right = Set((headers.count - 3)..<headers.count)
        lines.append(TextTable(headers: headers, rows: rows, rightAligned: right).render())
        return lines.joined(separator: "\n")
    }

    private func cell(_ value: Double?) -> String {
        guard let value else { return "—" }
        return value.isNaN ? "undefined" : String(format: "%.3f", value)
    }

    /// One row per run, temperature and metric.
    func data() -> DataTable {
        DataTable(
            columns: ["experiment", "budget", "seed", "protocol", "run", "run_id", "temperature", "metric", "ours", "published"],
            rows: result.lines.map { line in
                [.string(experiment.name), .string(budget.rawValue), .integer(Int64(bitPattern: seed)),
                 .string(experiment.protocolName), .string(line.label), .integer(line.runID), .number(line.temperature),
                 .string(line.metric), JSONValue(line.ours), JSONValue(line.published)]
            })
    }

    func json() -> JSONValue {
        .object([
            ("experiment", .string(experiment.name)), ("title", .string(experiment.title)),
            ("citation", .string(experiment.citation)), ("source", .string(experiment.source)),
            ("budget", .string(budget.rawValue)), ("seed", .integer(Int64(bitPattern: seed))),
            ("protocol", .string(experiment.protocolName)),
            ("runs", .array(result.runs.map { run in
                .object([("label", .string(run.label)), ("run_id", .integer(run.runID)), ("name", .string(run.name)),
                         ("reused", .bool(run.reused)), ("scores_reused", .bool(run.scoresReused)),
                         ("training_seconds", .number(run.trainingSeconds))])
            })),
            ("scores", data().jsonArray),
        ])
    }
}
