import Digest
import Foundation
import Metrics
import Models
import NumericCore
import struct RunStore.EvaluationProtocol
import class RunStore.RunDatabase
import TextPipeline
import Training

// A generated-text detector (`textgan detect train`, or `textgan train --algo detect`): the run's discriminator,
// trained to tell the corpus's real sentences from sentences sampled from other runs' generators.
//
//   1. sample `samplesPerRun` sequences from each run in `detect.against` (any generator kind, through its role),
//      each run from its own seed; hold out `heldOutFraction` of each run's samples;
//   2. as many real sequences as generated ones on each side: training ones from the corpus's training split, held-out
//      ones from its test split (from the rest of the training split when there is none);
//   3. train D (the cross-entropy GAN loss plus D's own penalty) for `epochs` epochs; after each, score the
//      held-out sets with P(generated) = 1 − D(real) and record accuracy, roc_auc and tpr_at_1pct_fpr
//      (Metrics/Detection.swift), with a checkpoint of D (latest, and best by roc_auc).
// The run's generator section is not trained and not stored: a detector run holds a discriminator only.

// MARK: - Config

public struct DetectConfig: ConfigSection {
    public static let key = "detect"

    /// The runs whose generators' samples are the "generated" class, each checkpoint named with its SHA-256.
    public var against: [InitSource] = []
    /// Sentences sampled from each run in `against` (and as many real ones), held-out share included.
    public var samplesPerRun = 5_000
    /// The share of each run's samples (and as many real sentences) held out for the metrics.
    public var heldOutFraction = 0.2
    /// The temperature those samples are drawn at.
    public var temperature = 1.0
    /// Epochs of the detector's training over its training split.
    public var epochs = 5
    /// Sentences per training batch (half real, half generated).
    public var batchSize = 64
    /// The detector's Adam learning rate.
    public var learningRate: Float = 1e-4

    public init(preset: Preset?) {
        if preset == .quick {
            samplesPerRun = 1_000
            epochs = 2
        }
    }

    public func validate() throws {
        let check = ConfigCheck(Self.key)
        try check.int("samplesPerRun", samplesPerRun, 10...10_000_000)
        try check.number("heldOutFraction", Float(heldOutFraction), 0...1, open: true)
        try check.number("temperature", Float(temperature), 0...100, open: true)
        try check.int("epochs", epochs, 1...100_000)
        try check.int("batchSize", batchSize, 1...65_536)
        try check.number("learningRate", learningRate, 0...100, open: true)
    }

    /// Generated sequences per run held out, and trained on.
    public var heldOutPerRun: Int { max(1, Int((Double(samplesPerRun) * heldOutFraction).rounded())) }
    public var trainPerRun: Int { samplesPerRun - heldOutPerRun }

    /// Refuses a detector with no runs to detect, or with fewer real sentences than generated ones to train on.
    public func fit(to data: TrainingData) throws {
        guard !against.isEmpty else {
            throw WorkbenchError("detect.against is empty: a detector needs at least one run to detect "
                + "(`textgan detect train <corpus> --against <run>`)")
        }
        let needed = trainPerRun * against.count
        let available = data.test == nil ? data.train.count - heldOutPerRun * against.count : data.train.count
        guard trainPerRun > 0, available >= needed else {
            throw WorkbenchError("corpus \(data.corpus) has \(available) real sentences to train a detector on, fewer than "
                + "the \(needed) generated ones (detect.samplesPerRun × runs × (1 − heldOutFraction)); sample fewer")
        }
    }
}

/// Where a detector's training is: epochs done, its random stream, the seed its samples came from, the best AUC.
public struct DetectState: Codable, Sendable, Equatable {
    public var epoch = 0
    public var rng: SeededGenerator
    public var samplingSeed: UInt64
    public var bestAUC: Double?

    public init(seed: UInt64) {
        var root = SeededGenerator(seed: seed)
        samplingSeed = root.next()
        rng = root.fork()
    }
}

// MARK: - The data

/// The real and generated sequences a detector is trained and scored on.
public struct DetectionSplit {
    public var trainReal: [[Int32]]
    public var trainGenerated: [[Int32]]
    public var heldOutReal: [[Int32]]
    public var heldOutGenerated: [[Int32]]

    /// Samples every run of `config.against` and draws the real sentences, all from `seed`.
    public static func make(_ config: DetectConfig, data: TrainingData, seed: UInt64) throws -> DetectionSplit {
        var trainGenerated: [[Int32]] = [], heldOutGenerated: [[Int32]] = []
        for (i, source) in config.against.enumerated() {
            let samples = try generatedSamples(from: source, count: config.samplesPerRun, temperature: config.temperature,
                                               data: data, seed: seed &+ UInt64(i))
            trainGenerated += samples.prefix(config.trainPerRun)
            heldOutGenerated += samples.suffix(config.heldOutPerRun)
        }
        let real = realSentences(data, train: trainGenerated.count, heldOut: heldOutGenerated.count, seed: seed)
        return DetectionSplit(trainReal: real.train, trainGenerated: trainGenerated, heldOutReal: real.heldOut,
                              heldOutGenerated: heldOutGenerated)
    }

