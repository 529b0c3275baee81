import ArgumentParser
import Foundation
import Models
import NumericCore

/// The sampling options of every command that samples (`sample`, `eval`), declared once. Values are read as
/// decimals (Double), so the run store records exactly what was typed, and become a model's `SamplingOptions`
/// through `options`, which the REPL's /temperature, /top-k and /top-p use too.
struct SamplingFlags: ParsableArguments {
    // Unconditional: the next word is the value even when it starts with "-", so `--temperature -1` is refused as
    // a negative temperature rather than as a missing value.
    @Option(parsing: .unconditional, help: "Sampling temperature (0: greedy). Default 1.")
    var temperature: Double?

    @Option(parsing: .unconditional, help: "Sample from the k most likely tokens only (eval records it with every score).")
    var topK: Int?

    @Option(parsing: .unconditional, help: "Sample from the most likely tokens up to this total probability (eval records it with every score).")
    var topP: Double?

    func validate() throws {
        _ = try Self.options(temperature: temperature ?? 1, topK: topK, topP: topP)
    }

    /// The options at `temperature` (eval's sweep gives several) with these filters.
    func options(temperature: Double) throws -> SamplingOptions {
        try Self.options(temperature: temperature, topK: topK, topP: topP)
    }

    /// Checks each value and builds the options; the error names the flag.
    static func options(temperature: Double, topK: Int?, topP: Double?) throws -> SamplingOptions {
        guard temperature >= 0 && temperature.isFinite else {
            throw ValidationError("--temperature must be a finite number ≥ 0 (0: greedy), not \(Format.number(temperature))")
        }
        if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        return SamplingOptions(temperature: Float(temperature), topK: topK, topP: topP.map { Float($0) })
    }
}

/// Constraints on what a sample may repeat and how short it may end, with Hugging Face `generate`'s semantics
/// (`repetition_penalty`, `no_repeat_ngram_size`, `min_length`; see `SamplingOptions`), for `sample` and the REPL.
/// They change the distribution samples come from, so `eval`, which scores the model's own distribution and
/// records its protocol, does not take them.
struct GenerationFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Divide the logit of each token already in the sample (prefix included) by this when positive, multiply when negative (Hugging Face repetition_penalty; 1: off).",
        valueName: "factor"))
    var repetitionPenalty: Double?

    @Option(name: .customLong("no-repeat-ngram"), parsing: .unconditional, help: ArgumentHelp(
        "Never draw a token that completes an n-gram the sample already holds (Hugging Face no_repeat_ngram_size).",
        valueName: "n"))
    var noRepeatNGram: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "No end token before the sample (prefix included) has this many tokens (Hugging Face min_length).",
        valueName: "tokens"))
    var minLength: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "A latent generator's code for every sample (TextGAN's latent-lstm): n_z comma-separated values, or seed:N for one code drawn from its prior with seed N. Default: each sample draws its own.",
        valueName: "values|seed:N"))
    var latent: String?

    func validate() throws {
        var options = SamplingOptions()
        try apply(to: &options)
        if let latent { _ = try Self.parseLatent(latent) }
    }

    enum LatentCode: Equatable {
        case values([Float])
        case seed(UInt64)
    }

    static func parseLatent(_ text: String) throws -> LatentCode {
        if text.hasPrefix("seed:") {
            guard let seed = UInt64(text.dropFirst(5)) else { throw ValidationError("--latent seed:N needs a whole number N ≥ 0, not '\(text)'") }
            return .seed(seed)
        }
        let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0?.isFinite ?? false }) else {
            throw ValidationError("--latent takes comma-separated finite numbers or seed:N, not '\(text)'")
        }
        return .values(values.map { $0! })
    }

    /// The code `--latent` names for `generator`, checked against its size; nil without the flag.
    func latentCode(for generator: any SequenceGenerator) throws -> [Float]? {
        guard let latent else { return nil }
        let code = try Self.parseLatent(latent)
        guard let model = generator as? any LatentSequenceGenerator else {
            throw ValidationError("--latent: the \(generator.kind) generator has no latent code (TextGAN's latent-lstm has)")
        }
        switch code {
        case .values(let values):
            guard values.count == model.latentSize else {
                throw ValidationError("--latent has \(values.count) values; this generator's code has \(model.latentSize)")
            }
            return values
        case .seed(let seed):
            var rng = SeededGenerator(seed: seed)
            return model.drawLatents(count: 1, using: &rng).scalars
        }
    }

    /// Sets the constraints on `options`, checking each value; the error names the flag.
    func apply(to options: inout SamplingOptions) throws {
        try Self.apply(repetitionPenalty: repetitionPenalty, noRepeatNGram: noRepeatNGram, minLength: minLength, to: &options)
    }

    static func apply(repetitionPenalty: Double?, noRepeatNGram: Int?, minLength: Int?, to options: inout SamplingOptions) throws {
        if let repetitionPenalty, !(repetitionPenalty > 0 && repetitionPenalty.isFinite) {
            throw ValidationError("--repetition-penalty must be a finite number above 0 (1: off), not \(Format.number(repetitionPenalty))")
        }
        if let noRepeatNGram, noRepeatNGram < 1 { throw ValidationError("--no-repeat-ngram must be at least 1, not \(noRepeatNGram)") }
        if let minLength, minLength < 0 { throw ValidationError("--min-length must not be negative, not \(minLength)") }
        options.repetitionPenalty = repetitionPenalty.map { Float($0) }
        options.noRepeatNGramSize = noRepeatNGram
        options.minLength = minLength
    }
}
