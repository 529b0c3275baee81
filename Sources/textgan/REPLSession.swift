import ArgumentParser
import Foundation
import Models
import NumericCore
import RunStore
import Workbench

// The REPL's command interpreter: one line in, text out. It holds the loaded model, the sampling settings and the
// random stream, and knows nothing about terminals; `ReplCommand` feeds it lines from libedit or from a pipe.
//
// Every line is a slash-command or a prompt: `/temperature 0.7` changes a setting, `the big` samples continuations
// of "the big", an empty line samples unconditionally, `//text` is the text "/text".

/// A mistake in a line (unknown command, bad argument, text the model cannot take): one line for the user; the
/// session carries on.
struct REPLError: Error, CustomStringConvertible, Equatable {
    var description: String
    init(_ description: String) { self.description = description }
}

final class REPLSession {
    /// What the loop does after a line.
    enum Outcome: Equatable { case proceed, quit }

    struct Settings: Equatable {
        /// Samples per prompt.
        var count = 5
        var sampling = SamplingOptions()
        var seed: UInt64 = 0
    }

    /// Most samples one prompt may ask for: enough for a quick distribution check, bounded so a typo cannot fill
    /// memory.
    static let maxCount = 100_000
    /// Tokens `/next` lists when top-k is off.
    static let defaultNextCount = 10
    /// `/runs` lists this many; `/sql` returns at most `sqlMaxRows` rows, cuts texts and blobs to `sqlMaxCell` bytes
    /// and stops after `sqlTimeout` seconds.
    static let runsShown = 10
    static let sqlMaxRows = 200
    static let sqlMaxCell = 1000
    static let sqlTimeout: TimeInterval = 5

    private(set) var model: LoadedRun
    /// "run 3", or the checkpoint's file name.
    private(set) var modelName: String
    private(set) var settings = Settings()
    private var rng = SeededGenerator(seed: 0)
    let database: DatabaseOptions
    private let write: (String) -> Void
    private let isCancelled: () -> Bool
    private let notify: ((String) -> Void)?
    /// A detector of generated text (`repl --detector`), whose P(generated) /score shows too.
    var detector: (detector: Detector, name: String)?

    /// Prompts asking for at least this many samples are announced through `notify` before sampling starts.
    static let announcedCount = 1_000

    /// `write` receives output, one or more whole lines without the final newline; `isCancelled` is asked between
    /// sampling steps (Ctrl-C); `notify`, when given (on a terminal), announces long generations before they start,
    /// so the user knows Ctrl-C is there.
    init(model: LoadedRun, name: String, database: DatabaseOptions, write: @escaping (String) -> Void,
         isCancelled: @escaping () -> Bool = { false }, notify: ((String) -> Void)? = nil) {
        self.model = model
        modelName = name
        self.database = database
        self.write = write
        self.isCancelled = isCancelled
        self.notify = notify
    }

    /// A line as read, not yet known to be text: invalid UTF-8 is reported, never decoded with replacements.
    func handle(bytes: [UInt8]) throws -> Outcome {
        guard let line = String(validating: bytes, as: UTF8.self) else {
            let offset = Self.firstInvalidUTF8Offset(bytes)
            throw REPLError("the line is not valid UTF-8 (byte \(offset) of \(bytes.count)); ignored")
        }
        return try handle(line)
    }

