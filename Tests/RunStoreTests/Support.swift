import Foundation
import GRDB
import RunStore
import TestSupport
import XCTest

@testable import RunStore

// Shared fixtures: a run description, temporary directories, and the built executables run as child processes.

func makeRun(
    name: String = "seqgan-lstm", algorithm: String = "seqgan", corpus: String = "synthetic-oracle",
    config: String = #"{"g_lr": 0.01, "d_lr": 0.0001, "batch_size": 64, "generator": {"hidden": 32, "embedding": 32}}"#,
    staleAfter: TimeInterval = 60
) -> NewRun {
    NewRun(
        name: name, algorithm: algorithm, generator: "lstm", discriminator: "cnn", corpus: corpus,
        corpusSHA256: String(repeating: "ab", count: 32), vocabulary: "vocab/oracle-5000.txt", seed: 42,
        configJSON: config,
        environment: RunEnvironment(codeCommit: "0123abc", codeDirty: false, host: "test-host", toolchain: "test"),
        staleAfter: staleAfter)
}

let evaluationProtocol = EvaluationProtocol(
    sampleCount: 1000, referenceSet: "test", referenceCount: 10_000, tokenizer: "whitespace", smoothing: "none",
    seed: 1, temperature: 1.0)

/// A store file as an older build left it: migrated up to `migration`, with one finished run 'old' (id 1) and what
/// `sql` then inserts.
func legacyStore(_ test: XCTestCase, file: String, upTo migration: String, _ sql: String) throws -> String {
    let path = try temporaryDirectory(test).appendingPathComponent(file).path
    let queue = try DatabaseQueue(path: path)
    try RunDatabase.migrator.migrate(queue, upTo: migration)
    try queue.write { db in
        try db.execute(sql: """
            INSERT INTO runs (name, algorithm, generator, corpus, seed, started_at, heartbeat_at, stale_after,
                              config_json, status)
            VALUES ('old', 'mle', 'lstm', 'coco', 1, '2026-01-01', '2026-01-01', 60, '{}', 'finished');
            """ + sql)
    }
    return path
}
