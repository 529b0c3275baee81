import Foundation
import NumericCore

/// Times a workload: warm-up repetitions, then timed ones; reports median, min and max.
public struct BenchmarkRunner {
    public let repeats: Int
    public let warmup: Int
    public let threads: Int

    public init(repeats: Int, warmup: Int, threads: Int) {
        self.repeats = repeats
        self.warmup = warmup
        self.threads = threads
    }

    /// Runs `body` and returns its timings. `body` does exactly one repetition of the measured work.
    public func measure(
        phase: String, name: String, flops: Double? = nil, work: (count: Double, unit: String)? = nil,
        _ body: () -> Void
    ) -> BenchmarkResult {
        for _ in 0..<warmup { body() }
        var times: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return BenchmarkResult(
            phase: phase, name: name, threads: threads, times: times, flops: flops, work: work,
            peakMemoryMiB: peakResidentMiB())
    }
}

public struct BenchmarkResult {
    public let phase: String
    public let name: String
    public let threads: Int
    public let times: [Double]
    /// Floating-point operations of one repetition (multiply and add counted separately).
    public let flops: Double?
    /// Items processed per repetition, for a throughput figure (e.g. tokens).
    public let work: (count: Double, unit: String)?
    public let peakMemoryMiB: Double?
    /// The discriminator's precision ("fp32", "bf16") in the phases that run one; nil elsewhere.
    public var precision: String?
    /// The generator's precision in the phases that run one; nil elsewhere.
    public var generatorPrecision: String?

    public var median: Double {
        let s = times.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
    public var gflops: Double? { flops.map { $0 / median / 1e9 } }
    public var throughput: Double? { work.map { $0.count / median } }

    public var jsonLine: String {
        var fields: [String] = [
            "\"phase\": \"\(phase)\"", "\"name\": \"\(name)\"", "\"threads\": \(threads)",
            "\"repeats\": \(times.count)", "\"median_s\": \(fmt(median))",
            "\"min_s\": \(fmt(times.min()!))", "\"max_s\": \(fmt(times.max()!))",
            "\"times_s\": [\(times.map(fmt).joined(separator: ", "))]",
        ]
        if let flops { fields.append("\"flops\": \(fmt(flops))") }
        if let gflops { fields.append("\"gflops\": \(fmt(gflops))") }
        if let work, let throughput {
            fields.append("\"\(work.unit)\": \(fmt(work.count))")
            fields.append("\"\(work.unit)_per_s\": \(fmt(throughput))")
        }
        if let peakMemoryMiB { fields.append("\"peak_rss_mib\": \(fmt(peakMemoryMiB))") }
        if let precision { fields.append("\"precision\": \"\(precision)\"") }
        if let generatorPrecision { fields.append("\"generator_precision\": \"\(generatorPrecision)\"") }
        // The bf16 products' kernel, the process's choice (AMX where granted, or TEXTGAN_BF16_KERNEL).
        if precision == Precision.bf16.rawValue || generatorPrecision == Precision.bf16.rawValue { fields.append("\"bf16_kernel\": \"\(BF16Matmul.kernel.rawValue)\"") }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    public static func table(_ results: [BenchmarkResult]) -> String {
        var lines = [pad("measurement", 34) + pad("median", 11) + pad("min", 11) + pad("max", 11) + pad("GFLOP/s", 9) + "throughput"]
        for r in results {
            let tp = r.throughput.map { String(format: "%.3g %@/s", $0, r.work!.unit) } ?? ""
            lines.append(
                pad(r.name, 34) + pad(ms(r.median), 11) + pad(ms(r.times.min()!), 11) + pad(ms(r.times.max()!), 11)
                    + pad(r.gflops.map { String(format: "%.1f", $0) } ?? "", 9) + tp)
        }
        if let peak = results.compactMap(\.peakMemoryMiB).max() { lines.append(String(format: "peak RSS %.0f MiB", peak)) }
        return lines.joined(separator: "\n")
    }

    private static func ms(_ s: Double) -> String { String(format: "%.3f ms", s * 1e3) }
    private static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    private func fmt(_ v: Double) -> String { String(format: "%.6g", v) }
}

/// Peak resident set size of this process (VmHWM from /proc), in MiB; nil where /proc is unavailable.
public func peakResidentMiB() -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kib = line.split(separator: " ").compactMap { Double($0) }.first
        return kib.map { $0 / 1024 }
    }
    return nil
}
