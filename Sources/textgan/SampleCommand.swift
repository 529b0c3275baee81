import ArgumentParser
import Foundation
import Models
import NumericCore

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Print samples from a trained generator.",
        discussion: "The model is rebuilt from the checkpoint alone (its config and vocabulary are stored in it).")

    @Argument(help: "A run id (its latest checkpoint, or --best) or a checkpoint file.")
    var runOrCheckpoint: String

    @Option(name: [.customShort("n"), .long], help: "How many samples.")
    var count: Int = 20

    @Option(help: "Sampling temperature (0: greedy).")
    var temperature: Float = 1

    @Option(help: "Keep only the k most likely tokens.")
    var topK: Int?

    @Option(help: "Keep the most likely tokens up to this total probability.")
    var topP: Float?

    @Option(help: "Text the samples continue.")
    var prefix: String?

    @Option(help: "Seed of the sampling.")
    var seed: UInt64 = 0

    @Flag(help: "Use the run's best checkpoint (lowest test NLL or NLL-oracle) instead of its latest.")
    var best = false

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard count >= 1 else { throw ValidationError("-n must be at least 1") }
        guard temperature >= 0 else { throw ValidationError("--temperature must not be negative") }
        if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() throws {
        let loaded = try LoadedRun.load(runOrCheckpoint, runsDirectory: database.runsDirectory, best: best)
        var prefixIDs: [Int32] = []
        if let prefix {
            let (ids, unknown) = try loaded.encode(prefix)
            if !unknown.isEmpty {
                FileHandle.standardError.write(Data("note: not in the vocabulary (sampled as <unk>): \(unknown.joined(separator: " "))\n".utf8))
            }
            prefixIDs = ids
            guard prefixIDs.count < loaded.config.generator.maxLength else {
                throw ValidationError("the prefix has \(prefixIDs.count) tokens; the model's sequences have at most \(loaded.config.generator.maxLength)")
            }
        }
        var rng = SeededGenerator(seed: seed)
        let samples = loaded.generator.sample(
            count: count, options: SamplingOptions(temperature: temperature, topK: topK, topP: topP), prefix: prefixIDs,
            using: &rng)
        for s in samples { print(loaded.render(s)) }
    }
}
