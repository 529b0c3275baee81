import NumericCore

/// The Transformer block's feed-forward network:  x [N, C] → GELU(x·W1 + b1) [N, 4C] → ·W2 + b2 [N, C].
public struct MLP: ParameterContainer {
    public let expand: Linear
    public let contract: Linear

    public struct Cache {
        public let x: Tensor
        public let hidden: Tensor  // before GELU
        public let activated: Tensor  // after GELU
    }

    public init(_ name: String, size: Int, expansion: Int = 4, weightInit: Initializer = .normal(std: 0.02),
                using rng: inout SeededGenerator) {
        expand = Linear("\(name).fc", inputSize: size, outputSize: expansion * size, weightInit: weightInit, using: &rng)
        contract = Linear("\(name).proj", inputSize: expansion * size, outputSize: size, weightInit: weightInit, using: &rng)
    }

    public var parameters: [Parameter] { expand.parameters + contract.parameters }

    public func forward(_ x: Tensor) -> (y: Tensor, cache: Cache) {
        let hidden = expand.forward(x)
        var activated = Tensor(uninitializedShape: hidden.shape) { _ in }  // every element written by GELU
        hidden.withUnsafeBufferPointer { ph in
            activated.withUnsafeMutableBufferPointer { pa in
                Activation.geluForward(ph.baseAddress!, pa.baseAddress!, count: ph.count)
            }
        }
        return (contract.forward(activated), Cache(x: x, hidden: hidden, activated: activated))
    }

    public func backward(_ dy: Tensor, cache: Cache) -> Tensor {
        var dHidden = contract.backward(dy, input: cache.activated)
        cache.hidden.withUnsafeBufferPointer { ph in
            dHidden.withUnsafeMutableBufferPointer { pd in
                Activation.geluBackward(x: ph.baseAddress!, dy: pd.baseAddress!, dx: pd.baseAddress!, count: pd.count)
            }
        }
        return expand.backward(dHidden, input: cache.x)
    }
}
