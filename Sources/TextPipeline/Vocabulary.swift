import Foundation

// A vocabulary: token ↔ id, with a fixed, deterministic order so the same corpus always gives the same ids.
//
// Ids 0–3 are the special tokens <pad>, <bos>, <eos>, <unk>. The corpus's tokens follow, by count descending and
// ties by Unicode code-point order of the token (equivalently, UTF-8 byte order), never by hash order. A token
// that spells a special token ("<unk>" in an already-tokenized corpus) counts as that special token.
//
// The file (`save`) is UTF-8 text, byte-identical for the same corpus and settings:
//   # textgan vocabulary, format 1
//   # tokenizer: mode=word lowercase=false normalization=nfc max-length=none
//   # built: min-count=2 max-size=5000 tokens=5000 occurrences=123456 unk-occurrences=789
//   # one token per line in id order (the first is id 0): token<TAB>count; escapes \\ \t \n \r \s (space)
//   <pad>	0
//   <bos>	0
//   <eos>	0
//   <unk>	789        (occurrences of tokens left out by min-count or max-size)
//   a	14021
//   ...

public struct Vocabulary: Codable, Sendable, Equatable {
    public static let pad: Int32 = 0
    public static let bos: Int32 = 1
    public static let eos: Int32 = 2
    public static let unk: Int32 = 3
    public static let specialTokens = ["<pad>", "<bos>", "<eos>", "<unk>"]

    /// Tokens in id order, special tokens first.
    public private(set) var tokens: [String]
    /// Corpus count of each token (for <unk>: occurrences of the tokens left out; 0 for the other specials).
    public private(set) var counts: [Int]
    /// The tokenizer settings the vocabulary was built with; encoding text tokenized otherwise is a mismatch.
    public let config: TokenizerConfig
    public let minCount: Int
    /// Maximum size including the special tokens, or nil for no limit.
    public let maxSize: Int?

    private var index: [String: Int32] = [:]

    enum CodingKeys: String, CodingKey {
        case tokens, counts, config, minCount, maxSize
    }

