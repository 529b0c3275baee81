import Foundation
import TextPipeline
import XCTest

/// One test per class of bad input from the issue: each is rejected with a one-line error naming the file (and
/// where it applies the line and byte offset), or accepted as documented.
final class BadInputTests: XCTestCase {
    let reader = TextFileReader()

    private func lines(_ url: URL, reader: TextFileReader? = nil) throws -> (lines: [String], summary: TextFileSummary) {
        var out: [String] = []
        let summary = try (reader ?? self.reader).readLines(url) { _, text in out.append(text) }
        return (out, summary)
    }

    private func assertOneLine(_ error: Error, mentions path: String, file: StaticString = #filePath, line: UInt = #line) {
        let message = "\(error)"
        XCTAssertTrue(message.contains(path), "message must name the file: \(message)", file: file, line: line)
        XCTAssertFalse(message.contains("\n"), "message must be one line: \(message)", file: file, line: line)
    }

    func testMissingFile() throws {
        let dir = try TemporaryDirectory()
        let url = dir.url.appendingPathComponent("absent.txt")
        XCTAssertThrowsError(try lines(url)) { error in
            XCTAssertEqual(error as? TextFileError, .notFound(path: url.path))
            assertOneLine(error, mentions: url.path)
        }
    }

    func testDirectory() throws {
        let dir = try TemporaryDirectory()
        XCTAssertThrowsError(try lines(dir.url)) { error in
            XCTAssertEqual(error as? TextFileError, .isDirectory(path: dir.url.path))
            assertOneLine(error, mentions: dir.url.path)
        }
    }

