import ArgumentParser
import Foundation
import Models
import NumericCore
import Workbench

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Print samples from a trained generator.",
        discussion: "The model is rebuilt from the checkpoint alone (its config and vocabulary are stored in it).")

    @Argument(help: "A run id or name (its latest checkpoint, or --best) or a checkpoint file (./name for a file named like a run).")
    var runOrCheckpoint: String

    @Option(name: [.customShort("n"), .long], help: "How many samples.")
    var count: Int = 20

    @OptionGroup var sampling: SamplingFlags

    @OptionGroup(title: "Generation constraints") var constraints: GenerationFlags

    enum SampleFormat: String, ExpressibleByArgument, CaseIterable {
        case txt, jsonl
    }

    @Option(help: "txt (one sample per line) or jsonl (one object per line: index, text, token_ids).")
    var format: SampleFormat = .txt

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Write the samples to this file (default: standard output).", valueName: "file"))
    var output: String?

    @Option(help: "Text the samples continue.")
    var prefix: String?

    @Option(help: "Seed of the sampling.")
    var seed: UInt64 = 0

    @Flag(help: "Use the run's best checkpoint (lowest test NLL or NLL-oracle) instead of its latest.")
    var best = false

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard (1...10_000_000).contains(count) else { throw ValidationError("-n must be in 1…10,000,000, not \(count)") }
    }

    func run() throws {
        let loaded = try database.loadRun(runOrCheckpoint, best: best)
        var prefixIDs: [Int32] = []
        if let prefix {
            let (ids, unknown) = try loaded.encode(prefix)
            if !unknown.isEmpty {
                FileHandle.standardError.write(Data("note: not in the vocabulary (sampled as <unk>): \(unknown.joined(separator: " "))\n".utf8))
            }
            prefixIDs = ids
            guard prefixIDs.count < loaded.generator.maxLength else {
                throw ValidationError("the prefix has \(prefixIDs.count) tokens; the model's sequences have at most \(loaded.generator.maxLength)")
            }
        }
        if let minimum = constraints.minLength, minimum >= loaded.generator.maxLength {
            throw ValidationError("--min-length \(minimum) leaves no room for the end token: the model's sequences have at most \(loaded.generator.maxLength) tokens")
        }
        var options = try sampling.options(temperature: sampling.temperature ?? 1)
        try constraints.apply(to: &options)
        options.latent = try constraints.latentCode(for: loaded.generator)
        var rng = SeededGenerator(seed: seed)
        let samples = loaded.generator.sample(count: count, options: options, prefix: prefixIDs, using: &rng)
        let text = samples.enumerated().map { index, ids in
            switch format {
            case .txt: return loaded.render(ids) + "\n"
            case .jsonl:
                return JSONValue.object([("index", JSONValue(index)), ("text", .string(loaded.render(ids))),
                                         ("token_ids", .array(ids.map { .integer(Int64($0)) }))]).rendered() + "\n"
            }
        }.joined()
        try writeOutput(text, to: output, saying: "wrote \(samples.count) samples")
    }
}