    func handle(_ rawLine: String) throws -> Outcome {
        var line = rawLine
        while line.last == "\n" || line.last == "\r" { line.removeLast() }
        guard line.hasPrefix("/"), !line.hasPrefix("//") else {
            try samplePrompt(line.hasPrefix("//") ? String(line.dropFirst()) : line)
            return .proceed
        }
        let body = line.dropFirst()
        let name = body.prefix { !$0.isWhitespace }.lowercased()
        let argument = body.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
        switch name {
        case "n": settings.count = try parseInt(argument, "/n", range: 1...Self.maxCount)
        case "temperature", "temp", "t":
            let t = try parseNumber(argument, "/temperature")
            try setSampling(temperature: t, "/temperature must be a number ≥ 0 (0: greedy), not '\(argument)'")
        case "top-k", "topk":
            let k = try argument == "off" ? nil : parseInt(argument, "/top-k", range: 1...Int.max, off: true)
            try setSampling(topK: .some(k), "/top-k must be a whole number ≥ 1 or 'off', not '\(argument)'")
        case "top-p", "topp":
            let p = try argument == "off" ? nil : parseNumber(argument, "/top-p", off: true)
            try setSampling(topP: .some(p), "/top-p must be in (0, 1] or 'off', not '\(argument)'")
        case "repetition-penalty", "rep":
            let penalty = try argument == "off" ? nil : parseNumber(argument, "/repetition-penalty", off: true)
            try setConstraint("/repetition-penalty must be a number above 0 or 'off', not '\(argument)'") {
                $0.repetitionPenalty = penalty.map { Float($0) }
            }
        case "no-repeat-ngram":
            let n = try argument == "off" ? nil : parseInt(argument, "/no-repeat-ngram", range: 1...Int.max, off: true)
            try setConstraint("") { $0.noRepeatNGramSize = n }
        case "min-len", "minlen":
            let minimum = try argument == "off" ? nil
                : parseInt(argument, "/min-len", range: 0...(model.generator.maxLength - 1), off: true)
            try setConstraint("") { $0.minLength = minimum }
        case "latent":
            // The code of a latent generator's samples, as `sample --latent` takes it; off: each draws its own.
            if argument == "off" {
                settings.sampling.latent = nil
            } else {
                do {
                    var flags = GenerationFlags()
                    flags.latent = argument
                    settings.sampling.latent = try flags.latentCode(for: model.generator)
                } catch {
                    throw REPLError("/latent: \(error)".replacingOccurrences(of: "--latent: ", with: "").replacingOccurrences(of: "--latent", with: "/latent"))
                }
            }
        case "max-len", "maxlen":
            let limit = model.generator.maxLength
            settings.sampling.maxLength = try argument == "off" ? nil : parseInt(argument, "/max-len", range: 1...limit, off: true)
        case "seed":
            guard let seed = UInt64(argument) else { throw REPLError("/seed takes a whole number ≥ 0, not '\(argument)'") }
            settings.seed = seed
            rng = SeededGenerator(seed: seed)
        case "settings":
            try noArgument(argument, "/settings")
            write(describeSettings())
            return .proceed
        case "next": try next(argument)
        case "score": try score(argument)
        case "load": try load(argument)
        case "runs":
            try noArgument(argument, "/runs")
            try listRuns()
        case "sql": try sql(argument)
        case "help", "?":
            write(Self.help)
            return .proceed
        case "quit", "exit", "q":
            return .quit
        default:
            throw REPLError("unknown command /\(name) (try /help; start a prompt with // to sample after a '/')")
        }
        if ["n", "temperature", "temp", "t", "top-k", "topk", "top-p", "topp", "max-len", "maxlen", "seed",
            "repetition-penalty", "rep", "no-repeat-ngram", "min-len", "minlen", "latent"].contains(name) {
            write(describeSettings(compact: true))
        }
        return .proceed
    }

    // MARK: - Sampling

    /// `settings.count` samples continuing `text` (unconditional when it is empty or only spaces).
    private func samplePrompt(_ text: String) throws {
        let prefix = text.allSatisfy(\.isWhitespace) ? [] : try tokens(text)
        let limit = settings.sampling.maxLength ?? model.generator.maxLength
        guard prefix.count < limit else {
            throw REPLError("the prompt has \(prefix.count) tokens; samples have at most \(limit) (/max-len, the model's maximum is \(model.generator.maxLength))")
        }
        noteUnknown(prefix)
        if settings.count >= Self.announcedCount, let notify {
            notify("sampling \(settings.count) sequences (Ctrl-C cancels)")
        }
        let samples = model.generator.sample(
            count: settings.count, options: settings.sampling, prefix: prefix.map(\.id), batchSize: 256, using: &rng,
            shouldStop: isCancelled)
        if isCancelled() {
            write("cancelled")
            return
        }
        write(samples.map { model.render($0) }.joined(separator: "\n"))
    }

