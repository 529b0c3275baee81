import TextPipeline
import XCTest

/// Terminal columns by East Asian Width: tables with Chinese text align on these, not on character counts.
final class DisplayWidthTests: XCTestCase {
    func testWideAndFullwidthTakeTwoColumnsMarksNoneTheRestOne() {
        let cases: [(String, Int, String)] = [
            ("", 0, "empty"),
            ("bleu4", 5, "ASCII"),
            ("床前明月光", 10, "CJK ideographs (wide)"),
            ("唐诗-mle", 8, "ideographs beside ASCII"),
            ("こんにちは", 10, "hiragana"),
            ("한국어", 6, "Hangul syllables"),
            ("\u{1112}\u{1161}\u{11AB}", 2, "a Hangul syllable as conjoining jamo"),
            ("ＡＢ１", 6, "fullwidth forms"),
            ("ｶﾀｶﾅ", 4, "halfwidth katakana"),
            ("，。", 4, "fullwidth CJK punctuation"),
            ("e\u{301}", 1, "a combining acute accent takes no column"),
            ("a\u{200B}b", 2, "zero-width space"),
            ("αβγ", 3, "East Asian Ambiguous: one column outside CJK locales"),
            ("😀", 2, "emoji presentation (wide)"),
            ("—…⏎", 3, "the tables' own marks"),
        ]
        for (text, expected, what) in cases {
            XCTAssertEqual(displayWidth(text), expected, "\(what): \(text.debugDescription)")
        }
    }
}
