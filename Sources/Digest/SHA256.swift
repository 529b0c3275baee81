import Foundation

// SHA-256 (FIPS 180-4), streaming: feed bytes in any number of `update` calls, then `finalize`.
//
// Used to record exactly which corpus, checkpoint or file a run used. Files are hashed in fixed-size chunks, so
// memory stays bounded whatever their size; `SHA256.hex(ofFile:)` agrees with `sha256sum`.

public struct SHA256: Sendable {
    /// Digest length in bytes.
    public static let byteCount = 32
    /// Bytes read per chunk when hashing a file.
    public static let fileChunkSize = 1 << 20

    // First 32 bits of the fractional parts of the cube roots of the first 64 primes (FIPS 180-4 §4.2.2).
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    // First 32 bits of the fractional parts of the square roots of the first 8 primes (§5.3.3).
    private var h: [UInt32] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]
    private var pending: [UInt8] = []  // bytes of the current, incomplete 64-byte block
    private var messageBytes: UInt64 = 0  // bytes fed so far
    private var finalized = false

    public init() {
        pending.reserveCapacity(64)
    }

    /// Feeds more message bytes.
    public mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        precondition(!finalized, "SHA256.update called after finalize()")
        let handled: Void? = bytes.withContiguousStorageIfAvailable { update(buffer: $0) }
        if handled == nil {
            for byte in bytes { append(byte) }
        }
    }

    /// Pads the message (a 1 bit, zeros, the 64-bit bit length) and returns the 32-byte digest. Call once.
    public mutating func finalize() -> [UInt8] {
        precondition(!finalized, "SHA256.finalize called twice")
        let bitLength = messageBytes &* 8
        var tail = pending
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        tail.withUnsafeBufferPointer { buffer in
            for start in stride(from: 0, to: buffer.count, by: 64) {
                compress(UnsafeBufferPointer(rebasing: buffer[start..<start + 64]))
            }
        }
        pending.removeAll()
        finalized = true
        var digest: [UInt8] = []
        digest.reserveCapacity(SHA256.byteCount)
        for word in h {
            for shift in [24, 16, 8, 0] as [UInt32] { digest.append(UInt8(truncatingIfNeeded: word >> shift)) }
        }
        return digest
    }

    /// Lower-case hexadecimal digest of the bytes fed so far (finalizes a copy, so this value can still be updated).
    public var hexDigest: String {
        var copy = self
        return SHA256.hexString(copy.finalize())
    }

    // MARK: - Convenience

    public static func hex(of data: Data) -> String {
        var hasher = SHA256()
        hasher.update(data)
        return hasher.hexDigest
    }

    public static func hex(of string: String) -> String {
        var hasher = SHA256()
        hasher.update(Array(string.utf8))
        return hasher.hexDigest
    }

    /// Hashes a file in `fileChunkSize` chunks (bounded memory).
    public static func hex(ofFile url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: fileChunkSize), !chunk.isEmpty {
            hasher.update(chunk)
        }
        return hasher.hexDigest
    }

    public static func hexString(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(digest.count * 2)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Block processing

    private mutating func append(_ byte: UInt8) {
        pending.append(byte)
        messageBytes &+= 1
        if pending.count == 64 {
            let block = pending
            block.withUnsafeBufferPointer { compress($0) }
            pending.removeAll(keepingCapacity: true)
        }
    }

    /// Fills the pending block, then compresses whole blocks straight from the buffer.
    private mutating func update(buffer: UnsafeBufferPointer<UInt8>) {
        var i = 0
        while i < buffer.count, !pending.isEmpty {
            append(buffer[i])
            i += 1
        }
        while buffer.count - i >= 64 {
            compress(UnsafeBufferPointer(rebasing: buffer[i..<i + 64]))
            messageBytes &+= 64
            i += 64
        }
        while i < buffer.count {
            append(buffer[i])
            i += 1
        }
    }

    /// The compression function (§6.2.2) on one 64-byte block.
    private mutating func compress(_ block: UnsafeBufferPointer<UInt8>) {
        precondition(block.count == 64)
        // Message schedule W[0..<64], on the stack.
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for t in 0..<16 {
                w[t] = UInt32(block[4 * t]) << 24 | UInt32(block[4 * t + 1]) << 16
                    | UInt32(block[4 * t + 2]) << 8 | UInt32(block[4 * t + 3])
            }
            for t in 16..<64 {
                let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
            }
            var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
            for t in 0..<64 {
                let sigma1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let choose = (e & f) ^ (~e & g)
                let t1 = hh &+ sigma1 &+ choose &+ SHA256.k[t] &+ w[t]
                let sigma0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let majority = (a & b) ^ (a & c) ^ (b & c)
                let t2 = sigma0 &+ majority
                hh = g
                g = f
                f = e
                e = d &+ t1
                d = c
                c = b
                b = a
                a = t1 &+ t2
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d
            h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
        }
    }

    @inline(__always)
    private func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 {
        (x >> n) | (x << (32 - n))
    }
}
