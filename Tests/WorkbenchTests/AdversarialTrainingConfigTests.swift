import Foundation
import Models
import Training
import Workbench
import XCTest

/// The `adversarialTraining` section: read by every algorithm that trains a discriminator, off by default, stored and
/// read back with the run, and its bad values refused in one line naming the field.
final class AdversarialTrainingConfigTests: XCTestCase {
    func testEveryAlgorithmWithADiscriminatorReadsItAndItIsOffByDefault() throws {
        for name in Registry.shared.algorithmNames {
            let algorithm = try XCTUnwrap(Registry.shared.algorithm(name))
            let config = RunConfig(algorithm: algorithm, corpus: "coco", preset: nil)
            XCTAssertEqual(config.reads(AdversarialTrainingConfig.self), algorithm.trainsDiscriminator, name)
            if algorithm.trainsDiscriminator {
                XCTAssertFalse(config[section: AdversarialTrainingConfig.self].isActive, "\(name): on by default")
            }
        }
        // An algorithm without a discriminator refuses the section as a key nothing reads.
        let mle = RunConfig(algorithm: MLEAlgorithm.self, corpus: "coco", preset: nil)
        XCTAssertThrowsError(try mle.merging(json: Data(#"{"adversarialTraining": {"rate": 0.5}}"#.utf8), source: "m.json"))
    }

    func testItIsStoredWithTheRunAndReadBack() throws {
        let base = RunConfig(algorithm: SeqGANAlgorithm.self, corpus: "coco", preset: nil)
        let config = try base.merging(json: Data(#"{"adversarialTraining": {"rate": 0.25, "attack": "pgd", "norm": "l2", "epsilon": 0.5, "steps": 3, "stepSize": 0.2}}"#.utf8),
                                      source: "a.json")
        let section = config[section: AdversarialTrainingConfig.self]
        XCTAssertEqual(section, AdversarialTrainingConfig(rate: 0.25, attack: .pgd, norm: .l2, epsilon: 0.5, steps: 3, stepSize: 0.2))
        XCTAssertEqual(section.embeddingAttack, EmbeddingAttack(norm: .l2, epsilon: 0.5, steps: 3, stepSize: 0.2))
        let stored = try RunConfig.decode(config.json, source: "stored")
        XCTAssertEqual(stored[section: AdversarialTrainingConfig.self], section)
        // A config stored before the section existed reads with it off; one that sets a field keeps the others' defaults.
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(base.json.utf8)) as? [String: Any])
        object["adversarialTraining"] = nil
        let old = try RunConfig.decode(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self),
                                       source: "old")
        XCTAssertEqual(old[section: AdversarialTrainingConfig.self], AdversarialTrainingConfig())
        let partial = try base.merging(json: Data(#"{"adversarialTraining": {"rate": 1}}"#.utf8), source: "p.json")
        XCTAssertEqual(partial[section: AdversarialTrainingConfig.self], AdversarialTrainingConfig(rate: 1))
    }

    func testBadValuesAreRefusedInOneLineNamingTheField() throws {
        let base = RunConfig(algorithm: GumbelAlgorithm.self, corpus: "coco", preset: nil)
        for (json, key) in [(#"{"rate": 1.5}"#, "adversarialTraining.rate"), (#"{"rate": -0.1}"#, "adversarialTraining.rate"),
                            (#"{"epsilon": -0.1}"#, "adversarialTraining.epsilon"), (#"{"steps": 0}"#, "adversarialTraining.steps"),
                            (#"{"stepSize": 0}"#, "adversarialTraining.stepSize")] {
            let config = try base.merging(json: Data(#"{"adversarialTraining": \#(json)}"#.utf8), source: "t.json")
            XCTAssertThrowsError(try config.validate(), json) { error in
                XCTAssertEqual((error as? ConfigRangeError)?.key, key, "\(error)")
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
        for edge in [#"{"rate": 1, "epsilon": 0}"#, #"{"rate": 0}"#, #"{"steps": 1, "attack": "pgd"}"#] {
            XCTAssertNoThrow(try base.merging(json: Data(#"{"adversarialTraining": \#(edge)}"#.utf8), source: "t.json").validate(), edge)
        }
        XCTAssertThrowsError(try base.merging(json: Data(#"{"adversarialTraining": {"attack": "cw"}}"#.utf8), source: "t.json")) {
            XCTAssertFalse("\($0)".contains("\n"), "\($0)")
        }
    }
}
