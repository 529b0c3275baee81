import Foundation
import CKernels

// A dense, row-major Float32 tensor: a shape and one contiguous buffer.
//
// Tensors are values (copy-on-write through Swift's Array). Kernels reach the storage through
// `withUnsafeBufferPointer` / `withUnsafeMutableBufferPointer`, so inner loops never allocate or copy.

public struct Tensor: Sendable, Equatable {
    /// Extent of each dimension, outermost first (row-major).
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.product`.
    public var scalars: [Float]

    // MARK: - Creation

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(
            shape.reduce(1, *) == scalars.count,
            "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    public init(zeros shape: [Int]) {
        self.init(repeating: 0, shape: shape)
    }

    public init(repeating value: Float, shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        self.shape = shape
        self.scalars = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// A tensor whose every element `initialize` writes (it must write all of them): for outputs a kernel overwrites
    /// anyway, without first filling megabytes with zeros.
    public init(uninitializedShape shape: [Int], initializingWith initialize: (UnsafeMutableBufferPointer<Float>) -> Void) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        let count = shape.reduce(1, *)
        self.shape = shape
        self.scalars = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialize(buffer)
            initialized = count
        }
    }

    /// Elements drawn from N(mean, std²) with the given generator.
    public init(randomNormal shape: [Int], mean: Float = 0, std: Float = 1, using rng: inout SeededGenerator) {
        self.init(zeros: shape)
        for i in scalars.indices { scalars[i] = mean + std * rng.nextNormal() }
    }

    /// Elements drawn uniformly from [low, high) with the given generator.
    public init(randomUniform shape: [Int], low: Float, high: Float, using rng: inout SeededGenerator) {
        self.init(zeros: shape)
        for i in scalars.indices { scalars[i] = low + (high - low) * rng.nextFloat() }
    }

    // MARK: - Shape

    public var count: Int { scalars.count }
    public var rank: Int { shape.count }

    /// The same scalars viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    public mutating func reshape(_ newShape: [Int]) {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        shape = newShape
    }

    /// Rows × columns of a tensor seen as a matrix whose last dimension is the columns.
    public var matrixShape: (rows: Int, columns: Int) {
        (shape.dropLast().reduce(1, *), shape.last ?? 1)
    }

    // MARK: - Element access

    public subscript(flat index: Int) -> Float {
        get { scalars[index] }
        set { scalars[index] = newValue }
    }

    /// Element at a full multi-index (for tests and small code paths; kernels use pointers).
    public subscript(_ index: Int...) -> Float {
        get { scalars[flatIndex(index)] }
        set { scalars[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) does not match shape \(shape)")
        var flat = 0
        for (i, n) in zip(index, shape) {
            precondition(i >= 0 && i < n, "index \(index) out of range for shape \(shape)")
            flat = flat * n + i
        }
        return flat
    }

    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }

    // MARK: - Whole-tensor updates

    public mutating func fill(_ value: Float) {
        withUnsafeMutableBufferPointer { p in p.update(repeating: value) }
    }

    /// self += alpha · other, elementwise (same element count).
    public mutating func add(_ other: Tensor, scaledBy alpha: Float = 1) {
        precondition(other.count == count, "add: \(other.shape) into \(shape)")
        other.withUnsafeBufferPointer { src in
            withUnsafeMutableBufferPointer { dst in
                for i in 0..<dst.count { dst[i] += alpha * src[i] }
            }
        }
    }

    public mutating func scale(by alpha: Float) {
        withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] *= alpha }
        }
    }

    /// The matrix [columns, rows] of a (rank-2 or folded) [rows, columns] tensor.
    public func transposedMatrix() -> Tensor {
        let (rows, columns) = matrixShape
        return Tensor(uninitializedShape: [columns, rows]) { out in
            withUnsafeBufferPointer { p in
                guard let src = p.baseAddress, let dst = out.baseAddress else { return }
                tg_transpose(src, Int64(rows), Int64(columns), Int64(columns), dst, Int64(rows))
            }
        }
    }

    /// Sum of all elements, accumulated in Double.
    public var sum: Double {
        withUnsafeBufferPointer { p in
            var s = 0.0
            for v in p { s += Double(v) }
            return s
        }
    }

    /// Sum of squares of all elements, accumulated in Double.
    public var squaredNorm: Double {
        withUnsafeBufferPointer { p in
            var s = 0.0
            for v in p { s += Double(v) * Double(v) }
            return s
        }
    }

    /// Largest |a − b| over all elements.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(other.count == count)
        var worst: Float = 0
        for i in 0..<count { worst = max(worst, abs(scalars[i] - other.scalars[i])) }
        return worst
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(head)\(count > 8 ? ", …" : "")])"
    }
}
