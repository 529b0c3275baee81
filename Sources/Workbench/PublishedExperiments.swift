import Foundation

// Published experiments as data: where each comes from, the numbers it published, the runs that reproduce it (an
// algorithm and a config overlay per budget, as `train --config` takes it), and the evaluation protocol its numbers
// follow. `textgan reproduce NAME` trains those runs as ordinary runs of the run store, scores them under the
// protocol and prints ours beside the published numbers. `full` is the published schedule; `short` a documented
// shortened one that runs in minutes on two cores, so that the pipeline and the direction of each gap can be checked
// (docs/results.md has what each gave here).

/// How much of a published schedule to run.
public enum Budget: String, Codable, Sendable, CaseIterable {
    /// The published schedule (hours on a laptop CPU for SeqGAN).
    case full
    /// A shortened schedule of a few minutes, stated per run below.
    case short
}

public struct PublishedExperiment: Codable, Sendable, Equatable {
    /// What `textgan reproduce` takes.
    public var name: String
    public var title: String
    /// The paper.
    public var citation: String
    /// Where in it (or in its code) the published numbers are.
    public var source: String
    /// The corpus every run trains on (a named corpus or a text file).
    public var corpus: String
    /// The evaluation protocol (`NamedProtocol`) the numbers are scored under.
    public var protocolName: String
    /// The metrics compared, in the order printed.
    public var metrics: [String]
    public var runs: [Run]
    /// How the published setting differs from ours, in a sentence or two.
    public var notes: String

    public init(name: String, title: String, citation: String, source: String, corpus: String, protocolName: String,
                metrics: [String], runs: [Run], notes: String) {
        self.name = name
        self.title = title
        self.citation = citation
        self.source = source
        self.corpus = corpus
        self.protocolName = protocolName
        self.metrics = metrics
        self.runs = runs
        self.notes = notes
    }

    /// One published row and the run of ours that reproduces it.
    public struct Run: Codable, Sendable, Equatable {
        /// The row's label in the paper ("MLE", "SeqGAN").
        public var label: String
        /// A registered algorithm (`train --algo`).
        public var algorithm: String
        /// A registered generator kind; nil: the algorithm's default.
        public var generator: String?
        /// The label of an earlier run of the experiment whose final checkpoint this run starts from (SeqGAN's
        /// adversarial phase starts from the MLE row's model, as the paper's does); nil: from scratch.
        public var initFrom: String?
        /// The published values by metric; a metric without one is measured and printed alone.
        public var published: [String: Double]
        /// The config overlay for each budget (JSON, any subset of a run config, as `train --config` reads).
        public var schedules: [String: String]

        public init(label: String, algorithm: String, generator: String? = nil, initFrom: String? = nil,
                    published: [String: Double], full: String, short: String) {
            self.label = label
            self.algorithm = algorithm
            self.generator = generator
            self.initFrom = initFrom
            self.published = published
            schedules = [Budget.full.rawValue: full, Budget.short.rawValue: short]
        }

        /// The overlay of `budget`.
        public func schedule(_ budget: Budget) throws -> String {
            guard let overlay = schedules[budget.rawValue] else {
                throw WorkbenchError("run \(label) has no \(budget.rawValue) schedule")
            }
            return overlay
        }

        /// A run name fragment: the label in lowercase letters, digits and dashes.
        var slug: String {
            String(label.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
                .split(separator: "-").joined(separator: "-")
        }
    }

    /// The run store name of `run`'s run at `budget` and `seed`: how a later `reproduce` finds it again.
    public func runName(_ run: Run, budget: Budget, seed: UInt64) -> String {
        "\(name)-\(run.slug)-\(budget.rawValue)-seed\(seed)"
    }

    /// The named protocol, which must exist.
    public var evaluationProtocol: NamedProtocol { get throws { try NamedProtocol.named(protocolName) } }

    // MARK: - The registry

