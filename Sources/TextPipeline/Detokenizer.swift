// Word-mode detokenization: decides, for each pair of neighbouring tokens, whether a space goes between them.
//
// The rules, in order:
//   1. No space next to a character of an unspaced script (Han, kana, CJK and full-width punctuation, Thai, Lao,
//      Khmer, Myanmar): "我" "喜欢" "Swift" → "我喜欢Swift". Hangul is spaced, as Korean is.
//   2. No space before closing punctuation (. , ; : ! ? ) ] } % … » ’ ”) or a clitic ("'s", "n't").
//   3. No space after opening punctuation (( [ { « ¿ ¡ ‘ “ $ £ € ¥ # @).
//   4. No space on either side of a joiner (- ‐ / _ ·).
//   5. Straight quotes (" and a lone ') alternate: the first of a pair opens, the second closes.
//   Otherwise one space.

enum Detokenizer {
    static func join(_ tokens: [String]) -> String {
        var out = ""
        var previous: String?
        var openDoubleQuote = false
        var openSingleQuote = false
        var previousWasOpening = false
        for token in tokens where !token.isEmpty {
            var role = Role(token)
            if token == "\"" {
                role = openDoubleQuote ? .closing : .opening
                openDoubleQuote.toggle()
            } else if token == "'" {
                role = openSingleQuote ? .closing : .opening
                openSingleQuote.toggle()
            }
            if let previous {
                let joined = previousWasOpening || role == .closing || role == .joiner
                    || Role(previous) == .joiner
                    || isUnspaced(previous.unicodeScalars.last!) || isUnspaced(token.unicodeScalars.first!)
                if !joined { out += " " }
            }
            out += token
            previous = token
            previousWasOpening = role == .opening
        }
        return out
    }

    enum Role: Equatable {
        case word, opening, closing, joiner

        init(_ token: String) {
            if Role.closers.contains(token) || (token.count > 1 && (token.hasPrefix("'") || token.hasPrefix("’")))
                || token.lowercased() == "n't" {
                self = .closing
            } else if Role.openers.contains(token) {
                self = .opening
            } else if Role.joiners.contains(token) {
                self = .joiner
            } else {
                self = .word
            }
        }

        static let closers: Set<String> = [".", ",", ";", ":", "!", "?", ")", "]", "}", "%", "…", "»", "›", "’", "”",
                                           "...", "!!", "?!"]
        static let openers: Set<String> = ["(", "[", "{", "«", "‹", "¿", "¡", "‘", "“", "$", "£", "€", "¥", "#", "@"]
        static let joiners: Set<String> = ["-", "‐", "/", "_", "·"]
    }

    /// Scripts written without spaces between words, and their punctuation.
    static func isUnspaced(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0E00...0x0EFF,  // Thai, Lao
             0x1000...0x109F,  // Myanmar
             0x1780...0x17FF,  // Khmer
             0x2E80...0x2FDF,  // CJK radicals, Kangxi radicals
             0x3000...0x303F,  // CJK symbols and punctuation (、。「」…)
             0x3040...0x30FF,  // Hiragana, Katakana
             0x3100...0x312F,  // Bopomofo
             0x31F0...0x31FF,  // Katakana phonetic extensions
             0x3400...0x4DBF,  // CJK extension A
             0x4E00...0x9FFF,  // CJK unified ideographs
             0xF900...0xFAFF,  // CJK compatibility ideographs
             0xFE30...0xFE4F,  // CJK compatibility forms
             0xFF00...0xFFEF,  // full-width and half-width forms (，！？ and half-width katakana)
             0x20000...0x3FFFF:  // CJK extensions B and later
            return true
        default:
            return false
        }
    }
}
