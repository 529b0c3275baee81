import Foundation
import RunStore

/// A small history of five runs, on disk, for the SQL and documentation tests:
///
/// | id | algorithm | corpus | mle.learningRate | bleu4 scores       | nll_oracle        |
/// |----|-----------|--------|-------|--------------------|-------------------|
/// | 1  | seqgan    | coco   | 0.01  | 0.21, 0.30, 0.28   | 10.0, 9.1, 8.7    |
/// | 2  | leakgan   | coco   | 0.001 | 0.35               | —                 |
/// | 3  | mle       | coco   | 0.01  | 0.25               | —                 |
/// | 4  | seqgan    | emnlp  | 0.02  | 0.50               | —                 |
/// | 5  | seqgan    | coco   | 0.005 | 0.40               | —                 |
func makeFixture(at path: String) throws {
    let database = try RunDatabase(path: path)
    let specs: [(String, String, Double, [Double])] = [
        ("seqgan", "coco", 0.01, [0.21, 0.30, 0.28]),
        ("leakgan", "coco", 0.001, [0.35]),
        ("mle", "coco", 0.01, [0.25]),
        ("seqgan", "emnlp", 0.02, [0.50]),
        ("seqgan", "coco", 0.005, [0.40]),
    ]
    for (index, (algorithm, corpus, gLR, bleu)) in specs.enumerated() {
        let id = try database.startRun(makeRun(
            name: "\(algorithm)-\(index + 1)", algorithm: algorithm, corpus: corpus,
            config: #"{"mle": {"learningRate": \#(gLR)}, "d_lr": 0.0001, "generator": {"hidden": 32}}"#))
        for (i, score) in bleu.enumerated() {
            try database.recordEvaluation(run: id, step: i * 100, values: ["bleu4": score], protocol: evaluationProtocol)
        }
        try database.recordSamples(run: id, step: 0, temperature: 1, texts: ["a, \"quoted\" sample"])
        try database.finish(run: id, status: .finished)
    }
    for (step, nll) in [(0, 10.0), (100, 9.1), (200, 8.7)] {
        try database.recordEvaluation(run: 1, step: step, values: ["nll_oracle": nll], protocol: evaluationProtocol)
    }
}
