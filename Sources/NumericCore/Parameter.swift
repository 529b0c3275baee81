import Foundation

// A trainable tensor and its gradient. Layers own parameters by reference, so an optimizer, a gradient clipper
// and the serializer can all walk the same list; gradients accumulate (+=) until `zeroGrad()`.
//
// Two things make the gradient cheaper to keep without changing what `grad` reads:
// - `zeroGrad()` only notes that the gradient is zero; the zeros are written when it is next read or accumulated.
// - A linear layer's weight gradient xᵀ·dy can be left pending (`accumulateGradient(transposing:times:)`). Reading
//   `grad` computes it; Adam instead computes it a block of rows at a time as it updates those rows, so a large
//   gradient (the discriminator's 1720 × 1720 highway matrices) never goes through memory.

public final class Parameter {
    public let name: String
    /// Any change (assigned, or written in place) invalidates the bf16 packings of `bf16Packed`.
    public var value: Tensor {
        didSet { valueVersion &+= 1 }
    }
    private var valueVersion: UInt64 = 0
    /// Changes whenever the value does (assigned, or written in place); equal versions mean an unchanged value.
    public var version: UInt64 { valueVersion }
    /// The bf16 packings of the value (key: transposed), with the version they were packed from.
    private var bf16Packings: [Bool: (version: UInt64, packed: BF16Matmul.PackedB)] = [:]
    /// Guards `bf16Packings` in `bf16Packed`: sampling runs batches side by side, each asking for the packing.
    private let packingLock = NSLock()

    private var storage: Tensor
    private var storageIsZero = false
    private var pending: PendingGradientProduct?

    /// The accumulated gradient (any pending product and noted zeros are written first).
    public var grad: Tensor {
        get {
            materializeGradient()
            return storage
        }
        set {
            storage = newValue
            storageIsZero = false
            pending = nil
        }
        _modify {
            materializeGradient()
            yield &storage
        }
    }

    public init(_ name: String, _ value: Tensor) {
        self.name = name
        self.value = value
        self.storage = Tensor(zeros: value.shape)
    }

    public var shape: [Int] { value.shape }

    /// The value as the bf16 right operand of a product (`BF16Matmul`): x·W for a value W [k, n], or with
    /// `transposed` x·Wᵀ for a value W [n, k] (leading dimensions fold). Packed once per change of the value — once
    /// per optimizer step in training, once for all of a frozen scorer's calls — not once per product. Threads may
    /// ask at once (the first packs, the others wait for it) while nothing changes the value.
    public func bf16Packed(transposed: Bool) -> BF16Matmul.PackedB {
        packingLock.lock()
        defer { packingLock.unlock() }
        if let cached = bf16Packings[transposed], cached.version == valueVersion { return cached.packed }
        let packed = transposed ? BF16Matmul.PackedB(transposing: value) : BF16Matmul.PackedB(value)
        bf16Packings[transposed] = (valueVersion, packed)
        return packed
    }

    /// For an optimizer that rewrites the value in place a block of rows at a time (the value as a matrix [R, C]):
    /// `body` gets a repacker for the bf16 packings in use (nil when there are none), to call on every block it
    /// writes, so each packing is rewritten where it lies while the block is in cache instead of being packed anew
    /// at its next use. `body` must write the whole value through `value` and repack every row of it; the packings
    /// are then current with the value it leaves, the same bits as packing it anew.
    public func withBF16Repacking<R>(_ body: (BF16Matmul.RowRepacker?) -> R) -> R {
        // Taken out of the cache, so their buffers are not shared with it while they are rewritten.
        var taken = packingLock.withLock {
            defer { bf16Packings = [:] }
            return bf16Packings.map { (transposed: $0.key, packed: $0.value.packed) }
        }
        guard !taken.isEmpty else { return body(nil) }
        let (rows, columns) = value.matrixShape
        let repacker = BF16Matmul.repacker(for: &taken, rows: rows, columns: columns)
        let result = body(repacker)
        packingLock.withLock {
            for packing in taken where repacker.rewrites(transposed: packing.transposed) {
                bf16Packings[packing.transposed] = (valueVersion, packing.packed)
            }
        }
        return result
    }

    /// Whether the cache holds a packing current with the value (for tests).
    func hasCurrentBF16Packing(transposed: Bool) -> Bool { bf16Packings[transposed]?.version == valueVersion }

