/// The arithmetic of a model's matrix products (#20): fp32 throughout, or bf16 operands with fp32 sums
/// (`BF16Matmul`, AVX512_BF16's VDPBF16PS). Master weights, gradients and optimizer state stay fp32 either way;
/// only the operands of the products a model routes here are rounded to bf16.
public enum Precision: String, Codable, Sendable, CaseIterable {
    case fp32, bf16

    /// Why this precision cannot run on a CPU with `features`, or nil when it can.
    /// For bf16 on this CPU it also applies TEXTGAN_BF16_KERNEL, and names a value it cannot honour.
    public func unsupportedReason(on features: CPUFeatures = .current) -> String? {
        guard self == .bf16 else { return nil }
        guard features.contains(.avx512bf16) else { return "bf16 needs AVX512_BF16, which this CPU lacks (\(features)); use fp32" }
        return features == .current ? BF16Matmul.environmentChoice : nil
    }

    /// This precision where this CPU can run it, else fp32: what a model built from a stored config computes in (a
    /// run trained with bf16 on another CPU still samples and scores here, in fp32). Training refuses such a config
    /// before it gets this far (`ConfigCheck.supported`). Asking applies the process's bf16 kernel choice.
    public func runnable(on features: CPUFeatures = .current) -> Precision {
        self == .bf16 && unsupportedReason(on: features) == nil ? .bf16 : .fp32
    }

    /// A warning when this precision is slower than fp32 by the CPU's measured multiply-add rates (bf16 below fp32's
    /// rate), or nil. The run still does what was asked: a user may want bf16's numerics on purpose.
    public func slowdownWarning(rates: MultiplyAddRates? = .measured) -> String? {
        guard self == .bf16, let rates, let speedup = rates.bf16Speedup, speedup < 1 else { return nil }
        return "warning: bf16 products are slower than fp32 on this CPU (multiply-adds per core: \(rates.description), "
            + "measured at start); fp32 is the faster choice here"
    }
}
