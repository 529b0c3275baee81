import ArgumentParser
import Foundation
import Metrics

import TextPipeline

struct Bleu: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bleu",
        abstract: "Score a file of generated sentences with BLEU-n (and Self-BLEU-n) in the text-GAN convention.",
        discussion: """
            Both files hold one sentence per line (UTF-8; a final newline is optional; blank lines are empty \
            sentences, which score 0). BLEU-n is the mean over hypotheses of nltk's sentence_bleu against the WHOLE \
            reference file, uniform weights 1/n, with the chosen smoothing; Self-BLEU-n (--self) scores each \
            hypothesis against all the other hypotheses. Scores match nltk 3.10.4 to 1e-9.

            Tokenizers:
              space: strip, lowercase, split one final "." off as its own token, split on whitespace (the Texygen \
            COCO convention, and that of ../shared/bleu/vectors.json)
              word: ICU word segmentation (from the text pipeline)
              char: one token per character (from the text pipeline)

            `textgan eval` scores a run's samples with the run's own tokenizer (its corpus's settings, e.g. word mode \
            for coco), not with --tokenizer space: to reproduce eval's BLEU on text files, pass the corpus's mode \
            (--tokenizer word or char); the default space tokenizer is the Texygen convention, for comparing with \
            published numbers.
            """
    )

    enum TokenizerChoice: String, ExpressibleByArgument, CaseIterable {
        case space, word, char
    }

    @Argument(help: "The generated sentences, one per line.")
    var hypotheses: String

    @Argument(help: "The reference sentences, one per line.")
    var references: String

    @Option(name: .customLong("n"), help: "BLEU orders, comma-separated.",
            transform: { text in
                try text.split(separator: ",").map { part in
                    guard let n = Int(part.trimmingCharacters(in: .whitespaces)) else {
                        throw ValidationError("--n takes comma-separated integers such as 2,3,4,5 (got \"\(text)\")")
                    }
                    return n
                }
            })
    var orders: [Int] = [2, 3, 4, 5]

    @Flag(name: .customLong("self"), help: "Also compute Self-BLEU-n of the hypotheses.")
    var selfBLEU = false

    @Option(help: "Tokenizer: \(TokenizerChoice.allCases.map(\.rawValue).joined(separator: ", ")).")
    var tokenizer: TokenizerChoice = .space

    @Option(help: "Smoothing: method1 (nltk's epsilon 0.1, the text-GAN default) or method0 (none).")
    var smoothing: BLEUSmoothing = .method1

    @OptionGroup var output: OutputOptions

    @Option(help: "Threads that score sentences (the scores do not depend on it).")
    var threads: Int = defaultMetricThreads

    func validate() throws {
        guard !orders.isEmpty else { throw ValidationError("--n needs at least one order") }
        guard orders.allSatisfy({ (1...9).contains($0) }) else { throw ValidationError("--n orders must be in 1...9") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be from 1 to 1024, not \(threads)") }
    }

    func run() throws {
        let tokenize = try sentenceTokenizer(tokenizer)
        let hypothesisLines = try readLines(hypotheses, role: "hypotheses")
        let referenceLines = try readLines(references, role: "references")

        let start = DispatchTime.now().uptimeNanoseconds
        let hypothesisTokens = hypothesisLines.map(tokenize)
        let bleuScores = Metrics.bleu(hypotheses: hypothesisTokens, references: referenceLines.map(tokenize),
                                      orders: orders, smoothing: smoothing, threads: threads)
        let selfScores = selfBLEU
            ? Metrics.selfBLEU(hypothesisTokens, orders: orders, smoothing: smoothing, threads: threads) : []
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9

        let protocolFields: [(String, String)] = [
            ("hypotheses", hypotheses), ("hypothesis_count", "\(hypothesisLines.count)"),
            ("references", references), ("reference_count", "\(referenceLines.count)"),
            ("tokenizer", tokenizer.rawValue), ("smoothing", smoothing.rawValue), ("weights", "uniform"),
        ]
        switch output.chosen {
        case .csv:
            // One score per row; the protocol is the same for all of them and goes with the table and JSON forms.
            let rows = bleuScores.map { [JSONValue.string("bleu"), JSONValue($0.order), .number($0.mean)] }
                + selfScores.map { [JSONValue.string("self_bleu"), JSONValue($0.order), .number($0.mean)] }
            print(DataTable(columns: ["metric", "order", "score"], rows: rows).csv(), terminator: "")
        case .table:
            for (key, value) in protocolFields { print("\(key): \(value)") }
            print(paddedName("metric") + "score")
            for s in bleuScores { print(paddedName("BLEU-\(s.order)") + formatted(s.mean)) }
            for s in selfScores { print(paddedName("Self-BLEU-\(s.order)") + formatted(s.mean)) }
            print(String(format: "scored in %.2f s", seconds))
        case .json:
            var object: [String: Any] = Dictionary(uniqueKeysWithValues: protocolFields.map { ($0.0, $0.1 as Any) })
            object["hypothesis_count"] = hypothesisLines.count
            object["reference_count"] = referenceLines.count
            object["bleu"] = Dictionary(uniqueKeysWithValues: bleuScores.map { ("\($0.order)", jsonNumber($0.mean)) })
            if selfBLEU {
                object["self_bleu"] = Dictionary(uniqueKeysWithValues: selfScores.map { ("\($0.order)", jsonNumber($0.mean)) })
            }
            object["seconds"] = seconds
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    private func formatted(_ value: Double) -> String { value.isNaN ? "undefined" : String(format: "%.6f", value) }
    private func jsonNumber(_ value: Double) -> Any { value.isNaN ? NSNull() : value }
    private func paddedName(_ s: String) -> String { s + String(repeating: " ", count: max(1, 14 - s.count)) }
}

extension BLEUSmoothing: ExpressibleByArgument {}

// MARK: - Tokenizer seam

/// One line of text to tokens.
typealias SentenceTokenizer = (String) -> [String]

func sentenceTokenizer(_ choice: Bleu.TokenizerChoice) throws -> SentenceTokenizer {
    switch choice {
    case .space:
        return spaceTokenize
    case .word, .char:
        return try Tokenizer(TokenizerConfig(mode: choice == .word ? .word : .char)).tokenize
    }
}

// MARK: - Input files

/// A problem with the command's input; printed as "Error: …" with a non-zero exit status.
struct InputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The lines of a UTF-8 text file, one sentence each; a final newline does not start another sentence.
func readLines(_ path: String, role: String) throws -> [String] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw InputError("\(role) file \(path) does not exist")
    }
    guard !isDirectory.boolValue else { throw InputError("\(role) file \(path) is a directory") }
    let data: Data
    do {
        data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        throw InputError("cannot read \(role) file \(path): \(error.localizedDescription)")
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw InputError("\(role) file \(path) is not valid UTF-8")
    }
    // Split on scalars: Swift treats "\r\n" as one Character, so a Character split would miss CRLF line ends.
    var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
        String(line.last == "\r" ? line.dropLast() : line)
    }
    if lines.last == "" { lines.removeLast() }
    guard lines.contains(where: { !$0.allSatisfy(\.isWhitespace) }) else {
        throw InputError("\(role) file \(path) has no sentences (it is empty or blank)")
    }
    return lines
}
