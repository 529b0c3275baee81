import TextPipeline
import XCTest

final class TokenizerTests: XCTestCase {
    private func tokenizer(_ mode: TokenizerMode = .word, lowercase: Bool = false,
                           normalization: Normalization = .nfc, maxLength: Int? = nil) throws -> Tokenizer {
        try Tokenizer(TokenizerConfig(mode: mode, lowercase: lowercase, normalization: normalization,
                                      maxLength: maxLength))
    }

    // MARK: - word mode

    func testChineseIsSegmentedIntoWords() throws {
        let tokens = try tokenizer().tokenize("我喜欢自然语言处理")
        XCTAssertEqual(tokens, ["我", "喜欢", "自然", "语言", "处理"])
        XCTAssertTrue(tokens.contains { $0.count > 1 }, "ICU's dictionary must give multi-character words")
    }

    func testJapaneseIsSegmentedIntoWords() throws {
        let text = "今日は良い天気ですね。東京に行きました。"
        let tokens = try tokenizer().tokenize(text)
        XCTAssertEqual(tokens.joined(), text, "word mode must not lose or add characters in unspaced text")
        XCTAssertTrue(tokens.contains("天気"))
        XCTAssertTrue(tokens.contains("東京"))
        XCTAssertTrue(tokens.contains("。"))
        XCTAssertLessThan(tokens.count, text.count, "not one token per character")
    }

    /// ICU (UAX #29 WB6/WB7) keeps an apostrophe between letters inside the word, so contractions and names
    /// stay whole; "Mr." splits because a full stop at a word's end is not between letters.
    func testEnglishKeepsContractionsAndSplitsPunctuation() throws {
        let tokens = try tokenizer().tokenize("I don't think it's \"fine\", Mr. O'Neill... (really)!")
        XCTAssertEqual(tokens, ["I", "don't", "think", "it's", "\"", "fine", "\"", ",", "Mr", ".", "O'Neill",
                                ".", ".", ".", "(", "really", ")", "!"])
    }

    func testNumbersStayWhole() throws {
        XCTAssertEqual(try tokenizer().tokenize("pi is 3.14, not 10,000"), ["pi", "is", "3.14", ",", "not", "10,000"])
    }

    func testMixedScripts() throws {
        let tokens = try tokenizer().tokenize("我用 Swift 写代码，很快。")
        XCTAssertEqual(tokens, ["我", "用", "Swift", "写", "代码", "，", "很快", "。"])
    }

    func testEmojiSequencesStayWholeInWordMode() throws {
        XCTAssertEqual(try tokenizer().tokenize("👩‍👩‍👧 and 🇯🇵"), ["👩‍👩‍👧", "and", "🇯🇵"])
    }

    func testWhitespaceIsDropped() throws {
        XCTAssertEqual(try tokenizer().tokenize("  a \t b\u{3000}c  "), ["a", "b", "c"])
        XCTAssertEqual(try tokenizer().tokenize("   "), [])
        XCTAssertEqual(try tokenizer().tokenize(""), [])
    }

    // MARK: - char mode

    func testCharModeKeepsGraphemeClustersWhole() throws {
        let family = "👩\u{200D}👩\u{200D}👧"
        let tokens = try tokenizer(.char).tokenize("\(family)🇯🇵ab")
        XCTAssertEqual(tokens, [family, "🇯🇵", "a", "b"])
        XCTAssertEqual(tokens[0].unicodeScalars.count, 5)
    }

    func testCombiningMarkIsOneTokenAndNFCComposesIt() throws {
        let decomposed = "e\u{301}"
        let raw = try tokenizer(.char, normalization: .none).tokenize(decomposed)
        XCTAssertEqual(raw.count, 1)
        XCTAssertEqual(Array(raw[0].unicodeScalars), ["e", "\u{301}"], "without normalization the text is kept as is")

        let composed = try tokenizer(.char).tokenize(decomposed)
        XCTAssertEqual(composed.count, 1)
        XCTAssertEqual(Array(composed[0].unicodeScalars), ["\u{E9}"], "NFC composes e + U+0301 to U+00E9")

        let word = try tokenizer(.word).tokenize("cafe\u{301} ok")
        XCTAssertEqual(word.map { Array($0.unicodeScalars) }, [Array("caf\u{E9}".unicodeScalars), ["o", "k"]])
    }

