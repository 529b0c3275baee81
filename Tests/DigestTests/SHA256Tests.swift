import Digest
import Foundation
import XCTest

final class SHA256Tests: XCTestCase {
    // FIPS 180-4 / NIST CSRC example vectors.
    func testNISTVectors() {
        XCTAssertEqual(SHA256.hex(of: ""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(of: "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(of: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(of: "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    func testOneMillionA() {
        var hasher = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        XCTAssertEqual(hasher.hexDigest, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Chunk boundaries must not matter: every split of a message gives the one-shot digest, including lengths
    /// around the 55/56/64-byte padding edges.
    func testStreamingMatchesOneShot() {
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000] {
            let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let oneShot = SHA256.hex(of: Data(message))
            for cut in Set([0, 1, length / 3, length / 2, max(0, length - 1), length]) where cut <= length {
                var hasher = SHA256()
                hasher.update(message[0..<cut])
                hasher.update(message[cut...].lazy.map { $0 })  // a non-contiguous sequence takes the byte path
                XCTAssertEqual(hasher.hexDigest, oneShot, "length \(length), cut at \(cut)")
            }
        }
    }

    func testHexDigestLeavesHasherUsable() {
        var hasher = SHA256()
        hasher.update(Array("ab".utf8))
        _ = hasher.hexDigest
        hasher.update(Array("c".utf8))
        XCTAssertEqual(hasher.hexDigest, SHA256.hex(of: "abc"))
        XCTAssertEqual(hasher.finalize().count, SHA256.byteCount)
    }

    /// A file larger than one read chunk, hashed in chunks, agrees with the system's sha256sum.
    func testFileAgreesWithSha256sum() throws {
        let tool = URL(fileURLWithPath: "/usr/bin/sha256sum")
        guard FileManager.default.isExecutableFile(atPath: tool.path) else {
            throw XCTSkip("/usr/bin/sha256sum is not installed; cannot compare with it")
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("digest-\(UUID().uuidString).bin")
        defer { try? FileManager.default.removeItem(at: url) }
        var bytes = [UInt8](repeating: 0, count: SHA256.fileChunkSize * 2 + 12345)
        var x: UInt32 = 12345
        for i in bytes.indices {
            x = x &* 1_103_515_245 &+ 12345
            bytes[i] = UInt8(truncatingIfNeeded: x >> 16)
        }
        try Data(bytes).write(to: url)

        let process = Process()
        process.executableURL = tool
        process.arguments = [url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let expected = String(output.prefix(64))

        XCTAssertEqual(try SHA256.hex(ofFile: url), expected)
        XCTAssertEqual(SHA256.hex(of: Data(bytes)), expected)
    }
}
