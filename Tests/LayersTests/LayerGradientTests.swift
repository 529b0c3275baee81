@testable import Layers
import NumericCore
import TestSupport
import XCTest

// A numerical gradient check for every layer: each test projects the layer's outputs onto fixed random weights,
// runs the backward pass with those weights as the upstream gradient, and compares every gradient (inputs and
// parameters) with central differences.

final class LayerGradientTests: XCTestCase {
    private var rng = SeededGenerator(seed: 20_170_204)

    private func random(_ shape: [Int], std: Float = 1) -> Tensor {
        Tensor(randomNormal: shape, std: std, using: &rng)
    }

    func testLinear() {
        let layer = Linear("fc", inputSize: 5, outputSize: 4, weightInit: .normal(std: 0.5), biasInit: .normal(std: 0.5), using: &rng)
        let x = Parameter("x", random([2, 3, 5]))
        let w = random([2, 3, 4])
        layer.zeroGrad()
        let dx = layer.backward(w, input: x.value)
        XCTAssertEqual(dx.shape, [2, 3, 5])
        assertGradientsMatch([(x, dx), (layer.weight, layer.weight.grad), (layer.bias!, layer.bias!.grad)]) {
            weightedSum(layer.forward(x.value), w)
        }
    }

    func testEmbeddingWithRepeatedIds() {
        let layer = Embedding("emb", vocabularySize: 7, embeddingSize: 3, using: &rng)
        let ids: [Int32] = [3, 1, 3, 6, 0, 3]
        let w = random([6, 3])
        layer.zeroGrad()
        layer.backward(w, ids: ids)
        assertGradientsMatch([(layer.table, layer.table.grad)]) { weightedSum(layer.forward(ids), w) }
        // Rows never looked up get no gradient.
        XCTAssertEqual(Array(layer.table.grad.scalars[(2 * 3)..<(3 * 3)]), [0, 0, 0])
    }

    func testEmbeddingOfSoftRows() {
        let layer = Embedding("emb", vocabularySize: 7, embeddingSize: 3, using: &rng)
        // Soft rows (softmax of random logits), as a relaxed generator emits them.
        let rows = Parameter("rows", softmax(random([5, 7], std: 2)))
        let w = random([5, 3])
        layer.zeroGrad()
        XCTAssertNil(layer.backward(w, rows: rows.value, inputGradient: false), "a D step asks for no input gradient")
        let tableOnly = layer.table.grad.scalars
        layer.zeroGrad()
        let dRows = layer.backward(w, rows: rows.value, inputGradient: true)!
        XCTAssertEqual(layer.table.grad.scalars, tableOnly, "the table's gradient does not depend on the input's")
        XCTAssertEqual(dRows.shape, [5, 7])
        assertGradientsMatch([(rows, dRows), (layer.table, layer.table.grad)]) { weightedSum(layer.forward(rows: rows.value), w) }
        // One-hot rows give the lookup itself.
        let ids: [Int32] = [3, 0, 6, 3]
        var oneHot = Tensor(zeros: [ids.count, 7])
        for (n, id) in ids.enumerated() { oneHot[n, Int(id)] = 1 }
        XCTAssertEqual(layer.forward(rows: oneHot).scalars, layer.forward(ids).scalars)
    }

    /// Rows that are mostly exact zeros (a sharp softmax's) take the sparse products (`SparseRows`) forward and for
    /// the table's gradient; the gradient of the rows stays whole, zeros' entries included.
    func testEmbeddingOfSparseRows() {
        let (V, E) = (200, 5)
        let layer = Embedding("emb", vocabularySize: V, embeddingSize: E, using: &rng)
        var values = Tensor(zeros: [6, V])
        for n in 0..<6 { for k in 0..<3 { values[n, (37 * n + 53 * k) % V] = Float(k + 1) / 6 } }
        XCTAssertNotNil(SparseRows(values), "the rows must take the sparse path for this test to test it")
        let rows = Parameter("rows", values)
        let w = random([6, E])
        layer.zeroGrad()
        layer.table.grad.add(random([V, E]), scaledBy: 1)  // an earlier gradient: the rows' part is added to it
        let before = layer.table.grad
        let dRows = layer.backward(w, rows: rows.value, inputGradient: true)!
        var tableGradient = layer.table.grad
        tableGradient.add(before, scaledBy: -1)
        assertGradientsMatch([(rows, dRows), (layer.table, tableGradient)]) { weightedSum(layer.forward(rows: rows.value), w) }
        let dense = matmul(rows.value, layer.table.value)
        let sparse = layer.forward(rows: rows.value)
        for i in 0..<dense.count { XCTAssertEqual(sparse.scalars[i], dense.scalars[i], accuracy: 1e-6) }
    }

