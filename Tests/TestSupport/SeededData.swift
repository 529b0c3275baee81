import NumericCore

/// The seeded generator of the property tests' random inputs, for test targets that do not depend on NumericCore
/// (MetricsTests): NumericCore's SplitMix64, the sequence that seeds `SeededGenerator`.
public typealias SplitMix64 = NumericCore.SplitMix64
