/// The arithmetic of a model's matrix products (#20): fp32 throughout, or bf16 operands with fp32 sums
/// (`BF16Matmul`, AVX512_BF16's VDPBF16PS). Master weights, gradients and optimizer state stay fp32 either way;
/// only the operands of the products a model routes here are rounded to bf16.
public enum Precision: String, Codable, Sendable, CaseIterable {
    case fp32, bf16

    /// Why this precision cannot run on a CPU with `features`, or nil when it can.
    public func unsupportedReason(on features: CPUFeatures = .current) -> String? {
        guard self == .bf16, !features.contains(.avx512bf16) else { return nil }
        return "bf16 needs AVX512_BF16, which this CPU lacks (\(features)); use fp32"
    }
}
