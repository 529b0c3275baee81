import Foundation
import Models
import NumericCore
import TestSupport
import Training
@testable import Workbench
import XCTest

/// Language GANs Falling Short's LM score and reverse-LM score (`ScoringLanguageModel`, `ReverseLMSchedule`).
final class LanguageModelScoreTests: XCTestCase {
    /// A small LSTM with peaked next-token distributions (N(0, 1) weights), ending at token 2.
    private func model(seed: UInt64) -> LSTMGenerator {
        var rng = SeededGenerator(seed: seed)
        return LSTMGenerator(LSTMGeneratorConfig(vocabularySize: 12, embeddingSize: 8, hiddenSize: 16, maxLength: 10,
                                                 startToken: 1, endToken: 2, initStd: 1), using: &rng)
    }

    /// −log G(token | prefix) for every token of `samples`, read one step at a time from the next-token
    /// distributions (another code path than the teacher-forced batch NLL).
    private func sampledTokenNLLs(_ generator: LSTMGenerator, _ samples: [[Int32]]) -> [Double] {
        samples.flatMap { sample in
            sample.indices.map { t in
                -Double(generator.nextTokenLogProbabilities(after: Array(sample[..<t]))[Int(sample[t])])
            }
        }
    }

    func testTheLMScoreOfTheLMsOwnSamplesIsItsSampledNLLAndAnotherLMScoresThemWorse() throws {
        // Given an LM and 3,000 of its samples, and its own NLL of 3,000 other samples as it drew them
        let lm = model(seed: 1)
        var rng = SeededGenerator(seed: 2)
        let samples = lm.sample(count: 3_000, using: &rng)
        var other = SeededGenerator(seed: 3)
        let sampledNLLs = sampledTokenNLLs(lm, lm.sample(count: 3_000, using: &other))
        let mean = sampledNLLs.reduce(0, +) / Double(sampledNLLs.count)
        let variance = sampledNLLs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(sampledNLLs.count - 1)
        let standardError = (variance / Double(sampledNLLs.count)).squareRoot()

        // when the LM scores the first set
        let score = ScoringLanguageModel(name: "lm", generator: lm).score(samples)

        // then the LM score is its entropy rate up to sampling noise (four standard errors, with the tokens of a
        // sequence counted as independent: a generous bound), and an LM that did not draw them scores them worse
        // (cross-entropy exceeds entropy).
        XCTAssertEqual(score, mean, accuracy: 4 * standardError + 0.01, "LM score \(score), sampled NLL \(mean) ± \(standardError)")
        XCTAssertEqual(score, sampledTokenNLLs(lm, samples).reduce(0, +) / Double(samples.joined().count), accuracy: 1e-4)
        let stranger = ScoringLanguageModel(name: "other", generator: model(seed: 4)).score(samples)
        XCTAssertGreaterThan(stranger, score + 0.5)
    }

    func testAReverseLMTrainedOnTheRealTrainingSetScoresLowerThanOneTrainedOnShuffledTokens() throws {
        // Given a structured corpus ("the <adjective> <animal> <verb> on the <place> .") and its training split with
        // every token shuffled across the whole split (the same lengths and unigram counts, no structure)
        let directory = try temporaryDirectory(self)
        let corpus = directory.appendingPathComponent("structured.txt")
        var lcg = UInt64(11)
        func next(_ n: Int) -> Int {
            lcg = lcg &* 6364136223846793005 &+ 1442695040888963407
            return Int((lcg >> 33) % UInt64(n))
        }
        let words = [["small", "big", "red", "quiet"], ["cat", "dog", "bird", "fox"], ["runs", "sleeps", "sits"],
                     ["mat", "hill", "road"]]
        let lines = (0..<400).map { _ in
            "the \(words[0][next(4)]) \(words[1][next(4)]) \(words[2][next(3)]) on the \(words[3][next(3)]) ."
        }
        try lines.joined(separator: "\n").write(to: corpus, atomically: true, encoding: .utf8)
        let config = RunConfig(algorithm: MLEAlgorithm.self, corpus: corpus.path, preset: nil)
        let data = try TrainingData.text(root: packageRoot, sharedData: nil, config: config, minExamples: 16)
        let real = data.train.sequences
        var tokens = real.flatMap { $0.dropLast() }
        var shuffle = SeededGenerator(seed: 5)
        tokens.shuffle(using: &shuffle)
        var offset = 0
        let noise: [[Int32]] = real.map { sentence in
            defer { offset += sentence.count - 1 }
            return Array(tokens[offset..<(offset + sentence.count - 1)]) + [sentence.last!]
        }
        let heldOut = try XCTUnwrap(data.heldOut)
        XCTAssertEqual(heldOut.name, "\(data.corpus):test")

        // when a reverse LM of the same schedule and seed is trained on each and scores the test split
        let schedule = ReverseLMSchedule(seed: 7)
        let onReal = try schedule.score(samples: real, heldOut: heldOut.sequences, data: data)
        let onNoise = try schedule.score(samples: noise, heldOut: heldOut.sequences, data: data)

        // then the one trained on real sentences explains the real test set far better, and the schedule is the
        // stated one: SeqGAN's LSTM, 5 epochs, batch 64, Adam 0.01, recorded as a one-line config.
        XCTAssertLessThan(onReal + 0.5, onNoise, "real \(onReal), noise \(onNoise)")
        XCTAssertEqual(try schedule.score(samples: real, heldOut: heldOut.sequences, data: data), onReal, "a seeded schedule")
        let described = try schedule.description(for: data)
        XCTAssertTrue(described.hasPrefix("reverse LM trained on the samples: {"), described)
        XCTAssertFalse(described.contains("\n"))
        let stored = try schedule.config(for: data)
        XCTAssertEqual(stored[section: MLEConfig.self].epochs, 5)
        XCTAssertEqual(stored.seed, 7)
        XCTAssertEqual(stored.generator.kind, "lstm")
        XCTAssertThrowsError(try schedule.score(samples: Array(real.prefix(10)), heldOut: heldOut.sequences, data: data)) { error in
            XCTAssertEqual("\(error)", "the reverse LM needs at least 64 samples (one batch), not 10")
        }
    }
}
