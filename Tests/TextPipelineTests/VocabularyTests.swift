import Foundation
import TextPipeline
import XCTest

final class VocabularyTests: XCTestCase {
    let config = TokenizerConfig(mode: .space)

    private func build(_ lines: [String], minCount: Int = 1, maxSize: Int? = nil) -> Vocabulary {
        Vocabulary.build(from: lines.map { $0.split(separator: " ").map(String.init) }, config: config,
                         minCount: minCount, maxSize: maxSize)
    }

    func testSpecialTokensHaveFixedIds() {
        let v = build(["b a", "a"])
        XCTAssertEqual(Array(v.tokens.prefix(4)), ["<pad>", "<bos>", "<eos>", "<unk>"])
        XCTAssertEqual(Vocabulary.pad, 0)
        XCTAssertEqual(Vocabulary.bos, 1)
        XCTAssertEqual(Vocabulary.eos, 2)
        XCTAssertEqual(Vocabulary.unk, 3)
        XCTAssertEqual(v.id(of: "a"), 4)
        XCTAssertEqual(v.id(of: "b"), 5)
        XCTAssertEqual(v.id(of: "never seen"), Vocabulary.unk)
    }

    func testOrderIsFrequencyThenCodePoint() {
        // Counts: z 3, then a tie at 2 between "é" (U+00E9), "B" (U+0042), "b" (U+0062), "中" (U+4E2D), "😀".
        let v = build(["z z z", "中 é b B 😀", "😀 B b é 中"])
        XCTAssertEqual(Array(v.tokens.dropFirst(4)), ["z", "B", "b", "é", "中", "😀"])
        XCTAssertEqual(Array(v.counts.dropFirst(4)), [3, 2, 2, 2, 2, 2])
    }

    func testMinCountAndMaxSize() {
        let lines = ["a a a a", "b b b", "c c", "d"]
        XCTAssertEqual(Array(build(lines, minCount: 2).tokens.dropFirst(4)), ["a", "b", "c"])
        let capped = build(lines, maxSize: 6)
        XCTAssertEqual(capped.count, 6)
        XCTAssertEqual(Array(capped.tokens.dropFirst(4)), ["a", "b"])
        XCTAssertEqual(capped.counts[Int(Vocabulary.unk)], 3, "<unk> counts the occurrences left out (c c d)")
        XCTAssertEqual(capped.id(of: "c"), Vocabulary.unk)
    }

    func testSpecialTokenSpellingsMapToSpecialIds() {
        let v = build(["a <unk> a", "<unk>"])
        XCTAssertEqual(v.tokens.filter { $0 == "<unk>" }.count, 1)
        XCTAssertEqual(v.counts[Int(Vocabulary.unk)], 2)
        XCTAssertEqual(v.id(of: "<unk>"), Vocabulary.unk)
    }

    func testEncodeDecode() {
        let v = build(["the cat sat", "the dog"])
        let ids = v.encode(["the", "cat", "flew"], addBOS: true, addEOS: true)
        XCTAssertEqual(ids, [Vocabulary.bos, v.id(of: "the"), v.id(of: "cat"), Vocabulary.unk, Vocabulary.eos])
        XCTAssertEqual(v.decode(ids), ["<bos>", "the", "cat", "<unk>", "<eos>"])
        XCTAssertEqual(v.decode(ids + [v.id(of: "dog"), Vocabulary.pad], stopAtEOS: true, skipPadAndBOS: true),
                       ["the", "cat", "<unk>"])
        XCTAssertEqual(v.decode([Vocabulary.pad, v.id(of: "dog")], skipPadAndBOS: true), ["dog"])
    }

