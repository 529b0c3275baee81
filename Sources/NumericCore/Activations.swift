import CKernels
import Foundation

// Elementwise nonlinearities as forward/backward pairs over raw buffers. Each backward takes what its forward
// produced (the output y, or the input x where y alone does not determine the derivative) and the upstream
// gradient dy, and writes dx. Buffers of one call may not overlap unless stated.

public enum Activation {
    // MARK: - Sigmoid: y = 1 / (1 + e^−x);  dy/dx = y (1 − y)   (buffers: vectorised; y may alias x)

    @inlinable
    public static func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

    public static func sigmoidForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        Vector.sigmoid(x, y, count: count)
    }

    public static func sigmoidBackward(
        y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { dx[i] = dy[i] * y[i] * (1 - y[i]) }
    }

    // MARK: - Tanh: dy/dx = 1 − y²   (buffers: vectorised; y may alias x)

    public static func tanhForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        Vector.tanh(x, y, count: count)
    }

    public static func tanhBackward(
        y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { dx[i] = dy[i] * (1 - y[i] * y[i]) }
    }

    // MARK: - ReLU: dy/dx = [y > 0]

    public static func reluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = max(x[i], 0) }
    }

    public static func reluBackward(
        y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { dx[i] = y[i] > 0 ? dy[i] : 0 }
    }

    // MARK: - GELU (tanh approximation, as GPT-2): y = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))

    /// Elements per thread worth splitting for (each element is on its own, so a split changes no bit).
    static let elementwiseGrain = 16_384

    /// y = GELU(x) (`tg_gelu`; y may be x).
    public static func geluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEachChunk(count, grain: elementwiseGrain) { range in
            tg_gelu(x + range.lowerBound, y + range.lowerBound, Int64(range.count))
        }
    }

    /// GELU's derivative depends on x, so the backward takes the forward's input (`tg_gelu_backward`; dx may be dy).
    public static func geluBackward(
        x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        Parallel.forEachChunk(count, grain: elementwiseGrain) { range in
            let r = range.lowerBound
            tg_gelu_backward(x + r, dy + r, dx + r, Int64(range.count))
        }
    }
}
