// swift-tools-version: 6.0
// textgan: a research workbench for text-generation GANs.
//
// Module dependencies point one way:
//   CBLAS, CKernels (C) ← NumericCore ← Layers ← Models ← Training ← Workbench ← textgan (the CLI)
// Text processing stands beside the ML core:
//   CICU (C shim over the system ICU) ← TextPipeline → Digest
// Storage stands beside the ML core: RunStore (GRDB, SQLite) ← Workbench; training never imports it.
// Workbench is the application: run configs and their layering, corpora as training data, the evaluation suite,
// runs rebuilt from checkpoints, the algorithm and model registry, and the benchmarks; textgan is its commands.
// The REPL's line editing: CEditLine (C shim over the system libedit) ← textgan.
// Metrics and Plot (SVG charts) stand beside them and depend on nothing in the project; Workbench selects what to plot. Digest (SHA-256, SplitMix64) is a leaf that
// NumericCore and TextPipeline both use.
import PackageDescription

let package = Package(
    name: "textgan",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "textgan", targets: ["textgan"]),
        .library(name: "NumericCore", targets: ["NumericCore"]),
        .library(name: "Layers", targets: ["Layers"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Workbench", targets: ["Workbench"]),
        .library(name: "TextPipeline", targets: ["TextPipeline"]),
        .library(name: "Digest", targets: ["Digest"]),
        .library(name: "RunStore", targets: ["RunStore"]),
        .library(name: "Metrics", targets: ["Metrics"]),
        .library(name: "Plot", targets: ["Plot"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // 7.10.0 links against the system SQLite (Debian's libsqlite3-dev).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // OpenBLAS's CBLAS interface, from Debian's libopenblas-dev.
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Vectorised elementwise kernels (exp, sigmoid, tanh, max, axpy), compiled per CPU family.
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]
        ),
        // libedit's readline-compatible API (line editing, history), from Debian's libedit-dev, with the REPL's
        // SIGINT flag and UTF-8 read function.
        .systemLibrary(
            name: "CEditLine",
            path: "Sources/CEditLine",
            providers: [.apt(["libedit-dev"])]
        ),
        // Tensors, BLAS, elementwise and fused kernels, RNG, optimizers, safetensors and .npy files.
        .target(
            name: "NumericCore",
            dependencies: ["CBLAS", "CKernels", "Digest"]
        ),
        // Layers with forward and backward side by side.
        .target(
            name: "Layers",
            dependencies: ["NumericCore", "CKernels"]
        ),
        // Model families, one file each: the LSTM generator (and the SeqGAN oracle built from it).
        .target(
            name: "Models",
            dependencies: ["Layers", "NumericCore"]
        ),
        // Training algorithms, one readable loop each; they report through events and never import storage.
        .target(
            name: "Training",
            dependencies: ["Models", "Layers", "NumericCore"]
        ),
        // ICU word segmentation, normalization and case mapping behind plain C types. ICU's headers stay inside
        // the .c file: Foundation on Linux carries its own ICU whose C types would clash with the system's.
        .target(
            name: "CICU",
            linkerSettings: [.linkedLibrary("icuuc"), .linkedLibrary("icudata")]
        ),
        // Fully specified hash functions: a streaming SHA-256 (corpora, checkpoints, the run store) and SplitMix64
        // (seeding, corpus splits, seeded test data). A leaf: every module may use it.
        .target(name: "Digest"),
        // Tokenizer, vocabularies and corpora. Does not depend on the ML core.
        .target(
            name: "TextPipeline",
            dependencies: ["CICU", "Digest"]
        ),
        // The run store: runs, params, metrics, evaluations, samples and checkpoints in one SQLite file.
        // GRDBSQLite is SQLite's C API as GRDB links it (used by the read-only query runner).
        .target(
            name: "RunStore",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // The application: run config and layering, training data, evaluation, loaded runs, the algorithm registry,
        // the training session that records a run, benchmarks.
        .target(
            name: "Workbench",
            dependencies: ["Training", "Models", "Layers", "NumericCore", "TextPipeline", "Metrics", "Digest", "RunStore", "Plot"]
        ),
        // BLEU / Self-BLEU, ROUGE-L, distinct-n and memorisation on token-id sentences; no project dependencies.
        .target(name: "Metrics"),
        // SVG charts built as strings (axes, ticks, legend, shaded ranges); no project dependencies.
        .target(name: "Plot"),
        .executableTarget(
            name: "textgan",
            dependencies: [
                "Workbench",
                "NumericCore",
                "Models",
                "Training",
                "TextPipeline",
                "Digest",
                "RunStore",
                "Metrics",
                "Plot",
                "CEditLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Test support: the numerical gradient checker and shared fixtures.
        .target(
            name: "TestSupport",
            dependencies: ["NumericCore"],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "NumericCoreTests", dependencies: ["NumericCore", "CKernels", "Digest", "TestSupport"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "NumericCore", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "Layers", "NumericCore", "TestSupport"]),
        .testTarget(name: "DigestTests", dependencies: ["Digest"]),
        .testTarget(name: "TextPipelineTests", dependencies: ["TextPipeline", "Digest", "TestSupport"]),
        // A test-only executable that records a run, so RunStoreTests can end it by every exit path.
        .executableTarget(
            name: "runstore-probe",
            dependencies: ["RunStore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tests/RunStoreProbe"
        ),
        .testTarget(name: "RunStoreTests", dependencies: ["RunStore", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["textgan", "Workbench", "Training", "RunStore", "Models", "NumericCore", "Metrics", "TextPipeline", "TestSupport"]),
        .testTarget(name: "WorkbenchTests", dependencies: ["Workbench", "Training", "Models", "Layers", "NumericCore", "RunStore", "TextPipeline", "TestSupport"]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics", "Digest", "TestSupport"]),
        .testTarget(name: "PlotTests", dependencies: ["Plot", "Workbench", "RunStore", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Layers", "NumericCore", "TestSupport"]),
    ]
)