    // MARK: - Probing the model

    /// The most likely next tokens after `text` under the generator (its own distribution: temperature 1, no
    /// filtering), with probabilities and their running total.
    private func next(_ text: String) throws {
        let prefix = try tokens(text)
        guard prefix.count < model.generator.maxLength else {
            throw REPLError("the text has \(prefix.count) tokens; the model's sequences have at most \(model.generator.maxLength)")
        }
        noteUnknown(prefix)
        let logProbabilities = model.generator.nextTokenLogProbabilities(after: prefix.map(\.id))
        let shown = min(settings.sampling.topK ?? Self.defaultNextCount, logProbabilities.count)
        let ranked = logProbabilities.indices.sorted {
            logProbabilities[$0] != logProbabilities[$1] ? logProbabilities[$0] > logProbabilities[$1] : $0 < $1
        }.prefix(shown)
        var cumulative = 0.0
        let rows = ranked.enumerated().map { rank, id -> [String] in
            let p = exp(Double(logProbabilities[id]))
            cumulative += p
            return [String(rank + 1), model.tokenName(Int32(id)), String(id), Self.fixed(p, 4),
                    Self.fixed(Double(logProbabilities[id]), 3), Self.fixed(cumulative, 4)]
        }
        let context = prefix.isEmpty ? "at the start" : "after \(prefix.count) token\(prefix.count == 1 ? "" : "s")"
        write("next token \(context), top \(shown) of \(logProbabilities.count):\n"
            + TextTable(headers: ["rank", "token", "id", "p", "log p", "cum p"], rows: rows,
                        rightAligned: [0, 2, 3, 4, 5]).render())
    }

    /// The generator's log-probability of every token of `text` (and of the end token, when the model has one),
    /// their mean NLL, and the discriminator's probability that the text is real.
    private func score(_ text: String) throws {
        guard !text.allSatisfy(\.isWhitespace) else { throw REPLError("usage: /score <text>") }
        // Bounded before tokenizing: a token takes at least a byte and the separator after it.
        let limit = Self.scoreLimit(vocabularySize: model.generator.vocabularySize)
        if text.utf8.count > 64 * limit {
            throw REPLError("/score reads at most \(Format.count(limit)) tokens, and this text is \(Format.count(text.utf8.count)) bytes; score a shorter piece")
        }
        var scored = try tokens(text).map { (label: $0.known ? $0.text : "⟨unk:\($0.text)⟩", id: $0.id) }
        if let end = model.generator.endToken { scored.append((model.tokenName(end), end)) }
        if scored.count > limit {
            throw REPLError("/score reads at most \(Format.count(limit)) tokens (this text has \(Format.count(scored.count))): "
                + "one log-probability per vocabulary entry per token must fit in \(Self.scoreMemory >> 20) MiB; score a shorter piece")
        }
        let ids = scored.map(\.id)
        guard !ids.isEmpty else { throw REPLError("'\(text)' has no tokens to score") }
        let (logProbabilities, nll, probabilityReal): ([Float], Double, Float?)
        do {
            (logProbabilities, nll, probabilityReal) = try model.score(ids)
        } catch {
            throw REPLError(Self.oneLine(error))
        }
        let rows = zip(scored, logProbabilities).map { token, logP in
            [token.label, String(token.id), Self.fixed(Double(logP), 3)]
        }
        var lines = [TextTable(headers: ["token", "id", "log p"], rows: rows, rightAligned: [1, 2]).render()]
        lines.append("mean NLL \(Self.fixed(nll, 3)) nats/token over \(ids.count) tokens (perplexity \(Format.number(exp(nll))))")
        let maxLength = model.generator.maxLength
        if ids.count > maxLength {
            lines.append("note: \(ids.count) tokens is longer than the model's sequences (\(maxLength)); it never saw text this long")
        }
        if let probabilityReal, let length = model.discriminator?.sequenceLength {
            let cut = ids.count > length ? " (D reads the first \(length) tokens)" : ""
            lines.append("D(real) \(Self.fixed(Double(probabilityReal), 4))\(cut)")
        } else {
            lines.append("D(real) — (\(model.config.algorithm) run: no discriminator)")
        }
        if let (detector, name) = detector {
            // After /load, the run may read another vocabulary than the detector.
            if detector.vocabulary == model.vocabulary && detector.discriminator.vocabularySize == model.generator.vocabularySize {
                lines.append("P(generated) \(Self.fixed(detector.probabilityGenerated([ids])[0], 4)) (detector \(name))")
            } else {
                lines.append("P(generated) — (detector \(name) reads another vocabulary than this run)")
            }
        }
        write(lines.joined(separator: "\n"))
    }

