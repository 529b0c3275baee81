import Foundation
import Metrics
import Models
import NumericCore
import RunStore
import TextPipeline
import Training

// What a generator leaks about its training data, as `eval --privacy` measures it (the metrics themselves are in
// Metrics/Privacy.swift):
//   membership_auc            the loss attack: `count` training sentences (members) against as many test sentences
//                             (non-members) by the generator's per-sentence mean token NLL;
//   membership_auc_reference  the same by NLL_reference − NLL_generator, with another run's generator as reference;
//   canary_exposure_<i>       each canary's exposure against `candidates` random sentences of its format, by total
//                             NLL; canary_exposure_mean their mean.
// Canaries (`train --canaries K --canary-repeats r`): K sentences of `length` word tokens drawn uniformly (text: ids
// from 4 on, so never a special token; then the end token), from the seed in the run's config, each inserted r times
// into the training split. Their candidates are drawn the same way from another stream of the same seed.

// MARK: - Canaries

public struct CanarySettings: Codable, Sendable, Equatable {
    public var count: Int
    public var repeats = 1
    /// Word tokens per canary (the end token follows for text corpora).
    public var length = 8
    /// The seed of the canaries and their candidates (nil: the run's seed).
    public var seed: UInt64?

    public init(count: Int, repeats: Int = 1, length: Int = 8, seed: UInt64? = nil) {
        (self.count, self.repeats, self.length, self.seed) = (count, repeats, length, seed)
    }

    /// A config file may give the count alone; the rest take their defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(count: try c.decode(Int.self, forKey: .count))
        repeats = try c.decodeIfPresent(Int.self, forKey: .repeats) ?? repeats
        length = try c.decodeIfPresent(Int.self, forKey: .length) ?? length
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
    }

    public func validate() throws {
        let check = ConfigCheck("canaries")
        try check.int("count", count, 1...100_000)
        try check.int("repeats", repeats, 1...100_000)
        try check.int("length", length, 1...10_000)
    }

    /// The canary sentences of this run.
    public func sentences(for data: TrainingData, runSeed: UInt64) throws -> [[Int32]] {
        try randomSentences(count, for: data, seed: (seed ?? runSeed) ^ 0xCA7A_7100)
    }

    /// `count` random candidates of the canaries' format, from a stream of their own.
    public func candidates(_ count: Int, for data: TrainingData, runSeed: UInt64) throws -> [[Int32]] {
        try randomSentences(count, for: data, seed: (seed ?? runSeed) ^ 0xCA7D_1DA7)
    }

    private func randomSentences(_ n: Int, for data: TrainingData, seed: UInt64) throws -> [[Int32]] {
        let end = data.endToken.map { [$0] } ?? []
        guard length + end.count <= data.maxLength else {
            throw WorkbenchError("canaries.length \(length) does not fit the corpus's sequences of at most "
                + "\(data.maxLength) tokens\(end.isEmpty ? "" : ", end token included")")
        }
        let first: Int32 = data.vocabulary == nil ? 0 : 4  // text: never pad, bos, eos or unk
        var rng = SeededGenerator(seed: seed)
        return (0..<n).map { _ in (0..<length).map { _ in Int32.random(in: first..<Int32(data.vocabularySize), using: &rng) } + end }
    }
}

extension TrainingData {
    /// The same data with `sentences` added to the training split, each `repeats` times (after the corpus's own).
    func inserting(_ sentences: [[Int32]], repeats: Int) -> TrainingData {
        let added = sentences.flatMap { [[Int32]](repeating: $0, count: repeats) }
        return TrainingData(
            corpus: corpus, sha256: sha256, description: description + "; \(sentences.count) canaries × \(repeats)",
            train: SequenceDataset(sequences: train.sequences + added, length: train.length), test: test,
            vocabularySize: vocabularySize, startToken: startToken, endToken: endToken, maxLength: maxLength,
            oracle: oracle, vocabulary: vocabulary, tokenizer: tokenizer, trainTokens: trainTokens, testTokens: testTokens,
            vocabularyFile: vocabularyFile)
    }
}

// MARK: - Per-sentence likelihood