    public func zeroGrad() {
        storageIsZero = true
        pending = nil
    }

    /// grad += aᵀ·b for a [N, R] and b [N, C] with R·C = the gradient's size (leading dimensions fold into N): the
    /// weight gradient of a linear map. The product stays pending until the gradient is read or updated from.
    /// With `precision` bf16 the product's operands are rounded to bf16 and summed in fp32 (`BF16Matmul`).
    public func accumulateGradient(transposing a: Tensor, times b: Tensor, precision: Precision = .fp32) {
        precondition(a.matrixShape.rows == b.matrixShape.rows && a.matrixShape.columns * b.matrixShape.columns == value.count,
                     "accumulateGradient: \(a.shape)ᵀ · \(b.shape) is not the shape of \(name) \(value.shape)")
        if pending != nil { materializeGradient() }
        pending = PendingGradientProduct(a: a, b: b, precision: precision)
    }

    /// `body` with the gradient's storage and whether it holds only noted zeros, for a pass that writes every element
    /// itself: when `isZero` it overwrites them all instead of adding (and must write each one), so the zero fill
    /// is skipped. A pending product is added into the storage first.
    public func withGradientStorage<R>(_ body: (_ storage: UnsafeMutableBufferPointer<Float>, _ isZero: Bool) -> R) -> R {
        if pending != nil { materializeGradient() }
        let isZero = storageIsZero
        storageIsZero = false
        return storage.withUnsafeMutableBufferPointer { body($0, isZero) }
    }

    /// For an optimizer that fuses the pending product into its update: `body` gets the product and the rest of the
    /// gradient (nil when that is zero). Nil, without calling `body`, when no product is pending. The product stays
    /// pending, so `grad` still reads the whole gradient afterwards.
    public func withPendingGradient<R>(_ body: (PendingGradientProduct, UnsafePointer<Float>?) -> R) -> R? {
        guard let pending else { return nil }
        if storageIsZero { return body(pending, nil) }
        return storage.withUnsafeBufferPointer { body(pending, $0.baseAddress!) }
    }

    private func materializeGradient() {
        if let product = pending {
            pending = nil
            // Onto noted zeros the product simply overwrites (beta 0): no zero fill, no read.
            product.write(into: &storage, accumulate: !storageIsZero)
            storageIsZero = false
        } else if storageIsZero {
            storage.fill(0)
            storageIsZero = false
        }
    }
}

/// A gradient term aᵀ·b not yet computed: a [N, R], b [N, C], giving [R, C], in fp32 or with bf16 operands.
public struct PendingGradientProduct {
    public let a: Tensor
    public let b: Tensor
    public var precision: Precision = .fp32

    /// Rows r0 ..< r0 + rows of aᵀ·b into `out` (rows of C floats), written or (`accumulate`) added. In bf16, `b` is
    /// packed by the caller once for all its blocks (`packedB`). A block's rows are the bits the whole product gives.
    public func writeRows(_ r0: Int, _ rows: Int, packedB: BF16Matmul.PackedB?, into out: UnsafeMutablePointer<Float>,
                          accumulate: Bool) {
        let (N, R) = a.matrixShape, C = b.matrixShape.columns
        a.withUnsafeBufferPointer { pa in
            if let packedB {
                BF16Matmul.gemm(transposeA: true, m: rows, pa.baseAddress! + r0, lda: R, packedB, out, ldc: C,
                                accumulate: accumulate)
            } else {
                b.withUnsafeBufferPointer { pb in
                    gemm(transposeA: true, m: rows, n: C, k: N, pa.baseAddress! + r0, lda: R, pb.baseAddress!, ldb: C,
                         beta: accumulate ? 1 : 0, out, ldc: C)
                }
            }
        }
    }

    /// b packed for a bf16 product, nil in fp32.
    public var packedB: BF16Matmul.PackedB? { precision == .bf16 ? BF16Matmul.PackedB(b) : nil }

    /// The whole product into `c` [R, C], written or (`accumulate`) added.
    func write(into c: inout Tensor, accumulate: Bool) {
        guard precision == .bf16 else {
            return matmul(a, b, into: &c, transposeA: true, accumulate: accumulate)
        }
        let packed = packedB
        c.withUnsafeMutableBufferPointer { writeRows(0, a.matrixShape.columns, packedB: packed, into: $0.baseAddress!, accumulate: accumulate) }
    }
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
