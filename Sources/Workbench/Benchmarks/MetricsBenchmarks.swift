import Foundation
import Metrics

/// BLEU at the scale of a text-GAN evaluation: BLEU-2..5 of 10,000 COCO sentences (coco/train.txt standing in for
/// generated samples) against the 10,000 COCO test sentences, and Self-BLEU-2..5 of the 10,000 samples, all with
/// smoothing method1 and the `space` tokenizer. Tokenizing is measured apart; each BLEU measurement includes
/// building its n-gram index; ROUGE-L of the same pairs is measured too. The target for the two together is under 10 s on 2 cores.
public enum MetricsBenchmarks {
    public static func run(_ runner: BenchmarkRunner, dataDirectory: String, quiet: Bool) -> [BenchmarkResult] {
        let coco = URL(fileURLWithPath: dataDirectory).appendingPathComponent("coco")
        guard let samplesText = try? String(contentsOf: coco.appendingPathComponent("train.txt"), encoding: .utf8),
              let referencesText = try? String(contentsOf: coco.appendingPathComponent("test.txt"), encoding: .utf8)
        else {
            print("bench bleu: skipped, \(coco.path)/train.txt and test.txt are absent (see --data)")
            return []
        }
        let sampleLines = samplesText.split(separator: "\n").map(String.init)
        let referenceLines = referencesText.split(separator: "\n").map(String.init)
        let lineCount = Double(sampleLines.count + referenceLines.count)
        let orders = [2, 3, 4, 5]
        let threads = runner.threads

        var samples: [[Int32]] = [], references: [[Int32]] = []
        var results: [BenchmarkResult] = []
        results.append(runner.measure(phase: "bleu", name: "tokenize + ids (space)", work: (lineCount, "lines")) {
            var ids = TokenIDMap()
            references = ids.encode(referenceLines.map(spaceTokenize))
            samples = ids.encode(sampleLines.map(spaceTokenize))
        })

        let scale = "\(samples.count)×\(references.count)"
        var bleuScores: [BLEUScore] = [], selfScores: [BLEUScore] = []
        results.append(runner.measure(phase: "bleu", name: "bleu-2..5 \(scale)", work: (Double(samples.count), "sentences")) {
            bleuScores = bleu(hypotheses: samples, references: references, orders: orders, threads: threads)
        })
        results.append(runner.measure(phase: "bleu", name: "self-bleu-2..5 \(samples.count)", work: (Double(samples.count), "sentences")) {
            selfScores = selfBLEU(samples, orders: orders, threads: threads)
        })
        results.append(runner.measure(phase: "bleu", name: "bleu + self-bleu (target < 10 s)", work: (Double(samples.count), "sentences")) {
            _ = bleu(hypotheses: samples, references: references, orders: orders, threads: threads)
            _ = selfBLEU(samples, orders: orders, threads: threads)
        })
        // ROUGE-L scans every reference per sample (bit-parallel LCS); measured for the evaluation's budget.
        var rouge = Double.nan
        results.append(runner.measure(phase: "bleu", name: "rouge-l \(scale)", work: (Double(samples.count), "sentences")) {
            rouge = rougeL(hypotheses: samples, references: references, threads: threads).meanF
        })
        if !quiet {
            print("ROUGE-L F1 (best reference)      \(String(format: "%.4f", rouge))")
            let show = { (scores: [BLEUScore]) in scores.map { "\($0.order): \(String(format: "%.4f", $0.mean))" }.joined(separator: "  ") }
            print("BLEU (method1, space tokenizer)  \(show(bleuScores))")
            print("Self-BLEU                        \(show(selfScores))")
        }
        return results
    }
}
