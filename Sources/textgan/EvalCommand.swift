import ArgumentParser
import Digest
import Foundation
import Metrics
import Models
import NumericCore
import RunStore
import TextPipeline
import Training

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a trained generator with every metric and record the scores with their protocol.",
        discussion: """
            Loads the checkpoint (the model, config and vocabulary come from the file alone), draws --samples
            sequences at each temperature, and computes:
              bleu2..bleu5            BLEU-n of each sample against the WHOLE reference set (text-GAN convention,
                                      nltk-exact), mean over samples
              self_bleu2..self_bleu5  each sample against all the other samples (diversity: lower is better)
              rouge_l                 ROUGE-L F1 of each sample against its best-matching reference, mean
              distinct1..distinct4    unique n-grams / all n-grams of the samples
              memorisation_rate       fraction of samples that are, token for token, a training sentence
              longest_copied(_mean)   longest token span copied from one training sentence (max, mean)
              nll_oracle              the oracle's per-token NLL of the samples (synthetic benchmark)
              nll_test                the generator's per-token NLL of the test split (independent of sampling)
            Samples are scored as the tokens a reader sees: up to the first <eos>, a sampled <unk> matches no
            reference token. References are the corpus's sentences as the run's tokenizer splits them, never cut.
            The synthetic benchmark's tokens are bare ids, so BLEU and ROUGE-L (which need reference text) are
            not computed for it; NLL-oracle measures quality there.

            Given a run id, every score goes into the run store's evaluations table at the checkpoint's step, with
            its protocol (sample count, reference set and size, tokenizer, smoothing, seed, temperature); a
            checkpoint file is only scored and printed. --sweep scores several temperatures from the same seed
            and stores one row per temperature per metric: BLEU-n against Self-BLEU-n is the quality–diversity
            curve, the fair way to compare a GAN with MLE.

            Examples:
              textgan eval 3                                  # 10,000 samples at temperature 1 vs the test split
              textgan eval 3 --best --sweep 0.5,0.7,1.0,1.2,1.5
              textgan eval runs/3/latest.safetensors --samples 2000 --format json
            """
    )

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case table, json
    }

    @Argument(help: "A run id (its latest checkpoint, or --best) or a checkpoint file.")
    var runOrCheckpoint: String

    @Option(help: "Samples drawn and scored at each temperature.")
    var samples: Int = 10_000

    @Option(help: "Sampling temperature (0: greedy). Default 1.")
    var temperature: Double?

    @Option(help: "Evaluate at each of these temperatures, comma-separated (e.g. 0.5,0.7,1.0,1.2,1.5).",
            transform: { text in
                try text.split(separator: ",").map { part in
                    guard let t = Double(part.trimmingCharacters(in: .whitespaces)) else {
                        throw ValidationError("--sweep takes comma-separated temperatures such as 0.5,1.0 (got \"\(text)\")")
                    }
                    return t
                }
            })
    var sweep: [Double]?

    @Option(help: "Sample from the k most likely tokens only; recorded with the scores (evaluations.top_k).")
    var topK: Int?

    @Option(help: "Sample from the most likely tokens up to this total probability; recorded (evaluations.top_p).")
    var topP: Double?

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

    @Option(help: "Output: table or json.")
    var format: OutputFormat = .table

    @Flag(name: .customLong("no-record"), help: "Score and print, but record nothing in the run store.")
    var noRecord = false

    @Option(help: "Threads for sampling and scoring (the scores do not depend on it).")
    var threads: Int = 2

    @OptionGroup var workspace: WorkspaceOptions
    @OptionGroup var database: DatabaseOptions

    static let bleuOrders = [2, 3, 4, 5]
    static let distinctOrders = [1, 2, 3, 4]

    var temperatures: [Double] { sweep ?? [temperature ?? 1] }

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be at least 1") }
        if sweep != nil && temperature != nil { throw ValidationError("give --temperature or --sweep, not both") }
        if let sweep {
            guard !sweep.isEmpty else { throw ValidationError("--sweep needs at least one temperature") }
            guard Set(sweep).count == sweep.count else { throw ValidationError("--sweep lists a temperature twice") }
        }
        guard temperatures.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw ValidationError("temperatures must be finite and not negative")
        }
        if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    // MARK: - Run

    func run() throws {
        BLAS.setThreads(threads)
        Parallel.threads = threads
        let started = DispatchTime.now().uptimeNanoseconds

        // The model: a recorded run's checkpoint, or a bare checkpoint file.
        let runID = Int64(runOrCheckpoint)
        var store: RunDatabase?
        var recorded: Run?
        if let runID {
            let opened = try database.openExisting()
            do {
                recorded = try opened.run(runID)
            } catch RunStoreError.noSuchRun {
                throw ValidationError("no run \(runID) in the run store \(database.path) (see `textgan runs`)")
            }
            store = opened
        } else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: runOrCheckpoint, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw ValidationError("\(runOrCheckpoint) is neither a run id nor a checkpoint file")
            }
        }
        let loaded = try LoadedRun.load(runOrCheckpoint, runsDirectory: database.runsDirectory, best: best)
        let data = try corpus(of: loaded, recorded: recorded)
        let suite = try EvaluationSuite(data: data, references: referenceSentences(data), smoothing: smoothing,
                                        threads: threads)

        // Score at each temperature, from the same seed.
        var results: [TemperatureResult] = []
        for t in temperatures {
            let options = SamplingOptions(temperature: Float(t), topK: topK, topP: topP.map { Float($0) })
            results.append(suite.evaluate(loaded.generator, options: options, temperature: t, count: samples, seed: seed))
        }
        let nllTest = data.test.map { meanTokenNLL(loaded.generator, on: $0) }

        // Record.
        var notes: [String] = []
        var recordedCount = 0
        if let store, let runID {
            if noRecord {
                notes.append("not recorded (--no-record)")
            } else {
                for result in results {
                    for (var evaluationProtocol, values) in suite.protocols(of: result, seed: seed) {
                        // Every protocol here is on samples, so the sampling filters are part of each.
                        evaluationProtocol.topK = topK
                        evaluationProtocol.topP = topP
                        try store.recordEvaluation(run: runID, step: loaded.step, values: values,
                                                   protocol: evaluationProtocol, signOfLife: false)
                        recordedCount += values.count
                    }
                }
                if let nllTest, let test = data.test {
                    try store.recordEvaluation(
                        run: runID, step: loaded.step, values: ["nll_test": nllTest],
                        protocol: .testNLL(corpus: data.corpus, sentences: test.count, tokenizer: data.tokenizerDescription),
                        signOfLife: false)
                    recordedCount += 1
                }
                notes.append("recorded \(recordedCount) scores for run \(runID) at step \(loaded.step) in \(database.path)")
            }
        } else {
            notes.append("not recorded: a checkpoint file is scored only (give a run id to record)")
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9

        let report = Report(command: self, loaded: loaded, data: data, suite: suite, runID: runID, results: results,
                            nllTest: nllTest, notes: notes, seconds: seconds)
        switch format {
        case .table: print(report.table())
        case .json: print(try report.json())
        }
    }

    // MARK: - The run's data

    /// The corpus as the run trained on it, checked against the run store and the checkpoint's vocabulary, so
    /// scores never come from different data than the run saw.
    private func corpus(of loaded: LoadedRun, recorded: Run?) throws -> TrainingData {
        let root = try workspace.packageRoot()
        let sharedData = workspace.sharedDataDirectory(root: root)
        let config = loaded.config
        let data: TrainingData
        do {
            data = config.corpus == "oracle"
                ? try TrainingData.oracle(sharedData: sharedData, config: config)
                : try TrainingData.text(root: root, sharedData: sharedData, config: config, minExamples: 1)
        } catch {
            throw ValidationError("cannot load the run's corpus '\(config.corpus)' (a path is relative to where "
                + "`textgan train` ran): \(error)")
        }
        if let expected = recorded?.corpusSHA256, expected != data.sha256 {
            throw ValidationError("run \(recorded!.id!) was trained on \(data.corpus) with SHA-256 \(expected), but "
                + "the corpus now has \(data.sha256); refusing to score against different data")
        }
        if data.vocabulary != loaded.vocabulary {
            throw ValidationError("the corpus \(data.corpus) no longer gives the vocabulary stored in "
                + "\(loaded.checkpoint.path); refusing to score against different data")
        }
        return data
    }

    /// The reference sentences chosen by --references, named as the run store names them; nil for the oracle.
    private func referenceSentences(_ data: TrainingData) throws -> (name: String, tokens: [[String]])? {
        guard let tokenizer = data.tokenizer else {
            guard references == "test" else {
                throw ValidationError("the synthetic benchmark's tokens are ids: BLEU and ROUGE-L need reference text, "
                    + "so --references does not apply (NLL-oracle measures quality)")
            }
            return nil
        }
        switch references {
        case "test":
            guard let tokens = data.testTokens else {
                throw ValidationError("corpus \(data.corpus) has no test split; use --references train or a file")
            }
            return ("\(data.corpus):test", tokens)
        case "train":
            return ("\(data.corpus):train", data.trainTokens ?? [])
        default:
            let lines = try readLines(references, role: "references")
            let path = URL(fileURLWithPath: references).standardizedFileURL.path
            let digest = try SHA256.hex(ofFile: URL(fileURLWithPath: path))
            return ("file:\(path) sha256:\(digest.prefix(16))", lines.map(tokenizer.tokenize))
        }
    }
}

