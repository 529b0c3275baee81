import ArgumentParser
import Foundation
import TextPipeline

struct VocabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vocab",
        abstract: "Build vocabularies from corpora.",
        subcommands: [Build.self]
    )

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a vocabulary from a corpus's training split and save it under vocab/.",
            discussion: """
                Ids 0-3 are <pad> <bos> <eos> <unk>; the corpus's tokens follow by count descending, ties by Unicode \
                code-point order, so the same corpus and settings always give a byte-identical file. The file is \
                text: the tokenizer settings in a header, then one token<TAB>count per line.
                """)

        @Argument(help: "A named corpus (see `textgan corpus list`) or a path to a text file.")
        var corpus: String

        @OptionGroup var load: CorpusLoadOptions

        @OptionGroup var limits: VocabularyOptions

        @Option(help: "Where to write the vocabulary (default: vocab/<corpus>.vocab under the package root).")
        var output: String?

        @OptionGroup var report: OutputOptions

        func run() throws {
            let (corpus, root) = try load.load(self.corpus)
            let tokenizer = try corpus.tokenizer()
            let vocabulary = Vocabulary.build(from: corpus.train.lazy.map(tokenizer.tokenizeAll),
                                              config: tokenizer.config,
                                              minCount: limits.minCount, maxSize: limits.maxSize)
            let url = output.map { URL(fileURLWithPath: $0) }
                ?? root.appendingPathComponent("vocab/\(corpus.name).vocab")
            try vocabulary.save(to: url)
            let facts: [(String, JSONValue)] = [
                ("corpus", .string(corpus.name)), ("corpus_sha256", .string(corpus.sha256)),
                ("training_examples", JSONValue(corpus.train.count)), ("tokenizer", .string("\(tokenizer.config)")),
                ("entries", JSONValue(vocabulary.count)), ("min_count", JSONValue(limits.minCount)),
                ("max_size", JSONValue(limits.maxSize)),
                ("unk_occurrences", JSONValue(vocabulary.counts[Int(Vocabulary.unk)])), ("path", .string(url.path)),
            ]
            switch report.chosen {
            case .json:
                print(JSONValue.object(facts).rendered())
                return
            case .csv:
                print(DataTable(columns: ["key", "value"], rows: facts.map { [.string($0.0), $0.1] }).csv(), terminator: "")
                return
            case .table: break
            }
            print("vocabulary of \(corpus.name) (sha256 \(corpus.sha256.prefix(16))…, \(corpus.train.count) training examples)")
            print("  tokenizer  \(tokenizer.config)")
            print("  entries    \(vocabulary.count) (4 special + \(vocabulary.count - 4)); min-count \(limits.minCount)"
                  + (limits.maxSize.map { ", max-size \($0)" } ?? ""))
            print("  <unk>      \(vocabulary.counts[Int(Vocabulary.unk)]) training occurrences left out")
            print("  written    \(url.path)")
        }
    }
}