    func testLSTMThroughSeveralSteps() {
        let (T, B, E, H) = (5, 3, 4, 6)
        let lstm = LSTM("lstm", inputSize: E, hiddenSize: H, weightInit: .normal(std: 0.5), biasInit: .normal(std: 0.5), using: &rng)
        let x = Parameter("x", random([T, B, E]))
        let h0 = Parameter("h0", random([B, H], std: 0.5))
        let c0 = Parameter("c0", random([B, H], std: 0.5))
        let (wOut, wH, wC) = (random([T, B, H]), random([B, H]), random([B, H]))
        func loss() -> Double {
            let (out, final, _) = lstm.forward(x.value, initial: LSTMState(h: h0.value, c: c0.value))
            return weightedSum(out, wOut) + weightedSum(final.h, wH) + weightedSum(final.c, wC)
        }
        lstm.zeroGrad()
        let (_, _, cache) = lstm.forward(x.value, initial: LSTMState(h: h0.value, c: c0.value))
        let (dx, dInitial) = lstm.backward(wOut, dFinal: LSTMState(h: wH, c: wC), cache: cache)
        assertGradientsMatch([
            (x, dx), (h0, dInitial.h), (c0, dInitial.c),
            (lstm.inputWeight, lstm.inputWeight.grad), (lstm.recurrentWeight, lstm.recurrentWeight.grad),
            (lstm.bias, lstm.bias.grad),
        ], loss: loss)
    }

    func testLSTMStepMatchesSequenceForward() {
        let lstm = LSTM("lstm", inputSize: 3, hiddenSize: 4, weightInit: .normal(std: 0.5), using: &rng)
        let x = random([6, 2, 3])
        let (out, final, _) = lstm.forward(x)
        var state = LSTMState.zeros(batch: 2, hidden: 4)
        for t in 0..<6 {
            state = lstm.step(Tensor(shape: [2, 3], scalars: Array(x.scalars[(t * 6)..<((t + 1) * 6)])), state)
            XCTAssertEqual(state.h.scalars, Array(out.scalars[(t * 8)..<((t + 1) * 8)]), "step \(t)")
        }
        XCTAssertEqual(state, final)
    }

    /// The one-call cell kernel gives the bits of the row-by-row cell, saturated gates and NaN included.
    func testLSTMCellKernelMatchesTheRowByRowCell() {
        for (B, H) in [(1, 1), (3, 5), (64, 32), (7, 19)] {
            var gates = (0..<(B * 4 * H)).map { _ in rng.nextNormal() * 4 }
            gates[0] = 200
            if gates.count > 3 { gates[3] = -200 }
            if gates.count > 6 { gates[6] = .nan }
            let cPrev = (0..<(B * H)).map { _ in rng.nextNormal() }
            var (g1, g2) = (gates, gates)
            var (c1, t1, h1) = ([Float](repeating: 0, count: B * H), [Float](repeating: 0, count: B * H), [Float](repeating: 0, count: B * H))
            var (c2, t2, h2) = (c1, t1, h1)
            LSTM.cellForward(gates: &g1, cPrev: cPrev, c: &c1, tanhC: &t1, h: &h1, batch: B, hidden: H)
            LSTM.cellForwardReference(gates: &g2, cPrev: cPrev, c: &c2, tanhC: &t2, h: &h2, batch: B, hidden: H)
            for (name, a, b) in [("gates", g1, g2), ("c", c1, c2), ("tanh c", t1, t2), ("h", h1, h2)] {
                let differing = zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
                XCTAssertEqual(differing, 0, "\(name): \(differing) of \(a.count) entries differ (B \(B), H \(H))")
            }
        }
    }