    /// `train` real training sentences and `heldOut` real held-out ones (from the test split, else from the training
    /// split's rest), drawn in an order fixed by `seed`.
    public static func realSentences(_ data: TrainingData, train: Int, heldOut: Int,
                                     seed: UInt64) -> (train: [[Int32]], heldOut: [[Int32]]) {
        var rng = SeededGenerator(seed: seed ^ 0x5EA1)
        let trainOrder = rng.permutation(data.train.count).map { data.train.sequences[$0] }
        guard let test = data.test else {
            return (Array(trainOrder.prefix(train)), Array(trainOrder.dropFirst(train).prefix(heldOut)))
        }
        let testOrder = rng.permutation(test.count).map { test.sequences[$0] }
        return (Array(trainOrder.prefix(train)), Array(testOrder.prefix(heldOut)))
    }

    /// `count` samples of `source`'s generator from `seed`, after checking that the checkpoint is the one named and
    /// that it was trained on this corpus's vocabulary.
    public static func generatedSamples(from source: InitSource, count: Int, temperature: Double, data: TrainingData,
                                        seed: UInt64) throws -> [[Int32]] {
        let url = URL(fileURLWithPath: source.checkpoint)
        let name = source.run.map { "run \($0)" } ?? source.checkpoint
        guard FileManager.default.fileExists(atPath: url.path) else { throw WorkbenchError("\(name): \(url.path) no longer exists") }
        guard try SHA256.hex(ofFile: url) == source.sha256 else {
            throw WorkbenchError("\(name): \(url.path) has changed since the detector was configured from it")
        }
        let loaded = try LoadedRun.load(url.path, runsDirectory: url.deletingLastPathComponent())
        guard loaded.vocabulary == data.vocabulary, loaded.generator.vocabularySize == data.vocabularySize else {
            throw WorkbenchError("\(name) was trained on another vocabulary than \(data.corpus)'s "
                + "(\(loaded.generator.vocabularySize) tokens there, \(data.vocabularySize) here): a detector compares "
                + "sentences of one vocabulary")
        }
        var rng = SeededGenerator(seed: seed)
        var options = SamplingOptions()
        options.temperature = Float(temperature)
        return loaded.generator.sample(count: count, options: options, batchSize: 500, using: &rng)
    }
}

/// The detection metrics of a detector on held-out real and generated sequences, by the names the run store uses.
public func detectionScores(_ detector: any SequenceDiscriminator, real: [[Int32]], generated: [[Int32]]) -> [String: Double] {
    let pReal = detector.probabilityReal(real).map { 1 - Double($0) }
    let pGenerated = detector.probabilityReal(generated).map { 1 - Double($0) }
    return [
        "accuracy": DetectionMetrics.accuracy(positives: pGenerated, negatives: pReal),
        "roc_auc": DetectionMetrics.rocAUC(positives: pGenerated, negatives: pReal),
        "tpr_at_1pct_fpr": DetectionMetrics.truePositiveRate(atFalsePositiveRate: 0.01, positives: pGenerated,
                                                             negatives: pReal),
    ]
}

// MARK: - The algorithm

public enum DetectAlgorithm: TrainingAlgorithm {
    public static let name = "detect"
    public static let summary = "a detector of generated text: D trained on real sentences vs other runs' samples (textgan detect)"
    public static let sections: [any ConfigSection.Type] = [DetectConfig.self, AdversarialTrainingConfig.self]
    public static let trainsDiscriminator = true
    public static let phase = "detect"
    public static let metricNames = ["accuracy", "roc_auc", "tpr_at_1pct_fpr"]

