import Foundation
import Models
import Training

// The `adversarialTraining` section: adversarial examples mixed into D's training batches
// (Training/AdversarialExamples.swift). Every algorithm that trains a discriminator reads it — SeqGAN, the
// Gumbel-softmax algorithm, TextGAN and the detector — and hands it to its trainer with `setup.adversarialExamples`;
// the default (rate 0) is off.

extension AdversarialTrainingConfig: ConfigSection {
    public static let key = "adversarialTraining"

    public init(preset: Preset?) { self.init() }

    public func validate() throws {
        let check = ConfigCheck(Self.key)
        try check.number("rate", Float(rate), 0...1)
        try check.number("epsilon", epsilon, 0...1000)
        try check.int("steps", steps, 1...10_000)
        if let stepSize { try check.number("stepSize", stepSize, 0...1000, open: true) }
    }
}

extension TrainerSetup {
    /// The run's adversarial examples for D's batches (nil when its `adversarialTraining` section is off or absent):
    /// word rows move, the special tokens' never do.
    public var adversarialExamples: AdversarialExamples? {
        guard config.reads(AdversarialTrainingConfig.self) else { return nil }
        let words = Set(data.wordTokens)
        return AdversarialExamples(config[section: AdversarialTrainingConfig.self],
                                   fixedTokens: Set((0..<Int32(data.vocabularySize)).filter { !words.contains($0) }))
    }
}