    func testTimeConvolutionWithSeveralWidths() {
        let (B, T, E) = (3, 7, 4)
        let widths = [ConvolutionWidth(width: 1, filters: 3), ConvolutionWidth(width: 2, filters: 4),
                      ConvolutionWidth(width: 3, filters: 2), ConvolutionWidth(width: 7, filters: 3)]
        let conv = TimeConvolution("conv", inputSize: E, widths: widths, weightInit: .normal(std: 0.5), using: &rng)
        XCTAssertEqual(conv.featureCount, 12)
        let x = Parameter("x", random([B, T, E]))
        let w = random([B, 12])
        conv.zeroGrad()
        let (features, cache) = conv.forward(x.value)
        XCTAssertEqual(features.shape, [B, 12])
        let dx = conv.backward(w, cache: cache)
        // Max-over-time has kinks where two positions tie; a small step keeps the arg-max fixed.
        let options = GradientCheckOptions(epsilon: 2e-3, relativeTolerance: 2e-2, absoluteTolerance: 5e-3)
        assertGradientsMatch([(x, dx)] + conv.parameters.map { ($0, $0.grad) }, options: options) {
            weightedSum(conv.forward(x.value).features, w)
        }
    }

    /// The sparse backward pass against the dense reference: same dx, same filter gradients, both onto noted zeros
    /// (which the sparse pass overwrites without a fill) and onto a gradient that already holds values.
    func testTimeConvolutionSparseBackwardMatchesDense() {
        let (B, T, E) = (5, 9, 3)
        let widths = [ConvolutionWidth(width: 1, filters: 4), ConvolutionWidth(width: 4, filters: 6), ConvolutionWidth(width: 9, filters: 2)]
        let conv = TimeConvolution("conv", inputSize: E, widths: widths, weightInit: .normal(std: 0.5), using: &rng)
        let x = random([B, T, E])
        let dFeatures = random([B, 12])
        let (_, cache) = conv.forward(x)
        conv.zeroGrad()
        let sparse = conv.backward(dFeatures, cache: cache)
        let sparseGrads = conv.parameters.map(\.grad)
        conv.zeroGrad()
        let dense = conv.backwardDense(dFeatures, cache: cache)
        XCTAssertLessThan(sparse.maxAbsDifference(dense), 1e-5)
        for (a, p) in zip(sparseGrads, conv.parameters) {
            XCTAssertLessThan(a.maxAbsDifference(p.grad), 1e-5, p.name)
            XCTAssertGreaterThan(p.grad.squaredNorm, 0, p.name)
        }
        // Onto the dense pass's gradient: twice the gradient.
        _ = conv.backward(dFeatures, cache: cache)
        for (a, p) in zip(sparseGrads, conv.parameters) {
            var twice = a
            twice.add(a, scaledBy: 1)
            XCTAssertLessThan(twice.maxAbsDifference(p.grad), 1e-5, p.name)
        }
        // Noted zeros over stale values: the first result again, to the bit.
        conv.zeroGrad()
        _ = conv.backward(dFeatures, cache: cache)
        for (a, p) in zip(sparseGrads, conv.parameters) {
            XCTAssertEqual(a.scalars.map(\.bitPattern), p.grad.scalars.map(\.bitPattern), p.name)
        }
    }

