import NumericCore
import XCTest

// The numerical gradient check used for every layer and op with a backward pass.
//
// A test builds a scalar loss L = Σ_i w_i · y_i from the layer's output y and fixed random weights w (so every
// output element matters and no two gradients cancel by symmetry), runs the layer's backward with dy = w to get
// the analytic gradients, and compares each of them with central differences
//     (L(θ + ε) − L(θ − ε)) / 2ε
// evaluated in Double from the Float32 forward pass. Float32 rounding limits the accuracy of the numerical side,
// so the comparison uses a mixed tolerance |a − n| ≤ atol + rtol · max(|a|, |n|); a wrong backward pass misses
// it by orders of magnitude.

public struct GradientCheckOptions: Sendable {
    public var epsilon: Float = 1e-2
    public var relativeTolerance: Double = 2e-2
    public var absoluteTolerance: Double = 2e-3
    /// Check at most this many entries per tensor (chosen deterministically, spread over the tensor).
    public var maxEntriesPerTensor: Int = 120

    public init(epsilon: Float = 1e-2, relativeTolerance: Double = 2e-2, absoluteTolerance: Double = 2e-3,
                maxEntriesPerTensor: Int = 120) {
        self.epsilon = epsilon
        self.relativeTolerance = relativeTolerance
        self.absoluteTolerance = absoluteTolerance
        self.maxEntriesPerTensor = maxEntriesPerTensor
    }
}

/// One mismatch found by the checker.
public struct GradientMismatch: CustomStringConvertible {
    public let tensor: String
    public let index: Int
    public let analytic: Double
    public let numerical: Double
    public var error: Double { abs(analytic - numerical) }
    public var description: String {
        "\(tensor)[\(index)]: analytic \(analytic), numerical \(numerical), |diff| \(error)"
    }
}

/// Compares analytic gradients with central differences.
/// - Parameters:
///   - targets: each perturbable tensor (as a `Parameter`, whose value is perturbed in place) with its analytic
///     gradient.
///   - loss: recomputes the scalar loss from the current parameter values (forward pass only).
/// - Returns: every entry outside tolerance (empty when the backward pass is right).
public func gradientMismatches(
    _ targets: [(Parameter, analytic: Tensor)],
    options: GradientCheckOptions = GradientCheckOptions(),
    loss: () -> Double
) -> [GradientMismatch] {
    var mismatches: [GradientMismatch] = []
    for (parameter, analytic) in targets {
        precondition(analytic.count == parameter.value.count, "analytic gradient of \(parameter.name) has wrong size")
        let n = parameter.value.count
        let step = max(1, n / options.maxEntriesPerTensor)
        for i in stride(from: 0, to: n, by: step) {
            let original = parameter.value.scalars[i]
            parameter.value.scalars[i] = original + options.epsilon
            let plus = loss()
            parameter.value.scalars[i] = original - options.epsilon
            let minus = loss()
            parameter.value.scalars[i] = original
            // The perturbation actually applied, after Float rounding.
            let h = Double(original + options.epsilon) - Double(original - options.epsilon)
            let numerical = (plus - minus) / h
            let a = Double(analytic.scalars[i])
            if abs(a - numerical) > options.absoluteTolerance + options.relativeTolerance * max(abs(a), abs(numerical)) {
                mismatches.append(GradientMismatch(tensor: parameter.name, index: i, analytic: a, numerical: numerical))
            }
        }
    }
    return mismatches
}

/// XCTest assertion around `gradientMismatches`: fails listing the worst entries.
public func assertGradientsMatch(
    _ targets: [(Parameter, analytic: Tensor)],
    options: GradientCheckOptions = GradientCheckOptions(),
    file: StaticString = #filePath, line: UInt = #line,
    loss: () -> Double
) {
    let found = gradientMismatches(targets, options: options, loss: loss)
    if !found.isEmpty {
        let worst = found.sorted { $0.error > $1.error }.prefix(8).map { "  \($0)" }.joined(separator: "\n")
        XCTFail("\(found.count) gradient entries out of tolerance; worst:\n\(worst)", file: file, line: line)
    }
}

/// Σ w·y in Double: the scalar loss that projects an output onto fixed weights.
public func weightedSum(_ y: Tensor, _ w: Tensor) -> Double {
    precondition(y.count == w.count, "weightedSum: \(y.shape) vs \(w.shape)")
    var s = 0.0
    for i in 0..<y.count { s += Double(y.scalars[i]) * Double(w.scalars[i]) }
    return s
}

/// The package root, found from this source file, for locating `../shared` beside the checkout.
public let packageRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// `../shared/data/<name>` when present; otherwise the test is skipped with a clear message.
public func sharedData(_ name: String) throws -> URL {
    let url = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/\(name)")
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw XCTSkip("../shared/data/\(name) is absent beside the checkout (\(url.path)); skipping the test that needs it")
    }
    return url
}

/// `../shared/<path>` (e.g. `bleu/vectors.json`) when present; otherwise the test is skipped with a clear message.
public func sharedFile(_ path: String) throws -> URL {
    let url = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/\(path)")
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw XCTSkip("../shared/\(path) is absent beside the checkout (\(url.path)); skipping the test that needs it")
    }
    return url
}