    /// What /score's log-probabilities may take (a float per token per vocabulary entry): a 1M-token line once
    /// asked for 19 GB.
    static let scoreMemory = 512 << 20

    /// The most tokens /score reads: 10,000 (a table no one reads to the end), fewer for a large vocabulary.
    static func scoreLimit(vocabularySize: Int) -> Int {
        min(10_000, max(1, scoreMemory / 4 / max(vocabularySize, 1)))
    }

    // MARK: - The run store

    /// Switches to another run's (or checkpoint's) model; the settings stay, /max-len is dropped when the new
    /// model's sequences are shorter.
    private func load(_ reference: String) throws {
        guard !reference.isEmpty else { throw REPLError("usage: /load <run id or name | checkpoint file>") }
        let loaded: LoadedRun
        let resolved: RunReference
        do {
            resolved = try database.reference(reference)
            loaded = try database.loadRun(resolved)
        } catch {
            throw REPLError("cannot load \(reference): \(Self.oneLine(error))")
        }
        model = loaded
        modelName = Self.name(of: resolved)
        if let maxLength = settings.sampling.maxLength, maxLength > loaded.generator.maxLength {
            settings.sampling.maxLength = nil
            write("note: /max-len \(maxLength) is beyond this model's \(loaded.generator.maxLength); set to off")
        }
        write(describeModel())
    }

    private func listRuns() throws {
        guard database.exists else { throw REPLError("no run store at \(database.path)") }
        let summaries = try database.openExisting().runs(RunFilter(limit: Self.runsShown))
        write(summaries.isEmpty ? "No runs recorded yet." : RunsCommand.table(summaries))
    }

    private func sql(_ query: String) throws {
        guard !query.isEmpty else { throw REPLError("usage: /sql <query>  (read-only; tables in docs/run-store.md)") }
        let results: [ReadOnlyQuery.Result]
        do {
            results = try ReadOnlyQuery(path: database.path).execute(query, timeout: Self.sqlTimeout, maxRows: Self.sqlMaxRows,
                                                                maxCellBytes: Self.sqlMaxCell)
        } catch {
            throw REPLError(Self.oneLine(error))
        }
        if results.isEmpty { write("(no rows)") }
        for result in results {
            write(SQLCommand.table(result))
            if result.truncated { write("note: showing the first \(Self.sqlMaxRows) rows; add a LIMIT or use `textgan sql`") }
        }
    }

    // MARK: - Descriptions

