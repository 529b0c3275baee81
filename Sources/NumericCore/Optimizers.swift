import CKernels
import Foundation

// Optimizers and gradient clipping. An optimizer is built over a fixed list of parameters and updates their values
// from their accumulated gradients; it does not zero the gradients (the training loop does, once per step).
// Optimizer state is exposed as named tensors so checkpoints can store and restore it exactly.

public protocol Optimizer: AnyObject {
    var parameters: [Parameter] { get }
    /// Number of updates applied so far.
    var step: Int { get }
    func update()
    /// State as named tensors (moments, …) plus the step count, for checkpoints.
    var stateTensors: [String: Tensor] { get }
    func loadState(_ tensors: [String: Tensor]) throws
}

// MARK: - Adam

/// Adam (Kingma & Ba), with optional L2 regularisation.
/// `weightDecay` adds λ·θ to the gradient before the moments (PyTorch's `Adam(weight_decay=)`); with
/// `decoupledWeightDecay` it is AdamW's θ ← θ − lr·λ·θ instead.
public final class Adam: Optimizer {
    public struct Config: Codable, Sendable, Equatable {
        public var learningRate: Float = 1e-3
        public var beta1: Float = 0.9
        public var beta2: Float = 0.999
        public var epsilon: Float = 1e-8
        public var weightDecay: Float = 0
        public var decoupledWeightDecay: Bool = false

