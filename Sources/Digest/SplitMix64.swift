/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fully specified mixing generator. It turns a seed into
/// `SeededGenerator`'s state (NumericCore), draws corpus splits (TextPipeline) and seeded test data, so none of them
/// depends on the standard library's random number generator. It lives here, in the project's leaf module of fully
/// specified hash functions, so that every module can share the one implementation.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// In 0..<bound, by the high half of a 64×64-bit product (Lemire); the bias is below 2⁻³² for any bound we use.
    public mutating func index(below bound: Int) -> Int {
        Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }
}
