import Digest
import Foundation
import GRDB
import RunStore
import XCTest

// What the end-to-end train tests share: the tiny corpus and config they train on, and a run's recorded history in
// a form two runs can be compared by.

enum TinyRun {
    /// 240 "the <adjective> <animal> <verb> ." sentences from a fixed LCG: a corpus with structure, trained in about
    /// a second by the debug binary.
    static func writeCorpus(to url: URL) throws {
        var rng = UInt64(7)
        func next(_ n: Int) -> Int {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Int((rng >> 33) % UInt64(n))
        }
        let adjectives = ["small", "big", "red", "quiet"], animals = ["cat", "dog", "bird", "fox"]
        let verbs = ["runs", "sleeps", "sings", "jumps"]
        let lines = (0..<240).map { _ in
            "the \(adjectives[next(4)]) \(animals[next(4)]) \(verbs[next(4)]) ."
        }
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
    }

    /// SeqGAN at toy sizes: 3 MLE epochs, 2 discriminator rounds, 2 adversarial steps (`--adversarial-steps` for more).
    static let seqganConfig = """
        {"generator": {"embeddingSize": 8, "hiddenSize": 16},
         "discriminator": {"embeddingSize": 8, "widths": [{"width": 2, "filters": 8}, {"width": 3, "filters": 8}]},
         "mle": {"epochs": 3, "batchSize": 16, "logEvery": 5, "evaluateEvery": 1},
         "seqgan": {"discriminatorPretrainRounds": 2, "discriminatorPretrainEpochs": 1, "adversarialSteps": 2,
                    "discriminatorRounds": 1, "discriminatorEpochs": 1, "rollouts": 2, "negatives": 64,
                    "generatorBatchSize": 16, "evaluateEvery": 1},
         "evaluation": {"bleuSamples": 200}}
        """

    /// `--algo gumbel` with the LSTM at toy sizes: 2 MLE epochs, then 4 Gumbel-softmax adversarial steps.
    static let gumbelConfig = """
        {"generator": {"embeddingSize": 8, "hiddenSize": 8},
         "discriminator": {"embeddingSize": 8, "widths": [{"width": 2, "filters": 8}]},
         "mle": {"epochs": 2, "batchSize": 16, "logEvery": 5, "evaluateEvery": 2},
         "gumbel": {"adversarialSteps": 4, "discriminatorSteps": 2, "batchSize": 8, "evaluateEvery": 2,
                    "maximumInverseTemperature": 10, "annealing": "lin"},
         "evaluation": {"bleuSamples": 20}}
        """
}

/// A run's recorded history, one line per row, in recording order: every metric row (phase, run step, phase step,
/// key, kind, value's bits; not throughputs), every evaluation, every sample and every checkpoint row (the file's name and hash).
/// Two runs of one config, however often one was stopped or killed and resumed, must give the same lines.
struct RunHistory: Equatable {
    var metrics: [String]
    var evaluations: [String]
    var samples: [String]
    var checkpoints: [String]

    init(of run: Int64, in store: RunDatabase) throws {
        func rows(_ sql: String) throws -> [String] {
            try store.writer.read { db in
                try Row.fetchAll(db, sql: sql, arguments: [run]).map { row in
                    row.databaseValues.map { value -> String in
                        if case .double(let d) = value.storage { return "\(d.bitPattern)" }
                        return value.description
                    }.joined(separator: " ")
                }
            }
        }
        // Throughputs (`tokens_per_s`) are timings, the one thing two runs never share.
        metrics = try rows(#"""
            SELECT phase, step, phase_step, key, kind, value FROM metrics
            WHERE run_id = ? AND key NOT LIKE '%\_per\_s' ESCAPE '\' ORDER BY id
            """#)
        evaluations = try rows("""
            SELECT step, phase_step, metric, kind, value, sample_count, seed, temperature FROM evaluations
            WHERE run_id = ? ORDER BY id
            """)
        samples = try rows("SELECT step, phase_step, temperature, text FROM samples WHERE run_id = ? ORDER BY id")
        checkpoints = try rows("""
            SELECT step, replace(path, rtrim(path, replace(path, '/', '')), ''), sha256, bytes FROM checkpoints
            WHERE run_id = ? ORDER BY id
            """)
    }

    /// The first line where two histories differ, for a failure message.
    func firstDifference(from other: RunHistory) -> String {
        for (name, a, b) in [("metrics", metrics, other.metrics), ("evaluations", evaluations, other.evaluations),
                             ("samples", samples, other.samples), ("checkpoints", checkpoints, other.checkpoints)] where a != b {
            let i = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
            return "\(name) [\(a.count) vs \(b.count) rows] differ at row \(i): "
                + "\(i < a.count ? a[i] : "—") vs \(i < b.count ? b[i] : "—")"
        }
        return "no difference"
    }
}
