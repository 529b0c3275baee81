import NumericCore

/// How a layer's weights or biases start. Stored in model configs, so it is Codable.
public enum Initializer: Codable, Sendable, Equatable {
    case zeros
    case constant(Float)
    /// N(0, std²) — SeqGAN initialises every generator tensor with std 0.1.
    case normal(std: Float)
    /// U(−limit, limit).
    case uniform(limit: Float)
    /// Glorot/Xavier uniform: limit √(6 / (fanIn + fanOut)).
    case xavierUniform

    public func make(_ shape: [Int], fanIn: Int, fanOut: Int, using rng: inout SeededGenerator) -> Tensor {
        switch self {
        case .zeros: return Tensor(zeros: shape)
        case .constant(let c): return Tensor(repeating: c, shape: shape)
        case .normal(let std): return Tensor(randomNormal: shape, std: std, using: &rng)
        case .uniform(let limit): return Tensor(randomUniform: shape, low: -limit, high: limit, using: &rng)
        case .xavierUniform:
            let limit = (6 / Float(max(1, fanIn + fanOut))).squareRoot()
            return Tensor(randomUniform: shape, low: -limit, high: limit, using: &rng)
        }
    }
}
