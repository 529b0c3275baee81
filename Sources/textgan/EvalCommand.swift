import ArgumentParser
import Digest
import Foundation
import Metrics
import Models
import NumericCore
import RunStore
import Workbench

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a trained generator with every metric and record the scores with their protocol.",
        discussion: """
            Loads the checkpoint (the model, config and vocabulary come from the file alone), draws --samples \
            sequences at each temperature, and scores them. The metrics, by the names the run store uses:

            - bleu2..bleu5: BLEU-n of each sample against the whole reference set (the text-GAN convention, \
            nltk-exact), mean over samples.
            - self_bleu2..self_bleu5: each sample against all the other samples (diversity; lower is more diverse).
            - rouge_l: ROUGE-L F1 of each sample against its best-matching reference, mean.
            - ms_jaccard2..ms_jaccard5: MS-Jaccard-n (Montahaei et al. 2019), the generalized Jaccard similarity \
            of the samples' and the references' n-gram rates (occurrences per sentence), geometric mean over \
            1..n: quality and diversity in one number, higher is better.
            - distinct1..distinct4: unique n-grams over all n-grams of the samples.
            - memorisation_rate: the share of samples that are, token for token, a training sentence.
            - longest_copied, longest_copied_mean: the longest token span copied from one training sentence (max, \
            mean).
            - nll_oracle: the oracle's per-token NLL of the samples (synthetic benchmark).
            - nll_test: the generator's per-token NLL of the test split (independent of sampling).
            - nll_gen_train: the generator's per-token NLL of the training split (RelGAN's NLL-gen; protocol \
            relgan reports it instead of nll_test).
            - with --lm RUN: lm_score, the per-token NLL of the samples under RUN's generator, an LM trained on the \
            real training data (Language GANs Falling Short's LM score; quality, lower is better).
            - with --reverse-lm: reverse_lm_score, the per-token NLL of the real test split (the oracle: 2,048 \
            fresh oracle sequences) under an LSTM trained on the samples by MLE inside the evaluation (SeqGAN's \
            sizes, 5 epochs, batch 64, Adam 0.01, seeded by --seed; GFS's reverse-LM score: quality and \
            diversity, lower is better). Each LM is stored with its score (evaluations.language_model).
            - with --privacy: membership_auc (telling --membership-sentences training sentences from as many test \
            sentences by the generator's per-sentence NLL; 0.5 is no leak), membership_auc_reference (by the NLL \
            difference against --reference-run's generator), and for a run trained with --canaries, \
            canary_exposure_<i> and canary_exposure_mean (log2 |R| − log2 rank of each canary among \
            --canary-candidates random sentences of its format; up to log2(candidates + 1)).

            Samples are scored as the tokens a reader sees: up to the first <eos>; a sampled <unk> matches no \
            reference token. References are the corpus's sentences as the run's tokenizer splits them, never cut. \
            The synthetic benchmark's tokens are bare ids, so BLEU and ROUGE-L (which need reference text) are not \
            computed for it; NLL-oracle measures quality there.

            Given a run id, every score goes into the run store's evaluations table at the training position of \
            the checkpoint, with its protocol (sample count, reference set and size, tokenizer, smoothing, seed, \
            temperature, top-k, top-p); a checkpoint file is only scored and printed. --sweep scores several \
            temperatures from the same seed and stores one row per temperature per metric: BLEU-n against \
            Self-BLEU-n is the quality-diversity curve, the fair way to compare a GAN with MLE.

            --match-self-bleu RUN[:n] scores the run at the temperature whose Self-BLEU-n (n 2..5, default 4) matches \
            RUN's (a GAN, say) at T=1, the comparison Language GANs Falling Short asks for: RUN (its latest checkpoint; \
            --best picks the evaluated run's) is scored first, with the same samples, seed, references and filters, \
            and recorded as an evaluation of RUN; then the \
            temperature is searched in [0, --match-max-temperature] from T=1, stepping out in doubling steps until \
            the target is bracketed and narrowing by regula falsi (Illinois), each probe from the same seed, until a \
            probe's Self-BLEU-n is within --match-tolerance of the target or --match-max-probes are spent. A value \
            in (0, 1) instead of RUN is a target of its own. Every probe is a full evaluation, recorded as a --sweep \
            point is; the result says whether the target was matched, is out of reach (above greedy's or below the \
            hottest temperature's Self-BLEU), or lies between two probes, and the matched (or closest) probe is \
            printed beside the target's row.

            Examples:
              textgan eval 3
              textgan eval 3 --best --sweep 0.5,0.7,1.0,1.2,1.5
              textgan eval 5 --best --match-self-bleu 12         # run 5 as diverse as run 12
              textgan eval 5 --best --match-self-bleu 0.42:5     # at Self-BLEU-5 0.42
              textgan eval runs/3/latest.safetensors --samples 2000 --format json
            """
    )

    @Argument(help: "A run id or name (its latest checkpoint, or --best) or a checkpoint file (./name for a file named like a run).")
    var runOrCheckpoint: String

    @Option(help: "Samples drawn and scored at each temperature (default 10,000, or the --protocol's).")
    var samples: Int?

    @Option(name: .customLong("protocol"), help: ArgumentHelp(
        "Score under a named protocol: \(NamedProtocol.all.map(\.name).joined(separator: ", ")). It sets the samples, "
            + "temperatures, references and smoothing, refuses a run whose tokenizer or vocabulary differs from the "
            + "protocol's, and is stored with every score.", valueName: "name"))
    var protocolName: String?

    /// The named protocol, when --protocol names one.
    var namedProtocol: NamedProtocol? { get throws { try protocolName.map(NamedProtocol.named) } }

    var sampleCount: Int { samples ?? (try? namedProtocol)?.sampleCount ?? 10_000 }

    @Option(parsing: .unconditional,
            help: "Evaluate at each of these temperatures, comma-separated (e.g. 0.5,0.7,1.0,1.2,1.5).",
            transform: { text in
                try text.split(separator: ",").map { part in
                    guard let t = Double(part.trimmingCharacters(in: .whitespaces)) else {
                        throw ValidationError("--sweep takes comma-separated temperatures such as 0.5,1.0 (got \"\(text)\")")
                    }
                    return t
                }
            })
    var sweep: [Double]?

    @Option(name: .customLong("match-self-bleu"), help: ArgumentHelp(
        "Score at the temperature whose Self-BLEU-n matches this run's at T=1 (a run id, name or checkpoint file), or "
            + "this value in (0, 1); n is 2..5, default 4. Records every probed temperature.",
        valueName: "run[:n]|value[:n]"), transform: { try SelfBLEUTarget(parsing: $0) })
    var matchSelfBLEU: SelfBLEUTarget?

    @Option(help: ArgumentHelp("How close the matched Self-BLEU must come to the target (--match-self-bleu; default 0.005).",
                               valueName: "δ"))
    var matchTolerance: Double?

    @Option(help: ArgumentHelp("The hottest temperature the match searches (default 2).", valueName: "T"))
    var matchMaxTemperature: Double?

    @Option(help: ArgumentHelp("At most this many probed temperatures, each a full evaluation (default 8).", valueName: "n"))
    var matchMaxProbes: Int?

    @OptionGroup var sampling: SamplingFlags

    @Option(help: ArgumentHelp(
        "BLEU and ROUGE-L references: test (the run's test split), train, or a file of sentences, one per line, "
            + "tokenized like the run's corpus (write ./test for a file named test).", valueName: "test|train|file"))
    var references: String = "test"

    @Option(help: "BLEU smoothing: method1 (the text-GAN default) or method0 (none).")
    var smoothing: BLEUSmoothing = .method1

    @Option(help: "Seed of the sampling (the same at every temperature of a sweep).")
    var seed: UInt64 = 0

    @Flag(help: "Use the run's best checkpoint (lowest test NLL or NLL-oracle) instead of its latest.")
    var best = false

    @OptionGroup var output: OutputOptions

    @Flag(name: .customLong("no-record"), help: "Score and print, but record nothing in the run store (which is then opened read-only).")
    var noRecord = false

    @Flag(help: "Also measure what the generator leaks: membership AUC and, for runs trained with --canaries, canary exposure.")
    var privacy = false

    @Option(help: "Training and test sentences each of the membership attack (--privacy).")
    var membershipSentences: Int = 2_000

    @Option(help: "Random candidates each canary is ranked among (--privacy).")
    var canaryCandidates: Int = 10_000

    @Option(help: ArgumentHelp("A run whose generator is the membership attack's reference model (--privacy; same vocabulary, trained on other data).",
                               valueName: "run"))
    var referenceRun: String?

    @Option(help: ArgumentHelp("LM score: score the samples with this run's generator, an MLE run on the real "
                               + "training data with the same vocabulary (lm_score).", valueName: "run"))
    var lm: String?

    @Flag(name: .customLong("reverse-lm"), help: "Reverse-LM score: train an LSTM on the samples (5 epochs) and score the real test split with it (reverse_lm_score).")
    var reverseLM = false

    @Option(help: "Threads for sampling and scoring (the scores do not depend on it).")
    var threads: Int = 2

    @OptionGroup var workspace: WorkspaceOptions
    @OptionGroup var database: DatabaseOptions

    var temperatures: [Double] { sweep ?? (try? namedProtocol)?.temperatures ?? [sampling.temperature ?? 1] }

    func validate() throws {
        guard (1...10_000_000).contains(sampleCount) else { throw ValidationError("--samples must be in 1…10,000,000, not \(sampleCount)") }
        if let named = try namedProtocol {
            // A protocol fixes these: a score that departs from it must not carry its name.
            let departures = [(samples != nil, "--samples"), (sweep != nil, "--sweep"), (sampling.temperature != nil, "--temperature"),
                              (matchSelfBLEU != nil, "--match-self-bleu"),
                              (sampling.topK != nil, "--top-k"), (sampling.topP != nil, "--top-p"),
                              (references != "test", "--references"), (smoothing != named.smoothing, "--smoothing")]
                .filter(\.0).map(\.1)
            if !departures.isEmpty {
                throw ValidationError("--protocol \(named.name) fixes the samples (\(named.sampleCount)), temperatures, "
                    + "references (the test split) and smoothing (\(named.smoothing.rawValue)); drop "
                    + departures.joined(separator: ", "))
            }
        }
        if sweep != nil && sampling.temperature != nil { throw ValidationError("give --temperature or --sweep, not both") }
        try validateMatch()
        if let sweep {
            guard !sweep.isEmpty else { throw ValidationError("--sweep needs at least one temperature") }
            guard Set(sweep).count == sweep.count else { throw ValidationError("--sweep lists a temperature twice") }
        }
        guard temperatures.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw ValidationError("--sweep temperatures must be finite numbers ≥ 0 (0: greedy), not \(sweep?.map(Format.number).joined(separator: ",") ?? "")")
        }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be from 1 to 1024, not \(threads)") }
        guard (2...10_000_000).contains(membershipSentences), (1...10_000_000).contains(canaryCandidates) else {
            throw ValidationError("--membership-sentences must be in 2…10,000,000 and --canary-candidates in 1…10,000,000")
        }
        if referenceRun != nil && !privacy { throw ValidationError("--reference-run is the reference of --privacy's membership attack; add --privacy") }
    }

    // MARK: - Run

    func run() throws {
        BLAS.setThreads(threads)
        Parallel.threads = threads
        let started = DispatchTime.now().uptimeNanoseconds

        // The model: a recorded run's checkpoint, or a bare checkpoint file.
        let reference = try database.reference(runOrCheckpoint)
        var runID: Int64?
        var store: RunDatabase?
        var recorded: Run?
        switch reference {
        case .run(let id):
            let opened = try noRecord ? database.openExisting() : database.openForRecording()
            do {
                recorded = try opened.run(id)
            } catch RunStoreError.noSuchRun {
                throw WorkbenchError("no run \(id) in the run store \(database.path) (see `textgan runs`)")
            }
            (runID, store) = (id, opened)
        case .file(let path):
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                throw WorkbenchError("\(path) is a directory, not a checkpoint file")
            }
        }
        let loaded = try database.loadRun(reference, best: best)
        let root = try workspace.packageRoot()
        let data = try TrainingData.load(for: loaded, recordedSHA256: recorded?.corpusSHA256, runID: runID, root: root,
                                         sharedData: workspace.sharedDataDirectory(root: root))
        if let named = try namedProtocol, let why = named.unmet(by: data) {
            throw WorkbenchError("\(runID.map { "run \($0)" } ?? loaded.checkpoint.path) does not meet protocol \(named.name): \(why)")
        }
        var suite = EvaluationSuite(data: data, references: try data.references(references, file: referenceFile()),
                                    smoothing: smoothing, threads: threads)
        suite.languageModel = try lm.map { try scoringLanguageModel($0, for: loaded, subject: runID.map { "run \($0)" } ?? loaded.checkpoint.path) }
        if reverseLM { suite.reverseLM = ReverseLMSchedule(seed: seed) }

        // Score at each temperature, from the same seed; or search the temperature that matches the target's Self-BLEU.
        var results: [TemperatureResult] = []
        var match: TemperatureMatch?
        if let matchSelfBLEU {
            let target = try measureTarget(matchSelfBLEU, against: loaded, data: data, root: root)
            match = try matchTemperature(target, loaded: loaded, suite: suite, results: &results)
        } else {
            for t in temperatures {
                results.append(try suite.evaluate(loaded.generator, options: try sampling.options(temperature: t),
                                                  temperature: t, count: sampleCount, seed: seed))
            }
        }
        let likelihoods = LikelihoodSplit.scores(loaded.generator, data: data,
                                                 splits: try namedProtocol?.likelihoods ?? LikelihoodSplit.allCases)
        let privacyResult = try privacy ? privacyEvaluation(loaded, data: data) : nil

        // Record.
        var notes: [String] = []
        if let store, let runID {
            if noRecord {
                notes.append("not recorded (--no-record)")
            } else {
                let count = try suite.record(results, likelihoods: likelihoods, data: data, seed: seed, topK: sampling.topK,
                                             topP: sampling.topP, run: runID, step: loaded.step,
                                             phaseStep: loaded.position.phaseStep, protocolName: protocolName, in: store)
                let privacyCount = try privacyResult?.record(run: runID, step: loaded.step, phaseStep: loaded.position.phaseStep,
                                                             in: store) ?? 0
                notes.append("recorded \(count + privacyCount) scores for run \(runID) at step \(loaded.step) in \(database.path)")
                if let target = match?.target, let targetRun = target.runID, let result = target.result,
                   let targetSuite = target.suite, let targetData = target.data, let targetLoaded = target.loaded {
                    let targetCount = try targetSuite.record(
                        [result], likelihoods: target.likelihoods, data: targetData, seed: seed, topK: sampling.topK,
                        topP: sampling.topP, run: targetRun, step: targetLoaded.step,
                        phaseStep: targetLoaded.position.phaseStep, in: store)
                    notes.append("recorded \(targetCount) scores for the target run \(targetRun) at step \(targetLoaded.step)")
                }
            }
        } else {
            notes.append("not recorded: a checkpoint file is scored only (give a run id to record)")
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9

        let report = EvalReport(command: self, loaded: loaded, data: data, suite: suite, runID: runID, results: results,
                            likelihoods: likelihoods, privacy: privacyResult?.metrics ?? [:], match: match, notes: notes,
                            seconds: seconds)
        switch output.chosen {
        case .table: print(report.table())
        case .json: print(try report.json())
        case .csv: print((match.map(report.matchScores) ?? report.scores()).csv(), terminator: "")
        }
        if let match, match.result.outcome != .matched, output.chosen != .table {
            FileHandle.standardError.write(Data("warning: --match-self-bleu \(match.summary)\n".utf8))
        }
    }

    /// Membership AUC (against --reference-run's generator too) and canary exposure.
    private func privacyEvaluation(_ loaded: LoadedRun, data: TrainingData) throws -> PrivacyEvaluation {
        let reference = try referenceRun.map { text -> (name: String, generator: any SequenceGenerator) in
            let other = try database.loadRun(text)
            guard other.vocabulary == loaded.vocabulary, other.generator.vocabularySize == loaded.generator.vocabularySize else {
                throw WorkbenchError("--reference-run \(text) was trained on another vocabulary: the NLLs it gives are not comparable")
            }
            return ("run \(text)", other.generator)
        }
        return try PrivacyEvaluation.evaluate(loaded.generator, data: data, config: loaded.config, count: membershipSentences,
                                              candidates: canaryCandidates, seed: seed, reference: reference)
    }

    /// The --lm run's generator, which must share the evaluated run's vocabulary (its NLLs would score other tokens).
    func scoringLanguageModel(_ text: String, for loaded: LoadedRun, subject: String) throws -> ScoringLanguageModel {
        let other = try database.loadRun(text)
        guard other.vocabulary == loaded.vocabulary, other.generator.vocabularySize == loaded.generator.vocabularySize else {
            let sizes = [other, loaded].map { $0.vocabulary.map { "\($0.count) tokens" } ?? "oracle ids" }
            throw WorkbenchError("--lm \(text) was trained on another vocabulary (\(sizes[0]), \(subject) has \(sizes[1])): "
                + "its NLL would score other tokens; give an MLE run on the same corpus and vocabulary")
        }
        if let context = other.generator.contextLength, context < loaded.generator.maxLength {
            throw WorkbenchError("--lm \(text) reads at most \(context) tokens, but \(subject) samples up to \(loaded.generator.maxLength)")
        }
        let digest = try SHA256.hex(ofFile: other.checkpoint)
        let run = Int64(text).map { "run \($0), " } ?? ""
        return ScoringLanguageModel(name: "\(run)\(other.checkpoint.path) sha256:\(digest.prefix(16))", generator: other.generator)
    }

    /// The --references file's lines, named with its path and digest; nil for the splits.
    func referenceFile() throws -> (name: String, lines: [String])? {
        guard references != "test" && references != "train" else { return nil }
        let lines = try readLines(references, role: "references")
        let path = URL(fileURLWithPath: references).standardizedFileURL.path
        let digest = try SHA256.hex(ofFile: URL(fileURLWithPath: path))
        return ("file:\(path) sha256:\(digest.prefix(16))", lines)
    }
}

