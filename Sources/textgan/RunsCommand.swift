import ArgumentParser
import Foundation
import RunStore
import TextPipeline

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List recorded runs, or show one in full.",
        discussion: """
            A run whose heartbeat stopped (its process was killed or the machine went down) is listed as crashed. \
            For anything these views do not show, query the store directly with `textgan sql`; \
            docs/run-store.md describes its tables.
            """,
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self)
}

extension RunsCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A table of recent runs, newest first: status, duration, best BLEU-4 (at temperature 1, no top-k/top-p) and latest NLL.")

        @OptionGroup var database: DatabaseOptions

        @Option(help: "Only runs with this status: \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
        var status: RunStatus?

        @Option(name: .customLong("algo"), help: "Only runs of this algorithm (e.g. seqgan).")
        var algorithm: String?

        @Option(help: "Only runs on this corpus.")
        var corpus: String?

        @Option(help: "At most this many runs.")
        var limit = 20

        func validate() throws {
            guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
        }

        func run() throws {
            guard database.exists else {
                print("No runs recorded yet (\(database.path) does not exist).")
                return
            }
            let store = try database.openExisting()
            let summaries = try store.runs(
                RunFilter(status: status, algorithm: algorithm, corpus: corpus, limit: limit))
            if summaries.isEmpty {
                print("No runs match.")
                return
            }
            print(RunsCommand.table(summaries))
        }
    }

    /// Recent runs as a table (shared with the REPL's /runs).
    static func table(_ summaries: [RunSummary]) -> String {
        TextTable(
            headers: ["id", "name", "algorithm", "corpus", "status", "started (UTC)", "duration", "best bleu4",
                      "nll_oracle", "nll_test"],
            rows: summaries.map { s in
                [String(s.run.id ?? 0), s.run.name, s.run.algorithm, s.run.corpus, s.run.status.rawValue,
                 Format.date(s.run.startedAt), Format.duration(s.run.duration), Format.number(s.bestBLEU4),
                 Format.number(s.latestNLLOracle), Format.number(s.latestNLLTest)]
            },
            rightAligned: [0, 6, 7, 8, 9],
            style: { column, cell in column == 4 ? Style.status(cell) : cell }
        ).render()
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One run in full: what it was, its params, metrics, evaluations, last samples, its checkpoint files.")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: ArgumentHelp("The run's id or name (see `textgan runs`).", valueName: "run"))
        var reference: String

        @Option(help: "How many of the last step's samples to print.")
        var samples = 5

        @Flag(help: "Print the full config JSON instead of the flattened params.")
        var config = false

        func validate() throws {
            guard samples >= 0 else { throw ValidationError("--samples must not be negative") }
        }

        func run() throws {
            let details = try database.openExisting().details(of: database.runID(reference), sampleLimit: samples)
            let run = details.run
            print(Style.bold("run \(run.id ?? 0): \(run.name)") + "  " + Style.status(run.status.rawValue))
            var facts: [(String, String)] = [
                ("algorithm", run.algorithm),
                ("generator", run.generator),
                ("discriminator", run.discriminator ?? "—"),
                ("corpus", run.corpus + (run.corpusSHA256.map { "  sha256 \($0)" } ?? "")),
                ("vocabulary", run.vocabulary ?? "—"),
                ("seed", String(run.seedValue)),
                ("started", Format.date(run.startedAt) + " UTC"),
                ("ended", run.endedAt.map { Format.date($0) + " UTC" } ?? "—"),
                ("duration", Format.duration(run.duration)),
                ("last heartbeat", Format.date(run.heartbeatAt) + " UTC"),
            ]
            if let reason = run.exitReason { facts.append(("exit reason", reason)) }
            if run.status == .crashed {
                facts.append(("note", "no heartbeat for over \(Format.number(run.staleAfter)) s: the process died"))
            }
            let dirty = run.codeDirty == true ? " (uncommitted changes)" : ""
            facts += [
                ("code", run.codeCommit.map { $0 + dirty } ?? "— (not a git checkout)"),
                ("host", run.host ?? "—"),
                ("toolchain", run.toolchain ?? "—"),
            ]
            let width = facts.map { displayWidth($0.0) }.max() ?? 0
            for (name, value) in facts { print("  " + pad(name, width) + "  " + value) }

            if config {
                section("config")
                print(prettyJSON(run.configJSON))
            } else {
                section("params (\(details.params.count))")
                if !details.params.isEmpty {
                    print(TextTable(headers: ["key", "value"], rows: details.params.map { [$0.key, $0.text] })
                        .render())
                }
            }

            section("metrics")
            if details.metrics.isEmpty { print("none recorded") } else { print(summaryTable(details.metrics)) }

            section("evaluations")
            if details.evaluations.isEmpty {
                print("none recorded")
            } else {
                print(summaryTable(details.evaluations))
                for protocolLine in Set(details.latestEvaluations.map { describe($0.evaluationProtocol) }).sorted() {
                    print(Style.dim("protocol: " + protocolLine))
                }
            }

            section("last samples")
            if details.lastSamples.isEmpty {
                print("none recorded")
            } else {
                let first = details.lastSamples[0]
                print(Style.dim("step \(first.step), temperature \(Format.number(first.temperature))"))
                for sample in details.lastSamples { print("  " + sample.text) }
            }

            // Training overwrites latest and best in place: one line per file that exists, described by its
            // latest recorded write (the only one whose hash is the file's).
            let files = details.checkpointFiles
            let present = files.filter { $0.location != nil }
            section("checkpoints (\(present.count) file\(present.count == 1 ? "" : "s"), "
                    + "\(details.checkpoints.count) write\(details.checkpoints.count == 1 ? "" : "s") recorded)")
            if files.isEmpty {
                print("none recorded")
            } else {
                if !present.isEmpty {
                    print(TextTable(
                        headers: ["file", "step", "bytes", "sha256", "writes", "path"],
                        rows: present.map { f in
                            [URL(fileURLWithPath: f.path).lastPathComponent, String(f.latest.step),
                             String(f.latest.bytes), String(f.latest.sha256.prefix(12)), String(f.writes),
                             f.location?.path ?? f.path]
                        },
                        rightAligned: [1, 2, 4]).render())
                }
                for f in present where f.bytesOnDisk != f.latest.bytes {
                    print(Style.dim("note: \(f.location?.path ?? f.path) is \(f.bytesOnDisk.map(String.init) ?? "?") bytes, "
                                    + "not the \(f.latest.bytes) of its last recorded write: changed since"))
                }
                for f in files where f.location == nil {
                    print(Style.dim("missing: \(f.path) (\(f.writes) write\(f.writes == 1 ? "" : "s") recorded; deleted or moved)"))
                }
            }
        }

        private func section(_ title: String) {
            print("\n" + Style.bold(title))
        }

        private func summaryTable(_ summaries: [MetricSummary]) -> String {
            let withPhase = summaries.contains { $0.phase != nil }
            let headers = (withPhase ? ["phase"] : []) + ["key", "count", "steps", "last", "min", "max", "nan/inf"]
            return TextTable(
                headers: headers,
                rows: summaries.map { s in
                    (withPhase ? [s.phase ?? ""] : [])
                        + [s.key, String(s.count), "\(s.firstStep)–\(s.lastStep)", Format.number(s.last),
                           Format.number(s.min), Format.number(s.max), s.nonFinite == 0 ? "" : String(s.nonFinite)]
                },
                rightAligned: Set((withPhase ? 2 : 1)...(withPhase ? 7 : 6))).render()
        }

        private func describe(_ p: EvaluationProtocol) -> String {
            var parts = ["\(p.sampleCount) samples", "references \(p.referenceSet)"]
            if let count = p.referenceCount { parts[1] += " (\(count))" }
            parts.append("tokenizer \(p.tokenizer)")
            if let smoothing = p.smoothing { parts.append("smoothing \(smoothing)") }
            if let temperature = p.temperature { parts.append("temperature \(Format.number(temperature))") }
            if let seed = p.seed { parts.append("seed \(seed)") }
            return parts.joined(separator: ", ")
        }

        private func prettyJSON(_ json: String) -> String {
            guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)),
                  let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            else { return json }
            return String(decoding: data, as: UTF8.self)
        }
    }
}
