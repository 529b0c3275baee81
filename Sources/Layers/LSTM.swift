import CKernels
import Foundation
import NumericCore

// A single-layer LSTM over a whole sequence, with backpropagation through time.
//
//   x [T, B, E] (time-major, so each step's rows are contiguous), h, c [B, H]
//   gates_t = x_t·Wx + h_{t−1}·Wh + b          [B, 4H], columns ordered i | f | o | g
//   i, f, o = σ(·)   g = tanh(·)   c_t = f⊙c_{t−1} + i⊙g   h_t = o⊙tanh(c_t)
//
// The input half of every step's gates (x_t·Wx + b for all t) is one large GEMM before the loop; inside the loop each
// step adds its recurrent half with one GEMM for all four gates. The backward pass runs the loop in reverse for the
// recurrent gradient and then forms dWx, dWh, db and dx with one large GEMM each.

public struct LSTMState: Sendable, Equatable {
    public var h: Tensor  // [B, H]
    public var c: Tensor  // [B, H]

    public init(h: Tensor, c: Tensor) {
        self.h = h
        self.c = c
    }

    public static func zeros(batch: Int, hidden: Int) -> LSTMState {
        LSTMState(h: Tensor(zeros: [batch, hidden]), c: Tensor(zeros: [batch, hidden]))
    }
}

/// What the forward pass keeps for the backward pass.
public struct LSTMCache {
    public let x: Tensor  // [T, B, E]
    /// Activated gates i, f, o, g for every step.  [T, B, 4H]
    public let gates: Tensor
    /// Cell states c_0 … c_T (c_0 is the initial state).  [T+1, B, H]
    public let cells: Tensor
    /// Hidden states h_0 … h_T.  [T+1, B, H]
    public let hiddens: Tensor
    /// tanh(c_t) for t = 1 … T.  [T, B, H]
    public let tanhCells: Tensor
}

public struct LSTM: ParameterContainer {
    public let inputWeight: Parameter  // Wx [E, 4H]
    public let recurrentWeight: Parameter  // Wh [H, 4H]
    public let bias: Parameter  // b [4H]
    public let inputSize: Int
    public let hiddenSize: Int

    public init(
        _ name: String, inputSize: Int, hiddenSize: Int,
        weightInit: Initializer = .xavierUniform, biasInit: Initializer = .zeros,
        using rng: inout SeededGenerator
    ) {
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        let g = 4 * hiddenSize
        inputWeight = Parameter("\(name).wx", weightInit.make([inputSize, g], fanIn: inputSize, fanOut: hiddenSize, using: &rng))
        recurrentWeight = Parameter("\(name).wh", weightInit.make([hiddenSize, g], fanIn: hiddenSize, fanOut: hiddenSize, using: &rng))
        bias = Parameter("\(name).b", biasInit.make([g], fanIn: inputSize, fanOut: hiddenSize, using: &rng))
    }

    public var parameters: [Parameter] { [inputWeight, recurrentWeight, bias] }

    // MARK: - Forward

    /// Runs the whole sequence. Returns every step's hidden state [T, B, H], the final state and the cache.
    public func forward(_ x: Tensor, initial: LSTMState? = nil) -> (output: Tensor, final: LSTMState, cache: LSTMCache) {
        precondition(x.rank == 3 && x.shape[2] == inputSize, "LSTM: input \(x.shape) is not [T, B, \(inputSize)]")
        let (T, B, H) = (x.shape[0], x.shape[1], hiddenSize)
        let G = 4 * H

        // Input half of the gates for all steps at once, the bias added to every row as the product writes it.
        var gates = Tensor(uninitializedShape: [T, B, G]) { pg in
            x.withUnsafeBufferPointer { px in
                inputWeight.value.withUnsafeBufferPointer { pw in
                    bias.value.withUnsafeBufferPointer { pb in
                        gemm(m: T * B, n: G, k: inputSize, px.baseAddress!, lda: inputSize, pw.baseAddress!, ldb: G,
                             beta: 0, pg.baseAddress!, ldc: G, bias: pb.baseAddress!)
                    }
                }
            }
        }

        var cells = Tensor(zeros: [T + 1, B, H])
        var hiddens = Tensor(zeros: [T + 1, B, H])
        var tanhCells = Tensor(zeros: [T, B, H])
        if let initial {
            precondition(initial.h.count == B * H && initial.c.count == B * H, "LSTM: initial state is not [\(B), \(H)]")
            cells.scalars.replaceSubrange(0..<(B * H), with: initial.c.scalars)
            hiddens.scalars.replaceSubrange(0..<(B * H), with: initial.h.scalars)
        }

        recurrentWeight.value.withUnsafeBufferPointer { wh in
            gates.withUnsafeMutableBufferPointer { pg in
                cells.withUnsafeMutableBufferPointer { pc in
                    hiddens.withUnsafeMutableBufferPointer { ph in
                        tanhCells.withUnsafeMutableBufferPointer { ptc in
                            for t in 0..<T {
                                let g = pg.baseAddress! + t * B * G
                                // Recurrent half: all four gates in one GEMM.
                                gemm(m: B, n: G, k: H, ph.baseAddress! + t * B * H, lda: H, wh.baseAddress!, ldb: G,
                                     beta: 1, g, ldc: G)
                                LSTM.cellForward(
                                    gates: g, cPrev: pc.baseAddress! + t * B * H, c: pc.baseAddress! + (t + 1) * B * H,
                                    tanhC: ptc.baseAddress! + t * B * H, h: ph.baseAddress! + (t + 1) * B * H,
                                    batch: B, hidden: H)
                            }
                        }
                    }
                }
            }
        }

        let output = Tensor(shape: [T, B, H], scalars: Array(hiddens.scalars[(B * H)...]))
        let final = LSTMState(
            h: Tensor(shape: [B, H], scalars: Array(hiddens.scalars[(T * B * H)...])),
            c: Tensor(shape: [B, H], scalars: Array(cells.scalars[(T * B * H)...])))
        return (output, final, LSTMCache(x: x, gates: gates, cells: cells, hiddens: hiddens, tanhCells: tanhCells))
    }