        public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                    weightDecay: Float = 0, decoupledWeightDecay: Bool = false) {
            self.learningRate = learningRate
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
            self.decoupledWeightDecay = decoupledWeightDecay
        }
    }

    public let parameters: [Parameter]
    public var config: Config
    public private(set) var step = 0
    private var m: [Tensor]
    private var v: [Tensor]

    public init(_ parameters: [Parameter], config: Config = Config()) {
        self.parameters = parameters
        self.config = config
        m = parameters.map { Tensor(zeros: $0.shape) }
        v = parameters.map { Tensor(zeros: $0.shape) }
    }

    public func update() {
        step += 1
        let c = config
        let correction1 = 1 - powf(c.beta1, Float(step))
        let correction2 = 1 - powf(c.beta2, Float(step))
        let stepSize = c.learningRate / correction1
        // AdamW's decoupled decay shrinks θ first; coupled L2 is folded into the gradient by the kernel.
        let coupledDecay = c.decoupledWeightDecay ? 0 : c.weightDecay
        var elementwise: [Int] = []
        for (k, p) in parameters.enumerated() {
            if c.decoupledWeightDecay && c.weightDecay != 0 {
                p.value.withUnsafeMutableBufferPointer { w in
                    for i in 0..<w.count { w[i] -= c.learningRate * c.weightDecay * w[i] }
                }
            }
            // The weight's bf16 packings (if any) are rewritten block by block as its rows are updated.
            let fused: Void? = p.withPendingGradient { product, rest in
                p.withBF16Repacking { repacker in
                    m[k].withUnsafeMutableBufferPointer { m in
                        v[k].withUnsafeMutableBufferPointer { v in
                            p.value.withUnsafeMutableBufferPointer { w in
                                Adam.updateRowBlocks(w: w.baseAddress!, m: m.baseAddress!, v: v.baseAddress!,
                                                     product: product, rest: rest, repacker: repacker) { w, g, m, v, count in
                                    tg_adam(w, g, m, v, Int64(count), c.beta1, c.beta2, stepSize, correction2, c.epsilon,
                                            coupledDecay)
                                }
                            }
                        }
                    }
                }
            }
            if fused == nil { elementwise.append(k) }
        }
        // The other parameters in one parallel region, their elements laid end to end and cut into even chunks (a
        // discriminator's dozen convolution widths are each too small to be worth splitting alone). Element-wise, so
        // the split changes no number.
        withElementBuffers(elementwise) { segments in
            let ends = segments.reduce(into: [0]) { $0.append($0.last! + $1.count) }
            Parallel.forEachChunk(ends.last!, grain: 1 << 15) { range in
                for (s, b) in segments.enumerated() where ends[s] < range.upperBound && ends[s + 1] > range.lowerBound {
                    let lower = max(range.lowerBound, ends[s]) - ends[s]
                    let count = min(range.upperBound, ends[s + 1]) - ends[s] - lower
                    tg_adam(b.w + lower, b.g + lower, b.m + lower, b.v + lower, Int64(count), c.beta1, c.beta2, stepSize,
                            correction2, c.epsilon, coupledDecay)
                }
            }
        }
    }

    private struct ElementBuffers {
        let w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>
        let v: UnsafeMutablePointer<Float>, count: Int
    }

    /// `body` with the value, gradient and moment buffers of the parameters at `indices`, all held at once.
    private func withElementBuffers(_ indices: [Int], _ body: ([ElementBuffers]) -> Void) {
        m.withUnsafeMutableBufferPointer { ms in
            v.withUnsafeMutableBufferPointer { vs in
                func nest(_ i: Int, _ held: [ElementBuffers]) {
                    guard i < indices.count else { return body(held) }
                    let k = indices[i], p = parameters[k]
                    p.grad.withUnsafeBufferPointer { g in
                        ms[k].withUnsafeMutableBufferPointer { m in
                            vs[k].withUnsafeMutableBufferPointer { v in
                                p.value.withUnsafeMutableBufferPointer { w in
                                    guard let wp = w.baseAddress, let gp = g.baseAddress, let mp = m.baseAddress,
                                          let vp = v.baseAddress else { return nest(i + 1, held) }
                                    nest(i + 1, held + [ElementBuffers(w: wp, g: gp, m: mp, v: vp, count: w.count)])
                                }
                            }
                        }
                    }
                }
                nest(0, [])
            }
        }
    }

    /// Rows per block of the fused update: 16 rows of a 1720-column gradient (110 KB) stay in L2 between the product
    /// that writes them and the update that reads them.
    static let fusedRows = 16

    /// The update from a pending gradient aᵀ·b (+ `rest`), block by block: each block of rows of the gradient is
    /// computed into a small buffer and `update` applies the rule to those rows at once, so the gradient never goes
    /// through memory. A block's rows of the product are the bits the whole product gives them (the AVX-512 kernel's
    /// rows do not depend on each other), so the result is the unfused update's, bit for bit. A `repacker` rewrites
    /// the weight's bf16 packings from each block's new rows.
    static func updateRowBlocks(
        w: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
        product: PendingGradientProduct, rest: UnsafePointer<Float>?, repacker: BF16Matmul.RowRepacker? = nil,
        update: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
    ) {
        let R = product.a.matrixShape.columns
        let C = product.b.matrixShape.columns
        let blocks = (R + fusedRows - 1) / fusedRows
        let packedB = product.packedB  // bf16: b packed once for all the blocks
        Parallel.forEachChunk(blocks, grain: 4) { range in
            var gradient = [Float](repeating: 0, count: fusedRows * C)
            gradient.withUnsafeMutableBufferPointer { g in
                let g = g.baseAddress!
                for block in range {
                    let r0 = block * fusedRows, rows = min(fusedRows, R - r0)
                    // g = (aᵀ·b)[r0 ..< r0 + rows] (+ rest's rows), as the whole product would write them
                    if let rest { g.update(from: rest + r0 * C, count: rows * C) }
                    product.writeRows(r0, rows, packedB: packedB, into: g, accumulate: rest != nil)
                    update(w + r0 * C, g, m + r0 * C, v + r0 * C, rows * C)
                    repacker?.repack(rows: r0, count: rows, of: w)
                }
            }
        }
    }

    public var stateTensors: [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor(shape: [], scalars: [Float(step)])]
        for (k, p) in parameters.enumerated() {
            out["m.\(p.name)"] = m[k]
            out["v.\(p.name)"] = v[k]
        }
        return out
    }

    public func loadState(_ tensors: [String: Tensor]) throws {
        guard let s = tensors["step"], s.count == 1 else { throw ParameterLoadError.missing("step") }
        var newM = m, newV = v
        for (k, p) in parameters.enumerated() {
            for (prefix, slot) in [("m", 0), ("v", 1)] {
                let name = "\(prefix).\(p.name)"
                guard let t = tensors[name] else { throw ParameterLoadError.missing(name) }
                guard t.shape == p.shape else {
                    throw ParameterLoadError.shapeMismatch(name, expected: p.shape, found: t.shape)
                }
                if slot == 0 { newM[k] = t } else { newV[k] = t }
            }
        }
        m = newM
        v = newV
        step = Int(s.scalars[0])
    }
}

