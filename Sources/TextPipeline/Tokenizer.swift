// The tokenizer: one line of text in, tokens out, and back again.
//
// Modes:
//   word   ICU word segmentation (UAX #29 rules plus ICU's dictionaries). Unspaced Chinese and Japanese are split
//          into dictionary words; English keeps contractions whole (ICU treats an apostrophe between letters as
//          part of the word: "don't", "it's", "O'Neill"); punctuation becomes its own token; whitespace is dropped.
//   char   one token per user-perceived character (extended grapheme cluster), so emoji ZWJ sequences, flags and
//          base + combining marks stay whole. A run of whitespace becomes one " " token (dropped at either end),
//          so character-level models still see word boundaries and detokenizing is plain concatenation.
//   space  split on whitespace only, for corpora that are already tokenized (the COCO and poem benchmark files).
//   treebank  nltk's `word_tokenize` (Treebank rules: punctuation and a final period split off, clitics 's n't 'll…
//          split from their word), as Texygen tokenizes COCO and EMNLP News (`treebankTokenize`).
//
// Before segmenting, text is lowercased (if asked; ICU's root-locale full case mapping, so the result never
// depends on the machine's locale) and then normalized (NFC by default, so "e" + U+0301 and "é" are one token).

// MARK: - Configuration

public enum TokenizerMode: String, Codable, Sendable, CaseIterable {
    case word, char, space, treebank
}

public enum Normalization: String, Codable, Sendable, CaseIterable {
    /// Canonical composition: canonically equivalent spellings give identical tokens.
    case nfc
    /// Leave the text exactly as written.
    case none
}

public struct TokenizerConfig: Codable, Sendable, Equatable, CustomStringConvertible {
    public var mode: TokenizerMode = .word
    public var lowercase = false
    public var normalization: Normalization = .nfc
    /// Maximum tokens per example: `tokenize` truncates to it, and corpora skip (and count) longer lines.
    public var maxLength: Int?

    public init(mode: TokenizerMode = .word, lowercase: Bool = false, normalization: Normalization = .nfc,
                maxLength: Int? = nil) {
        self.mode = mode
        self.lowercase = lowercase
        self.normalization = normalization
        self.maxLength = maxLength
    }

    // Missing keys take their defaults, so hand-written manifests can name only what differs.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mode = try c.decodeIfPresent(TokenizerMode.self, forKey: .mode) ?? .word
        lowercase = try c.decodeIfPresent(Bool.self, forKey: .lowercase) ?? false
        normalization = try c.decodeIfPresent(Normalization.self, forKey: .normalization) ?? .nfc
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength)
    }

    /// A one-line summary, e.g. `mode=word lowercase=false normalization=nfc max-length=none`.
    public var description: String {
        "mode=\(mode.rawValue) lowercase=\(lowercase) normalization=\(normalization.rawValue) "
            + "max-length=\(maxLength.map(String.init) ?? "none")"
    }
}

public struct TokenizerConfigError: Error, CustomStringConvertible {
    public let description: String
}

// MARK: - Tokenizer

public struct Tokenizer: Sendable {
    public let config: TokenizerConfig

    public init(_ config: TokenizerConfig) throws {
        if let maxLength = config.maxLength, maxLength < 1 {
            throw TokenizerConfigError(description: "maximum length must be at least 1 token (got \(maxLength))")
        }
        if config.mode == .word {
            // Load ICU's word rules and dictionaries now, so a broken ICU fails here with a clear error.
            _ = try ICU.wordSegments("probe")
        }
        self.config = config
    }

    /// Tokens of `text`, at most `config.maxLength` of them.
    public func tokenize(_ text: String) -> [String] {
        let tokens = tokenizeAll(text)
        if let maxLength = config.maxLength, tokens.count > maxLength { return Array(tokens.prefix(maxLength)) }
        return tokens
    }

    /// All tokens of `text`, ignoring `maxLength` (corpora use this to skip, rather than cut, long examples).
    public func tokenizeAll(_ text: String) -> [String] {
        let prepared = prepare(text)
        switch config.mode {
        case .word: return wordTokens(prepared)
        case .char: return characterTokens(prepared)
        case .space: return prepared.split(whereSeparator: \.isWhitespace).map(String.init)
        case .treebank: return treebankTokenize(prepared)
        }
    }

    /// Lowercasing, then normalization: the text every mode segments.
    public func prepare(_ text: String) -> String {
        var result = text
        do {
            if config.lowercase { result = try ICU.lowercase(result) }
            if config.normalization == .nfc { result = try ICU.normalizeNFC(result) }
        } catch {
            // Only reachable if ICU cannot allocate memory; there is no sensible partial result.
            preconditionFailure("\(error)")
        }
        return result
    }

    private func wordTokens(_ text: String) -> [String] {
        let segments: [String]
        do { segments = try ICU.wordSegments(text) } catch { preconditionFailure("\(error)") }
        return segments.filter { !$0.allSatisfy(\.isWhitespace) }
    }

    private func characterTokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var pendingSpace = false
        for character in text {
            if character.isWhitespace {
                pendingSpace = !tokens.isEmpty
                continue
            }
            if pendingSpace { tokens.append(" ") }
            pendingSpace = false
            tokens.append(String(character))
        }
        return tokens
    }

    // MARK: - Detokenization

    /// Joins tokens into readable text: plain concatenation in char mode, single spaces in space and treebank modes, and in word
    /// mode spaces between words but none between CJK (or Thai, Lao, Khmer, Myanmar) tokens, none before closing
    /// punctuation or after opening punctuation, and none around joiners such as "-" and "/".
    public func detokenize(_ tokens: [String]) -> String {
        switch config.mode {
        case .char: return tokens.joined()
        case .space, .treebank: return tokens.joined(separator: " ")
        case .word: return Detokenizer.join(tokens)
        }
    }
}