    func testCharModeCollapsesWhitespaceIntoOneSpaceToken() throws {
        XCTAssertEqual(try tokenizer(.char).tokenize("  ab \t c  "), ["a", "b", " ", "c"])
    }

    // MARK: - space mode

    func testSpaceModeSplitsOnWhitespaceOnly() throws {
        XCTAssertEqual(try tokenizer(.space).tokenize("a man's dog. 秦 川 ，\tx"),
                       ["a", "man's", "dog.", "秦", "川", "，", "x"])
    }

    // MARK: - options

    func testLowercaseIsLocaleIndependent() throws {
        // Root-locale full case mapping: İ → i + U+0307 (not Turkish dotless i), final sigma → ς.
        let tokens = try tokenizer(lowercase: true).tokenize("HELLO İSTANBUL ΟΔΟΣ")
        XCTAssertEqual(tokens, ["hello", "i\u{307}stanbul", "οδος"])
        XCTAssertEqual(Array(tokens[2].unicodeScalars).last, "\u{3C2}")
        XCTAssertEqual(try tokenizer(lowercase: false).tokenize("HELLO"), ["HELLO"])
    }

    func testMaxLengthTruncatesButTokenizeAllDoesNot() throws {
        let t = try tokenizer(.space, maxLength: 3)
        XCTAssertEqual(t.tokenize("a b c d e"), ["a", "b", "c"])
        XCTAssertEqual(t.tokenizeAll("a b c d e").count, 5)
        XCTAssertEqual(t.tokenize("a b"), ["a", "b"])
    }

    func testInvalidMaxLengthIsRejected() {
        XCTAssertThrowsError(try tokenizer(maxLength: 0)) { error in
            XCTAssertTrue("\(error)".contains("at least 1"), "\(error)")
        }
    }

    func testConfigDecodesWithDefaults() throws {
        let config = try JSONDecoder().decode(TokenizerConfig.self, from: Data(#"{"mode": "char"}"#.utf8))
        XCTAssertEqual(config, TokenizerConfig(mode: .char))
    }

    // MARK: - detokenize(tokenize(x)) reads like x

    func testRoundTripReadsLikeTheInput() throws {
        let word = try tokenizer()
        for text in [
            "我喜欢自然语言处理。",
            "今日は良い天気ですね。東京に行きました。",
            "I don't think it's \"fine\", Mr. O'Neill... (really)!",
            "我用Swift写代码，很快。",
            "A state-of-the-art model costs $5, or 10% more.",
            "👩‍👩‍👧 and 🇯🇵 flags",
            "한국어 문장입니다.",
        ] {
            XCTAssertEqual(word.detokenize(word.tokenize(text)), text)
        }
        let char = try tokenizer(.char)
        XCTAssertEqual(char.detokenize(char.tokenize("Hello, 世界 👩‍👩‍👧!")), "Hello, 世界 👩‍👩‍👧!")
        let space = try tokenizer(.space)
        XCTAssertEqual(space.detokenize(space.tokenize("a man rides a horse .")), "a man rides a horse .")
    }

    func testDetokenizeSpacingRules() throws {
        let word = try tokenizer()
        XCTAssertEqual(word.detokenize(["我", "喜欢", "Swift", "。"]), "我喜欢Swift。")
        XCTAssertEqual(word.detokenize(["he", "said", "\"", "no", "\"", "and", "left", "."]), "he said \"no\" and left.")
        XCTAssertEqual(word.detokenize(["it", "'s", "a", "(", "test", ")", "!"]), "it's a (test)!")
        XCTAssertEqual(word.detokenize(["a", "b"]), "a b")
        XCTAssertEqual(word.detokenize([]), "")
    }
}