    /// One step without a cache, for sampling and rollouts: x [B, E] → the next state.
    public func step(_ x: Tensor, _ state: LSTMState) -> LSTMState {
        let (B, H) = (state.h.shape[0], hiddenSize)
        let G = 4 * H
        precondition(x.count == B * inputSize, "LSTM.step: input \(x.shape) is not [\(B), \(inputSize)]")
        var gates = Tensor(zeros: [B, G])
        bias.value.withUnsafeBufferPointer { b in
            gates.withUnsafeMutableBufferPointer { pg in
                for r in 0..<B { (pg.baseAddress! + r * G).update(from: b.baseAddress!, count: G) }
            }
        }
        matmul(x, inputWeight.value, into: &gates, accumulate: true)
        matmul(state.h, recurrentWeight.value, into: &gates, accumulate: true)
        var next = LSTMState.zeros(batch: B, hidden: H)
        var tanhC = Tensor(zeros: [B, H])
        gates.withUnsafeMutableBufferPointer { pg in
            state.c.withUnsafeBufferPointer { pcPrev in
                next.c.withUnsafeMutableBufferPointer { pc in
                    next.h.withUnsafeMutableBufferPointer { ph in
                        tanhC.withUnsafeMutableBufferPointer { ptc in
                            LSTM.cellForward(
                                gates: pg.baseAddress!, cPrev: pcPrev.baseAddress!, c: pc.baseAddress!,
                                tanhC: ptc.baseAddress!, h: ph.baseAddress!, batch: B, hidden: H)
                        }
                    }
                }
            }
        }
        return next
    }

    /// Activates the gates in place and computes c_t, tanh(c_t) and h_t for one step: all rows in one C kernel
    /// (`tg_lstm_cell_forward`, the bits of `cellForwardReference`, tested).
    @inline(__always)
    public static func cellForward(
        gates: UnsafeMutablePointer<Float>, cPrev: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
        tanhC: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>, batch B: Int, hidden H: Int
    ) {
        tg_lstm_cell_forward(gates, cPrev, c, tanhC, h, Int64(B), Int64(H))
    }

    /// The cell written out row by row with the vector kernels: the reference `cellForward` is tested against.
    static func cellForwardReference(
        gates: UnsafeMutablePointer<Float>, cPrev: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
        tanhC: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>, batch B: Int, hidden H: Int
    ) {
        let G = 4 * H
        for b in 0..<B {
            let g = gates + b * G
            Vector.sigmoid(g, g, count: 3 * H)  // i, f, o
            Vector.tanh(g + 3 * H, g + 3 * H, count: H)  // candidate g
            let (cb, cPrevB, tb, hb) = (c + b * H, cPrev + b * H, tanhC + b * H, h + b * H)
            for j in 0..<H { cb[j] = g[H + j] * cPrevB[j] + g[j] * g[3 * H + j] }
            Vector.tanh(cb, tb, count: H)
            for j in 0..<H { hb[j] = g[2 * H + j] * tb[j] }
        }
    }

    // MARK: - Backward