    /// One line about the loaded model.
    func describeModel() -> String {
        let g = model.generator
        let d = model.discriminator.map { "\($0.kind) discriminator (length \($0.sequenceLength))" } ?? "no discriminator"
        return "\(modelName): \(model.config.algorithm) on \(model.config.corpus), vocabulary \(g.vocabularySize), "
            + "sequences up to \(g.maxLength) tokens, \(g.kind) generator, \(d)"
    }

    func describeSettings(compact: Bool = false) -> String {
        let s = settings.sampling
        let items: [(String, String)] = [
            ("n", String(settings.count)),
            ("temperature", Format.number(Double(s.temperature)) + (s.temperature == 0 ? " (greedy)" : "")),
            ("top-k", s.topK.map(String.init) ?? "off"),
            ("top-p", s.topP.map { Format.number(Double($0)) } ?? "off"),
            ("max-len", s.maxLength.map(String.init) ?? "off (\(model.generator.maxLength))"),
            ("seed", String(settings.seed)),
        ]
        let constraints: [(String, String)] = [
            ("repetition-penalty", s.repetitionPenalty.map { Format.number(Double($0)) } ?? "off"),
            ("no-repeat-ngram", s.noRepeatNGramSize.map(String.init) ?? "off"),
            ("min-len", s.minLength.map(String.init) ?? "off"),
            ("latent", s.latent.map { $0.map { Format.number(Double($0)) }.joined(separator: ",") } ?? "off"),
        ]
        // The one-line echo leaves out the generation constraints that are off.
        if compact { return (items + constraints.filter { $0.1 != "off" }).map { "\($0) \($1)" }.joined(separator: " · ") }
        func lines(_ group: [(String, String)]) -> [String] {
            let width = group.map(\.0.count).max() ?? 0
            return group.map { "  " + $0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $1 }
        }
        return ([describeModel()] + lines(items) + lines(constraints)).joined(separator: "\n")
    }

    /// What Tab completes at the start of a line: each command's name as /help lists it (aliases are not offered).
    static let commandWords = ["/n", "/temperature", "/top-k", "/top-p", "/max-len", "/min-len", "/repetition-penalty",
                               "/no-repeat-ngram", "/latent", "/seed", "/settings", "/next", "/score", "/load", "/runs",
                               "/sql", "/help", "/quit"]

    static let help = """
        text              sample /n continuations of the text (an empty line: unconditional samples)
        //text            the text "/text" (a prompt that starts with a slash)
        /n 10             samples per prompt (1…\(maxCount))
        /temperature 0.7  sampling temperature (0: greedy)
        /top-k 40         keep the 40 most likely tokens (off: all)
        /top-p 0.9        keep the most likely tokens up to this total probability (off: all)
        /max-len 30       cut samples at this many tokens (at most the model's length; off: the model's)
        /min-len 5        no end token before a sample (prompt included) has 5 tokens (Hugging Face min_length; off)
        /repetition-penalty 1.2  penalise tokens already in the sample (Hugging Face repetition_penalty; off)
        /no-repeat-ngram 3       never repeat a 3-gram of the sample (Hugging Face no_repeat_ngram_size; off)
        /latent seed:3    a latent generator's code for every sample: n_z comma-separated values or seed:N (off: each draws its own)
        /seed 7           restart the random stream (the same seed and settings give the same samples)
        /settings         show the model and the settings
        /next <text>      the most likely next tokens after the text (top-k of them, else \(defaultNextCount))
        /score <text>     the generator's log-probability of each token, the mean NLL, D(real) when the run has a discriminator, and P(generated) when repl --detector loaded one (at most 10,000 tokens)
        /load <run-id>    switch to another run (or a checkpoint file)
        /runs             recent runs in the store
        /sql <query>      read-only SQL on the run store (docs/run-store.md)
        /help             this list
        /quit             leave (also Ctrl-D); Ctrl-C cancels the line or a running generation
        """

    // MARK: - Helpers