// MARK: - Output

struct EvalReport {
    let command: EvalCommand
    let loaded: LoadedRun
    let data: TrainingData
    let suite: EvaluationSuite
    let runID: Int64?
    let results: [TemperatureResult]
    /// nll_test and nll_gen_train, when computed.
    let likelihoods: [String: Double]
    let privacy: [String: Double]
    /// The --match-self-bleu search, when there was one.
    let match: TemperatureMatch?
    let notes: [String]
    let seconds: Double

    /// "run 3", or the checkpoint file.
    var subject: String { runID.map { "run \($0)" } ?? loaded.checkpoint.path }

    /// Table rows in reading order: stored name and what it is.
    var rows: [(String, String)] {
        var rows: [(String, String)] = []
        if suite.oracle != nil { rows.append(("nll_oracle", "NLL-oracle (lower is better)")) }
        if let bleu = suite.bleu {
            rows += bleu.orders.map { ("bleu\($0)", "BLEU-\($0) vs \(bleu.references.name)") }
        }
        rows += EvaluationSuite.bleuOrders.map { ("self_bleu\($0)", "Self-BLEU-\($0) (lower: more diverse)") }
        if let bleu = suite.bleu {
            rows.append(("rouge_l", "ROUGE-L F1 vs \(bleu.references.name)"))
            rows += EvaluationSuite.bleuOrders.map { ("ms_jaccard\($0)", "MS-Jaccard-\($0) vs \(bleu.references.name)") }
        }
        rows += EvaluationSuite.distinctOrders.map { ("distinct\($0)", "distinct-\($0)") }
        rows.append(("memorisation_rate", "samples copied verbatim from \(suite.trainingSet.name)"))
        rows.append(("longest_copied", "longest copied span, tokens (max)"))
        rows.append(("longest_copied_mean", "longest copied span, tokens (mean)"))
        if let lm = command.lm { rows.append(("lm_score", "LM score: NLL under run \(lm)'s LM (lower is better)")) }
        if command.reverseLM { rows.append(("reverse_lm_score", "reverse-LM score: test NLL of an LM on the samples")) }
        return rows
    }

