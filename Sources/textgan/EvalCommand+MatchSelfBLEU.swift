import ArgumentParser
import Foundation
import Metrics
import RunStore
import Workbench

// `textgan eval RUN --match-self-bleu TARGET[:n]`: score RUN at the temperature whose Self-BLEU-n matches TARGET's,
// the comparison Language GANs Falling Short asks for (a GAN against MLE at equal diversity, not at T = 1 alone).
// TARGET is a run (scored here at T = 1 with the same samples, seed, references and filters, and recorded as an
// ordinary evaluation of that run) or a Self-BLEU value. The search is `TemperatureSearch`; every probe is an
// ordinary evaluation of RUN, recorded like a --sweep point.

/// What --match-self-bleu aims at: a run's Self-BLEU-n, or a value of it.
struct SelfBLEUTarget: Equatable {
    enum Subject: Equatable {
        /// A run id, run name or checkpoint file.
        case run(String)
        case value(Double)
    }

    var subject: Subject
    /// n of Self-BLEU-n.
    var order: Int

    static let defaultOrder = 4

    var metric: String { "self_bleu\(order)" }
}

extension SelfBLEUTarget {
    /// `RUN`, `RUN:n`, `VALUE` or `VALUE:n`; a number with a decimal point or an exponent is a value, anything else
    /// names a run.
    init(parsing text: String) throws {
        var head = Substring(text), order = Self.defaultOrder
        if let colon = text.lastIndex(of: ":"), !text[text.index(after: colon)...].isEmpty,
           text[text.index(after: colon)...].allSatisfy(\.isASCII), text[text.index(after: colon)...].allSatisfy(\.isNumber) {
            let n = Int(text[text.index(after: colon)...]) ?? 0
            guard EvaluationSuite.bleuOrders.contains(n) else {
                throw ValidationError("--match-self-bleu's :n is the n of Self-BLEU-n, one of "
                    + "\(EvaluationSuite.bleuOrders.map(String.init).joined(separator: ", ")), not :\(text[text.index(after: colon)...])")
            }
            (head, order) = (text[..<colon], n)
        }
        guard !head.isEmpty else { throw ValidationError("--match-self-bleu needs a run or a Self-BLEU value before :n (got \"\(text)\")") }
        if Int64(head) == nil, let value = Double(head), head.contains(where: \.isNumber) {
            guard value > 0 && value < 1 else {
                throw ValidationError("--match-self-bleu's target Self-BLEU must be in (0, 1), not \(head)")
            }
            subject = .value(value)
        } else {
            subject = .run(String(head))
        }
        self.order = order
    }
}

/// The side being matched: a run scored at T = 1, or a given value.
struct MatchTarget {
    /// "run 12", "runs/12/latest.safetensors", or "the value 0.42".
    let name: String
    let value: Double
    let order: Int
    /// The target run's id (nil for a value or a checkpoint file).
    let runID: Int64?
    let loaded: LoadedRun?
    /// Its scores at T = 1 and its likelihoods (nil for a value).
    let result: TemperatureResult?
    let likelihoods: [String: Double]
    let suite: EvaluationSuite?
    let data: TrainingData?
    static let temperature = 1.0
}

/// A finished search: the target, the settings and what they found.
struct TemperatureMatch {
    let target: MatchTarget
    let search: TemperatureSearch
    let result: TemperatureSearch.Result
    /// The evaluation at `result.closest`.
    let closest: TemperatureResult

    var metric: String { target.metric }

    /// One line saying what the search found, in words.
    var summary: String {
        let name = "Self-BLEU-\(target.order)"
        let closestText = "T=\(temperatureText(result.closest.temperature)) (\(name) \(fixed(result.closest.value)), "
            + "\(signed(result.closest.value - target.value)))"
        switch result.outcome {
        case .matched:
            return "matched at \(closestText) after \(result.probes.count) probes"
        case .belowReach:
            return "out of reach: even T=\(temperatureText(result.closest.temperature)), the hottest searched, gives \(name) "
                + "\(fixed(result.probes.last!.value)), more alike than the target; closest \(closestText)"
        case .aboveReach:
            return "out of reach: even T=0 (greedy) gives \(name) \(fixed(result.probes.last!.value)), more varied than the "
                + "target; closest \(closestText)"
        case .probesExhausted:
            let between = result.bracket.map { " (the target lies between T=\(temperatureText($0.cooler.temperature)) and "
                + "T=\(temperatureText($0.hotter.temperature)))" } ?? ""
            return "not matched within \(search.maximumProbes) probes\(between); closest \(closestText)"
        case .noisy:
            let b = result.bracket!
            return "not matched: \(name) jumps from \(fixed(b.cooler.value)) at T=\(temperatureText(b.cooler.temperature)) to "
                + "\(fixed(b.hotter.value)) at T=\(temperatureText(b.hotter.temperature)), across the target by more than the "
                + "tolerance (more samples make it smoother); closest \(closestText)"
        }
    }
}