    public static func makeTrainer(_ setup: TrainerSetup, using rng: inout SeededGenerator) throws -> PreparedTrainer {
        let config = setup.config[section: DetectConfig.self]
        let detector = setup.requireDiscriminator(name)
        let optimizer = Adam(detector.parameters, config: .init(learningRate: config.learningRate))
        var state: DetectState
        if let url = setup.resumeFrom {
            let contents = try Checkpoint.load(from: url)
            try contents.restore(detector)
            try contents.restore(optimizer, name: "discriminator")
            state = try contents.state(DetectState.self)
        } else {
            state = DetectState(seed: rng.next())
        }
        let split = try DetectionSplit.make(config, data: setup.data, seed: state.samplingSeed)
        let adversarial = setup.adversarialExamples
        return PreparedTrainer { emit in
            func save(_ kind: String) throws {
                guard let directory = setup.checkpointDirectory else { return }
                let url = directory.appendingPathComponent("\(kind).safetensors")
                try Checkpoint.save(to: url, models: [("", detector)], optimizers: ["discriminator": optimizer],
                                    state: state, metadata: setup.metadata)
                _ = try emit(.checkpoint(step: state.epoch, kind: kind, path: url))
            }
            _ = try emit(.phaseStarted(phase: phase, totalSteps: config.epochs))
            while state.epoch < config.epochs {
                let report = try trainDiscriminator(
                    detector, optimizer: optimizer, positives: split.trainReal, negatives: split.trainGenerated,
                    epochs: 1, batchSize: config.batchSize, phase: phase, step: state.epoch + 1, adversarial: adversarial,
                    using: &state.rng)
                state.epoch += 1
                var control = try emit(.step(phase: phase, step: state.epoch, epoch: state.epoch, metrics: report.metrics,
                                             runStep: state.epoch))
                let scores = detectionScores(detector, real: split.heldOutReal, generated: split.heldOutGenerated)
                if try emit(.evaluation(phase: phase, step: state.epoch, epoch: state.epoch, metrics: scores,
                                        runStep: state.epoch)) == .stop { control = .stop }
                let auc = scores["roc_auc"]!
                if auc > (state.bestAUC ?? -.infinity) {
                    state.bestAUC = auc
                    try save("best")
                }
                try save("latest")
                if control == .stop { return .stopped }
            }
            _ = try emit(.phaseFinished(phase: phase, step: state.epoch))
            return .completed
        }
    }

    public static func position(in checkpoint: Checkpoint.Contents) throws -> TrainingPosition {
        let state = try checkpoint.state(DetectState.self)
        return TrainingPosition(runStep: state.epoch, phaseStep: state.epoch, description: "detector epoch \(state.epoch)")
    }

    /// The protocol of the held-out metrics: `sampleCount` generated sequences against as many real ones.
    public static func evaluationProtocols(_ config: RunConfig, data: TrainingData) -> [String: EvaluationProtocol] {
        let detect = config[section: DetectConfig.self]
        let count = detect.heldOutPerRun * detect.against.count
        let evaluationProtocol = heldOutProtocol(data: data, generated: count, real: count,
                                                 runs: detect.against, temperature: detect.temperature)
        return Dictionary(uniqueKeysWithValues: metricNames.map { ($0, evaluationProtocol) })
    }

    /// "coco:test vs samples of run 3, run 4": real held-out sentences against generated ones.
    public static func heldOutProtocol(data: TrainingData, generated: Int, real: Int, runs: [InitSource],
                                       temperature: Double, seed: UInt64? = nil) -> EvaluationProtocol {
        let names = runs.map { $0.run.map { "run \($0)" } ?? $0.checkpoint }.joined(separator: ", ")
        return EvaluationProtocol(sampleCount: generated,
                                  referenceSet: "\(data.corpus):\(data.test == nil ? "train" : "test") vs samples of \(names)",
                                  referenceCount: real, tokenizer: data.tokenizerDescription, seed: seed,
                                  temperature: temperature)
    }
}

// MARK: - A trained detector

/// A detector rebuilt from its checkpoint alone: its run config, discriminator, vocabulary and training state.
public struct Detector {
    public let checkpoint: URL
    public let config: RunConfig
    public let discriminator: any SequenceDiscriminator
    public let vocabulary: Vocabulary?
    public let tokenizer: Tokenizer?
    public let state: DetectState

    public var step: Int { state.epoch }
    public var detect: DetectConfig { config[section: DetectConfig.self] }

    static func checkpoint(_ reference: RunReference, runsDirectory: URL, best: Bool) -> URL {
        switch reference {
        case .file(let path): URL(fileURLWithPath: path)
        case .run(let id): runsDirectory.appendingPathComponent("\(id)/\(best ? "best" : "latest").safetensors")
        }
    }

    /// Whether `reference` names a detector's checkpoint (false for anything that cannot be read as one).
    public static func isDetector(_ reference: RunReference, runsDirectory: URL) -> Bool {
        let url = checkpoint(reference, runsDirectory: runsDirectory, best: false)
        guard let json = try? Checkpoint.load(from: url).metadata["config"],
              let config = try? RunConfig.decode(json, source: url.path) else { return false }
        return config.algorithm == DetectAlgorithm.name
    }

