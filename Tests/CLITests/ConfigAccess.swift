import Models
import Training
import Workbench

/// Typed views of a run config's sections, for assertions.
extension RunConfig {
    static func defaults(corpus: String, preset: Preset?) -> RunConfig {
        RunConfig(algorithm: SeqGANAlgorithm.self, corpus: corpus, preset: preset)
    }

    var mle: MLEConfig { self[section: MLEConfig.self] }
    var seqgan: SeqGANConfig { self[section: SeqGANConfig.self] }
    var lstm: LSTMGeneratorConfig { generator.config as! LSTMGeneratorConfig }
    var cnn: CNNDiscriminatorConfig { discriminator!.config as! CNNDiscriminatorConfig }
}