// MARK: - The metrics

/// Everything prepared once per evaluation: the reference index, the training-set index and the token mapping;
/// then each temperature costs sampling plus O(samples) metric work.
struct EvaluationSuite {
    let tokens: ScoringTokens
    let tokenizer: String
    let bleu: BLEUEvaluator?
    let smoothing: BLEUSmoothing
    let trainingSet: (name: String, count: Int, index: TrainingSetIndex)
    let oracle: Oracle?
    let threads: Int

    init(data: TrainingData, references: (name: String, tokens: [[String]])?, smoothing: BLEUSmoothing, threads: Int) {
        let tokens = data.scoringTokens
        self.tokens = tokens
        tokenizer = data.tokenizerDescription
        self.smoothing = smoothing
        self.threads = threads
        oracle = data.oracle
        bleu = references.map { references in
            BLEUEvaluator(
                references: ReferenceSet(name: references.name, sentences: tokens.corpus(references.tokens),
                                         maxOrder: EvalCommand.bleuOrders.max()!),
                orders: EvalCommand.bleuOrders, smoothing: smoothing)
        }
        let training = data.trainTokens.map(tokens.corpus) ?? data.train.sequences
        trainingSet = ("\(data.corpus):train", training.count, TrainingSetIndex(training))
    }

    /// Samples `count` sequences from `seed` and scores them with every metric.
    func evaluate(_ generator: LSTMGenerator, options: SamplingOptions, temperature: Double, count: Int,
                  seed: UInt64) -> TemperatureResult {
        let start = DispatchTime.now().uptimeNanoseconds
        var rng = SeededGenerator(seed: seed)
        let samples = generator.sample(count: count, options: options, batchSize: 500, using: &rng)
        let sampled = DispatchTime.now().uptimeNanoseconds
        let hypotheses = samples.map(tokens.sample)

        var metrics: [String: Double] = [:]
        if let oracle { metrics["nll_oracle"] = oracle.negativeLogLikelihood(samples) }
        if let bleu {
            metrics.merge(bleu.scores(hypotheses, selfBLEU: true, threads: threads)) { $1 }
            metrics["rouge_l"] = rougeL(hypotheses: hypotheses, references: bleu.references.sentences, threads: threads).meanF
        } else {
            metrics.merge(BLEUEvaluator.selfScores(hypotheses, orders: EvalCommand.bleuOrders, smoothing: smoothing,
                                                   threads: threads)) { $1 }
        }
        for d in distinctN(hypotheses, orders: EvalCommand.distinctOrders) { metrics["distinct\(d.order)"] = d.ratio }
        let copies = memorisation(samples: hypotheses, training: trainingSet.index, threads: threads)
        metrics["memorisation_rate"] = copies.verbatimRate
        metrics["longest_copied"] = Double(copies.maxLongestCopied)
        metrics["longest_copied_mean"] = copies.meanLongestCopied
        let scored = DispatchTime.now().uptimeNanoseconds
        return TemperatureResult(
            temperature: temperature, sampleCount: count, metrics: metrics, examples: Array(samples.prefix(3)),
            samplingSeconds: Double(sampled - start) / 1e9, scoringSeconds: Double(scored - sampled) / 1e9)
    }

