import Foundation
import GRDB
import RunStore
import TestSupport
import Workbench
import XCTest

/// Fails for every metric key a store holds (in `metrics` or `evaluations`) that `MetricCatalog` does not describe:
/// docs/reference.md, generated from the catalog, would then leave it out. Called by the end-to-end tests of each
/// algorithm and command that records metrics.
func assertEveryRecordedMetricIsCatalogued(_ database: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let keys = try RunDatabase(path: database).writer.read { db in
        try String.fetchAll(db, sql: "SELECT key FROM metrics UNION SELECT metric FROM evaluations")
    }
    XCTAssertFalse(keys.isEmpty, "nothing recorded in \(database)", file: file, line: line)
    for key in keys {
        XCTAssertNotNil(MetricCatalog.entry(for: key),
                        "\(key) is recorded but not in MetricCatalog (Sources/Workbench/MetricCatalog.swift)", file: file, line: line)
    }
}

/// The algorithms whose metrics no other end-to-end test records: TextGAN (with its autoencoder pretraining), and MLE
/// with a learning-rate schedule.
final class MetricCatalogCoverageTests: XCTestCase {
    func testTextGANAndScheduledMLEMetricsAreCatalogued() throws {
        let directory = try temporaryDirectory(self)
        let corpus = directory.appendingPathComponent("tiny.txt")
        try TinyRun.writeCorpus(to: corpus)
        let database = directory.appendingPathComponent("runs/textgan.sqlite").path
        let configs = [
            ("textgan", #"""
                {"generator": {"embeddingSize": 8, "hiddenSize": 8, "latentSize": 4},
                 "discriminator": {"embeddingSize": 8, "widths": [{"width": 2, "filters": 8}]},
                 "mle": {"epochs": 1, "batchSize": 16, "logEvery": 5},
                 "textgan": {"discriminatorPretrainRounds": 1, "adversarialSteps": 2, "batchSize": 8, "evaluateEvery": 1,
                             "reconstructionHidden": 8},
                 "evaluation": {"bleuSamples": 20}}
                """#),
            ("mle", #"{"generator": {"embeddingSize": 8, "hiddenSize": 8}, "mle": {"epochs": 1, "batchSize": 16, "logEvery": 2, "warmupSteps": 3, "schedule": "cosine"}, "evaluation": {"bleuSamples": 20}}"#),
        ]
        for (algorithm, json) in configs {
            let config = directory.appendingPathComponent("\(algorithm).json")
            try json.write(to: config, atomically: true, encoding: .utf8)
            let result = try runProcess("textgan", ["train", corpus.path, "--algo", algorithm, "--config", config.path,
                                                    "--db", database, "--root", packageRoot.path, "--min-examples", "16"])
            XCTAssertEqual(result.status, 0, result.stderr + result.stdout.suffix(1000))
        }
        let keys = try RunDatabase(path: database).writer.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT key FROM metrics") }
        XCTAssertTrue(Set(keys).isSuperset(of: ["d_bce", "d_feature_distance", "d_reconstruction", "g_loss", "learning_rate",
                                                "latent_mmd", "reconstruction_nll_test"]), "\(keys)")
        try assertEveryRecordedMetricIsCatalogued(database)
    }
}
