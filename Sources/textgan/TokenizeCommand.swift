import ArgumentParser
import Foundation
import TextPipeline

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize lines from standard input and print their tokens, one line per input line.",
        discussion: """
            Handy for checking segmentation. Tokens are printed separated by --separator (default " | ", since \
            char-mode tokens can be spaces), or as a JSON array per line with --json.

            Example:
              echo '我喜欢自然语言处理' | textgan tokenize    # prints the words ICU finds
            """
    )

    @OptionGroup(title: "Tokenizer") var tokenizer: TokenizerOptions

    @Option(help: "Text printed between tokens.")
    var separator: String = " | "

    @Flag(help: "Print each line's tokens as a JSON array.")
    var json = false

    @Flag(help: "Also print the detokenized text below each line's tokens.")
    var detokenize = false

    @Option(help: "A vocabulary file: print token ids instead of tokens (its tokenizer settings are used).")
    var vocab: String?

    func validate() throws {
        if vocab != nil && tokenizer.overridesAnything {
            throw ValidationError("--vocab brings its own tokenizer settings; drop --mode, --lowercase, --normalization and --max-length")
        }
    }

    func run() throws {
        var vocabulary: Vocabulary?
        var config = tokenizer.applied(to: TokenizerConfig())
        if let vocab {
            let loaded = try Vocabulary.load(from: URL(fileURLWithPath: vocab))
            vocabulary = loaded
            config = loaded.config
        }
        let tokenizer = try Tokenizer(config)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        while let line = readLine(strippingNewline: true) {
            let tokens = tokenizer.tokenize(line)
            if let vocabulary {
                print(vocabulary.encode(tokens).map(String.init).joined(separator: " "))
            } else if json {
                print(String(decoding: try encoder.encode(tokens), as: UTF8.self))
            } else {
                print(tokens.joined(separator: separator))
            }
            if detokenize { print(tokenizer.detokenize(tokens)) }
        }
    }
}
