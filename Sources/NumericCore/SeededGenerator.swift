import CKernels
import Digest
import Foundation

// The one random generator of textgan: xoshiro256** seeded through SplitMix64.
//
// It is passed explicitly (inout) to initialisation, dropout, batching and sampling, so one seed reproduces a run
// bit for bit on the same machine. Its state is Codable so checkpoints can store and restore it exactly.

public struct SeededGenerator: RandomNumberGenerator, Codable, Sendable, Equatable {
    // Internal and inlinable so the hot loops of other modules (dropout masks, sampling) inline `next()`.
    @usableFromInline var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var seeding = SplitMix64(seed: seed)
        s0 = seeding.next()
        s1 = seeding.next()
        s2 = seeding.next()
        s3 = seeding.next()
    }

    /// A generator for an independent stream (e.g. one per worker), derived deterministically from this one.
    public mutating func fork() -> SeededGenerator {
        SeededGenerator(seed: next())
    }

    @inlinable public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1), 24 random bits.
    @inlinable public mutating func nextFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Uniform in [0, 1), 53 random bits.
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Standard normal by the Box–Muller transform (two uniforms per draw; no cached spare, so state stays simple).
    public mutating func nextNormal() -> Float {
        let u1 = 1 - nextDouble()  // (0, 1]: log is finite
        let u2 = nextDouble()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// Uniform integer in 0..<bound without modulo bias.
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        return Int(next(upperBound: UInt64(bound)))
    }

    /// Fisher–Yates shuffle with this generator (our own, so the order never depends on the standard library).
    public mutating func shuffle<C: MutableCollection & RandomAccessCollection>(_ items: inout C) where C.Index == Int {
        guard items.count > 1 else { return }
        let start = items.startIndex
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            let j = nextInt(below: i + 1)
            items.swapAt(start + i, start + j)
        }
    }

    /// A random permutation of 0..<n.
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        shuffle(&p)
        return p
    }

    @inlinable func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

extension SeededGenerator {
    /// A uniform strictly inside (0, 1) from 64 random bits: (2k + 1)/2²⁴ with k the top 23 bits, exact in Float, so
    /// every logarithm of it is finite ((k + ½)/2²⁴ would round to 1 at the top).
    @inlinable public static func openUniform(_ bits: UInt64) -> Float { Float(2 * (bits >> 41) + 1) * 0x1p-24 }

    /// For each seed, the first `count` values of `SeededGenerator(seed:)` as `openUniform`s, into `rows[i]`: the
    /// streams run side by side, eight at a time (`tg_open_uniforms`), with the values of running them one by one.
    public static func openUniforms(seeds: ArraySlice<UInt64>, count: Int, into rows: [UnsafeMutablePointer<Float>]) {
        precondition(rows.count == seeds.count, "openUniforms: \(rows.count) rows for \(seeds.count) seeds")
        var start = 0
        while start < rows.count {
            let lanes = min(8, rows.count - start)
            var state = [UInt64]()
            state.reserveCapacity(4 * lanes)
            for seed in seeds.dropFirst(start).prefix(lanes) {
                let g = SeededGenerator(seed: seed)
                state += [g.s0, g.s1, g.s2, g.s3]
            }
            let out: [UnsafeMutablePointer<Float>?] = Array(rows[start..<(start + lanes)])
            tg_open_uniforms(&state, Int64(lanes), Int64(count), out)
            start += lanes
        }
    }
}
