import ArgumentParser
import Foundation
import Workbench
import NumericCore

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the speed of textgan's kernels and training phases.",
        discussion: """
            Each measurement runs `--warmup` untimed repetitions, then `--repeats` timed ones, and prints the median, \
            minimum and maximum wall time, a throughput and the achieved GFLOP/s from a documented operation count, \
            as a table (--format table, the default), as one JSON line per measurement with every repetition's time \
            (--format json), or as CSV (--format csv).

            Phases:
              core: the numerical core at the SeqGAN sizes (batch 64, embedding 32, hidden 32, vocabulary 5000, \
            length 20): the big GEMMs, LSTM forward+backward, fused softmax-cross-entropy (alone, and with the \
            output layer at width 64 in fp32 and bf16), and the discriminator's \
            12-width convolution forward+backward.
              mle, gen, rollout, dis, adv, nll: the SeqGAN synthetic setup's phases with the sizes, data and \
            schedule of the PyTorch reference (../shared/bench/torch_seqgan.py): one MLE epoch (156 batches of 64), \
            generating 10,000 sequences, rollout rewards for one batch (16 rollouts), one discriminator epoch \
            (312 batches), one paper adversarial epoch, NLL-oracle of 10,000 samples.
              tmle, tgen, trollout: the same with the Transformer generator of ../shared/bench/torch_textgans.py \
            (2 layers, 4 heads, width 64, MLP 256): one MLE epoch (Adam 1e-3), 10,000 samples with the key/value \
            cache, rollout rewards for one batch (16 rollouts, the token CNN scoring).
              gumbel, tgumbel: one RelGAN-style iteration (1 generator step + 5 discriminator steps at β = 10, RSGAN) \
            with the LSTM or the Transformer generator, as torch_textgans.py --phase gumbel --generator lstm|transformer.
              textgan: one TextGAN iteration (1 generator step + 1 discriminator step: MMD² feature matching through \
            the soft-argmax decoding, L = 1000, z of 32), as torch_textgans.py --phase textgan.
              gumbelgp: the LSTM's iteration with WGAN-GP instead of RSGAN (each D step adds the gradient penalty on \
            interpolates: a third D pass and its double backward).
              bleu: BLEU-2..5 of the 10,000 COCO train sentences against the 10,000 COCO test sentences and \
            Self-BLEU-2..5 of the 10,000 (nltk method1, the text-GAN convention), read from --data.

            OpenBLAS reads OPENBLAS_CORETYPE when the process starts; the kernel it chose is printed with the \
            results. MKL, when it loads (TEXTGAN_MKL, else ~/venvs/mkl/lib; TEXTGAN_GEMM=own keeps it out), takes \
            the products where it is faster; core then also measures its GEMMs on the own kernel. The bf16 products \
            run on AMX tiles where the CPU grants them, else on VDPBF16PS (TEXTGAN_BF16_KERNEL=vdpbf16ps|amx \
            chooses); core measures the bf16 GEMM on both.
            """
    )

    enum Phase: String, ExpressibleByArgument, CaseIterable {
        case core
        case bleu
        case mle, gen, rollout, dis, adv, nll
        case tmle, tgen, trollout
        case gumbel, tgumbel, gumbelgp
        case textgan
    }

    @Argument(help: "Phases to run: \(Phase.allCases.map(\.rawValue).joined(separator: ", ")).")
    var phases: [Phase] = [.core]

    @Option(help: "Threads for textgan's parallel loops and products (and for OpenBLAS).")
    var threads: Int = 2

    @Option(help: "Timed repetitions per measurement.")
    var repeats: Int = 5

    @Option(help: "Untimed repetitions before timing.")
    var warmup: Int = 1

    @Option(help: "The benchmark data folder (holding coco/), for the bleu phase.")
    var data: String = "../shared/data"

    @Option(help: ArgumentHelp("The discriminator's precision in the synthetic phases (dis, rollout, adv, gumbel, …): fp32, or bf16 operands with fp32 sums (needs AVX512_BF16).",
                               valueName: "fp32|bf16"))
    var precision: Precision = .fp32

    @Option(name: .customLong("generator-precision"),
            help: ArgumentHelp("The generators' precision (generator.precision: their vocabulary products in training and sampling) in every synthetic phase but dis and textgan: fp32, or bf16 operands with fp32 sums (needs AVX512_BF16).",
                               valueName: "fp32|bf16"))
    var generatorPrecision: Precision = .fp32

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be from 1 to 1024, not \(threads)") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        if let reason = precision.unsupportedReason() { throw ValidationError("--precision \(precision.rawValue): \(reason)") }
        if let reason = generatorPrecision.unsupportedReason() {
            throw ValidationError("--generator-precision \(generatorPrecision.rawValue): \(reason)")
        }
    }

    func run() throws {
        BLAS.setThreads(threads)
        let runner = BenchmarkRunner(repeats: repeats, warmup: warmup, threads: threads)
        let format = output.chosen
        let quiet = format != .table
        if !quiet {
            print("textgan bench — \(threads) thread(s), \(warmup) warm-up + \(repeats) timed repetitions")
            print("CPU: \(CPUFeatures.brand ?? "unknown") — \(CPUFeatures.current)")
            print("kernels: fp32 gemm \(GEMMBackend.current.summary); bf16 gemm \(BF16Matmul.summary)")
            print("multiply-adds per core: " + (MultiplyAddRates.measured?.description ?? "not measured (no AVX-512)"))
            // Asked only when in use: TEXTGAN_GEMM=own or openblas leaves MKL unloaded.
            print("precision: discriminator products \(precision.rawValue), generator products \(generatorPrecision.rawValue)"
                  + (precision == .bf16 || generatorPrecision == .bf16 ? " (bf16: bf16 operands, fp32 sums)" : ""))
            print("MKL: " + (GEMMBackend.detected == .mkl ? MKL.version ?? "?"
                             : "not used (" + (ProcessInfo.processInfo.environment["TEXTGAN_GEMM"].flatMap { $0 == "mkl" ? nil : "TEXTGAN_GEMM=\($0)" }
                                               ?? MKL.absence ?? "?") + ")"))
            print("OpenBLAS: \(BLAS.configuration)")
            print("OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
            if let warning = (precision == .bf16 ? precision : generatorPrecision).slowdownWarning() { print(warning) }
        }
        var results: [BenchmarkResult] = []
        if phases.contains(.core) { results += CoreBenchmarks.run(runner) }
        if phases.contains(.bleu) { results += MetricsBenchmarks.run(runner, dataDirectory: data, quiet: quiet) }
        // The synthetic-setup phases share one oracle, its data and the models.
        let synthetic = phases.compactMap { PhaseBenchmarks.Phase(rawValue: $0.rawValue) }
        if !synthetic.isEmpty { results += PhaseBenchmarks.run(synthetic, runner, precision: precision,
                                                                          generatorPrecision: generatorPrecision) }
        switch format {
        case .table: print(BenchmarkResult.table(results))
        case .json: for r in results { print(r.jsonLine) }
        case .csv:
            let rows = results.map { r -> [JSONValue] in
                [.string(r.phase), .string(r.name), JSONValue(r.threads), JSONValue(r.times.count), .number(r.median),
                 .number(r.times.min()!), .number(r.times.max()!), JSONValue(r.flops), JSONValue(r.gflops),
                 JSONValue(r.throughput), JSONValue(r.work?.unit), JSONValue(r.peakMemoryMiB), JSONValue(r.precision),
                 JSONValue(r.generatorPrecision)]
            }
            print(DataTable(columns: ["phase", "name", "threads", "repeats", "median_s", "min_s", "max_s", "flops",
                                      "gflops", "throughput_per_s", "unit", "peak_rss_mib", "precision",
                                      "generator_precision"], rows: rows).csv(),
                  terminator: "")
        }
    }
}