    /// One step of the cell read backwards, for all rows: from the gradient reaching h_t (`dh`, from step t+1, plus
    /// `dOutput`, from h_t's own use) and reaching c_t (`dc`, from step t+1), the pre-activation gate gradients
    /// `dGates` [B, 4H]; `dc` is left holding the gradient reaching c_{t−1}. (`dh` is read, not updated: the caller
    /// forms dh_{t−1} = dGates·Whᵀ.)
    @inline(__always)
    public static func cellBackward(
        gates g: UnsafePointer<Float>, cPrev: UnsafePointer<Float>, tanhC tc: UnsafePointer<Float>,
        dOutput dOut: UnsafePointer<Float>, dh: UnsafePointer<Float>, dc: UnsafeMutablePointer<Float>,
        dGates dg: UnsafeMutablePointer<Float>, batch B: Int, hidden H: Int
    ) {
        let G = 4 * H
        for b in 0..<B {
            for j in 0..<H {
                let k = b * H + j, r = b * G
                let i = g[r + j], f = g[r + H + j], o = g[r + 2 * H + j]
                let cand = g[r + 3 * H + j]
                let dhk = dh[k] + dOut[k]
                let dck = dc[k] + dhk * o * (1 - tc[k] * tc[k])
                dg[r + j] = dck * cand * i * (1 - i)
                dg[r + H + j] = dck * cPrev[k] * f * (1 - f)
                dg[r + 2 * H + j] = dhk * tc[k] * o * (1 - o)
                dg[r + 3 * H + j] = dck * i * (1 - cand * cand)
                dc[k] = dck * f  // flows to c_{t−1}
            }
        }
    }

    /// Backpropagation through time. `dOutput` is d(loss)/d(h_t) for every step [T, B, H]; `dFinal` is the gradient
    /// flowing into the final state from later computation, if any. Accumulates the weight gradients and returns the
    /// gradients of the input and of the initial state.
    public func backward(_ dOutput: Tensor, dFinal: LSTMState? = nil, cache: LSTMCache) -> (dx: Tensor, dInitial: LSTMState) {
        let (T, B, H) = (cache.x.shape[0], cache.x.shape[1], hiddenSize)
        let G = 4 * H
        precondition(dOutput.count == T * B * H, "LSTM.backward: dOutput \(dOutput.shape) is not [\(T), \(B), \(H)]")

        var dGates = Tensor(zeros: [T, B, G])  // pre-activation gate gradients
        var dh = dFinal?.h ?? Tensor(zeros: [B, H])  // gradient reaching h_t from step t+1
        var dc = dFinal?.c ?? Tensor(zeros: [B, H])

        recurrentWeight.value.withUnsafeBufferPointer { wh in
            cache.gates.withUnsafeBufferPointer { pg in
                cache.cells.withUnsafeBufferPointer { pc in
                    cache.tanhCells.withUnsafeBufferPointer { ptc in
                        dOutput.withUnsafeBufferPointer { pdo in
                            dGates.withUnsafeMutableBufferPointer { pdg in
                                dh.withUnsafeMutableBufferPointer { pdh in
                                    dc.withUnsafeMutableBufferPointer { pdc in
                                        for t in stride(from: T - 1, through: 0, by: -1) {
                                            let dg = pdg.baseAddress! + t * B * G
                                            LSTM.cellBackward(
                                                gates: pg.baseAddress! + t * B * G, cPrev: pc.baseAddress! + t * B * H,
                                                tanhC: ptc.baseAddress! + t * B * H, dOutput: pdo.baseAddress! + t * B * H,
                                                dh: pdh.baseAddress!, dc: pdc.baseAddress!, dGates: dg, batch: B, hidden: H)
                                            // dh_{t−1} = dGates_t · Whᵀ
                                            gemm(transposeB: true, m: B, n: H, k: G, dg, lda: G, wh.baseAddress!, ldb: G,
                                                 pdh.baseAddress!, ldc: H)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        // Weight gradients over all steps at once: dWx += Xᵀ·dG, dWh += H_{0..T−1}ᵀ·dG, db += Σ dG; dx = dG·Wxᵀ.
        matmul(cache.x, dGates, into: &inputWeight.grad, transposeA: true, accumulate: true)
        cache.hiddens.withUnsafeBufferPointer { ph in
            dGates.withUnsafeBufferPointer { pdg in
                recurrentWeight.grad.withUnsafeMutableBufferPointer { pw in
                    gemm(transposeA: true, m: H, n: G, k: T * B, ph.baseAddress!, lda: H, pdg.baseAddress!, ldb: G,
                         beta: 1, pw.baseAddress!, ldc: G)
                }
            }
        }
        addColumnSums(of: dGates, into: &bias.grad)
        var dx = Tensor(zeros: cache.x.shape)
        matmul(dGates, inputWeight.value, into: &dx, transposeB: true)
        return (dx, LSTMState(h: dh, c: dc))
    }
}
