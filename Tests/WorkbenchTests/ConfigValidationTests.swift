import Foundation
import Layers
import Models
import Training
import Workbench
import XCTest

/// Every config field has a range: a value outside it is refused, naming the key, before anything is recorded; the
/// edge of the range is accepted. Table-driven over every field of every section.
final class ConfigValidationTests: XCTestCase {
    /// (field, a value outside its range, a value at the edge of its range), as JSON.
    private let seqganFields: [(String, String, String)] = [
        ("maxLength", "1", "2"),
        ("vocabulary.minCount", "0", "1"), ("vocabulary.maxSize", "4", "5"),
        ("evaluation.nllOracleSamples", "0", "1"), ("evaluation.bleuSamples", "-1", "0"),
        ("evaluation.bleuOrders", "[]", "[9]"), ("evaluation.bleuOrders", "[2, 12]", "[1, 2]"),
        ("generator.embeddingSize", "0", "1"), ("generator.hiddenSize", "0", "8192"), ("generator.initStd", "-0.1", "0"),
        ("discriminator.embeddingSize", "-1", "1"), ("discriminator.widths", "[]", #"[{"width": 1, "filters": 1}]"#),
        ("discriminator.widths", #"[{"width": 0, "filters": 3}]"#, #"[{"width": 1000, "filters": 3}]"#),
        ("discriminator.widths", #"[{"width": 2, "filters": 0}]"#, #"[{"width": 2, "filters": 100000}]"#),
        ("discriminator.keepProbability", "0", "1"), ("discriminator.l2", "-0.5", "0"),
        ("discriminator.initStd", "11", "10"),
        ("mle.epochs", "-5", "0"), ("mle.batchSize", "0", "65536"), ("mle.learningRate", "0", "100"),
        ("mle.gradientClip", "-1", "1000000"), ("mle.earlyStoppingPatience", "0", "1"), ("mle.evaluateEvery", "0", "1"),
        ("mle.logEvery", "0", "1"), ("mle.samplesPerEpoch", "-1", "0"), ("mle.sampleTemperature", "-1", "0"),
        ("mle.weightDecay", "-0.1", "10"), ("mle.warmupSteps", "-1", "0"), ("mle.minimumLearningRateRatio", "1.5", "1"),
        ("seqgan.discriminatorPretrainRounds", "-1", "0"), ("seqgan.discriminatorPretrainEpochs", "0", "1"),
        ("seqgan.adversarialSteps", "-1", "0"), ("seqgan.generatorSteps", "0", "1"),
        ("seqgan.discriminatorRounds", "-1", "0"), ("seqgan.discriminatorEpochs", "0", "1"),
        ("seqgan.generatorBatchSize", "0", "1"), ("seqgan.rollouts", "0", "1024"),
        ("seqgan.rolloutUpdateRate", "1.5", "1"), ("seqgan.negatives", "0", "1"),
        ("seqgan.generatorLearningRate", "-0.01", "0.5"), ("seqgan.gradientClip", "0", "5"),
        ("seqgan.discriminatorLearningRate", "1000", "100"), ("seqgan.discriminatorBatchSize", "0", "1"),
        ("seqgan.evaluateEvery", "0", "1"), ("seqgan.samplesPerEvaluation", "-3", "0"),
    ]

    private func overlay(_ field: String, _ value: String) -> Data {
        let parts = field.split(separator: ".").map(String.init)
        var json = "\(value)"
        for part in parts.reversed() { json = "{\"\(part)\": \(json)}" }
        return Data(json.utf8)
    }

    func testEveryFieldRefusesAValueOutsideItsRangeAndTakesItsEdge() throws {
        let base = RunConfig(algorithm: SeqGANAlgorithm.self, corpus: "coco", preset: nil)
        XCTAssertNoThrow(try base.validate())
        for (field, bad, edge) in seqganFields {
            let refused = try base.merging(json: overlay(field, bad), source: "t.json")
            XCTAssertThrowsError(try refused.validate(), "\(field) = \(bad)") { error in
                guard let range = error as? ConfigRangeError else { return XCTFail("\(field): \(error)") }
                XCTAssertTrue(range.key.hasPrefix(field), "\(field) = \(bad) was reported as \(range.key)")
                XCTAssertFalse("\(range)".contains("\n"))
            }
            let accepted = try base.merging(json: overlay(field, edge), source: "t.json")
            XCTAssertNoThrow(try accepted.validate(), "\(field) = \(edge)")
        }
        // Non-finite numbers cannot come from JSON, but can from code: they are out of every range.
        var infinite = base
        infinite[section: MLEConfig.self].learningRate = .infinity
        XCTAssertThrowsError(try infinite.validate())
        // Self-BLEU needs two samples.
        XCTAssertThrowsError(try base.merging(json: Data(#"{"evaluation": {"bleuSamples": 1}}"#.utf8), source: "t").validate())
    }

    func testAWidthLongerThanEverySequenceIsRefusedOnceTheCorpusIsKnown() throws {
        var config = CNNDiscriminatorConfig(vocabularySize: 0, sequenceLength: 20, widths: [ConvolutionWidth(width: 8, filters: 4)])
        XCTAssertNoThrow(try config.validate(section: "discriminator"), "before fitting, the corpus's length is unknown")
        config.fit(to: SequenceShape(vocabularySize: 30, maxLength: 6, startToken: 1, endToken: 2, padToken: 0))
        XCTAssertThrowsError(try config.validate(section: "discriminator")) {
            XCTAssertEqual(($0 as? ConfigRangeError)?.key, "discriminator.widths")
        }
    }

    func testANumberThatDoesNotFitItsFieldNamesTheField() {
        let base = RunConfig(algorithm: SeqGANAlgorithm.self, corpus: "coco", preset: nil)
        for (json, key) in [(#"{"seed": -1}"#, "seed"), (#"{"mle": {"epochs": 9223372036854775808}}"#, "mle.epochs")] {
            XCTAssertThrowsError(try base.merging(json: Data(json.utf8), source: "n.json")) {
                XCTAssertTrue("\($0)".contains("n.json: \(key) ="), "\($0)")
            }
        }
    }
}