    /// A detector run's checkpoint (latest or best) or a detector checkpoint file; anything else is refused.
    public static func load(_ reference: RunReference, runsDirectory: URL, best: Bool = false) throws -> Detector {
        let url = checkpoint(reference, runsDirectory: runsDirectory, best: best)
        let contents = try Checkpoint.load(from: url)
        guard let configJSON = contents.metadata["config"] else {
            throw WorkbenchError("\(url.path) holds no run config (not written by textgan)")
        }
        let config = try RunConfig.decode(configJSON, source: url.path)
        guard config.algorithm == DetectAlgorithm.name, let settings = config.discriminator else {
            throw WorkbenchError("\(url.path) is a \(config.algorithm) run's checkpoint, not a detector's "
                + "(train one with `textgan detect train <corpus> --against <run>`)")
        }
        var rng = SeededGenerator(seed: 0)  // the values come from the checkpoint
        let discriminator = settings.config.makeDiscriminator(using: &rng)
        try contents.restore(discriminator)
        let (vocabulary, tokenizer) = try LoadedRun.storedVocabulary(in: contents, of: url)
        return Detector(checkpoint: url, config: config, discriminator: discriminator, vocabulary: vocabulary,
                        tokenizer: tokenizer, state: try contents.state(DetectState.self))
    }

    /// Lines of text as the sequences the detector reads (tokens, then the end token, cut to its length). A line
    /// the tokenizer makes nothing of is refused, and so is a file whose tokens are mostly unknown to the
    /// vocabulary (text tokenized otherwise, or from another corpus). Oracle detectors read token ids.
    public func encode(_ lines: [String], source: String) throws -> [[Int32]] {
        guard !lines.isEmpty else { throw WorkbenchError("\(source) is empty: no line to score") }
        let length = discriminator.sequenceLength
        guard let vocabulary, let tokenizer else {
            return try lines.enumerated().map { n, line in
                try line.split(whereSeparator: \.isWhitespace).map { part in
                    guard let id = Int32(part), (0..<Int32(discriminator.vocabularySize)).contains(id) else {
                        throw WorkbenchError("\(source):\(n + 1): this detector reads token ids 0..<\(discriminator.vocabularySize); '\(part)' is not one")
                    }
                    return id
                }
            }
        }
        var unknown = 0, total = 0
        let sequences = try lines.enumerated().map { n, line -> [Int32] in
            let tokens = tokenizer.tokenize(line)
            guard !tokens.isEmpty else { throw WorkbenchError("\(source):\(n + 1) is empty (no token to score)") }
            total += tokens.count
            unknown += tokens.filter { !vocabulary.contains($0) }.count
            return Array(vocabulary.encode(tokens).prefix(length - 1)) + [Vocabulary.eos]
        }
        guard unknown * 2 <= total else {
            throw WorkbenchError("\(unknown) of the \(total) tokens of \(source) are not in the detector's vocabulary "
                + "(\(vocabulary.count) tokens, \(vocabulary.config)): the text is tokenized otherwise or from another "
                + "corpus than \(config.corpus)")
        }
        return sequences
    }

    /// P(generated) of each sequence: 1 − D(real).
    public func probabilityGenerated(_ sequences: [[Int32]]) -> [Double] {
        discriminator.probabilityReal(sequences).map { 1 - Double($0) }
    }
}

// MARK: - Transfer between generators

/// How well detectors transfer between generators: the latest `metric` (ROC-AUC by default) of each detector on
/// samples of each generator run, from the evaluations `detect train` (its held-out split) and `detect eval`
/// recorded with one generator run in their protocol ("coco:test vs samples of run 3").
public struct DetectionTransfer: Equatable, Sendable {
    public var detectors: [Int64]
    public var generators: [Int64]
    /// values[d][g]: detector `detectors[d]` on samples of `generators[g]`; nil where it was not measured.
    public var values: [[Double?]]

    public init(detectors ids: [Int64], in store: RunDatabase, metric: String = "roc_auc") throws {
        var latest: [Int64: [Int64: (id: Int64, value: Double)]] = [:]
        for detector in ids {
            for row in try store.evaluations(run: detector, afterID: 0) where row.metric == metric {
                guard let generator = Self.generatorRun(row.referenceSet) else { continue }
                if (latest[detector]?[generator]?.id ?? -1) < row.id! { latest[detector, default: [:]][generator] = (row.id!, row.value) }
            }
        }
        let measured = ids.filter { latest[$0] != nil }, generators = Set(latest.values.flatMap(\.keys)).sorted()
        detectors = measured
        self.generators = generators
        values = measured.map { d in generators.map { latest[d]?[$0]?.value } }
    }

    /// The generator run of a detection protocol's reference set, when it names exactly one.
    static func generatorRun(_ referenceSet: String) -> Int64? {
        guard let range = referenceSet.range(of: " vs samples of run ") else { return nil }
        return Int64(referenceSet[range.upperBound...])
    }
}
