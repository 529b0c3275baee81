import ArgumentParser
import Foundation
import Plot
import RunStore
import Training
import Workbench

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw SVG charts straight from the run store.",
        discussion: """
            Each chart is one standalone SVG file (no fonts, scripts or links outside it), written to --output or \
            printed. Runs are given by id or name.

            Examples:
              textgan plot metric loss 3 --output loss.svg
              textgan plot metric nll_oracle,nll_gen_held_out 3 4 --phase adversarial
              textgan plot quality-diversity 3 4 --order 5 --output qd.svg
              textgan plot d-accuracy 3
            """,
        subcommands: [Metric.self, QualityDiversity.self, DiscriminatorAccuracy.self])

    /// `--output`, shared by every chart.
    struct OutputOptions: ParsableArguments {
        @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Write the SVG here (default: print it).", valueName: "file"))
        var output: String?

        func write(_ chart: SVGChart) throws {
            let svg = chart.svg()
            guard let output else {
                print(svg, terminator: "")
                return
            }
            try writeFile(svg, to: output)
            print("wrote \(output) (\(chart.series.count) series, \(chart.series.map(\.points.count).reduce(0, +)) points)")
        }
    }

    /// Runs by id or name, each checked against the store.
    static func runIDs(_ references: [String], _ database: DatabaseOptions) throws -> (RunDatabase, [Int64]) {
        let store = try database.openExisting()
        let ids = try references.map { try database.runID($0) }
        for id in ids {
            do { _ = try store.run(id) } catch RunStoreError.noSuchRun {
                throw WorkbenchError("no run \(id) in the run store \(database.path) (see `textgan runs`)")
            }
        }
        guard Set(ids).count == ids.count else { throw WorkbenchError("each run may appear only once") }
        return (store, ids)
    }
}

/// Writes `text` to `path` atomically, with a one-line error naming the file.
func writeFile(_ text: String, to path: String) throws {
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw WorkbenchError("cannot write \(path): \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
    }
}

extension PlotCommand {
    struct Metric: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Any metric over run steps, for one or many runs, with the training phases shaded.",
            discussion: """
                A key is read from the metrics table (training's losses and scores, by phase: loss, grad_norm, \
                d_loss, d_accuracy_real, pg_loss, mean_reward, nll_oracle, nll_gen_held_out, bleu4, …) and, when a run has \
                no such row there, from its evaluations (one series per protocol: `textgan eval`'s rouge_l, \
                distinct2, …). The x axis is the run step, which counts over every phase. With several runs whose \
                phases lie at different steps, each run's phase changes are marked instead of shaded.
                """)

        @Argument(help: ArgumentHelp("Metric keys, comma-separated (e.g. loss or bleu2,bleu4).", valueName: "keys"),
                  transform: { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } })
        var keys: [String]

        @Argument(help: ArgumentHelp("One or more run ids or names.", valueName: "run"))
        var runs: [String]

        @Option(help: "Only the rows of this phase: \(PlotCommand.phases.joined(separator: ", ")).")
        var phase: String?

        @OptionGroup var output: OutputOptions
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard !keys.isEmpty, !keys.contains(where: \.isEmpty) else { throw ValidationError("give metric keys such as loss or bleu2,bleu4") }
            guard !runs.isEmpty else { throw ValidationError("give at least one run") }
            if let phase, !PlotCommand.phases.contains(phase) {
                throw ValidationError("--phase must be one of \(PlotCommand.phases.joined(separator: ", ")), not \(phase)")
            }
        }

        func run() throws {
            let (store, ids) = try PlotCommand.runIDs(runs, database)
            try output.write(RunCharts.metric(keys, runs: ids, phase: phase, in: store))
        }
    }

    struct QualityDiversity: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "quality-diversity",
            abstract: "BLEU-n against Self-BLEU-n, one curve per run over its temperature sweep.",
            discussion: """
                Reads the scores `textgan eval <run> --sweep 0.5,0.7,1.0,1.2,1.5` stored: of each run's sweeps \
                (same step, sample count, seed and sampling filters), the one with the most temperatures, the \
                latest on ties. Up and to the left is better: closer to the references and more diverse.
                """)

        @Argument(help: ArgumentHelp("One or more run ids or names.", valueName: "run"))
        var runs: [String]

        @Option(help: "The n of BLEU-n and Self-BLEU-n (as `eval` records them: 2…5).")
        var order = 5

        @Option(help: "Only sweeps of this many samples.")
        var samples: Int?

        @OptionGroup var output: OutputOptions
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard !runs.isEmpty else { throw ValidationError("give at least one run") }
            guard (1...9).contains(order) else { throw ValidationError("--order must be from 1 to 9, not \(order)") }
        }

        func run() throws {
            let (store, ids) = try PlotCommand.runIDs(runs, database)
            try output.write(RunCharts.qualityDiversity(runs: ids, order: order, samples: samples, in: store))
        }
    }

    struct DiscriminatorAccuracy: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "d-accuracy",
            abstract: "D's accuracy on real and on generated sequences over training (d_accuracy_real, d_accuracy_fake).")

        @Argument(help: ArgumentHelp("One or more run ids or names of runs with a discriminator.", valueName: "run"))
        var runs: [String]

        @OptionGroup var output: OutputOptions
        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard !runs.isEmpty else { throw ValidationError("give at least one run") }
        }

        func run() throws {
            let (store, ids) = try PlotCommand.runIDs(runs, database)
            try output.write(RunCharts.discriminatorAccuracy(runs: ids, in: store))
        }
    }

    static let phases = [Phase.mle, Phase.autoencoder, Phase.discriminator, Phase.adversarial]
}
