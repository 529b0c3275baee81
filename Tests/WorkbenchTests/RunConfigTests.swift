import Foundation
import Models
import Training
import Workbench
import XCTest

/// The run config: sections per algorithm, model kinds, one home per setting, and configs recorded before both.
final class RunConfigTests: XCTestCase {
    private func seqgan(_ preset: Preset? = nil) -> RunConfig {
        RunConfig(algorithm: SeqGANAlgorithm.self, corpus: "coco", preset: preset)
    }

    private func object(_ config: RunConfig) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(config.json.utf8)) as! [String: Any]
    }

    /// A generator kind with rates of its own (the Transformer: MLE 1e-3, adversarial 1e-4) starts from them; the LSTM
    /// keeps the references' 0.01; a config file still overrides.
    func testAGeneratorKindsOwnLearningRatesAreItsDefaults() throws {
        let transformer = try RunConfig.layered(corpus: "coco", algorithm: "seqgan", generator: "transformer", preset: nil, file: nil)
        XCTAssertEqual(transformer[section: MLEConfig.self].learningRate, 1e-3)
        XCTAssertEqual(transformer[section: SeqGANConfig.self].generatorLearningRate, 1e-4)
        let lstm = try RunConfig.layered(corpus: "coco", algorithm: "seqgan", preset: nil, file: nil)
        XCTAssertEqual(lstm[section: MLEConfig.self].learningRate, 0.01)
        XCTAssertEqual(lstm[section: SeqGANConfig.self].generatorLearningRate, 0.01)
        let file = Data(#"{"generator": {"kind": "transformer"}, "mle": {"learningRate": 0.005}}"#.utf8)
        let overridden = try RunConfig.layered(corpus: "coco", algorithm: "mle", preset: nil, file: (file, "f.json"))
        XCTAssertEqual(overridden[section: MLEConfig.self].learningRate, 0.005)
        XCTAssertEqual(overridden.generator.kind, "transformer")
    }

    func testEachAlgorithmHasExactlyItsSectionsAndTheModelKinds() throws {
        let gan = try object(seqgan())
        XCTAssertNotNil(gan["mle"])
        XCTAssertNotNil(gan["seqgan"])
        XCTAssertEqual((gan["generator"] as? [String: Any])?["kind"] as? String, "lstm")
        XCTAssertEqual((gan["discriminator"] as? [String: Any])?["kind"] as? String, "cnn")
        XCTAssertNil(gan["seqgan"].flatMap { ($0 as? [String: Any])?["pretrain"] }, "pretraining is configured by mle alone")
        let mle = try object(RunConfig(algorithm: MLEAlgorithm.self, corpus: "coco", preset: nil))
        XCTAssertNil(mle["seqgan"])
        XCTAssertNil(mle["discriminator"])
        // The stored form decodes to the same config.
        let config = seqgan(.quick)
        XCTAssertEqual(try RunConfig.decode(config.json, source: "test"), config)
        XCTAssertEqual(config[section: SeqGANConfig.self].rollouts, 4)
        XCTAssertEqual((config.discriminator!.config as! CNNDiscriminatorConfig).widths.first?.filters, 25)
    }

    func testAKeyNothingReadsIsAnError() throws {
        let base = seqgan()
        XCTAssertThrowsError(try base.merging(json: Data(#"{"seqgan": {"pretrain": {"learningRate": 0.1}}}"#.utf8), source: "a.json")) {
            XCTAssertTrue("\($0)".contains("unknown config key 'seqgan.pretrain'"), "\($0)")
        }
        let mle = RunConfig(algorithm: MLEAlgorithm.self, corpus: "coco", preset: nil)
        XCTAssertThrowsError(try mle.merging(json: Data(#"{"seqgan": {"rollouts": 2}}"#.utf8), source: "b.json")) {
            XCTAssertTrue("\($0)".contains("unknown config key 'seqgan'") && "\($0)".contains("does not read"), "\($0)")
        }
        XCTAssertThrowsError(try mle.merging(json: Data(#"{"discriminator": {"l2": 0.1}}"#.utf8), source: "c.json"))
        XCTAssertThrowsError(try base.merging(json: Data(#"{"generator": {"kind": "gru"}}"#.utf8), source: "d.json")) {
            XCTAssertTrue("\($0)".contains("generator.kind 'gru'"), "\($0)")
        }
        XCTAssertThrowsError(try base.merging(json: Data(#"{"algorithm": "leakgan"}"#.utf8), source: "e.json"))
        // A typo gets a suggestion from its own section.
        XCTAssertThrowsError(try base.merging(json: Data(#"{"mle": {"epoch": 3}}"#.utf8), source: "t.json")) {
            XCTAssertTrue("\($0)".hasSuffix("unknown config key 'mle.epoch' (did you mean 'mle.epochs'?)"), "\($0)")
        }
        XCTAssertThrowsError(try base.merging(json: Data(#"{"mle": {"zzzzzz": 3}}"#.utf8), source: "t.json")) {
            XCTAssertFalse("\($0)".contains("did you mean"), "\($0)")
        }
        // A file may switch the algorithm: the sections follow.
        let switched = try base.merging(json: Data(#"{"algorithm": "mle", "mle": {"epochs": 3}}"#.utf8), source: "f.json")
        XCTAssertEqual(switched.algorithm, "mle")
        XCTAssertFalse(switched.reads(SeqGANConfig.self))
        XCTAssertNil(switched.discriminator)
        XCTAssertEqual(switched[section: MLEConfig.self].epochs, 3)
    }

    func testNullsCorpusFieldsAndArrayElementsAreChecked() throws {
        let base = seqgan(.quick)
        for (json, expected) in [
            (#"{"seed": null}"#, "'seed' cannot be null"),
            (#"{"evaluation": null}"#, "'evaluation' cannot be null"),
            (#"{"generator": {"maxLength": 30}}"#, "generator.maxLength is decided by the corpus"),
            (#"{"discriminator": {"sequenceLength": 30}}"#, "discriminator.sequenceLength is decided by the corpus"),
            (#"{"discriminator": {"widths": [{"width": 2, "filters": 3, "stride": 2}]}}"#, "unknown config key 'discriminator.widths.0.stride'"),
            (#"{"seqgan": {"pretrain": {"epochs": 3}}}"#, "configured by the mle section alone"),
        ] {
            XCTAssertThrowsError(try base.merging(json: Data(json.utf8), source: "n.json"), json) {
                XCTAssertTrue("\($0)".contains(expected), "\(json): \($0)")
            }
        }
        // Optionals may be cleared.
        let cleared = try base.merging(json: Data(#"{"vocabulary": {"maxSize": null}, "maxLength": null}"#.utf8), source: "o.json")
        XCTAssertNil(cleared.vocabulary.maxSize)
        let mle = RunConfig(algorithm: MLEAlgorithm.self, corpus: "coco", preset: nil)
        XCTAssertThrowsError(try mle.merging(json: Data(#"{"discriminator": {"l2": 0.1}}"#.utf8), source: "m.json")) {
            XCTAssertTrue("\($0)".contains("trains no discriminator"), "\($0)")
        }
    }

    func testSwitchingAlgorithmKeepsTheSectionsBothRead() throws {
        var config = seqgan()
        config[section: MLEConfig.self].epochs = 7
        let mle = try config.merging(json: Data(#"{"algorithm": "mle"}"#.utf8), source: "s.json")
        XCTAssertEqual(mle[section: MLEConfig.self].epochs, 7)
        // The layering: a flag's algorithm wins over the file's.
        let file = (Data(#"{"algorithm": "seqgan", "mle": {"epochs": 2}}"#.utf8), "f.json")
        let layered = try RunConfig.layered(corpus: "coco", algorithm: "mle", preset: .quick, file: file)
        XCTAssertEqual(layered.algorithm, "mle")
        XCTAssertEqual(layered[section: MLEConfig.self].epochs, 2)
        XCTAssertEqual(try RunConfig.layered(corpus: "coco", algorithm: nil, preset: nil, file: file).algorithm, "seqgan")
    }

    func testGeneratorLearningRateHasOneHomePerSection() {
        var config = seqgan()
        XCTAssertEqual(config.setGeneratorLearningRate(0.003), ["mle", "seqgan"])
        XCTAssertEqual(config[section: MLEConfig.self].learningRate, 0.003)
        XCTAssertEqual(config[section: SeqGANConfig.self].generatorLearningRate, 0.003)
        XCTAssertEqual(config[section: SeqGANConfig.self].discriminatorLearningRate, 1e-4, "D's rate is its own")
    }

    /// Configs stored before sections and kinds existed: no `kind`, a `seqgan.pretrain` copy of `mle`, a
    /// discriminator section in MLE runs. They still decode (resume, sample and eval read them).
    func testConfigsRecordedBeforeTheRedesignStillDecode() throws {
        var old = try object(seqgan())
        var generator = old["generator"] as! [String: Any], discriminator = old["discriminator"] as! [String: Any]
        generator["kind"] = nil
        discriminator["kind"] = nil
        var section = old["seqgan"] as! [String: Any]
        section["pretrain"] = old["mle"]
        (old["generator"], old["discriminator"], old["seqgan"]) = (generator, discriminator, section)
        let gan = try RunConfig.decode(String(decoding: try JSONSerialization.data(withJSONObject: old), as: UTF8.self), source: "old")
        XCTAssertEqual(gan, seqgan())
        old["algorithm"] = "mle"
        let mle = try RunConfig.decode(String(decoding: try JSONSerialization.data(withJSONObject: old), as: UTF8.self), source: "old")
        XCTAssertNil(mle.discriminator)
        XCTAssertFalse(mle.reads(SeqGANConfig.self))
        // Old checkpoints name SeqGAN's first phases differently.
        let phases = try JSONDecoder().decode([SeqGANPhase].self, from: Data(#"["pretrainGenerator", "pretrainDiscriminator", "adversarial", "mle"]"#.utf8))
        XCTAssertEqual(phases, [.mle, .discriminator, .adversarial, .mle])
        XCTAssertThrowsError(try JSONDecoder().decode([SeqGANPhase].self, from: Data(#"["warmup"]"#.utf8)))
    }

    /// SeqGAN and the Gumbel-softmax algorithm read the one `gan` section (MLE does not); configs stored before it
    /// (`seqgan.loss`, `gumbel.loss`, `gumbel.weightClip`) decode into it, and a config file that still names them is
    /// told where they went.
    func testTheGANSectionIsSharedAndOldConfigsDecodeIntoIt() throws {
        let gumbel = RunConfig(algorithm: GumbelAlgorithm.self, corpus: "oracle", preset: nil)
        XCTAssertTrue(seqgan().reads(GANConfig.self) && gumbel.reads(GANConfig.self))
        XCTAssertFalse(RunConfig(algorithm: MLEAlgorithm.self, corpus: "coco", preset: nil).reads(GANConfig.self))
        XCTAssertEqual(gumbel[section: GANConfig.self], GANConfig())
        XCTAssertEqual(gumbel[section: GANConfig.self].gpWeight, 10)
        XCTAssertNil(try object(gumbel)["gumbel"].flatMap { ($0 as? [String: Any])?["loss"] })

        func stored(_ config: RunConfig, _ section: String, _ fields: [String: Any]) throws -> RunConfig {
            var old = try object(config)
            old["gan"] = nil
            var own = old[section] as! [String: Any]
            own.merge(fields) { $1 }
            old[section] = own
            return try RunConfig.decode(String(decoding: try JSONSerialization.data(withJSONObject: old), as: UTF8.self), source: "old")
        }
        let oldGumbel = try stored(gumbel, "gumbel", ["loss": "wgan", "weightClip": 0.05])
        XCTAssertEqual(oldGumbel[section: GANConfig.self].loss, .wgan)
        XCTAssertEqual(oldGumbel[section: GANConfig.self].weightClip, 0.05)
        XCTAssertEqual(try stored(gumbel, "gumbel", ["loss": "rsgan"])[section: GANConfig.self].loss, .rsgan)
        XCTAssertEqual(try stored(seqgan(), "seqgan", ["loss": "hinge"])[section: GANConfig.self].loss, .hinge)
        XCTAssertEqual(try stored(seqgan(), "seqgan", [:])[section: GANConfig.self], GANConfig())
        XCTAssertEqual(try RunConfig.decode(oldGumbel.json, source: "again"), oldGumbel)

        XCTAssertThrowsError(try gumbel.merging(json: Data(#"{"gumbel": {"loss": "hinge"}}"#.utf8), source: "c.json")) {
            XCTAssertTrue("\($0)".contains("unknown config key 'gumbel.loss' (the GAN objective's settings are in the gan section: gan.loss)"), "\($0)")
        }
        let hinge = try gumbel.merging(json: Data(#"{"gan": {"loss": "hinge", "gpWeight": 5}}"#.utf8), source: "c.json")
        XCTAssertEqual(hinge[section: GANConfig.self].loss, .hinge)
        XCTAssertEqual(hinge[section: GANConfig.self].gpWeight, 5)
        // SeqGAN refuses the Wasserstein critics, naming the key.
        for loss in ["wgan", "wgan-gp"] {
            let config = try seqgan().merging(json: Data(#"{"gan": {"loss": "\#(loss)"}}"#.utf8), source: "c.json")
            XCTAssertThrowsError(try config.validate()) { XCTAssertTrue("\($0)".contains("gan.loss"), "\($0)") }
            var gumbelConfig = gumbel
            gumbelConfig[section: GANConfig.self].loss = GANObjective(rawValue: loss)
            XCTAssertNoThrow(try gumbelConfig.validate())
        }
    }
}
