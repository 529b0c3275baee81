// A trainable tensor and its gradient. Layers own parameters by reference, so an optimizer, a gradient clipper
// and the serializer can all walk the same list; gradients accumulate (+=) until `zeroGrad()`.

public final class Parameter {
    public let name: String
    public var value: Tensor
    public var grad: Tensor

    public init(_ name: String, _ value: Tensor) {
        self.name = name
        self.value = value
        self.grad = Tensor(zeros: value.shape)
    }

    public var shape: [Int] { value.shape }

    public func zeroGrad() { grad.fill(0) }
}

/// Anything made of parameters (a layer or a model). Names are dotted paths, unique within the container,
/// and are the keys under which checkpoints store the tensors.
public protocol ParameterContainer {
    var parameters: [Parameter] { get }
}

extension ParameterContainer {
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Copies every parameter value from `other` (same names and shapes), e.g. to refresh a rollout policy.
    public func copyValues(from other: some ParameterContainer) {
        let source = Dictionary(uniqueKeysWithValues: other.parameters.map { ($0.name, $0) })
        for p in parameters {
            guard let s = source[p.name], s.shape == p.shape else {
                preconditionFailure("copyValues: no parameter \(p.name) with shape \(p.shape) in source")
            }
            p.value = s.value
        }
    }

    /// Parameter values by name, ready for `Safetensors.write`.
    public var namedTensors: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.value) })
    }

    /// Loads values by name; every parameter must be present with its shape.
    public func load(_ tensors: [String: Tensor]) throws {
        for p in parameters {
            guard let t = tensors[p.name] else { throw ParameterLoadError.missing(p.name) }
            guard t.shape == p.shape else { throw ParameterLoadError.shapeMismatch(p.name, expected: p.shape, found: t.shape) }
            p.value = t
        }
    }
}

public enum ParameterLoadError: Error, CustomStringConvertible, Equatable {
    case missing(String)
    case shapeMismatch(String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .missing(let name): "parameter '\(name)' is missing from the file"
        case .shapeMismatch(let name, let e, let f): "parameter '\(name)' has shape \(f) in the file, expected \(e)"
        }
    }
}