extension MatchTarget {
    var metric: String { "self_bleu\(order)" }
}

/// A probe temperature as typed: up to `TemperatureSearch.decimals` decimals, no trailing zeros.
func temperatureText(_ t: Double) -> String {
    var text = String(format: "%.\(TemperatureSearch.decimals)f", t)
    while text.contains("."), text.hasSuffix("0") { text.removeLast() }
    if text.hasSuffix(".") { text.removeLast() }
    return text
}

private func fixed(_ value: Double) -> String { String(format: "%.4f", value) }
private func signed(_ value: Double) -> String { String(format: "%+.4f", value) }

extension EvalCommand {
    /// The search --match-self-bleu and its --match-* settings ask for, aiming at `target`. The default tolerance,
    /// 0.005, is about the noise of one seed's Self-BLEU-4 over 10,000 COCO samples: it moved by 0.005 between
    /// T = 0.9875 and 0.9883 (docs/experiments.md), so a tighter one often ends the search as noisy.
    func temperatureSearch(target: Double) -> TemperatureSearch {
        TemperatureSearch(target: target, tolerance: matchTolerance ?? 0.005, maximumTemperature: matchMaxTemperature ?? 2,
                          maximumProbes: matchMaxProbes ?? 8)
    }

    /// Checks the --match-self-bleu flags against each other and the rest.
    func validateMatch() throws {
        guard let matchSelfBLEU else {
            let given = [(matchTolerance != nil, "--match-tolerance"), (matchMaxTemperature != nil, "--match-max-temperature"),
                         (matchMaxProbes != nil, "--match-max-probes")].filter(\.0).map(\.1)
            if !given.isEmpty {
                throw ValidationError("\(given.joined(separator: ", ")) "
                    + (given.count == 1 ? "needs --match-self-bleu, the search it sets" : "need --match-self-bleu, the search they set"))
            }
            return
        }
        if sweep != nil { throw ValidationError("give --sweep or --match-self-bleu, not both: the match searches its own temperatures") }
        if sampling.temperature != nil {
            throw ValidationError("--match-self-bleu searches the temperature; drop --temperature (the target run is scored at T=1)")
        }
        guard sampleCount >= 2 else { throw ValidationError("--match-self-bleu needs --samples of at least 2: Self-BLEU compares samples with each other") }
        let value: Double = if case .value(let v) = matchSelfBLEU.subject { v } else { 0.5 }
        do { try temperatureSearch(target: value).validate() } catch let error as WorkbenchError {
            throw ValidationError(error.description)
        }
    }