// MARK: - SGD

/// Stochastic gradient descent with optional momentum (PyTorch's convention: b ← μb + g; θ ← θ − lr·b) and L2.
public final class SGD: Optimizer {
    public struct Config: Codable, Sendable, Equatable {
        public var learningRate: Float = 0.01
        public var momentum: Float = 0
        public var weightDecay: Float = 0

        public init(learningRate: Float = 0.01, momentum: Float = 0, weightDecay: Float = 0) {
            self.learningRate = learningRate
            self.momentum = momentum
            self.weightDecay = weightDecay
        }
    }

    public let parameters: [Parameter]
    public var config: Config
    public private(set) var step = 0
    private var velocity: [Tensor]

    public init(_ parameters: [Parameter], config: Config = Config()) {
        self.parameters = parameters
        self.config = config
        velocity = parameters.map { Tensor(zeros: $0.shape) }
    }

    public func update() {
        step += 1
        let c = config
        for (k, p) in parameters.enumerated() {
            p.grad.withUnsafeBufferPointer { g in
                velocity[k].withUnsafeMutableBufferPointer { b in
                    p.value.withUnsafeMutableBufferPointer { w in
                        for i in 0..<w.count {
                            let gi = g[i] + c.weightDecay * w[i]
                            if c.momentum != 0 {
                                b[i] = c.momentum * b[i] + gi
                                w[i] -= c.learningRate * b[i]
                            } else {
                                w[i] -= c.learningRate * gi
                            }
                        }
                    }
                }
            }
        }
    }

    public var stateTensors: [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor(shape: [], scalars: [Float(step)])]
        for (k, p) in parameters.enumerated() { out["velocity.\(p.name)"] = velocity[k] }
        return out
    }

    public func loadState(_ tensors: [String: Tensor]) throws {
        guard let s = tensors["step"], s.count == 1 else { throw ParameterLoadError.missing("step") }
        var newVelocity = velocity
        for (k, p) in parameters.enumerated() {
            let name = "velocity.\(p.name)"
            guard let t = tensors[name] else { throw ParameterLoadError.missing(name) }
            guard t.shape == p.shape else { throw ParameterLoadError.shapeMismatch(name, expected: p.shape, found: t.shape) }
            newVelocity[k] = t
        }
        velocity = newVelocity
        step = Int(s.scalars[0])
    }
}

// MARK: - Gradient clipping

/// Scales all gradients together so their global L2 norm is at most `maxNorm` (TensorFlow's
/// `clip_by_global_norm`, as the SeqGAN reference uses). Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    // Each tensor's Σg² by a vectorised kernel in Double (`Tensor.squaredNorm` is its straightforward twin).
    let norm = Float(parameters.reduce(0.0) { total, p in
        total + p.grad.withUnsafeBufferPointer { tg_sum_squares($0.baseAddress, Int64($0.count)) }
    }.squareRoot())
    if norm > maxNorm, norm.isFinite {
        let scale = maxNorm / norm
        for p in parameters { p.grad.scale(by: scale) }
    }
    return norm
}
