// The evaluation metrics, one entry each: the name the run store, the events and the screen use, which way is
// better, who records it, and what a row of it holds. docs/run-store.md's table of them is generated from this list
// (`MetricReferenceTests` checks it, and rewrites it with TEXTGAN_UPDATE_DOCS=1), and the run store's
// `metric_directions` must agree with `lowerIsBetter`.

public struct EvaluationMetricRow: Sendable, Equatable {
    /// The stored name; `<n>` stands for an order.
    public let name: String
    /// The concrete names `name` covers (`bleu2` … `bleu5`), for checks against the run store.
    public let instances: [String]
    public let lowerIsBetter: Bool
    /// `train`, `eval`, or both.
    public let recordedBy: String
    /// What a row holds and under which protocol columns.
    public let meaning: String
}

public enum MetricReference {
    private static func orders(_ stem: String, _ range: ClosedRange<Int>) -> [String] { range.map { "\(stem)\($0)" } }

    public static let evaluationMetrics: [EvaluationMetricRow] = [
        EvaluationMetricRow(
            name: "bleu<n>", instances: orders("bleu", 2...5), lowerIsBetter: false, recordedBy: "train, eval",
            meaning: "mean sentence BLEU-n of `sample_count` samples against all `reference_count` sentences of "
                + "`reference_set`; `smoothing` `method1` or `method0` (training: n in `evaluation.bleuOrders`, the test "
                + "split, `evaluation.bleuSmoothing`; eval: n = 2…5, `--references`, `--smoothing`)"),
        EvaluationMetricRow(
            name: "self_bleu<n>", instances: orders("self_bleu", 2...5), lowerIsBetter: true, recordedBy: "train, eval",
            meaning: "each sample against the other `sample_count − 1` (`reference_set` `self`, `reference_count` "
                + "`sample_count − 1`, `smoothing` as for BLEU)"),
        EvaluationMetricRow(
            name: "rouge_l", instances: ["rouge_l"], lowerIsBetter: false, recordedBy: "eval",
            meaning: "mean ROUGE-L F1 of each sample against its best-matching reference of `reference_set` (text corpora)"),
        EvaluationMetricRow(
            name: "ms_jaccard<n>", instances: orders("ms_jaccard", 2...5), lowerIsBetter: false, recordedBy: "eval",
            meaning: "MS-Jaccard-n (Montahaei et al. 2019) of the samples against `reference_set`: for each order k ≤ n, "
                + "Σ min / Σ max over n-grams of the two sets' rates (occurrences per sentence), then the geometric mean "
                + "over k = 1…n; NaN when neither set has an n-gram of some order (text corpora). Not in "
                + "`metric_directions`, so higher-is-better, which it is"),
        EvaluationMetricRow(
            name: "distinct<n>", instances: orders("distinct", 1...4), lowerIsBetter: false, recordedBy: "train, eval",
            meaning: "unique n-grams / all n-grams of the samples (`reference_set` `self`, `reference_count` NULL)"),
        EvaluationMetricRow(
            name: "memorisation_rate", instances: ["memorisation_rate"], lowerIsBetter: true, recordedBy: "eval",
            meaning: "fraction of samples equal, token for token, to a sentence of `reference_set`, which is always the "
                + "training split `<corpus>:train`, whatever `--references` says"),
        EvaluationMetricRow(
            name: "longest_copied, longest_copied_mean", instances: ["longest_copied", "longest_copied_mean"],
            lowerIsBetter: true, recordedBy: "eval",
            meaning: "the longest token span of a sample that occurs inside one training sentence: max and mean over "
                + "samples (`reference_set` `<corpus>:train`)"),
        EvaluationMetricRow(
            name: "nll_test", instances: ["nll_test"], lowerIsBetter: true, recordedBy: "train, eval",
            meaning: "the generator's per-token NLL of the test split, teacher forced (`reference_set` `<corpus>:test`; "
                + "`sample_count` = `reference_count` = test sentences; no seed or temperature)"),
        EvaluationMetricRow(
            name: "nll_gen_train", instances: ["nll_gen_train"], lowerIsBetter: true, recordedBy: "eval",
            meaning: "the same on the training split (`reference_set` `<corpus>:train`, the oracle's `oracle:train`): "
                + "RelGAN's NLL-gen, which `--protocol relgan` reports instead of `nll_test`"),
        EvaluationMetricRow(
            name: "nll_gen_held_out", instances: ["nll_gen_held_out"], lowerIsBetter: true, recordedBy: "train",
            meaning: "synthetic benchmark: the generator's per-token NLL of 2,048 fresh oracle sequences it never "
                + "trained on (`reference_set` `oracle:<origin>:held-out`); recorded as `nll_gen` before migration "
                + "`v10-nll-split-names-and-language-model`, which renamed the stored rows"),
        EvaluationMetricRow(
            name: "nll_oracle", instances: ["nll_oracle"], lowerIsBetter: true, recordedBy: "train, eval",
            meaning: "the oracle's per-token NLL of `sample_count` samples (`reference_set` `oracle:<origin>`, "
                + "`reference_count` NULL, `tokenizer` `ids`; training: `evaluation.nllOracleSamples` samples)"),
        EvaluationMetricRow(
            name: "lm_score", instances: ["lm_score"], lowerIsBetter: true, recordedBy: "eval",
            meaning: "Language GANs Falling Short's LM score: the per-token NLL of the `sample_count` samples under the "
                + "`eval --lm` run's generator, an LM trained on the real training data with the same vocabulary "
                + "(`reference_set` `lm`; `language_model` names it)"),
        EvaluationMetricRow(
            name: "reverse_lm_score", instances: ["reverse_lm_score"], lowerIsBetter: true, recordedBy: "eval",
            meaning: "its reverse-LM score: the per-token NLL of the real test split (the oracle: the 2,048 held-out "
                + "sequences) under an LSTM trained by MLE on the samples inside the evaluation (embedding 32, hidden 32, "
                + "5 epochs, batch 64, Adam 0.01, clip 5, seeded by `eval --seed`; `reference_set` `<corpus>:test`, "
                + "`language_model` holds its config)"),
    ]

    /// The table of docs/run-store.md.
    public static func markdownTable() -> String {
        var lines = ["| metric | better | recorded by | what a row holds |", "|---|---|---|---|"]
        for m in evaluationMetrics {
            let name = m.name.split(separator: ",").map { "`\($0.trimmingCharacters(in: .whitespaces))`" }.joined(separator: ", ")
            lines.append("| \(name) | \(m.lowerIsBetter ? "lower" : "higher") | \(m.recordedBy) | \(m.meaning) |")
        }
        return lines.joined(separator: "\n")
    }
}
