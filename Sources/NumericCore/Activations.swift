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

    @usableFromInline static let geluScale = Float((2 / Double.pi).squareRoot())

    /// Elements per thread worth splitting for (each element is on its own, so a split changes no bit).
    static let elementwiseGrain = 16_384

    public static func geluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEachChunk(count, grain: elementwiseGrain) { range in
            let (x, y, count) = (x + range.lowerBound, y + range.lowerBound, range.count)
            // u = √(2/π)(x + 0.044715x³) into y, tanh in place (the vector kernel), then y = ½x(1 + tanh u).
            for i in 0..<count {
                let v = x[i]
                y[i] = geluScale * (v + 0.044715 * v * v * v)
            }
            Vector.tanh(y, y, count: count)
            for i in 0..<count { y[i] = 0.5 * x[i] * (1 + y[i]) }
        }
    }

    /// GELU's derivative depends on x, so the backward takes the forward's input.
    public static func geluBackward(
        x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        Parallel.forEachChunk(count, grain: elementwiseGrain) { range in
            let r = range.lowerBound
            geluBackwardChunk(x: x + r, dy: dy + r, dx: dx + r, count: range.count)
        }
    }

    private static func geluBackwardChunk(
        x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        // dx may alias dy: tanh u goes through a chunk-sized buffer.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: min(count, 1024)) { buffer in
            let t = buffer.baseAddress!
            for start in stride(from: 0, to: count, by: 1024) {
                let n = min(1024, count - start)
                for i in 0..<n {
                    let v = x[start + i]
                    t[i] = geluScale * (v + 0.044715 * v * v * v)
                }
                Vector.tanh(t, t, count: n)
                for i in 0..<n {
                    let v = x[start + i]
                    let du = geluScale * (1 + 3 * 0.044715 * v * v)
                    dx[start + i] = dy[start + i] * (0.5 * (1 + t[i]) + 0.5 * v * (1 - t[i] * t[i]) * du)
                }
            }
        }
    }
}