    /// Each metric of a result grouped under the protocol that produced it.
    func protocols(of result: TemperatureResult, seed: UInt64) -> [(EvaluationProtocol, [String: Double])] {
        let (n, t) = (result.sampleCount, result.temperature)
        func onSamples(_ referenceSet: String, _ referenceCount: Int?, smoothing: String? = nil) -> EvaluationProtocol {
            EvaluationProtocol(sampleCount: n, referenceSet: referenceSet, referenceCount: referenceCount,
                               tokenizer: tokenizer, smoothing: smoothing, seed: seed, temperature: t)
        }
        var groups: [(EvaluationProtocol, [String])] = []
        if let bleu {
            let references = bleu.references
            groups.append((.bleu(samples: n, references: references.name, referenceCount: references.sentences.count,
                                 tokenizer: tokenizer, smoothing: smoothing, seed: seed, temperature: t),
                           bleu.orders.map { "bleu\($0)" }))
            groups.append((onSamples(references.name, references.sentences.count), ["rouge_l"]))
        }
        groups.append((.selfBLEU(samples: n, tokenizer: tokenizer, smoothing: smoothing, seed: seed, temperature: t),
                       EvalCommand.bleuOrders.map { "self_bleu\($0)" }))
        groups.append((onSamples("self", nil), EvalCommand.distinctOrders.map { "distinct\($0)" }))
        groups.append((onSamples(trainingSet.name, trainingSet.count),
                       ["memorisation_rate", "longest_copied", "longest_copied_mean"]))
        if let oracle { groups.append((onSamples("oracle:\(oracle.origin)", nil), ["nll_oracle"])) }
        return groups.map { evaluationProtocol, names in
            (evaluationProtocol, Dictionary(uniqueKeysWithValues: names.map { ($0, result.metrics[$0]!) }))
        }
    }
}