    /// Scores the --match-self-bleu target run at T = 1 under the evaluated run's protocol (same samples, seed,
    /// references, smoothing, filters; --lm and --reverse-lm too), or takes the given value.
    func measureTarget(_ target: SelfBLEUTarget, against loaded: LoadedRun, data: TrainingData, root: URL) throws -> MatchTarget {
        guard case .run(let text) = target.subject else {
            guard case .value(let value) = target.subject else { preconditionFailure() }
            return MatchTarget(name: "the value \(Format.number(value))", value: value, order: target.order, runID: nil, loaded: nil,
                               result: nil, likelihoods: [:], suite: nil, data: nil)
        }
        let reference: RunReference, other: LoadedRun
        var runID: Int64?, recorded: Run?
        do {
            reference = try database.reference(text)
            if case .run(let id) = reference {
                do { recorded = try database.openExisting().run(id) } catch RunStoreError.noSuchRun {
                    throw WorkbenchError("no run \(id) in the run store \(database.path) (see `textgan runs`)")
                }
                runID = id
            }
            other = try database.loadRun(reference)
        } catch let error as WorkbenchError {
            throw WorkbenchError("--match-self-bleu: \(error.description)")
        }
        let name = runID.map { "run \($0)" } ?? other.checkpoint.path
        let otherData = try TrainingData.load(for: other, recordedSHA256: recorded?.corpusSHA256, runID: runID, root: root,
                                              sharedData: workspace.sharedDataDirectory(root: root))
        guard otherData.sha256 == data.sha256, otherData.tokenizerDescription == data.tokenizerDescription else {
            throw WorkbenchError("--match-self-bleu \(text) was trained on \(otherData.corpus) (sha256 \(otherData.sha256.prefix(12)), "
                + "tokens \(otherData.tokenizerDescription)), the evaluated run on \(data.corpus) (sha256 \(data.sha256.prefix(12)), "
                + "tokens \(data.tokenizerDescription)): their Self-BLEU would compare different texts")
        }
        var suite = EvaluationSuite(data: otherData, references: try otherData.references(references, file: referenceFile()),
                                    smoothing: smoothing, threads: threads)
        suite.languageModel = try lm.map { try scoringLanguageModel($0, for: other, subject: name) }
        if reverseLM { suite.reverseLM = ReverseLMSchedule(seed: seed) }
        let t = MatchTarget.temperature
        let result = try suite.evaluate(other.generator, options: try sampling.options(temperature: t), temperature: t,
                                        count: sampleCount, seed: seed)
        let likelihoods = LikelihoodSplit.scores(other.generator, data: otherData, splits: LikelihoodSplit.allCases)
        progress("target \(name) at T=\(temperatureText(t)): \(target.metric) \(fixed(result.metrics[target.metric]!))")
        return MatchTarget(name: name, value: result.metrics[target.metric]!, order: target.order, runID: runID, loaded: other,
                           result: result, likelihoods: likelihoods, suite: suite, data: otherData)
    }

    /// Searches the temperature at which `generator`'s Self-BLEU-n meets the target; every probe's full evaluation
    /// is appended to `results`.
    func matchTemperature(_ target: MatchTarget, loaded: LoadedRun, suite: EvaluationSuite,
                          results: inout [TemperatureResult]) throws -> TemperatureMatch {
        let search = temperatureSearch(target: target.value)
        var probes: [TemperatureResult] = []
        let found = try search.run { t in
            let result = try suite.evaluate(loaded.generator, options: try sampling.options(temperature: t), temperature: t,
                                            count: sampleCount, seed: seed)
            probes.append(result)
            let value = result.metrics[target.metric]!
            progress("probe \(probes.count) of at most \(search.maximumProbes): T=\(temperatureText(t)), \(target.metric) "
                + "\(fixed(value)) (target \(fixed(target.value)), \(signed(value - target.value)))")
            return value
        }
        results += probes
        let closest = probes.first { $0.temperature == found.closest.temperature }!
        return TemperatureMatch(target: target, search: search, result: found, closest: closest)
    }

    private func progress(_ line: String) {
        FileHandle.standardError.write(Data("match: \(line)\n".utf8))
    }
}

// MARK: - Output

extension EvalReport {
    /// The search, its probes, and the target's row beside the matched one.
    func matchTable(_ match: TemperatureMatch) -> [String] {
        let target = match.target, search = match.search
        var lines: [String] = []
        let what = target.result == nil ? target.name
            : "\(target.name) (\(target.loaded!.config.algorithm), \(target.loaded!.position.description)) at T=\(temperatureText(MatchTarget.temperature)), "
                + "the same samples, seed and references"
        lines.append("  target        Self-BLEU-\(target.order) \(fixed(target.value)): \(what)")
        lines.append("  search        T in [0, \(temperatureText(search.maximumTemperature))] from T=\(temperatureText(search.start)), "
            + "tolerance ±\(Format.number(search.tolerance)), at most \(search.maximumProbes) probes")
        lines.append("  result        \(match.summary)")
        lines.append("")
        let probes = TextTable(
            headers: ["probe", "T", match.metric, "− target"],
            rows: match.result.probes.enumerated().map { i, p in
                ["\(i + 1)", temperatureText(p.temperature), fixed(p.value), signed(p.value - target.value)]
            },
            rightAligned: [0, 1, 2, 3])
        lines.append(probes.render())
        lines.append("")
        let matchedHeader = "\(subject) T=\(temperatureText(match.closest.temperature))"
            + (match.result.outcome == .matched ? " (matched)" : " (closest)")
        let targetHeader = target.result == nil ? "target" : "\(target.name) T=\(temperatureText(MatchTarget.temperature))"
        var rows = self.rows.map { key, what in
            [key, what, target.result.map { Self.cell($0.metrics[key]) } ?? (key == match.metric ? fixed(target.value) : "—"),
             Self.cell(match.closest.metrics[key])]
        }
        for split in LikelihoodSplit.allCases where likelihoods[split.metric] != nil || target.likelihoods[split.metric] != nil {
            rows.append([split.metric, "per-token NLL of \(data.corpus):\(split.rawValue) (independent of T)",
                         Self.cell(target.likelihoods[split.metric]), Self.cell(likelihoods[split.metric])])
        }
        lines.append(TextTable(headers: ["metric", "what", targetHeader, matchedHeader], rows: rows, rightAligned: [2, 3]).render())
        lines.append("")
        if let result = target.result, let targetData = target.data {
            lines.append("samples of \(target.name) at T=\(temperatureText(MatchTarget.temperature)):")
            for s in result.examples { lines.append("  · \(targetData.render(s))") }
        }
        lines.append("samples at T=\(temperatureText(match.closest.temperature)):")
        for s in match.closest.examples { lines.append("  · \(data.render(s))") }
        return lines
    }

