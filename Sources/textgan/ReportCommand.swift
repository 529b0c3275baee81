import ArgumentParser
import Foundation
import RunStore
import Workbench

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML page about some runs: table, configs, curves, samples, scores.",
        discussion: """
            The page holds the runs table, then for each run what it was (algorithm, models, corpus, seed, code), \
            its config, its curves as inline SVG (training loss, held-out NLL, BLEU and Self-BLEU, D's accuracy, \
            the mean rollout reward: whichever it recorded), its last samples and its latest scores, one table per \
            protocol; runs scored over a temperature sweep (`textgan eval RUN --sweep …`) are compared on the \
            quality–diversity plane. It has no script and loads nothing: it opens from disk with no network.

            Examples:
              textgan report                        # the 20 most recent runs, into report.html
              textgan report 3 4 --output seqgan-vs-mle.html
            """)

    @Argument(help: ArgumentHelp("Run ids or names (default: the most recent runs, up to --limit).", valueName: "run"))
    var runs: [String] = []

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Where to write the page.", valueName: "file"))
    var output = "report.html"

    @Option(help: "Without runs named: at most this many of the most recent.")
    var limit = 20

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let store: RunDatabase
        let ids: [Int64]
        if runs.isEmpty {
            store = try database.openExisting()
            ids = try store.runs(RunFilter(limit: limit)).map { $0.run.id! }
            guard !ids.isEmpty else { throw WorkbenchError("no runs recorded in \(database.path) yet") }
        } else {
            (store, ids) = try PlotCommand.runIDs(runs, database)
        }
        let page = try ReportPage(runs: ids, in: store, source: database.path)
        try writeFile(page.html, to: output)
        print("wrote \(output): \(ids.count) run\(ids.count == 1 ? "" : "s"), \(page.chartCount) charts")
    }
}
