import Foundation

// Every metric and score textgan records, with what it means and which way is better: the one source of the metric
// tables in docs/reference.md and of docs/run-store.md's table of what an evaluation row holds (`evaluationsTable`).
// The tests check that every key a run records (in `metrics` or `evaluations`) is here, that the run store's
// `metric_directions` agrees with the directions given here, and that both documents hold the generated tables.

public struct MetricDescription: Sendable, Equatable {
    public enum Better: String, Sendable { case higher, lower }

    /// The key, or a family of keys with `{n}` standing for a number (`bleu{n}`: bleu2 … bleu5).
    public var name: String
    /// Where it is recorded: "metrics" (training's per-step and per-evaluation rows), "evaluations" (scores with
    /// their protocol), or both.
    public var table: String
    /// Which phases or commands record it.
    public var recordedBy: String
    public var better: Better?
    public var meaning: String
    /// For a score of the `evaluations` table: what one of its rows holds, under which protocol columns (the table
    /// of docs/run-store.md); nil for the others.
    public var rows: String?

    init(_ name: String, _ table: String, _ recordedBy: String, _ better: Better?, _ meaning: String, rows: String? = nil) {
        (self.name, self.table, self.recordedBy, self.better, self.meaning) = (name, table, recordedBy, better, meaning)
        self.rows = rows
    }

    /// Whether `key` is this metric (or one of its family).
    public func matches(_ key: String) -> Bool {
        guard let brace = name.range(of: "{n}") else { return key == name }
        let head = name[..<brace.lowerBound], tail = name[brace.upperBound...]
        guard key.hasPrefix(head), key.hasSuffix(tail), key.count > head.count + tail.count else { return false }
        let middle = key.dropFirst(head.count).dropLast(tail.count)
        return middle.allSatisfy(\.isASCII) && middle.allSatisfy(\.isNumber)
    }
}

public enum MetricCatalog {
    public static func entry(for key: String) -> MetricDescription? { entries.first { $0.matches(key) } }

    /// docs/run-store.md's table: the generators' evaluation scores, what a row of each holds.
    public static func evaluationsTable() -> String {
        var lines = ["| metric | better | recorded by | what a row holds |", "|---|---|---|---|"]
        for entry in entries {
            guard let rows = entry.rows else { continue }
            // run-store.md writes a family's order as <n>
            let name = entry.name.replacingOccurrences(of: "{n}", with: "<n>")
            lines.append("| `\(name)` | \(entry.better?.rawValue ?? "—") | \(entry.recordedBy) | \(rows) |")
        }
        return lines.joined(separator: "\n")
    }

    private static let both = "metrics, evaluations"
    private static let trainEval = "training evaluations, `eval`"

