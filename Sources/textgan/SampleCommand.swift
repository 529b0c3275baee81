import ArgumentParser
import Foundation
import Models
import NumericCore
import TextPipeline
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

    @Option(help: ArgumentHelp(
        "A UTF-8 file of prefixes, one per line: -n samples continue each, in the file's order (blank lines are skipped).",
        discussion: "With --format jsonl each object also has the prefix and its 1-based line in the file.",
        valueName: "file"), completion: .file())
    var prefixes: String?

    @Option(help: "Seed of the sampling.")
    var seed: UInt64 = 0

    @Flag(help: "Use the run's best checkpoint (lowest test NLL or NLL-oracle) instead of its latest.")
    var best = false

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard (1...10_000_000).contains(count) else { throw ValidationError("-n must be in 1…10,000,000, not \(count)") }
        if prefix != nil && prefixes != nil { throw ValidationError("give --prefix or --prefixes, not both") }
    }

    /// The prefixes to continue, with their line in the file: --prefixes' non-blank lines, else --prefix, else none.
    private func prefixList() throws -> [(line: Int?, text: String)] {
        guard let prefixes else { return [(nil, prefix ?? "")] }
        var list: [(line: Int?, text: String)] = []
        do {
            try TextFileReader().readLines(URL(fileURLWithPath: prefixes)) { line, text in
                if !text.trimmingCharacters(in: .whitespaces).isEmpty { list.append((line, text)) }
            }
        } catch let error as TextFileError {
            throw WorkbenchError("--prefixes \(error)")
        }
        guard count.multipliedReportingOverflow(by: list.count).partialValue <= 10_000_000 else {
            throw ValidationError("\(list.count) prefixes × -n \(count) is over 10,000,000 samples")
        }
        return list
    }

    func run() throws {
        let loaded = try database.loadRun(runOrCheckpoint, best: best)
        let list = try prefixList()
        var encoded: [[Int32]] = []
        for (line, text) in list {
            let (ids, unknown) = text.isEmpty ? ([], []) : try loaded.encode(text)
            let source = line.map { "\(prefixes!):\($0): " } ?? ""
            if !unknown.isEmpty {
                FileHandle.standardError.write(Data("note: \(source)not in the vocabulary (sampled as <unk>): \(unknown.joined(separator: " "))\n".utf8))
            }
            guard ids.count < loaded.generator.maxLength else {
                throw ValidationError("\(source)the prefix has \(ids.count) tokens; the model's sequences have at most \(loaded.generator.maxLength)")
            }
            encoded.append(ids)
        }
        if let minimum = constraints.minLength, minimum >= loaded.generator.maxLength {
            throw ValidationError("--min-length \(minimum) leaves no room for the end token: the model's sequences have at most \(loaded.generator.maxLength) tokens")
        }
        var options = try sampling.options(temperature: sampling.temperature ?? 1)
        try constraints.apply(to: &options)
        options.latent = try constraints.latentCode(for: loaded.generator)
        // One stream over all prefixes, so a file of one line samples what --prefix with that line samples.
        var rng = SeededGenerator(seed: seed)
        var text = "", index = 0
        for ((line, prefixText), prefixIDs) in zip(list, encoded) {
            for ids in loaded.generator.sample(count: count, options: options, prefix: prefixIDs, using: &rng) {
                switch format {
                case .txt: text += loaded.render(ids) + "\n"
                case .jsonl:
                    var fields: [(String, JSONValue)] = [("index", JSONValue(index))]
                    if prefixes != nil { fields += [("prefix", .string(prefixText)), ("prefix_line", JSONValue(line))] }
                    fields += [("text", .string(loaded.render(ids))), ("token_ids", .array(ids.map { .integer(Int64($0)) }))]
                    text += JSONValue.object(fields).rendered() + "\n"
                }
                index += 1
            }
        }
        try writeOutput(text, to: output, saying: "wrote \(index) samples")
    }
}
