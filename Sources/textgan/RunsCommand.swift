import ArgumentParser
import Foundation
import RunStore
import TextPipeline

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List recorded runs, show one in full; tag, note, rename, delete and export them.",
        discussion: """
            A run whose heartbeat stopped (its process was killed or the machine went down) is listed as crashed. \
            For anything these views do not show, query the store directly with `textgan sql`; \
            docs/run-store.md describes its tables.
            """,
        subcommands: [List.self, Show.self, Rename.self, Note.self, Tag.self, Untag.self, Delete.self, Export.self],
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

        @Option(help: ArgumentHelp("Only runs whose name matches this pattern (* any text, ? one character, [abc] one of them; case-sensitive).", valueName: "glob"))
        var name: String?

        @Option(help: ArgumentHelp("Only runs with this tag (repeat for runs that have all of them).", valueName: "tag"))
        var tag: [String] = []

        @Option(help: "At most this many runs.")
        var limit = 20

        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
        }

        func run() throws {
            let format = output.chosen
            var summaries: [RunSummary] = []
            if database.exists {
                summaries = try database.openExisting().runs(
                    RunFilter(status: status, algorithm: algorithm, corpus: corpus, namePattern: name, tags: tag, limit: limit))
            }
            switch format {
            case .json: print(RunsCommand.data(summaries).jsonArray.rendered())
            case .csv: print(RunsCommand.data(summaries).csv(), terminator: "")
            case .table:
                if !database.exists {
                    print("No runs recorded yet (\(database.path) does not exist).")
                } else if summaries.isEmpty {
                    print("No runs match.")
                } else {
                    print(RunsCommand.table(summaries))
                }
            }
        }
    }

    /// Recent runs as data (`--format json|csv`): one row per run, times in ISO 8601 UTC, durations in seconds.
    static func data(_ summaries: [RunSummary]) -> DataTable {
        DataTable(
            columns: ["id", "name", "algorithm", "generator", "corpus", "status", "started_at", "ended_at",
                      "duration_s", "best_bleu4", "nll_oracle", "nll_test", "tags", "note"],
            rows: summaries.map { s in
                [JSONValue(s.run.id), .string(s.run.name), .string(s.run.algorithm), .string(s.run.generator),
                 .string(s.run.corpus), .string(s.run.status.rawValue), .string(Format.isoDate(s.run.startedAt)),
                 JSONValue(s.run.endedAt.map(Format.isoDate)), .number(s.run.duration), JSONValue(s.bestBLEU4),
                 JSONValue(s.latestNLLOracle), JSONValue(s.latestNLLTest), .array(s.tags.map { .string($0) }),
                 JSONValue(s.run.note)]
            })
    }

    /// Recent runs as a table (shared with the REPL's /runs).
    static func table(_ summaries: [RunSummary]) -> String {
        // Tags get a column when any run listed has one.
        let tagged = summaries.contains { !$0.tags.isEmpty }
        return TextTable(
            headers: ["id", "name", "algorithm", "corpus", "status", "started (UTC)", "duration", "best bleu4",
                      "nll_oracle", "nll_test"] + (tagged ? ["tags"] : []),
            rows: summaries.map { s in
                [String(s.run.id ?? 0), s.run.name, s.run.algorithm, s.run.corpus, s.run.status.rawValue,
                 Format.date(s.run.startedAt), Format.duration(s.run.duration), Format.number(s.bestBLEU4),
                 Format.number(s.latestNLLOracle), Format.number(s.latestNLLTest)]
                    + (tagged ? [s.tags.joined(separator: ", ")] : [])
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

        @Flag(help: ArgumentHelp(
            "Then print each metric and evaluation as the run records it, until the run stops (Ctrl-C stops following, not the run).",
            discussion: "With --format json: one JSON object per recorded row (JSON lines), then one for the run's final status."))
        var follow = false

        @Option(help: ArgumentHelp("With --follow, how often to look for new rows.", valueName: "seconds"))
        var interval = 2.0

        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard samples >= 0 else { throw ValidationError("--samples must not be negative") }
            guard interval.isFinite, (0.05...3600).contains(interval) else {
                throw ValidationError("--interval must be from 0.05 to 3600 seconds, not \(interval)")
            }
            if follow, output.format == .csv { throw ValidationError("--follow prints lines or JSON lines: --format table or json") }
        }

        func run() throws {
            if follow {
                try RunFollower(store: database.openExisting(), id: database.runID(reference), interval: interval,
                                json: output.chosen == .json, show: { printTable($0) }, sampleLimit: samples).run()
                return
            }
            let details = try database.openExisting().details(of: database.runID(reference), sampleLimit: samples)
            switch output.chosen {
            case .table: printTable(details)
            case .json: print(RunsCommand.json(details).rendered())
            case .csv: print(RunsCommand.facts(details).csv(), terminator: "")
            }
        }

        func printTable(_ details: RunDetails) {
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
            if !details.tags.isEmpty { facts.append(("tags", details.tags.joined(separator: ", "))) }
            if let reason = run.exitReason { facts.append(("exit reason", reason)) }
            if run.status == .crashed {
                facts.append(("note", "no heartbeat for over \(Format.number(run.staleAfter)) s: the process died"))
            }
            let dirty = run.codeDirty == true ? " (uncommitted changes)" : ""
            facts += [
                ("code", run.codeCommit.map { $0 + dirty } ?? "— (not a git checkout)"),
                ("host", run.host ?? "—"),
                ("toolchain", run.toolchain ?? "—"),
                ("cpu", run.cpu ?? "—"),
                ("kernels", run.kernels ?? "—"),
            ]
            let width = facts.map { displayWidth($0.0) }.max() ?? 0
            for (name, value) in facts { print("  " + pad(name, width) + "  " + value) }
            if let note = run.note {
                section("note")
                print(note)
            }

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

// MARK: - One run as data

extension RunsCommand {
    /// `runs show --format json`: the run's row, its config, params, metric and evaluation summaries, latest
    /// evaluations with their protocol, last samples and checkpoint files.
    static func json(_ details: RunDetails) -> JSONValue {
        let run = details.run
        func summary(_ s: MetricSummary) -> JSONValue {
            .object([("phase", JSONValue(s.phase)), ("key", .string(s.key)), ("count", JSONValue(s.count)),
                     ("first_step", JSONValue(s.firstStep)), ("last_step", JSONValue(s.lastStep)),
                     ("last", .number(s.last)), ("min", JSONValue(s.min)), ("max", JSONValue(s.max)),
                     ("non_finite", JSONValue(s.nonFinite))])
        }
        return .object([
            ("run", runObject(run)),
            ("tags", .array(details.tags.map { .string($0) })),
            ("config", .raw(run.configJSON)),  // json_valid, checked by the store
            ("params", .object(details.params.map { ($0.key, JSONValue(param: $0)) })),
            ("metrics", .array(details.metrics.map(summary))),
            ("evaluations", .array(details.evaluations.map(summary))),
            ("latest_evaluations", .array(details.latestEvaluations.map(evaluationObject))),
            ("last_samples", .array(details.lastSamples.map { s in
                .object([("step", JSONValue(s.step)), ("temperature", .number(s.temperature)), ("text", .string(s.text))])
            })),
            ("checkpoint_files", .array(details.checkpointFiles.map { f in
                .object([("path", .string(f.path)), ("step", JSONValue(f.latest.step)), ("sha256", .string(f.latest.sha256)),
                         ("bytes", JSONValue(f.latest.bytes)), ("writes", JSONValue(f.writes)),
                         ("location", JSONValue(f.location?.path)), ("bytes_on_disk", JSONValue(f.bytesOnDisk))])
            })),
        ])
    }

    /// A run's row as a JSON object (also one line of `runs export --format jsonl`).
    static func runObject(_ run: Run) -> JSONValue {
        .object([
            ("id", JSONValue(run.id)), ("name", .string(run.name)), ("algorithm", .string(run.algorithm)),
            ("generator", .string(run.generator)), ("discriminator", JSONValue(run.discriminator)),
            ("corpus", .string(run.corpus)), ("corpus_sha256", JSONValue(run.corpusSHA256)),
            ("vocabulary", JSONValue(run.vocabulary)), ("seed", .string(String(run.seedValue))),
            ("status", .string(run.status.rawValue)), ("started_at", .string(Format.isoDate(run.startedAt))),
            ("ended_at", JSONValue(run.endedAt.map(Format.isoDate))), ("duration_s", .number(run.duration)),
            ("exit_reason", JSONValue(run.exitReason)), ("code_commit", JSONValue(run.codeCommit)),
            ("code_dirty", run.codeDirty.map { .bool($0) } ?? .null), ("host", JSONValue(run.host)),
            ("toolchain", JSONValue(run.toolchain)),
            ("cpu", JSONValue(run.cpu)), ("kernels", JSONValue(run.kernels)), ("note", JSONValue(run.note)),
        ])
    }

    static func evaluationObject(_ e: Evaluation) -> JSONValue {
        let p = e.evaluationProtocol
        return .object([
            ("step", JSONValue(e.step)), ("phase_step", JSONValue(e.phaseStep)), ("metric", .string(e.metric)),
            ("value", .number(e.value)), ("sample_count", JSONValue(p.sampleCount)),
            ("reference_set", .string(p.referenceSet)), ("reference_count", JSONValue(p.referenceCount)),
            ("tokenizer", .string(p.tokenizer)), ("smoothing", JSONValue(p.smoothing)),
            ("seed", JSONValue(p.seed.map(String.init))), ("temperature", JSONValue(p.temperature)),
            ("top_k", JSONValue(p.topK)), ("top_p", JSONValue(p.topP)), ("recorded_by", JSONValue(e.recordedBy)),
        ])
    }

    /// `runs show --format csv`: one fact per row, `section,key,phase,step,value`: the run's fields (`run`), tags
    /// (`tag`, key = the tag),
    /// params (`param`), each metric's and evaluation's latest value (`metric`, `evaluation`), the last samples
    /// (`sample`, key = its index) and the checkpoint files (`checkpoint`, value = the path).
    static func facts(_ details: RunDetails) -> DataTable {
        var rows: [[JSONValue]] = []
        if case .object(let fields) = runObject(details.run) {
            rows += fields.map { [.string("run"), .string($0.0), .null, .null, $0.1] }
        }
        rows += details.tags.map { [.string("tag"), .string($0), .null, .null, .null] }
        rows += details.params.map { [.string("param"), .string($0.key), .null, .null, JSONValue(param: $0)] }
        rows += details.metrics.map { [.string("metric"), .string($0.key), JSONValue($0.phase), JSONValue($0.lastStep), .number($0.last)] }
        rows += details.evaluations.map { [.string("evaluation"), .string($0.key), .null, JSONValue($0.lastStep), .number($0.last)] }
        rows += details.lastSamples.enumerated().map { [.string("sample"), JSONValue($0.offset), .null, JSONValue($0.element.step), .string($0.element.text)] }
        rows += details.checkpointFiles.map { f in
            [.string("checkpoint"), .string(URL(fileURLWithPath: f.path).lastPathComponent), .null,
             JSONValue(f.latest.step), .string(f.location?.path ?? f.path)]
        }
        return DataTable(columns: ["section", "key", "phase", "step", "value"], rows: rows)
    }
}