    func table() -> String {
        var lines: [String] = []
        lines.append("textgan eval — \(subject): \(loaded.config.algorithm) on \(data.corpus), \(loaded.position.description)")
        lines.append("  checkpoint    \(loaded.checkpoint.path)")
        var sampling = "\(command.sampleCount) per temperature, seed \(command.seed)"
        if let k = command.sampling.topK { sampling += ", top-k \(k)" }
        if let p = command.sampling.topP { sampling += ", top-p \(p)" }
        lines.append("  samples       \(sampling)")
        if let named = try? command.namedProtocol {
            lines.append("  protocol      \(named.name) (\(named.citation)); \(named.notes)")
        }
        lines.append("  tokens        \(suite.tokenizer)")
        if let bleu = suite.bleu {
            lines.append("  references    \(bleu.references.name) (\(bleu.references.sentences.count) sentences), BLEU smoothing \(bleu.smoothing.rawValue)")
        } else {
            lines.append("  references    none: the synthetic benchmark's tokens are ids, so no BLEU or ROUGE-L")
        }
        lines.append("  training set  \(suite.trainingSet.name) (\(suite.trainingSet.count) sentences), for memorisation")
        for split in LikelihoodSplit.allCases {
            guard let value = likelihoods[split.metric], let dataset = split.dataset(in: data) else { continue }
            lines.append("  \(pad(split.metric, 12))  \(String(format: "%.4f", value)) per token on \(data.corpus):\(split.rawValue) "
                + "(\(dataset.count) sentences; independent of sampling)")
        }
        for key in privacy.keys.sorted() {
            lines.append("  \(pad(key, 12))  \(String(format: "%.4f", privacy[key]!))")
        }
        if let match {
            lines += matchTable(match)
        } else {
            lines.append("")
            let table = TextTable(
                headers: ["metric", "what"] + results.map { "T=\(Format.number($0.temperature))" },
                rows: rows.map { key, what in [key, what] + results.map { Self.cell($0.metrics[key]) } },
                rightAligned: Set(2..<(2 + results.count)))
            lines.append(table.render())
            lines.append("")
            for result in results {
                lines.append("samples at T=\(Format.number(result.temperature)):")
                for s in result.examples { lines.append("  · \(data.render(s))") }
            }
        }
        lines += notes.map { "note: \($0)" }
        let samplingSeconds = results.reduce(0) { $0 + $1.samplingSeconds }
        let scoringSeconds = results.reduce(0) { $0 + $1.scoringSeconds }
        lines.append(String(format: "evaluated in %.2f s (sampling %.2f s, scoring %.2f s)", seconds, samplingSeconds,
                            scoringSeconds))
        return lines.joined(separator: "\n")
    }