    /// chmod 000 blocks reading for ordinary users; root reads anyway, so as root this part is skipped.
    func testUnreadableFileByPermissions() throws {
        guard getuid() != 0 else {
            throw XCTSkip("running as root, where chmod 000 does not block reads; testUnreadableFileByReadError covers the read-failure path")
        }
        let dir = try TemporaryDirectory()
        let url = try dir.file("secret.txt", text: "hello\n")
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: url.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: url.path) }
        XCTAssertThrowsError(try lines(url)) { error in
            guard case TextFileError.unreadable(let path, let reason)? = error as? TextFileError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(path, url.path)
            XCTAssertTrue(reason.lowercased().contains("permission"), reason)
        }
    }

    /// A regular file that opens but fails to read, even for root: /proc/self/mem at offset 0 is unmapped (EIO).
    func testUnreadableFileByReadError() throws {
        let url = URL(fileURLWithPath: "/proc/self/mem")
        guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("no /proc/self/mem on this system") }
        XCTAssertThrowsError(try lines(url)) { error in
            guard case TextFileError.unreadable(let path, _)? = error as? TextFileError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(path, url.path)
            assertOneLine(error, mentions: url.path)
        }
    }

    func testEmptyFile() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.file("empty.txt", bytes: [])
        XCTAssertThrowsError(try lines(url)) { XCTAssertEqual($0 as? TextFileError, .empty(path: url.path)) }
        let bomOnly = try dir.file("bom.txt", bytes: [0xEF, 0xBB, 0xBF])
        XCTAssertThrowsError(try lines(bomOnly)) { XCTAssertEqual($0 as? TextFileError, .empty(path: bomOnly.path)) }
    }

    func testWhitespaceOnlyFile() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.file("blank.txt", text: "  \n\t\n\u{3000}\n\n")
        XCTAssertThrowsError(try lines(url)) { error in
            XCTAssertEqual(error as? TextFileError, .whitespaceOnly(path: url.path, lines: 4))
            assertOneLine(error, mentions: url.path)
        }
    }

    func testBinaryContent() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.file("binary.bin", bytes: Array("ok\nfine\nab".utf8) + [0, 1, 2] + Array("\n".utf8))
        XCTAssertThrowsError(try lines(url)) { error in
            XCTAssertEqual(error as? TextFileError, .binary(path: url.path, byteOffset: 10, line: 3))
            XCTAssertTrue("\(error)".contains("byte offset 10 (line 3)"), "\(error)")
        }
    }

    func testInvalidUTF8ReportsFirstBadByte() throws {
        let dir = try TemporaryDirectory()
        // Line 2 holds Latin-1 "café": 0xE9 followed by a newline is a cut-short sequence starting at offset 10.
        let url = try dir.file("latin1.txt", bytes: Array("héllo\ncaf".utf8) + [0xE9] + Array("\nmore\n".utf8))
        XCTAssertThrowsError(try lines(url)) { error in
            guard case TextFileError.invalidUTF8(let path, let offset, let line, let detail)? = error as? TextFileError
            else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertEqual(offset, 10)
            XCTAssertEqual(line, 2)
            XCTAssertTrue(detail.contains("0xE9"), detail)
            assertOneLine(error, mentions: url.path)
        }
        // A lone continuation byte, an overlong encoding, a surrogate, and a sequence cut off by the end of file.
        for (bytes, offset) in [([0x61, 0x80], 1), ([0xC0, 0xAF], 0), ([0x61, 0xED, 0xA0, 0x80], 1),
                                ([0x61, 0x62, 0xE4, 0xB8], 2)] as [([UInt8], Int)] {
            let bad = try dir.file("bad.txt", bytes: bytes)
            XCTAssertThrowsError(try lines(bad), "\(bytes)") { error in
                guard case TextFileError.invalidUTF8(_, let at, 1, _)? = error as? TextFileError else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(at, offset, "\(bytes)")
            }
        }
    }

    /// Multi-byte characters split across read chunks are still valid.
    func testCharactersAcrossChunkBoundaries() throws {
        let dir = try TemporaryDirectory()
        let text = String(repeating: "中文😀é\n", count: 50)
        let url = try dir.file("chunks.txt", text: text)
        let (read, summary) = try lines(url, reader: TextFileReader(maxLineBytes: 100, chunkSize: 7))
        XCTAssertEqual(read, Array(repeating: "中文😀é", count: 50))
        XCTAssertEqual(summary.bytes, text.utf8.count)
    }

    func testByteOrderMarkIsStripped() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.file("bom.txt", bytes: [0xEF, 0xBB, 0xBF] + Array("first\nsecond\n".utf8))
        let (read, summary) = try lines(url)
        XCTAssertEqual(read, ["first", "second"])
        XCTAssertEqual(read[0].unicodeScalars.first, "f")
        XCTAssertTrue(summary.byteOrderMarkStripped)
    }

    func testCRLFLineEndings() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.file("crlf.txt", text: "one two\r\nthree\r\nfour")
        let (read, summary) = try lines(url)
        XCTAssertEqual(read, ["one two", "three", "four"])
        XCTAssertEqual(summary.crlfLines, 2)
        XCTAssertEqual(summary.lines, 3)
    }

    /// A 1 MiB line with a 16 KiB limit is skipped without being kept, and counted; its neighbours are read.
    func testHugeLineIsSkippedAndCounted() throws {
        let dir = try TemporaryDirectory()
        var bytes = Array("before\n".utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        bytes += Array("\nafter\n".utf8)
        let url = try dir.file("huge.txt", bytes: bytes)
        let (read, summary) = try lines(url, reader: TextFileReader(maxLineBytes: 1 << 14))
        XCTAssertEqual(read, ["before", "after"])
        XCTAssertEqual(summary.overlongLines, 1)
        XCTAssertEqual(summary.lines, 3)

        // Through a corpus, the skipped line appears in the summary.
        let corpus = try Corpus.load(url.path, corporaDirectory: dir.url, sharedData: nil,
                                     options: CorpusOptions(maxLineBytes: 1 << 14))
        XCTAssertEqual(corpus.summary.overlongLines, 1)
        XCTAssertEqual(corpus.train.count + corpus.test.count, 2)
        XCTAssertTrue(corpus.summary.skippedDescription.contains("1 over the byte limit"))
    }

    func testLinesOverMaxLengthAreSkippedAndCounted() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.file("lengths.txt", text: "a b\na b c d e f\nc\nd e\n")
        let corpus = try Corpus.load(url.path, corporaDirectory: dir.url, sharedData: nil,
                                     options: CorpusOptions(tokenizer: TokenizerConfig(mode: .space, maxLength: 3)))
        XCTAssertEqual(corpus.summary.overMaxLength, 1)
        XCTAssertEqual((corpus.train + corpus.test).sorted(), ["a b", "c", "d e"])
    }

    func testFewerExamplesThanOneBatch() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.numberedLines("small.txt", count: 20)
        XCTAssertThrowsError(try Corpus.load(url.path, corporaDirectory: dir.url, sharedData: nil,
                                             options: CorpusOptions(minExamples: 64))) { error in
            // 20 lines, 2 drawn for test: 18 training examples.
            XCTAssertEqual(error as? CorpusError,
                           .tooFewExamples(path: url.path, count: 18, minimum: 64, skipped: "none"))
            assertOneLine(error, mentions: url.path)
        }
        XCTAssertNoThrow(try Corpus.load(url.path, corporaDirectory: dir.url, sharedData: nil,
                                         options: CorpusOptions(minExamples: 18)))
    }
}