    // Shared pieces of the schedules.
    private static let texygenVocabulary = #""vocabulary": {"splits": "train-and-test"}"#
    /// RelGAN's discriminator (its rmc_vanilla `discriminator`): a 64-wide embedding read as 64 representations of
    /// one dimension each (`dis_emb_dim` 64 / `num_rep` 64), filter widths 2..5 with 300 filters each, the GAN loss on
    /// every representation's logit. (64 representations of 64 dimensions each is 64 times RelGAN's convolutions:
    /// ~40 s an adversarial step on COCO, 2000 steps a day.)
    private static let relganDiscriminator = #""discriminator": {"representations": 64, "embeddingSize": 1, "widths": [{"width": 2, "filters": 300}, {"width": 3, "filters": 300}, {"width": 4, "filters": 300}, {"width": 5, "filters": 300}]}"#
    /// SeqGAN's short schedule: 5 rounds of D pretraining of 1 epoch (the reference: 50 of 3), then 10 adversarial
    /// steps of one policy-gradient step and one D round of 1 epoch (the reference: 200 steps of 5 rounds of 3).
    private static let seqganShortAdversarial = #""seqgan": {"discriminatorPretrainRounds": 5, "discriminatorPretrainEpochs": 1, "adversarialSteps": 10, "discriminatorRounds": 1, "discriminatorEpochs": 1, "evaluateEvery": 5}"#