    func json() throws -> String {
        func number(_ value: Double?) -> Any { value.map { $0.isFinite ? $0 as Any : NSNull() } ?? NSNull() }
        var object: [String: Any] = [
            "run": runID.map { $0 as Any } ?? NSNull(),
            "checkpoint": loaded.checkpoint.path,
            "step": loaded.step,
            "position": loaded.position.description,
            "algorithm": loaded.config.algorithm,
            "corpus": data.corpus,
            "samples": command.sampleCount,
            "protocol": command.protocolName.map { $0 as Any } ?? NSNull(),
            "seed": command.seed,
            "top_k": command.sampling.topK.map { $0 as Any } ?? NSNull(),
            "top_p": command.sampling.topP.map { $0 as Any } ?? NSNull(),
            "tokenizer": suite.tokenizer,
            "training_set": ["name": suite.trainingSet.name, "count": suite.trainingSet.count],
            "nll_test": number(likelihoods["nll_test"]),
            "nll_gen_train": number(likelihoods["nll_gen_train"]),
            "privacy": privacy.mapValues { number($0) },
            "notes": notes,
            "seconds": seconds,
        ]
        if let bleu = suite.bleu {
            object["references"] = ["name": bleu.references.name, "count": bleu.references.sentences.count]
            object["smoothing"] = bleu.smoothing.rawValue
        } else {
            object["references"] = NSNull()
            object["smoothing"] = suite.smoothing.rawValue
        }
        object["temperatures"] = results.map { result -> [String: Any] in
            [
                "temperature": result.temperature,
                "metrics": result.metrics.mapValues { number($0) },
                "sampling_seconds": result.samplingSeconds,
                "scoring_seconds": result.scoringSeconds,
            ]
        }
        if let match { object["match"] = matchJSON(match) }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// `--format csv`: one score per row, `temperature,metric,value` (nll_test and nll_gen_train, which sample
    /// nothing, have an empty temperature).
    func scores() -> DataTable {
        var rows: [[JSONValue]] = results.flatMap { result in
            self.rows.map { key, _ in [.number(result.temperature), .string(key), JSONValue(result.metrics[key])] }
        }
        for split in LikelihoodSplit.allCases {
            if let value = likelihoods[split.metric] { rows.append([.null, .string(split.metric), .number(value)]) }
        }
        return DataTable(columns: ["temperature", "metric", "value"], rows: rows)
    }

    static func cell(_ value: Double?) -> String {
        guard let value else { return "—" }
        if value.isNaN { return "undefined" }
        return value == value.rounded() && abs(value) >= 1 ? String(Int(value)) : String(format: "%.4f", value)
    }
}
