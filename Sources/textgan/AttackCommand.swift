import ArgumentParser
import Foundation
import Models
import NumericCore
import RunStore
import Training
import Workbench

extension AttackNorm: ExpressibleByArgument {}

/// What `textgan attack` perturbs: D's input embeddings (FGSM, PGD) or its tokens (greedy gradient-guided swaps).
enum AttackKind: String, ExpressibleByArgument, CaseIterable {
    case embedding, swap
}

struct AttackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attack",
        abstract: "Attack a discriminator (FGSM or PGD on its input embeddings, or token swaps) and report its accuracy under attack.",
        discussion: """
            The discriminator of a GAN run (SeqGAN, Gumbel) or a detector run judges --samples real held-out \
            sentences of its corpus and as many generated ones (the run's own generator's samples; for a detector, \
            its first training run's). Each attack perturbs the embedding rows of the word tokens (never the end \
            token or padding) within a ball of radius ε around the clean rows, per sentence: --steps 1 is FGSM \
            (x + ε·sign ∇), more steps are PGD (step 2.5ε/k, projected onto the ball each step, no random start). \
            Reported per ε and attack: accuracy on clean input, on the perturbed embeddings (robust), and on the \
            perturbed rows' nearest tokens (real text), the share of tokens the projection changed, and sentences \
            whose verdict the projected attack flipped.

            --attack swap is a discrete attack that produces real text (HotFlip-style): up to --swaps K word swaps per \
            sentence, each the position and word that most raise D's loss to first order, ∇ₑL · (e(new) − e(old)), \
            with the gradient taken again after each swap; a sentence stops once D misjudges it or no swap raises the \
            loss. Reported per K: clean accuracy, accuracy on the swapped sentences, the mean number of swaps and the \
            share of words swapped, and flipped sentences.

            Examples:
              textgan attack 4 --eps 0.1,0.5,1 --steps 1,10
              textgan attack 7 --norm l2 --eps 1,2,4
              textgan attack 4 --attack swap --swaps 1,3,5
            """)

    @Argument(help: "A GAN run or detector run (id or name), or a checkpoint file.")
    var runOrDetector: String

    @Option(parsing: .unconditional, help: "Radii of the ball, comma-separated (embedding units).",
            transform: { try numbers($0, flag: "--eps") })
    var eps: [Double] = [0.1, 0.5, 1]

    @Option(parsing: .unconditional, help: "Attack steps, comma-separated: 1 is FGSM, k > 1 is k-step PGD.",
            transform: { try numbers($0, flag: "--steps").map { Int($0) } })
    var steps: [Int] = [1, 10]

    @Option(help: "embedding (FGSM/PGD on the input embeddings, --eps, --steps, --norm) or swap (token swaps, --swaps).")
    var attack: AttackKind = .embedding

    @Option(parsing: .unconditional, help: "--attack swap: the most swaps per sentence, comma-separated.",
            transform: { try numbers($0, flag: "--swaps").map { Int($0) } })
    var swaps: [Int] = [1, 3, 5]

    @Option(help: "The ball: linf or l2 (the L2 norm over a sentence's perturbed rows).")
    var norm: AttackNorm = .linf

    @Option(help: "Real and generated sentences each.")
    var samples: Int = 500

    @Option(help: "Flipped sentences shown per attack.")
    var examples: Int = 3

    @Option(help: "Seed of the sampling and of the choice of real sentences.")
    var seed: UInt64 = 0

    @Option(help: "Threads.")
    var threads: Int = 2

    @OptionGroup var workspace: WorkspaceOptions
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard !eps.isEmpty, eps.allSatisfy({ $0 >= 0 && $0.isFinite }) else { throw ValidationError("--eps takes radii ≥ 0") }
        guard !steps.isEmpty, steps.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--steps takes step counts ≥ 1") }
        guard !swaps.isEmpty, swaps.allSatisfy({ (1...1000).contains($0) }) else {
            throw ValidationError("--swaps takes swap counts from 1 to 1000")
        }
        guard (2...1_000_000).contains(samples) else { throw ValidationError("--samples must be in 2…1,000,000, not \(samples)") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be from 1 to 1024, not \(threads)") }
    }

    static func numbers(_ text: String, flag: String) throws -> [Double] {
        try text.split(separator: ",").map { part in
            guard let value = Double(part.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("\(flag) takes comma-separated numbers such as 0.1,0.5 (got \"\(text)\")")
            }
            return value
        }
    }

    func run() throws {
        BLAS.setThreads(threads)
        Parallel.threads = threads
        let root = try workspace.packageRoot()
        let sharedData = workspace.sharedDataDirectory(root: root)
        let (discriminator, config, generated, what) = try target(root: root, sharedData: sharedData)
        let data = try TrainingData.load(config, root: root, sharedData: sharedData, minExamples: 1)
        let real = DetectionSplit.realSentences(data, train: 0, heldOut: samples, seed: seed).heldOut
        let sequences = real + generated, labels = [Int32](repeating: 1, count: real.count) + [Int32](repeating: 0, count: generated.count)
        // Words move and are projected onto words: the special tokens (pad, bos, eos, unk) stay where they are.
        let allowed = data.wordTokens

        let target = "\(what): its \(discriminator.kind) discriminator on \(real.count) real (\(data.corpus) held out) "
            + "and \(generated.count) generated sentences"
        if attack == .swap {
            return try swapAttack(discriminator, sequences: sequences, labels: labels, allowed: allowed, data: data,
                                  target: target)
        }
        print("textgan attack — \(target); \(norm.rawValue) balls")
        var rows: [[String]] = [], flipped: [String] = []
        for epsilon in eps {
            for k in steps {
                let attack = EmbeddingAttack(norm: norm, epsilon: Float(epsilon), steps: k)
                let report = try EmbeddingAttacks.evaluate(discriminator, sequences: sequences, labels: labels,
                                                           attack: attack, allowed: allowed, keepFlipped: examples)
                rows.append([Format.number(epsilon), attack.name] + [report.cleanAccuracy, report.robustAccuracy,
                             report.projectedAccuracy, report.changedTokenRate].map { String(format: "%.4f", $0) })
                for example in report.flipped {
                    flipped.append("  ε=\(Format.number(epsilon)) \(attack.name), \(example.label == 1 ? "real" : "generated"): "
                        + "\(data.render(example.clean))  →  \(data.render(example.adversarial))")
                }
            }
        }
        print(TextTable(headers: ["eps", "attack", "clean_acc", "robust_acc", "projected_acc", "tokens_changed"],
                        rows: rows, rightAligned: Set(0..<6).subtracting([1])).render())
        if !flipped.isEmpty { print("flipped by the projected attack (clean → adversarial):\n" + flipped.joined(separator: "\n")) }
    }

    /// `--attack swap`: D's accuracy on the swapped sentences for each --swaps.
    private func swapAttack(_ discriminator: any SequenceDiscriminator, sequences: [[Int32]], labels: [Int32],
                            allowed: [Int32], data: TrainingData, target: String) throws {
        print("textgan attack — \(target); greedy gradient-guided word swaps")
        var rows: [[String]] = [], flipped: [String] = []
        for k in swaps {
            let report = try TokenSwapAttack.evaluate(discriminator, sequences: sequences, labels: labels, swaps: k,
                                                      allowed: allowed, keepFlipped: examples)
            rows.append(["\(k)"] + [report.cleanAccuracy, report.attackedAccuracy, report.meanSwaps,
                                    report.changedTokenRate].map { String(format: "%.4f", $0) })
            for example in report.flipped {
                flipped.append("  swaps≤\(k), \(example.label == 1 ? "real" : "generated"): "
                    + "\(data.render(example.clean))  →  \(data.render(example.adversarial))")
            }
        }
        print(TextTable(headers: ["swaps", "clean_acc", "attacked_acc", "mean_swaps", "tokens_changed"],
                        rows: rows, rightAligned: Set(0..<5)).render())
        if !flipped.isEmpty { print("flipped by the swaps (clean → adversarial):\n" + flipped.joined(separator: "\n")) }
    }

    /// The discriminator to attack, its run config, the generated sentences it judges, and how to name it.
    private func target(root: URL, sharedData: URL?) throws -> (any SequenceDiscriminator, RunConfig, [[Int32]], String) {
        let reference = try database.reference(runOrDetector)
        let name: String
        switch reference {
        case .run(let id): name = "run \(id)"
        case .file(let path): name = path
        }
        if Detector.isDetector(reference, runsDirectory: database.runsDirectory) {
            let (detector, _) = try loadDetector(runOrDetector, database: database, best: false)
            let data = try TrainingData.load(detector.config, root: root, sharedData: sharedData, minExamples: 1)
            let generated = try DetectionSplit.generatedSamples(
                from: detector.detect.against[0], count: samples, temperature: detector.detect.temperature, data: data,
                seed: seed)
            return (detector.discriminator, detector.config, generated, "detector \(name)")
        }
        let loaded = try database.loadRun(reference)
        guard let discriminator = loaded.discriminator else {
            throw WorkbenchError("\(name) (algorithm \(loaded.config.algorithm)) has no discriminator to attack; "
                + "attack a SeqGAN or Gumbel run, or a detector (`textgan detect train`)")
        }
        var rng = SeededGenerator(seed: seed)
        return (discriminator, loaded.config, loaded.generator.sample(count: samples, batchSize: 500, using: &rng), name)
    }
}