    func testSameCorpusTwiceGivesByteIdenticalFiles() throws {
        let dir = try TemporaryDirectory()
        let tokenizer = try Tokenizer(TokenizerConfig())
        // Many tokens with equal counts, so any dependence on hash order would show.
        let lines = (0..<300).map { i in "w\(i % 97) 词\(i % 89) x\(i % 13), é\(i % 5)!" }
        let first = Vocabulary.build(from: lines.map(tokenizer.tokenize), config: tokenizer.config)
        let second = Vocabulary.build(from: lines.map(tokenizer.tokenize), config: tokenizer.config)
        let a = dir.url.appendingPathComponent("a.vocab")
        let b = dir.url.appendingPathComponent("b.vocab")
        try first.save(to: a)
        try second.save(to: b)
        XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b))
        XCTAssertGreaterThan(first.count, 150)
    }

    func testSaveLoadRoundTripWithAwkwardTokens() throws {
        let dir = try TemporaryDirectory()
        let v = Vocabulary.build(from: [["a b", "tab\there", "back\\slash", " ", "new\nline", "😀", "#213", "#", "# x"], ["a b"]],
                                 config: TokenizerConfig(mode: .char, lowercase: true, maxLength: 20),
                                 minCount: 1, maxSize: 100)
        let url = dir.url.appendingPathComponent("sub/dir/v.vocab")
        try v.save(to: url)
        let loaded = try Vocabulary.load(from: url, expecting: v.config)
        XCTAssertEqual(loaded, v)
        XCTAssertEqual(loaded.id(of: "tab\there"), v.id(of: "tab\there"))
        // A token starting with "#" (COCO has "#213") is a token line, not a comment.
        XCTAssertEqual(loaded.count, v.count)
        XCTAssertEqual(loaded.id(of: "#213"), v.id(of: "#213"))
        XCTAssertTrue(loaded.contains("# x") && loaded.contains("#"))
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("# textgan vocabulary, format 1\n# tokenizer: mode=char lowercase=true"))
        XCTAssertTrue(text.contains("\na\\sb\t2\n"), text)
        XCTAssertEqual(text.split(separator: "\n").count, 4 + v.count, "four header lines, then one line per token")
    }

    func testLoadingWithDifferentSettingsIsAnError() throws {
        let dir = try TemporaryDirectory()
        let url = dir.url.appendingPathComponent("v.vocab")
        try build(["a b"]).save(to: url)
        XCTAssertThrowsError(try Vocabulary.load(from: url, expecting: TokenizerConfig(mode: .word))) { error in
            guard case VocabularyError.settingsMismatch = error else { return XCTFail("\(error)") }
            let message = "\(error)"
            XCTAssertTrue(message.contains("mode=space") && message.contains("mode=word"), message)
            XCTAssertTrue(message.contains(url.path), message)
        }
        XCTAssertNoThrow(try Vocabulary.load(from: url, expecting: config))
        XCTAssertNoThrow(try Vocabulary.load(from: url))
    }

    func testMalformedAndMissingFiles() throws {
        let dir = try TemporaryDirectory()
        XCTAssertThrowsError(try Vocabulary.load(from: dir.url.appendingPathComponent("none.vocab"))) {
            XCTAssertEqual($0 as? VocabularyError, .notFound(path: dir.url.appendingPathComponent("none.vocab").path))
        }
        let notVocab = try dir.file("x.vocab", text: "hello\n")
        XCTAssertThrowsError(try Vocabulary.load(from: notVocab)) { XCTAssertTrue("\($0)".contains(":1:"), "\($0)") }
        let badLine = try dir.file("y.vocab", text: build(["a"]).fileContents() + "oops\n")
        XCTAssertThrowsError(try Vocabulary.load(from: badLine)) { XCTAssertTrue("\($0)".contains(":10:"), "\($0)") }
    }

    func testCodableRoundTrip() throws {
        let v = build(["a b b"])
        let decoded = try JSONDecoder().decode(Vocabulary.self, from: JSONEncoder().encode(v))
        XCTAssertEqual(decoded, v)
        XCTAssertEqual(decoded.id(of: "b"), 4)
    }
}