    /// The `match` object of `--format json`.
    func matchJSON(_ match: TemperatureMatch) -> [String: Any] {
        func number(_ value: Double?) -> Any { value.map { $0.isFinite ? $0 as Any : NSNull() } ?? NSNull() }
        let target = match.target
        func probe(_ p: TemperatureSearch.Probe) -> [String: Any] {
            ["temperature": p.temperature, "value": p.value, "difference": p.value - target.value]
        }
        var targetObject: [String: Any] = [
            "name": target.name, "order": target.order, "metric": target.metric, "value": target.value,
            "run": target.runID.map { $0 as Any } ?? NSNull(),
        ]
        if let result = target.result, let loaded = target.loaded {
            targetObject["checkpoint"] = loaded.checkpoint.path
            targetObject["step"] = loaded.step
            targetObject["algorithm"] = loaded.config.algorithm
            targetObject["temperature"] = result.temperature
            targetObject["metrics"] = result.metrics.mapValues { number($0) }
            targetObject["nll_test"] = number(target.likelihoods["nll_test"])
            targetObject["nll_gen_train"] = number(target.likelihoods["nll_gen_train"])
        }
        return [
            "target": targetObject,
            "tolerance": match.search.tolerance,
            "max_temperature": match.search.maximumTemperature,
            "max_probes": match.search.maximumProbes,
            "start": match.search.start,
            "outcome": match.result.outcome.rawValue,
            "summary": match.summary,
            "probes": match.result.probes.map(probe),
            "closest": probe(match.result.closest),
            "bracket": match.result.bracket.map { ["cooler": probe($0.cooler), "hotter": probe($0.hotter)] as Any } ?? NSNull(),
        ]
    }

    /// `--format csv` of a match: `role,run,temperature,metric,value`, role `target` (the target run at T = 1, or the
    /// given value), `matched` (or `closest` when unmatched: the probe nearest the target, and the likelihoods) and
    /// `probe` (every other probe).
    func matchScores(_ match: TemperatureMatch) -> DataTable {
        let target = match.target
        var rows: [[JSONValue]] = []
        let targetRun = JSONValue(target.runID)
        if let result = target.result {
            rows += self.rows.map { key, _ in [.string("target"), targetRun, .number(result.temperature), .string(key), JSONValue(result.metrics[key])] }
            for split in LikelihoodSplit.allCases {
                if let value = target.likelihoods[split.metric] { rows.append([.string("target"), targetRun, .null, .string(split.metric), .number(value)]) }
            }
        } else {
            rows.append([.string("target"), .null, .null, .string(match.metric), .number(target.value)])
        }
        let closestRole = match.result.outcome == .matched ? "matched" : "closest"
        let run = JSONValue(runID)
        for result in results {
            let role = result.temperature == match.closest.temperature ? closestRole : "probe"
            rows += self.rows.map { key, _ in [.string(role), run, .number(result.temperature), .string(key), JSONValue(result.metrics[key])] }
        }
        for split in LikelihoodSplit.allCases {
            if let value = likelihoods[split.metric] { rows.append([.string(closestRole), run, .null, .string(split.metric), .number(value)]) }
        }
        return DataTable(columns: ["role", "run", "temperature", "metric", "value"], rows: rows)
    }
}