    /// The forward pass on two threads (the sequences in two halves, 320 features over two widths) gives the bits of
    /// one thread, and the definition's values.
    func testTimeConvolutionForwardIsTheSameOnTwoThreads() {
        let (B, T, E) = (16, 12, 8)
        let widths = [ConvolutionWidth(width: 2, filters: 150), ConvolutionWidth(width: 5, filters: 170)]
        let conv = TimeConvolution("conv", inputSize: E, widths: widths, weightInit: .normal(std: 0.5), using: &rng)
        let x = random([B, T, E])
        func run(threads: Int) -> (Tensor, [Int32]) {
            let saved = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = saved }
            let (features, cache) = conv.forward(x)
            return (features, cache.argmax)
        }
        let one = run(threads: 1), two = run(threads: 2)
        XCTAssertEqual(one.0.scalars.map(\.bitPattern), two.0.scalars.map(\.bitPattern))
        XCTAssertEqual(one.1, two.1)
        for (k, spec) in widths.enumerated() {
            let W = conv.filters[k].weight.value, bias = conv.filters[k].bias.value
            for (b, f) in [(0, 0), (7, spec.filters / 2), (15, spec.filters - 1)] {
                var best = -Float.infinity
                for p in 0...(T - spec.width) {
                    var s = bias[f]
                    for j in 0..<spec.width { for e in 0..<E { s += x[b, p + j, e] * W[f, j * E + e] } }
                    best = max(best, s)
                }
                XCTAssertEqual(two.0[b, k * 150 + f], max(best, 0), accuracy: 1e-4, "width \(spec.width) b \(b) f \(f)")
            }
        }
    }

    /// The backward pass split over two threads gives the same bits as on one.
    func testTimeConvolutionBackwardIsTheSameOnTwoThreads() {
        let (B, T, E) = (16, 12, 8)
        let widths = [ConvolutionWidth(width: 2, filters: 40), ConvolutionWidth(width: 5, filters: 48)]
        let conv = TimeConvolution("conv", inputSize: E, widths: widths, weightInit: .normal(std: 0.5), using: &rng)
        let x = random([B, T, E])
        let dFeatures = random([B, 88])
        let (_, cache) = conv.forward(x)
        func run(threads: Int) -> [Tensor] {
            let saved = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = saved }
            conv.zeroGrad()
            return [conv.backward(dFeatures, cache: cache)] + conv.parameters.map(\.grad)
        }
        let one = run(threads: 1), two = run(threads: 2)
        for (a, b) in zip(one, two) { XCTAssertEqual(a.scalars.map(\.bitPattern), b.scalars.map(\.bitPattern)) }
    }

    func testTimeConvolutionMatchesDirectConvolution() {
        // The unfolded-GEMM path against the definition: feature = ReLU(max_p Σ_{k,e} x[p+k, e]·W[f, k·E+e] + b[f]).
        let (B, T, E) = (2, 6, 3)
        let conv = TimeConvolution("conv", inputSize: E, widths: [ConvolutionWidth(width: 3, filters: 5)],
                                   weightInit: .normal(std: 0.5), using: &rng)
        let x = random([B, T, E])
        let features = conv.forward(x).features
        let W = conv.filters[0].weight.value, bias = conv.filters[0].bias.value
        for b in 0..<B {
            for f in 0..<5 {
                var best = -Float.infinity
                for p in 0...(T - 3) {
                    var s = bias[f]
                    for k in 0..<3 { for e in 0..<E { s += x[b, p + k, e] * W[f, k * E + e] } }
                    best = max(best, s)
                }
                XCTAssertEqual(features[b, f], max(best, 0), accuracy: 1e-5)
            }
        }
    }

    func testHighway() {
        let layer = Highway("hw", size: 6, gateBias: 0.3, weightInit: .normal(std: 0.5), using: &rng)
        let x = Parameter("x", random([4, 6]))
        let w = random([4, 6])
        layer.zeroGrad()
        let dx = layer.backward(w, cache: layer.forward(x.value).cache)
        // ReLU has a kink at 0; a small step keeps each pre-activation on its side.
        let options = GradientCheckOptions(epsilon: 2e-3, relativeTolerance: 2e-2, absoluteTolerance: 5e-3)
        assertGradientsMatch([(x, dx)] + layer.parameters.map { ($0, $0.grad) }, options: options) {
            weightedSum(layer.forward(x.value).y, w)
        }
    }

    /// The element-wise passes split over two threads (on [40, 1000], above the split's grain) give the bits of one
    /// thread, and the forward pass is the formula's.
    func testHighwayIsTheSameOnTwoThreads() {
        let layer = Highway("hw", size: 1000, gateBias: 0.3, weightInit: .normal(std: 0.05), using: &rng)
        let x = random([40, 1000]), dy = random([40, 1000])
        func run(threads: Int) -> [Tensor] {
            let saved = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = saved }
            layer.zeroGrad()
            let (y, cache) = layer.forward(x)
            return [y, cache.h, cache.t, layer.backward(dy, cache: cache)] + layer.parameters.map(\.grad)
        }
        let one = run(threads: 1), two = run(threads: 2)
        for (a, b) in zip(one, two) { XCTAssertEqual(a.scalars.map(\.bitPattern), b.scalars.map(\.bitPattern)) }
        let (h, t) = (matmul(x, layer.transform.weight.value), matmul(x, layer.gate.weight.value))
        for i in stride(from: 0, to: x.count, by: 997) {
            let hv = max(h.scalars[i] + layer.transform.bias!.value.scalars[i % 1000], 0)
            let tv = 1 / (1 + expf(-(t.scalars[i] + layer.gate.bias!.value.scalars[i % 1000])))
            XCTAssertEqual(two[0].scalars[i], tv * hv + (1 - tv) * x.scalars[i], accuracy: 1e-5)
        }
    }

    func testDropoutUsesItsMaskInBothPasses() {
        let dropout = Dropout(keepProbability: 0.75)
        let x = Parameter("x", random([8, 10]))
        let w = random([8, 10])
        var maskRNG = SeededGenerator(seed: 5)
        let (y, mask) = dropout.forward(x.value, training: true, using: &maskRNG)
        let dx = dropout.backward(w, mask: mask)
        let kept = mask!.scalars.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / 0.75) < 1e-6 })
        XCTAssertGreaterThan(kept.count, 40)  // ≈ 60 of 80 expected
        XCTAssertLessThan(kept.count, 80)
        for i in 0..<y.count where mask!.scalars[i] == 0 { XCTAssertEqual(y.scalars[i], 0) }
        assertGradientsMatch([(x, dx)]) {
            var same = SeededGenerator(seed: 5)
            return weightedSum(dropout.forward(x.value, training: true, using: &same).y, w)
        }
        // Not training: the identity.
        XCTAssertEqual(dropout.forward(x.value, training: false, using: &maskRNG).y, x.value)
    }

    func testLayerNorm() {
        let layer = LayerNorm("ln", size: 7)
        layer.gamma.value = random([7])
        layer.beta.value = random([7])
        let x = Parameter("x", random([5, 7], std: 2))
        let w = random([5, 7])
        layer.zeroGrad()
        let dx = layer.backward(w, cache: layer.forward(x.value).cache)
        assertGradientsMatch([(x, dx), (layer.gamma, layer.gamma.grad), (layer.beta, layer.beta.grad)]) {
            weightedSum(layer.forward(x.value).y, w)
        }
    }

    func testCausalSelfAttention() {
        let (B, T, C) = (2, 5, 8)
        let layer = CausalSelfAttention("attn", size: C, heads: 2, weightInit: .normal(std: 0.4), using: &rng)
        let x = Parameter("x", random([B, T, C]))
        let w = random([B, T, C])
        layer.zeroGrad()
        let dx = layer.backward(w, cache: layer.forward(x.value).cache)
        assertGradientsMatch([(x, dx)] + layer.parameters.map { ($0, $0.grad) }) {
            weightedSum(layer.forward(x.value).y, w)
        }
    }

    func testAttentionIsCausal() {
        // Changing a later step must not change any earlier output.
        let layer = CausalSelfAttention("attn", size: 4, heads: 2, weightInit: .normal(std: 0.5), using: &rng)
        var x = random([1, 6, 4])
        let before = layer.forward(x).y
        for e in 0..<4 { x[0, 4, e] += 1 }
        let after = layer.forward(x).y
        XCTAssertEqual(Array(before.scalars[0..<16]), Array(after.scalars[0..<16]))
        XCTAssertNotEqual(Array(before.scalars[16..<20]), Array(after.scalars[16..<20]))
    }

    func testMLP() {
        let layer = MLP("mlp", size: 4, weightInit: .normal(std: 0.5), using: &rng)
        let x = Parameter("x", random([3, 4]))
        let w = random([3, 4])
        layer.zeroGrad()
        let dx = layer.backward(w, cache: layer.forward(x.value).cache)
        assertGradientsMatch([(x, dx)] + layer.parameters.map { ($0, $0.grad) }) {
            weightedSum(layer.forward(x.value).y, w)
        }
    }
}