    public init(tokens: [String], counts: [Int], config: TokenizerConfig, minCount: Int, maxSize: Int?) {
        precondition(tokens.count == counts.count, "one count per token")
        precondition(Array(tokens.prefix(4)) == Vocabulary.specialTokens, "the special tokens come first")
        self.tokens = tokens
        self.counts = counts
        self.config = config
        self.minCount = minCount
        self.maxSize = maxSize
        self.index = Vocabulary.makeIndex(tokens)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tokens = try c.decode([String].self, forKey: .tokens)
        counts = try c.decode([Int].self, forKey: .counts)
        config = try c.decode(TokenizerConfig.self, forKey: .config)
        minCount = try c.decode(Int.self, forKey: .minCount)
        maxSize = try c.decodeIfPresent(Int.self, forKey: .maxSize)
        guard tokens.count == counts.count, Array(tokens.prefix(4)) == Vocabulary.specialTokens else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath,
                                                    debugDescription: "not a textgan vocabulary"))
        }
        index = Vocabulary.makeIndex(tokens)
    }

    public static func == (a: Vocabulary, b: Vocabulary) -> Bool {
        a.tokens == b.tokens && a.counts == b.counts && a.config == b.config && a.minCount == b.minCount
            && a.maxSize == b.maxSize
    }

    private static func makeIndex(_ tokens: [String]) -> [String: Int32] {
        var index: [String: Int32] = [:]
        index.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() where index[token] == nil { index[token] = Int32(id) }
        return index
    }

    // MARK: - Lookup

    public var count: Int { tokens.count }

    /// The id of `token`, or `unk` if it is not in the vocabulary.
    public func id(of token: String) -> Int32 { index[token] ?? Vocabulary.unk }

    public func contains(_ token: String) -> Bool { index[token] != nil }

    public func token(of id: Int32) -> String {
        precondition(id >= 0 && Int(id) < tokens.count, "token id \(id) outside the vocabulary (size \(tokens.count))")
        return tokens[Int(id)]
    }

    public func encode(_ tokens: [String], addBOS: Bool = false, addEOS: Bool = false) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(tokens.count + 2)
        if addBOS { ids.append(Vocabulary.bos) }
        for token in tokens { ids.append(id(of: token)) }
        if addEOS { ids.append(Vocabulary.eos) }
        return ids
    }

    /// Tokens of `ids`; optionally stopping at the first <eos> (excluded) and leaving out <pad> and <bos>.
    public func decode(_ ids: [Int32], stopAtEOS: Bool = false, skipPadAndBOS: Bool = false) -> [String] {
        var out: [String] = []
        for id in ids {
            if stopAtEOS && id == Vocabulary.eos { break }
            if skipPadAndBOS && (id == Vocabulary.pad || id == Vocabulary.bos) { continue }
            out.append(token(of: id))
        }
        return out
    }

    // MARK: - Building

    /// Counts tokens and keeps those seen at least `minCount` times, most frequent first (ties by code-point order),
    /// at most `maxSize` entries in all including the four special tokens.
    public static func build(from tokenizedLines: some Sequence<[String]>, config: TokenizerConfig,
                             minCount: Int = 1, maxSize: Int? = nil) -> Vocabulary {
        precondition(minCount >= 1, "minCount must be at least 1")
        precondition(maxSize.map { $0 >= specialTokens.count } ?? true, "maxSize must leave room for the special tokens")
        var frequency: [String: Int] = [:]
        var specialCounts = [Int](repeating: 0, count: specialTokens.count)
        for line in tokenizedLines {
            for token in line {
                if let special = specialTokens.firstIndex(of: token) {
                    specialCounts[special] += 1
                } else {
                    frequency[token, default: 0] += 1
                }
            }
        }
        let ranked = frequency.sorted { a, b in
            a.value != b.value ? a.value > b.value : a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
        }
        var kept = ranked.filter { $0.value >= minCount }
        if let maxSize, kept.count > maxSize - specialTokens.count {
            kept.removeLast(kept.count - (maxSize - specialTokens.count))
        }
        let keptOccurrences = kept.reduce(0) { $0 + $1.value }
        let allOccurrences = frequency.values.reduce(0, +)
        var counts = specialCounts
        counts[Int(unk)] += allOccurrences - keptOccurrences
        return Vocabulary(tokens: specialTokens + kept.map(\.key), counts: counts + kept.map(\.value),
                          config: config, minCount: minCount, maxSize: maxSize)
    }

    // MARK: - File format

    static let formatLine = "# textgan vocabulary, format 1"

    /// The file's text (see the top of this file).
    public func fileContents() -> String {
        let occurrences = counts.reduce(0, +)
        var lines = [
            Vocabulary.formatLine,
            "# tokenizer: \(config)",
            "# built: min-count=\(minCount) max-size=\(maxSize.map(String.init) ?? "none") tokens=\(count) "
                + "occurrences=\(occurrences) unk-occurrences=\(counts[Int(Vocabulary.unk)])",
            "# one token per line in id order (the first is id 0): token<TAB>count; escapes \\\\ \\t \\n \\r \\s (space)",
        ]
        for (token, count) in zip(tokens, counts) { lines.append("\(Vocabulary.escape(token))\t\(count)") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the vocabulary file atomically (a temporary file, then a rename), creating the directory if needed.
    public func save(to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(fileContents().utf8).write(to: url, options: .atomic)
    }

    /// Reads a vocabulary file; with `expecting`, settings that differ from the file's are an error.
    public static func load(from url: URL, expecting: TokenizerConfig? = nil) throws -> Vocabulary {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw VocabularyError.notFound(path: path)
        }
        if isDirectory.boolValue { throw VocabularyError.malformed(path: path, line: 0, reason: "is a directory") }
        let data = try Data(contentsOf: url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw VocabularyError.malformed(path: path, line: 0, reason: "not UTF-8 text")
        }
        return try parse(text, source: path, expecting: expecting)
    }

    /// Reads a vocabulary from the text of a vocabulary file (e.g. one stored inside a checkpoint); `source` names
    /// where it came from in error messages.
    public static func parse(_ text: String, source path: String, expecting: TokenizerConfig? = nil) throws -> Vocabulary {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first.map(String.init) == formatLine else {
            throw VocabularyError.malformed(path: path, line: 1, reason: "not a textgan vocabulary (expected \"\(formatLine)\")")
        }
        var config: TokenizerConfig?
        var minCount = 1
        var maxSize: Int?
        var tokens: [String] = []
        var counts: [Int] = []
        for (i, raw) in lines.enumerated().dropFirst() {
            let lineNumber = i + 1
            if raw.isEmpty { continue }
            // Comment lines form the header: once the token lines begin, a line starting with "#" is a token
            // ("#213" in COCO), written unescaped.
            let header = tokens.isEmpty
            if header && raw.hasPrefix("# tokenizer: ") {
                config = try parseSettings(String(raw.dropFirst("# tokenizer: ".count)), path: path, line: lineNumber)
            } else if header && raw.hasPrefix("# built: ") {
                let fields = keyValues(String(raw.dropFirst("# built: ".count)))
                minCount = fields["min-count"].flatMap { Int($0) } ?? 1
                maxSize = fields["max-size"].flatMap { Int($0) }
            } else if header && raw.hasPrefix("#") {
                continue
            } else {
                let parts = raw.split(separator: "\t", omittingEmptySubsequences: false)
                guard parts.count == 2, let count = Int(parts[1]), count >= 0 else {
                    throw VocabularyError.malformed(path: path, line: lineNumber, reason: "expected token<TAB>count")
                }
                tokens.append(try unescape(String(parts[0]), path: path, line: lineNumber))
                counts.append(count)
            }
        }
        guard let config else {
            throw VocabularyError.malformed(path: path, line: 0, reason: "no \"# tokenizer:\" settings line")
        }
        guard Array(tokens.prefix(4)) == specialTokens else {
            throw VocabularyError.malformed(path: path, line: 5,
                                            reason: "the first four tokens must be \(specialTokens.joined(separator: " "))")
        }
        if let expecting, expecting != config {
            throw VocabularyError.settingsMismatch(path: path, file: config, expected: expecting)
        }
        return Vocabulary(tokens: tokens, counts: counts, config: config, minCount: minCount, maxSize: maxSize)
    }

    private static func keyValues(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    private static func parseSettings(_ text: String, path: String, line: Int) throws -> TokenizerConfig {
        let fields = keyValues(text)
        func bad(_ what: String) -> VocabularyError {
            .malformed(path: path, line: line, reason: "bad tokenizer setting \(what)")
        }
        guard let mode = fields["mode"].flatMap(TokenizerMode.init(rawValue:)) else { throw bad("mode") }
        guard let lowercase = fields["lowercase"].flatMap(Bool.init) else { throw bad("lowercase") }
        guard let normalization = fields["normalization"].flatMap(Normalization.init(rawValue:)) else {
            throw bad("normalization")
        }
        var maxLength: Int?
        if let value = fields["max-length"], value != "none" {
            guard let n = Int(value) else { throw bad("max-length") }
            maxLength = n
        }
        return TokenizerConfig(mode: mode, lowercase: lowercase, normalization: normalization, maxLength: maxLength)
    }

    static func escape(_ token: String) -> String {
        var out = ""
        for scalar in token.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case " ": out += "\\s"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func unescape(_ field: String, path: String, line: Int) throws -> String {
        var out = ""
        var escaping = false
        for scalar in field.unicodeScalars {
            if escaping {
                switch scalar {
                case "\\": out += "\\"
                case "t": out += "\t"
                case "n": out += "\n"
                case "r": out += "\r"
                case "s": out += " "
                default: throw VocabularyError.malformed(path: path, line: line, reason: "unknown escape \\\(scalar)")
                }
                escaping = false
            } else if scalar == "\\" {
                escaping = true
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        if escaping { throw VocabularyError.malformed(path: path, line: line, reason: "a lone backslash at the end") }
        return out
    }
}

public enum VocabularyError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(path: String)
    case malformed(path: String, line: Int, reason: String)
    case settingsMismatch(path: String, file: TokenizerConfig, expected: TokenizerConfig)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "\(path): no such vocabulary file"
        case .malformed(let path, let line, let reason):
            return line > 0 ? "\(path):\(line): \(reason)" : "\(path): \(reason)"
        case .settingsMismatch(let path, let file, let expected):
            return "\(path): the vocabulary was built with tokenizer settings \(file), but \(expected) were expected; "
                + "rebuild it with `textgan vocab build` or use matching settings"
        }
    }
}