    /// SeqGAN Table 1: NLL-oracle on the synthetic benchmark. The reference code's schedule: 120 MLE epochs, then
    /// 50 rounds of D pretraining (3 epochs each) and 200 adversarial steps; SeqGAN starts from the MLE model.
    public static let seqganOracle = PublishedExperiment(
        name: "seqgan-oracle", title: "SeqGAN Table 1: NLL-oracle on the synthetic benchmark",
        citation: "Yu et al. 2017, SeqGAN: Sequence Generative Adversarial Nets with Policy Gradient (AAAI)",
        source: "Table 1 (synthetic data, NLL-oracle); the schedule of the reference code (LantaoYu/SeqGAN)",
        corpus: "oracle", protocolName: NamedProtocol.seqganSynthetic.name, metrics: ["nll_oracle"],
        runs: [
            Run(label: "MLE", algorithm: "mle", published: ["nll_oracle": 9.038],
                full: #"{"mle": {"epochs": 120, "evaluateEvery": 5}}"#,
                short: #"{"mle": {"epochs": 30, "evaluateEvery": 30, "samplesPerEpoch": 0}}"#),
            Run(label: "SeqGAN", algorithm: "seqgan", initFrom: "MLE", published: ["nll_oracle": 8.736],
                full: #"{"mle": {"epochs": 0}}"#,
                short: #"{"mle": {"epochs": 0}, "# + seqganShortAdversarial + "}"),
        ],
        notes: "The paper scores 100,000 samples (protocol seqgan-synthetic-100k); its code, and this, 10,000. "
            + "The oracle is the original SeqGAN LSTM when ../shared/data/seqgan-oracle is present.")

    /// Texygen's COCO table (BLEU against the whole test set, Self-BLEU among the samples), with its own tokens and
    /// vocabulary: corpus coco-texygen, the vocabulary over both splits.
    public static let texygenCOCO = PublishedExperiment(
        name: "texygen-coco", title: "Texygen on MS-COCO captions: BLEU-2..5 and Self-BLEU-2..5",
        citation: "Zhu et al. 2018, Texygen: A Benchmarking Platform for Text Generation Models (SIGIR)",
        source: "geek-ai/Texygen docs/evaluation.md: 'On test dataset' (BLEU) and 'Mode Collapse (Self-BLEU)'",
        corpus: "coco-texygen", protocolName: NamedProtocol.texygen.name,
        metrics: ["bleu2", "bleu3", "bleu4", "bleu5", "self_bleu2", "self_bleu3", "self_bleu4", "self_bleu5"],
        runs: [
            Run(label: "MLE", algorithm: "mle",
                published: ["bleu2": 0.731, "bleu3": 0.497, "bleu4": 0.305, "bleu5": 0.189,
                            "self_bleu2": 0.916, "self_bleu3": 0.769, "self_bleu4": 0.583, "self_bleu5": 0.408],
                full: #"{"# + texygenVocabulary + #", "mle": {"epochs": 80, "evaluateEvery": 10}}"#,
                short: #"{"# + texygenVocabulary + #", "mle": {"epochs": 8, "evaluateEvery": 8, "samplesPerEpoch": 0}, "evaluation": {"bleuSamples": 0}}"#),
            Run(label: "SeqGAN", algorithm: "seqgan", initFrom: "MLE",
                published: ["bleu2": 0.745, "bleu3": 0.498, "bleu4": 0.294, "bleu5": 0.180,
                            "self_bleu2": 0.950, "self_bleu3": 0.840, "self_bleu4": 0.670, "self_bleu5": 0.489],
                full: #"{"# + texygenVocabulary + #", "mle": {"epochs": 0}, "seqgan": {"adversarialSteps": 100}}"#,
                short: #"{"# + texygenVocabulary + #", "mle": {"epochs": 0}, "# + seqganShortAdversarial
                    + #", "evaluation": {"bleuSamples": 500}}"#),
            Run(label: "TextGAN", algorithm: "textgan",
                published: ["bleu2": 0.593, "bleu3": 0.463, "bleu4": 0.277, "bleu5": 0.207,
                            "self_bleu2": 0.942, "self_bleu3": 0.931, "self_bleu4": 0.804, "self_bleu5": 0.746],
                full: #"{"# + texygenVocabulary + #", "mle": {"epochs": 80, "evaluateEvery": 10}, "textgan": {"pretraining": "mle"}}"#,
                short: #"{"# + texygenVocabulary + #", "mle": {"epochs": 5, "evaluateEvery": 5, "samplesPerEpoch": 0}, "textgan": {"pretraining": "mle", "adversarialSteps": 50, "evaluateEvery": 50}, "evaluation": {"bleuSamples": 500}}"#),
        ],
        notes: "Texygen pretrains 80 epochs and trains 100 adversarial epochs; its TextGAN is its own (see "
            + "docs/textgan.md for what it gets wrong). Texygen scores whatever number of samples it generated; 10,000 here.")

    /// RelGAN's COCO rows (β_max 100 and 1000), BLEU under Texygen's scoring; NLL-gen on the training data. Self-BLEU
    /// is not in RelGAN's table; it is scored here because the β_max trade-off is one of quality against diversity.
    public static let relganCOCO = PublishedExperiment(
        name: "relgan-coco", title: "RelGAN on MS-COCO captions: BLEU-2..5 at β_max = 100 and 1000",
        citation: "Nie et al. 2019, RelGAN: Relational Generative Adversarial Networks for Text Generation (ICLR)",
        source: "Table 2 (COCO image captions), RelGAN (100) and RelGAN (1000); the schedule of real/experiments/coco_relgan.py",
        corpus: "coco-texygen", protocolName: NamedProtocol.relgan.name,
        metrics: ["bleu2", "bleu3", "bleu4", "bleu5", "self_bleu2", "self_bleu3", "self_bleu4", "self_bleu5", "nll_gen_train"],
        runs: [
            Run(label: "MLE", algorithm: "mle", published: [:],
                full: #"{"# + texygenVocabulary + #", "mle": {"epochs": 150, "evaluateEvery": 10}}"#,
                short: #"{"# + texygenVocabulary + #", "mle": {"epochs": 8, "evaluateEvery": 8, "samplesPerEpoch": 0}, "evaluation": {"bleuSamples": 0}}"#),
            Run(label: "RelGAN (100)", algorithm: "gumbel", initFrom: "MLE",
                published: ["bleu2": 0.849, "bleu3": 0.687, "bleu4": 0.502, "bleu5": 0.331],
                full: #"{"# + texygenVocabulary + #", "mle": {"epochs": 0}, "gumbel": {"adversarialSteps": 2000, "annealingSteps": 5000, "maximumInverseTemperature": 100}, "# + relganDiscriminator + #"}"#,
                short: #"{"# + texygenVocabulary + #", "mle": {"epochs": 0}, "gumbel": {"adversarialSteps": 100, "maximumInverseTemperature": 100, "evaluateEvery": 50}, "evaluation": {"bleuSamples": 500}}"#),
            Run(label: "RelGAN (1000)", algorithm: "gumbel", initFrom: "MLE",
                published: ["bleu2": 0.814, "bleu3": 0.634, "bleu4": 0.455, "bleu5": 0.303],
                full: #"{"# + texygenVocabulary + #", "mle": {"epochs": 0}, "gumbel": {"adversarialSteps": 2000, "annealingSteps": 5000, "maximumInverseTemperature": 1000}, "# + relganDiscriminator + #"}"#,
                short: #"{"# + texygenVocabulary + #", "mle": {"epochs": 0}, "gumbel": {"adversarialSteps": 100, "maximumInverseTemperature": 1000, "evaluateEvery": 50}, "evaluation": {"bleuSamples": 500}}"#),
        ],
        notes: "RelGAN's generator is a relational memory; ours is SeqGAN's LSTM (embedding 32, hidden 32). "
            + "RelGAN also reports NLL-gen, on the training data (nll_gen_train here); it is not transcribed.")

    /// Language GANs Falling Short: the quality–diversity curve of MLE and a GAN over the softmax temperature.
    public static let gfsTemperature = PublishedExperiment(
        name: "gfs-temperature", title: "Language GANs Falling Short: BLEU-5 against Self-BLEU-5 over temperature",
        citation: "Caccia et al. 2020, Language GANs Falling Short (ICLR)",
        source: "Figure 4 (EMNLP News): MLE's curve lies above every GAN's at every Self-BLEU; curves, no table",
        corpus: "coco", protocolName: NamedProtocol.gfs.name, metrics: ["bleu5", "self_bleu5"],
        runs: [
            Run(label: "MLE", algorithm: "mle", published: [:],
                full: #"{"mle": {"epochs": 80, "evaluateEvery": 10}}"#,
                short: #"{"mle": {"epochs": 8, "evaluateEvery": 8, "samplesPerEpoch": 0}, "evaluation": {"bleuSamples": 0}}"#),
            Run(label: "SeqGAN", algorithm: "seqgan", initFrom: "MLE", published: [:],
                full: #"{"mle": {"epochs": 0}, "seqgan": {"adversarialSteps": 100}}"#,
                short: #"{"mle": {"epochs": 0}, "# + seqganShortAdversarial + #", "evaluation": {"bleuSamples": 500}}"#),
        ],
        notes: "The paper's figure is on EMNLP News, which ../shared/data does not hold; this runs COCO. What is "
            + "compared is the finding (MLE's curve dominates), not numbers.")

    public static let registry = [seqganOracle, texygenCOCO, relganCOCO, gfsTemperature]


    /// Experiments from a JSON file (an array of experiment objects, the registry's own form).
    public static func load(from url: URL) throws -> [PublishedExperiment] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw WorkbenchError("cannot read the experiments file \(url.path)")
        }
        do {
            return try JSONDecoder().decode([PublishedExperiment].self, from: data)
        } catch {
            throw WorkbenchError("the experiments file \(url.path) is not an array of experiments: \(error)")
        }
    }

    /// Checks what the registry names: the protocol, each algorithm and generator, each `initFrom` (an earlier
    /// run), both budgets' overlays as JSON objects, and each published metric among `metrics`.
    public func validate() throws {
        _ = try evaluationProtocol
        var labels: Set<String> = []
        for run in runs {
            guard Registry.shared.algorithm(run.algorithm) != nil else {
                throw WorkbenchError("experiment \(name): run \(run.label) names algorithm \(run.algorithm), which is not registered")
            }
            if let generator = run.generator, Registry.shared.generator(generator) == nil {
                throw WorkbenchError("experiment \(name): run \(run.label) names generator \(generator), which is not registered")
            }
            if let source = run.initFrom, !labels.contains(source) {
                throw WorkbenchError("experiment \(name): run \(run.label) starts from \(source), which is not an earlier run")
            }
            for budget in Budget.allCases {
                let overlay = try run.schedule(budget)
                _ = try RunConfig.layered(corpus: corpus, algorithm: run.algorithm, generator: run.generator, preset: nil,
                                          file: (Data(overlay.utf8), "experiment \(name), run \(run.label), \(budget.rawValue)"))
            }
            if let metric = run.published.keys.sorted().first(where: { !metrics.contains($0) }) {
                throw WorkbenchError("experiment \(name): run \(run.label) publishes \(metric), which is not among its metrics")
            }
            labels.insert(run.label)
        }
    }
}