/// The scores at one temperature.
struct TemperatureResult {
    let temperature: Double
    let sampleCount: Int
    let metrics: [String: Double]
    /// The first few samples as token ids, for the table.
    let examples: [[Int32]]
    let samplingSeconds: Double
    let scoringSeconds: Double
}

// MARK: - Output

private struct Report {
    let command: EvalCommand
    let loaded: LoadedRun
    let data: TrainingData
    let suite: EvaluationSuite
    let runID: Int64?
    let results: [TemperatureResult]
    let nllTest: Double?
    let notes: [String]
    let seconds: Double

    /// Table rows in reading order: stored name and what it is.
    private var rows: [(String, String)] {
        var rows: [(String, String)] = []
        if suite.oracle != nil { rows.append(("nll_oracle", "NLL-oracle (lower is better)")) }
        if let bleu = suite.bleu {
            rows += bleu.orders.map { ("bleu\($0)", "BLEU-\($0) vs \(bleu.references.name)") }
        }
        rows += EvalCommand.bleuOrders.map { ("self_bleu\($0)", "Self-BLEU-\($0) (lower: more diverse)") }
        if let bleu = suite.bleu { rows.append(("rouge_l", "ROUGE-L F1 vs \(bleu.references.name)")) }
        rows += EvalCommand.distinctOrders.map { ("distinct\($0)", "distinct-\($0)") }
        rows.append(("memorisation_rate", "samples copied verbatim from \(suite.trainingSet.name)"))
        rows.append(("longest_copied", "longest copied span, tokens (max)"))
        rows.append(("longest_copied_mean", "longest copied span, tokens (mean)"))
        return rows
    }

    func table() -> String {
        var lines: [String] = []
        let subject = runID.map { "run \($0)" } ?? loaded.checkpoint.path
        lines.append("textgan eval — \(subject): \(loaded.config.algorithm.rawValue) on \(data.corpus), \(loaded.position)")
        lines.append("  checkpoint    \(loaded.checkpoint.path)")
        var sampling = "\(command.samples) per temperature, seed \(command.seed)"
        if let k = command.topK { sampling += ", top-k \(k)" }
        if let p = command.topP { sampling += ", top-p \(p)" }
        lines.append("  samples       \(sampling)")
        lines.append("  tokens        \(suite.tokenizer)")
        if let bleu = suite.bleu {
            lines.append("  references    \(bleu.references.name) (\(bleu.references.sentences.count) sentences), BLEU smoothing \(bleu.smoothing.rawValue)")
        } else {
            lines.append("  references    none: the synthetic benchmark's tokens are ids, so no BLEU or ROUGE-L")
        }
        lines.append("  training set  \(suite.trainingSet.name) (\(suite.trainingSet.count) sentences), for memorisation")
        if let nllTest, let test = data.test {
            lines.append("  nll_test      \(String(format: "%.4f", nllTest)) per token on \(data.corpus):test (\(test.count) sentences; independent of sampling)")
        }
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
            "position": loaded.position,
            "algorithm": loaded.config.algorithm.rawValue,
            "corpus": data.corpus,
            "samples": command.samples,
            "seed": command.seed,
            "top_k": command.topK.map { $0 as Any } ?? NSNull(),
            "top_p": command.topP.map { $0 as Any } ?? NSNull(),
            "tokenizer": suite.tokenizer,
            "training_set": ["name": suite.trainingSet.name, "count": suite.trainingSet.count],
            "nll_test": number(nllTest),
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
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    private static func cell(_ value: Double?) -> String {
        guard let value else { return "—" }
        if value.isNaN { return "undefined" }
        return value == value.rounded() && abs(value) >= 1 ? String(Int(value)) : String(format: "%.4f", value)
    }
}
