import Foundation
import RunStore
import TestSupport
import XCTest

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