/// Each sequence's negative log-likelihood under `generator`, teacher forced: the mean per token, or the total.
public func sentenceNLLs(_ generator: any SequenceGenerator, _ sequences: [[Int32]], perToken: Bool = true,
                         batchSize: Int = 256) -> [Double] {
    var out: [Double] = []
    out.reserveCapacity(sequences.count)
    for start in stride(from: 0, to: sequences.count, by: batchSize) {
        let chunk = Array(sequences[start..<min(start + batchSize, sequences.count)])
        let T = chunk.map(\.count).max() ?? 0
        let batch = TokenBatch(sequences: chunk, length: T)
        let logProbabilities = generator.tokenLogProbabilities(batch)
        for (b, s) in chunk.enumerated() {
            let total = -(0..<s.count).reduce(0.0) { $0 + Double(logProbabilities[b * T + $1]) }
            out.append(perToken ? total / Double(max(s.count, 1)) : total)
        }
    }
    return out
}

// MARK: - The evaluation

public struct PrivacyEvaluation {
    public var metrics: [String: Double] = [:]
    public var protocols: [(EvaluationProtocol, [String])] = []

    /// Membership AUC (and its reference variant when `reference` is given) on `count` training and as many test
    /// sentences drawn from `seed`, and each canary's exposure against `candidates` random ones.
    public static func evaluate(_ generator: any SequenceGenerator, data: TrainingData, config: RunConfig, count: Int,
                                candidates: Int, seed: UInt64,
                                reference: (name: String, generator: any SequenceGenerator)?) throws -> PrivacyEvaluation {
        var result = PrivacyEvaluation()
        let canaries = try config.canaries.map { try $0.sentences(for: data, runSeed: config.seed) } ?? []
        if let test = data.test {
            let canarySet = Set(canaries)
            let members = data.train.sequences.filter { !canarySet.contains($0) }
            let (m, n) = (min(count, members.count), min(count, test.count))
            var rng = SeededGenerator(seed: seed)
            let memberSample = rng.permutation(members.count).prefix(m).map { members[$0] }
            let nonMemberSample = rng.permutation(test.count).prefix(n).map { test.sequences[$0] }
            let (memberNLL, nonMemberNLL) = (sentenceNLLs(generator, memberSample), sentenceNLLs(generator, nonMemberSample))
            result.metrics["membership_auc"] = PrivacyMetrics.membershipAUC(memberNLL: memberNLL, nonMemberNLL: nonMemberNLL)
            let sets = "\(data.corpus):train vs \(data.corpus):test"
            result.protocols.append((EvaluationProtocol(sampleCount: m, referenceSet: sets, referenceCount: n,
                                                        tokenizer: data.tokenizerDescription, seed: seed), ["membership_auc"]))
            if let reference {
                result.metrics["membership_auc_reference"] = PrivacyMetrics.membershipAUC(
                    memberNLL: memberNLL, nonMemberNLL: nonMemberNLL,
                    referenceMemberNLL: sentenceNLLs(reference.generator, memberSample),
                    referenceNonMemberNLL: sentenceNLLs(reference.generator, nonMemberSample))
                result.protocols.append((EvaluationProtocol(sampleCount: m, referenceSet: "\(sets), reference \(reference.name)",
                                                            referenceCount: n, tokenizer: data.tokenizerDescription, seed: seed),
                                         ["membership_auc_reference"]))
            }
        }
        if let settings = config.canaries {
            let candidateNLL = sentenceNLLs(generator, try settings.candidates(candidates, for: data, runSeed: config.seed),
                                            perToken: false)
            let exposures = sentenceNLLs(generator, canaries, perToken: false).map {
                PrivacyMetrics.canaryExposure(canaryNLL: $0, candidateNLL: candidateNLL)
            }
            var names: [String] = []
            for (i, exposure) in exposures.enumerated() {
                result.metrics["canary_exposure_\(i)"] = exposure
                names.append("canary_exposure_\(i)")
            }
            result.metrics["canary_exposure_mean"] = exposures.reduce(0, +) / Double(exposures.count)
            let description = "canaries: \(settings.count) × \(settings.repeats) of \(settings.length) random tokens"
            result.protocols.append((EvaluationProtocol(sampleCount: candidates, referenceSet: description,
                                                        referenceCount: settings.count, tokenizer: data.tokenizerDescription,
                                                        seed: settings.seed ?? config.seed), names + ["canary_exposure_mean"]))
        }
        return result
    }

    /// Records every metric under its protocol; returns how many.
    public func record(run: Int64, step: Int, phaseStep: Int?, in store: RunDatabase) throws -> Int {
        for (evaluationProtocol, names) in protocols {
            try store.recordEvaluation(run: run, step: step, phaseStep: phaseStep,
                                       values: Dictionary(uniqueKeysWithValues: names.map { ($0, metrics[$0]!) }),
                                       protocol: evaluationProtocol, signOfLife: false)
        }
        return protocols.reduce(0) { $0 + $1.1.count }
    }
}