    private func tokens(_ text: String) throws -> [(text: String, id: Int32, known: Bool)] {
        do {
            return try model.tokens(text)
        } catch {
            throw REPLError(Self.oneLine(error))
        }
    }

    private func noteUnknown(_ tokens: [(text: String, id: Int32, known: Bool)]) {
        let unknown = tokens.filter { !$0.known }.map { "⟨unk:\($0.text)⟩" }
        if !unknown.isEmpty { write("note: not in the vocabulary, read as <unk>: \(unknown.joined(separator: " "))") }
    }

    private func parseInt(_ text: String, _ command: String, range: ClosedRange<Int>, off: Bool = false) throws -> Int {
        guard let value = Int(text), range.contains(value) else {
            let bounds = range.upperBound == Int.max ? "≥ \(range.lowerBound)" : "in \(range.lowerBound)…\(range.upperBound)"
            throw REPLError("\(command) takes a whole number \(bounds)\(off ? " or 'off'" : ""), not '\(text)'")
        }
        return value
    }

    /// Changes the sampling options through the checks the commands' --temperature, --top-k and --top-p use
    /// (`SamplingFlags`); `message` is the error when a value is out of range.
    private func setSampling(temperature: Double? = nil, topK: Int?? = nil, topP: Double?? = nil, _ message: String) throws {
        let s = settings.sampling
        var options: SamplingOptions
        do {
            options = try SamplingFlags.options(temperature: temperature ?? Double(s.temperature), topK: topK ?? s.topK,
                                                topP: topP ?? s.topP.map(Double.init))
        } catch {
            throw REPLError(message)
        }
        options.maxLength = s.maxLength
        (options.repetitionPenalty, options.noRepeatNGramSize, options.minLength) = (s.repetitionPenalty, s.noRepeatNGramSize, s.minLength)
        settings.sampling = options
    }

    /// Changes one generation constraint through the checks `sample`'s flags use (`GenerationFlags`).
    private func setConstraint(_ message: String, _ change: (inout SamplingOptions) -> Void) throws {
        var options = settings.sampling
        change(&options)
        do {
            try GenerationFlags.apply(repetitionPenalty: options.repetitionPenalty.map(Double.init),
                                      noRepeatNGram: options.noRepeatNGramSize, minLength: options.minLength, to: &options)
        } catch {
            throw REPLError(message.isEmpty ? "\(error)" : message)
        }
        settings.sampling = options
    }

    private func parseNumber(_ text: String, _ command: String, off: Bool = false) throws -> Double {
        guard let value = Double(text), value.isFinite else {
            throw REPLError("\(command) takes a number\(off ? " or 'off'" : ""), not '\(text)'")
        }
        return value
    }

    private func noArgument(_ argument: String, _ command: String) throws {
        guard argument.isEmpty else { throw REPLError("\(command) takes no argument") }
    }

    static func fixed(_ value: Double, _ digits: Int) -> String {
        value.isFinite ? String(format: "%.\(digits)f", value) : Format.number(value)
    }

    /// An error as one line (ValidationError and our own errors print their message).
    static func oneLine(_ error: Error) -> String {
        let text: String
        if let validation = error as? ValidationError { text = validation.message } else { text = String(describing: error) }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// "run 3" for a run id, the file name for a checkpoint path.
    static func name(of reference: String) -> String {
        name(of: Int64(reference).map(RunReference.run) ?? .file(reference))
    }

    /// "run 3" for a run (by id or name), the file name for a checkpoint path.
    static func name(of reference: RunReference) -> String {
        switch reference {
        case .run(let id): return "run \(id)"
        case .file(let path): return URL(fileURLWithPath: path).lastPathComponent
        }
    }

    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int {
        // The first bad byte ends the longest prefix that decodes (lines are short, so shrinking one byte at a time
        // is fine).
        var end = bytes.count
        while end > 0 && String(validating: bytes[..<end], as: UTF8.self) == nil { end -= 1 }
        return end
    }
}
