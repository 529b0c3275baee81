import ArgumentParser
import Models

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
