import Layers
import NumericCore

/// The numerical core at the SeqGAN reference sizes. Operation counts (documented per measurement) include only
/// the matrix products: 2·m·n·k each. Elementwise work (gates, softmax, pooling) is real time but no counted FLOPs.
public enum CoreBenchmarks {
    public static let (B, T, E, H, V) = (64, 20, 32, 32, 5000)
    /// The SeqGAN discriminator: embedding 64, the paper's widths and filter counts for length 20.
    public static let discriminatorEmbedding = 64
    public static let paperWidths: [ConvolutionWidth] = [
        (1, 100), (2, 200), (3, 200), (4, 200), (5, 200), (6, 100), (7, 100), (8, 100), (9, 100), (10, 100),
        (15, 160), (20, 160),
    ].map { ConvolutionWidth(width: $0.0, filters: $0.1) }

    public static func run(_ runner: BenchmarkRunner) -> [BenchmarkResult] {
        var rng = SeededGenerator(seed: 2017)
        var results: [BenchmarkResult] = []
        let N = B * T

        // MARK: GEMM: a large square product (the hardware ceiling) and the generator's output projection.
        for size in [2048] {
            let a = Tensor(randomNormal: [size, size], using: &rng), b = Tensor(randomNormal: [size, size], using: &rng)
            var c = Tensor(zeros: [size, size])
            results.append(runner.measure(phase: "core", name: "gemm \(size)²", flops: 2 * pow3(size)) {
                matmul(a, b, into: &c)
            })
            // Mixed precision (bf16 operands, fp32 sums), B packed once as a layer's weights would be, then with
            // its packing in every product.
            if BF16Matmul.isAvailable {
                let packed = BF16Matmul.PackedB(b)
                results.append(runner.measure(phase: "core", name: "gemm bf16 \(size)² (B packed)", flops: 2 * pow3(size)) {
                    _ = BF16Matmul.multiply(a, packed)
                })
                results.append(runner.measure(phase: "core", name: "gemm bf16 \(size)² (packing B too)", flops: 2 * pow3(size)) {
                    _ = BF16Matmul.multiply(a, BF16Matmul.PackedB(b))
                })
                // The other kernel on the same packed B: AMX tiles where the CPU grants them (or VDPBF16PS when
                // AMX is the one in use).
                let chosen = BF16Matmul.kernel
                if let other = BF16Matmul.Kernel.allCases.first(where: { $0 != chosen }), BF16Matmul.select(other) {
                    results.append(runner.measure(phase: "core", name: "gemm bf16 \(size)² (B packed, \(other.rawValue))",
                                                  flops: 2 * pow3(size)) {
                        _ = BF16Matmul.multiply(a, packed)
                    })
                    BF16Matmul.kernel = chosen
                }
            }
        }
        let hidden = Tensor(randomNormal: [N, H], using: &rng)
        let projection = Tensor(randomNormal: [H, V], std: 0.1, using: &rng)
        var logits = Tensor(zeros: [N, V])
        let projectionFlops = 2.0 * Double(N * H * V)
        var dW = Tensor(zeros: [H, V])
        var dH = Tensor(zeros: [N, H])
        // With MKL loaded, the products once more on the own kernel alone, for comparison.
        let chosen = GEMMBackend.current
        for backend in chosen == .mkl && GEMMBackend.own == .avx512 ? [chosen, .avx512] : [chosen] {
            GEMMBackend.current = backend
            defer { GEMMBackend.current = chosen }
            let tag = chosen == .mkl ? (backend == .mkl ? " (mkl routing)" : " (own kernel)") : ""
            results.append(runner.measure(phase: "core", name: "logits fwd [1280,32]·[32,5000]" + tag, flops: projectionFlops) {
                matmul(hidden, projection, into: &logits)
            })
            results.append(runner.measure(phase: "core", name: "logits dW [32,1280]·[1280,5000]" + tag, flops: projectionFlops) {
                matmul(hidden, logits, into: &dW, transposeA: true)
            })
            results.append(runner.measure(phase: "core", name: "logits dX [1280,5000]·[5000,32]" + tag, flops: projectionFlops) {
                matmul(logits, projection, into: &dH, transposeB: true)
            })
        }

        // MARK: Fused softmax–cross-entropy with its gradient, over one batch of logits.
        let targets = (0..<N).map { _ in Int32(rng.nextInt(below: V)) }
        var dLogits = Tensor(zeros: [N, V])
        results.append(runner.measure(phase: "core", name: "softmax-xent fwd+bwd [1280,5000]", work: (Double(N * V), "logits")) {
            dLogits.withUnsafeMutableBufferPointer { g in
                _ = softmaxCrossEntropy(logits: logits, targets: targets, gradient: g.baseAddress)
            }
        })

        // MARK: The fused output layer + cross-entropy (`Linear.softmaxCrossEntropy`) at the Transformer's width,
        // in fp32 and, where the CPU has it, bf16 on each kernel: the three products, the softmax and the gradient.
        let output = Linear("output", inputSize: 64, outputSize: V, weightInit: .normal(std: 0.02), using: &rng)
        let wide = Tensor(randomNormal: [N, 64], using: &rng)
        let outputFlops = 3 * 2.0 * Double(N * 64 * V)
        let kernel = BF16Matmul.isAvailable ? BF16Matmul.kernel : nil
        let precisions: [(Precision, BF16Matmul.Kernel?)] = [(.fp32, nil)] + BF16Matmul.availableKernels.map { (.bf16, $0) }
        for (precision, bf16Kernel) in precisions {
            if let bf16Kernel { BF16Matmul.select(bf16Kernel) }
            let tag = bf16Kernel.map { " bf16 (\($0.rawValue))" } ?? " fp32"
            results.append(runner.measure(phase: "core", name: "output+xent fwd+bwd [1280,64]→5000" + tag, flops: outputFlops,
                                          work: (Double(N), "tokens")) {
                output.zeroGrad()
                _ = output.softmaxCrossEntropy(wide, targets: targets, backward: true, precision: precision)
                _ = output.weight.grad  // the weight gradient, had it been left pending
            })
        }
        if let kernel { BF16Matmul.select(kernel) }

        // MARK: LSTM over one batch, forward and backward through time.
        let lstm = LSTM("lstm", inputSize: E, hiddenSize: H, weightInit: .normal(std: 0.1), using: &rng)
        let x = Tensor(randomNormal: [T, B, E], using: &rng)
        let dOut = Tensor(randomNormal: [T, B, H], using: &rng)
        let lstmForwardFlops = 2.0 * Double(T * B) * Double(4 * H) * Double(E + H)
        results.append(runner.measure(phase: "core", name: "lstm fwd (T20 B64 E32 H32)", flops: lstmForwardFlops, work: (Double(N), "tokens")) {
            _ = lstm.forward(x)
        })
        results.append(runner.measure(phase: "core", name: "lstm fwd+bwd", flops: 3 * lstmForwardFlops, work: (Double(N), "tokens")) {
            let (_, _, cache) = lstm.forward(x)
            _ = lstm.backward(dOut, cache: cache)
        })

        // MARK: The discriminator's convolution: 12 widths, 1720 filters, max-over-time, forward and backward.
        let conv = TimeConvolution("conv", inputSize: discriminatorEmbedding, widths: paperWidths, using: &rng)
        let embedded = Tensor(randomNormal: [B, T, discriminatorEmbedding], using: &rng)
        let dFeatures = Tensor(randomNormal: [B, conv.featureCount], using: &rng)
        let convForwardFlops = paperWidths.reduce(0.0) {
            $0 + 2 * Double(B * (T - $1.width + 1)) * Double($1.width * discriminatorEmbedding) * Double($1.filters)
        }
        results.append(runner.measure(phase: "core", name: "conv fwd (12 widths, 1720 filters)", flops: convForwardFlops, work: (Double(B), "sequences")) {
            _ = conv.forward(embedded)
        })
        // The backward pass is sparse (max-over-time routes each filter's gradient to one window): two axpys of
        // w·E per (sequence, filter), i.e. 4·B·F·w·E operations per width.
        let convBackwardFlops = paperWidths.reduce(0.0) { $0 + 4 * Double(B * $1.filters * $1.width * discriminatorEmbedding) }
        results.append(runner.measure(phase: "core", name: "conv fwd+bwd", flops: convForwardFlops + convBackwardFlops, work: (Double(B), "sequences")) {
            let (_, cache) = conv.forward(embedded)
            _ = conv.backward(dFeatures, cache: cache)
        })
        return results
    }

    private static func pow3(_ n: Int) -> Double { Double(n) * Double(n) * Double(n) }
}
