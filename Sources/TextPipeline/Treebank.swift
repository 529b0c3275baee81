// The `treebank` tokenizer mode: Texygen's `nltk.word_tokenize`, for the cases text-GAN corpora have.

/// Tokens of `text` as nltk's `word_tokenize` splits plain English (its Treebank rules, for the cases text-GAN
/// corpora have): punctuation , ; : ! ? ( ) [ ] { } " becomes its own token, the clitics 's 'm 'd 're 've 'll and
/// n't are split off their word ("it's" → it 's, "don't" → do n't), and a final period is split off the last word;
/// other periods ("mr.", "3.5") stay. (nltk also turns " into `` and ''; these keep ".)
public func treebankTokenize(_ text: String) -> [String] {
    // The final period comes off first, as nltk's does, so that the clitic before it splits too ("ski's." → ski 's .).
    var text = text
    if let last = text.lastIndex(where: { !$0.isWhitespace }), text[last] == ".", last > text.startIndex {
        let before = text[text.index(before: last)]
        if before != "." && !before.isWhitespace { text.insert(" ", at: last) }
    }
    var tokens: [String] = []
    var word = ""
    func flush() {
        guard !word.isEmpty else { return }
        let lower = word.lowercased()
        if lower.hasSuffix("n't") && word.count > 3 {
            tokens += [String(word.dropLast(3)), String(word.suffix(3))]
        } else if let clitic = ["'s", "'m", "'d", "'re", "'ve", "'ll"].first(where: { lower.hasSuffix($0) && word.count > $0.count }) {
            tokens += [String(word.dropLast(clitic.count)), String(word.suffix(clitic.count))]
        } else {
            tokens.append(word)
        }
        word = ""
    }
    for character in text {
        if character.isWhitespace {
            flush()
        } else if ",;:!?()[]{}\"".contains(character) {
            flush()
            tokens.append(String(character))
        } else {
            word.append(character)
        }
    }
    flush()
    return tokens
}