    public static let entries: [MetricDescription] = [
        // Optimisation
        .init("loss", "metrics", "mle, autoencoder", .lower, "Mean cross-entropy per token of the MLE batch (nats); in TextGAN's autoencoder phase −log G(x | z = enc(x) + noise)."),
        .init("grad_norm", "metrics", "mle, autoencoder", nil, "The generator's gradient norm before clipping (the autoencoder phase: the generator's and the encoder's together)."),
        .init("learning_rate", "metrics", "mle, autoencoder", nil, "The scheduled learning rate of the step (recorded only with a warm-up or cosine schedule)."),
        .init("tokens_per_s", "metrics", "mle, autoencoder", .higher, "Training throughput of the step, evaluation time excluded."),
        .init("train_nll", "metrics", "mle, autoencoder", .lower, "Mean NLL per token over the epoch's training batches (nats); in the autoencoder phase under the encoder's noisy codes."),
        .init("latent_mmd", "metrics", "autoencoder (textgan)", .lower, "TextGAN's autoencoder pretraining: the unbiased MMD² between the batch's codes enc(x) and as many draws from the prior, whose textgan.latentMatchingWeight-weighted gradient the step adds."),
        .init("reconstruction_nll_test", "metrics", "autoencoder (textgan)", .lower, "TextGAN's autoencoder pretraining: the mean per-token −log G(x | z = enc(x)) of the test split, each sentence decoded from its own code without noise (nats)."),
        .init("adversarial_step", "metrics", "adversarial (gumbel, textgan)", nil, "The adversarial step the row belongs to (its phase step)."),
        .init("pg_loss", "metrics", "adversarial (seqgan)", nil, "SeqGAN's policy-gradient loss: −Σ log G(token) · reward over the batch."),
        .init("mean_reward", "metrics", "adversarial (seqgan)", .higher, "Mean Monte Carlo rollout reward (D's P(real)) of the generator's tokens."),
        .init("g_loss", "metrics", "adversarial (gumbel, textgan)", .lower, "The generator's adversarial loss (the GAN objective's generator side; TextGAN: the feature distance)."),
        .init("g_gradient_norm", "metrics", "adversarial (gumbel, textgan)", nil, "The generator's gradient norm in the adversarial step, before clipping."),
        .init("inverse_temperature", "metrics", "adversarial (gumbel)", nil, "β of the Gumbel-softmax relaxation at this step (annealed up to gumbel.maximumInverseTemperature)."),
        .init("d_loss", "metrics", "discriminator, adversarial", .lower, "The discriminator's loss, averaged over its steps (the GAN objective's discriminator side)."),
        .init("d_accuracy_real", "metrics", "discriminator, adversarial", nil, "Fraction of real sequences D classifies as real."),
        .init("d_accuracy_fake", "metrics", "discriminator, adversarial", nil, "Fraction of generated sequences D classifies as generated."),
        .init("d_accuracy_clean", "metrics", "discriminator, adversarial (with adversarialTraining)", .higher, "D's accuracy on the batch members chosen for adversarial examples, before they are perturbed."),
        .init("d_accuracy_robust", "metrics", "discriminator, adversarial (with adversarialTraining)", .higher, "D's accuracy on the same members after the attack (FGSM or PGD within ε on their embeddings)."),
        .init("gradient_penalty", "metrics", "adversarial (gumbel, gan.loss wgan-gp)", nil, "WGAN-GP's penalty λ·(‖∇D(x̂)‖ − 1)² at interpolates x̂, averaged over D steps."),
        .init("gradient_norm_interpolates", "metrics", "adversarial (gumbel, gan.loss wgan-gp)", nil, "Mean ‖∇D(x̂)‖ at the interpolates (1 for a critic that satisfies the penalty)."),
        .init("d_bce", "metrics", "adversarial (textgan)", .lower, "TextGAN D's smoothed binary cross-entropy on real vs generated sentences."),
        .init("d_feature_distance", "metrics", "adversarial (textgan)", nil, "The feature distance (MMD², √MMD² or moment distance) between real and generated features that D maximises."),
        .init("d_reconstruction", "metrics", "adversarial (textgan)", .lower, "TextGAN D's reconstruction loss of the latent code z from generated sentences."),
        // Likelihood
        .init("nll_oracle", both, "training evaluations (oracle)", .lower, "NLL-oracle: the oracle's mean NLL per token of the generator's samples (nats; SeqGAN's synthetic benchmark).",
                  rows: "the oracle's per-token NLL of `sample_count` samples (`reference_set` `oracle:<origin>`, `reference_count` NULL, `tokenizer` `ids`; training: `evaluation.nllOracleSamples` samples)"),
        .init("nll_gen_held_out", both, "training evaluations (oracle)", .lower, "NLL-gen on held-out data: the generator's mean NLL per token of 2,048 fresh oracle sequences it never trained on (`nll_gen` before schema version 10).",
                  rows: "synthetic benchmark: the generator's per-token NLL of 2,048 fresh oracle sequences it never trained on (`reference_set` `oracle:<origin>:held-out`); recorded as `nll_gen` before migration `v10-nll-split-names-and-language-model`, which renamed the stored rows"),
        .init("nll_gen_train", "evaluations", "`eval`", .lower, "NLL-gen on the training split (RelGAN's NLL-gen): the generator's mean NLL per token of its training sequences.",
                  rows: "the generator's per-token NLL of the training split, teacher forced (`reference_set` `<corpus>:train`, the oracle's `oracle:train`): RelGAN's NLL-gen, which `--protocol relgan` reports instead of `nll_test`"),
        .init("lm_score", "evaluations", "`eval --lm RUN`", .lower, "LM score (Language GANs Falling Short): mean NLL per token of the samples under an LM trained on real data (the named run's generator).",
                  rows: "Language GANs Falling Short's LM score: the per-token NLL of the `sample_count` samples under the `eval --lm` run's generator, an LM trained on the real training data with the same vocabulary (`reference_set` `lm`; `language_model` names it)"),
        .init("reverse_lm_score", "evaluations", "`eval --reverse-lm`", .lower, "Reverse-LM score: mean NLL per token of the real test split under an LSTM trained by MLE on the samples.",
                  rows: "its reverse-LM score: the per-token NLL of the real test split (the oracle: the 2,048 held-out sequences) under an LSTM trained by MLE on the samples inside the evaluation (embedding 32, hidden 32, 5 epochs, batch 64, Adam 0.01, clip 5, seeded by `eval --seed`; `reference_set` `<corpus>:test`, `language_model` holds its config)"),
        .init("nll_test", both, trainEval, .lower, "The generator's mean NLL per token of the test split (nats).",
                  rows: "the generator's per-token NLL of the test split, teacher forced (`reference_set` `<corpus>:test`; `sample_count` = `reference_count` = test sentences; no seed or temperature)"),
        // Quality and diversity of samples
        .init("bleu{n}", both, trainEval, .higher, "BLEU-n of the samples against the references (geometric mean of 1…n-gram precisions, brevity penalty, the protocol's smoothing).",
                  rows: "mean sentence BLEU-n of `sample_count` samples against all `reference_count` sentences of `reference_set`; `smoothing` `method1` or `method0` (training: n in `evaluation.bleuOrders`, the test split, `evaluation.bleuSmoothing`; eval: n = 2…5, `--references`, `--smoothing`)"),
        .init("self_bleu{n}", both, trainEval, .lower, "Self-BLEU-n: each sample's BLEU-n against the other samples, averaged (higher: less diverse).",
                  rows: "each sample against the other `sample_count − 1` (`reference_set` `self`, `reference_count` `sample_count − 1`, `smoothing` as for BLEU)"),
        .init("distinct{n}", both, trainEval, .higher, "Distinct-n: distinct n-grams over all n-grams of the samples.",
                  rows: "unique n-grams / all n-grams of the samples (`reference_set` `self`, `reference_count` NULL)"),
        .init("ms_jaccard{n}", "evaluations", "`eval`", .higher, "MS-Jaccard-n (Montahaei et al. 2019): the Jaccard index of the samples' and references' n-gram multisets, geometric mean over orders 1…n.",
                  rows: "MS-Jaccard-n (Montahaei et al. 2019) of the samples against `reference_set`: for each order k ≤ n, Σ min / Σ max over n-grams of the two sets' rates (occurrences per sentence), then the geometric mean over k = 1…n; NaN when neither set has an n-gram of some order (text corpora). Not in `metric_directions`, so higher-is-better, which it is"),
        .init("rouge_l", "evaluations", "`eval`", .higher, "Mean ROUGE-L F-measure of each sample against its best reference.",
                  rows: "mean ROUGE-L F1 of each sample against its best-matching reference of `reference_set` (text corpora)"),
        .init("memorisation_rate", "evaluations", "`eval`", .lower, "Fraction of samples that are verbatim training sequences.",
                  rows: "fraction of samples equal, token for token, to a sentence of `reference_set`, which is always the training split `<corpus>:train`, whatever `--references` says"),
        .init("longest_copied", "evaluations", "`eval`", .lower, "The longest contiguous span of any sample that occurs in one training sentence (tokens).",
                  rows: "the longest token span of a sample that occurs inside one training sentence, the maximum over samples (`reference_set` `<corpus>:train`)"),
        .init("longest_copied_mean", "evaluations", "`eval`", .lower, "The mean over samples of the longest span each shares with one training sentence (tokens).",
                  rows: "the same span, its mean over samples (`reference_set` `<corpus>:train`)"),
        // Detection and privacy (docs/security.md)
        .init("accuracy", "evaluations", "`detect train`, `detect eval`", .higher, "A detector's accuracy on held-out real vs generated sentences (threshold 0.5)."),
        .init("roc_auc", "evaluations", "`detect train`, `detect eval`", .higher, "A detector's ROC-AUC on held-out real vs generated sentences."),
        .init("tpr_at_1pct_fpr", "evaluations", "`detect train`, `detect eval`", .higher, "A detector's true-positive rate at a 1% false-positive rate."),
        .init("membership_auc", "evaluations", "`eval --privacy`", .lower, "Loss-threshold membership inference: AUC of telling training from test sentences by the generator's NLL (0.5: nothing leaks)."),
        .init("membership_auc_reference", "evaluations", "`eval --privacy --reference-run`", .lower, "The same attack on the NLL ratio against a reference model."),
        .init("canary_exposure_{n}", "evaluations", "`eval --privacy` (canaries)", .lower, "Exposure of canary n (Carlini et al. 2019): log₂ |candidates| − log₂ (the canary's rank among them by NLL), 0 to its maximum."),
        .init("canary_exposure_mean", "evaluations", "`eval --privacy` (canaries)", .lower, "Mean exposure of the run's canaries."),
    ]
}
