import Foundation
import RunStore
import TestSupport
import Workbench
import XCTest

@testable import textgan

/// `eval --protocol`: the named protocol sets the sampling and is stored with every score; a run whose tokens or
/// vocabulary differ from the protocol's is refused, as are flags that would depart from it.
final class EvalProtocolTests: XCTestCase {
    override func setUpWithError() throws {
        PlottedRuns.prepare()
        if let failure = PlottedRuns.failure { XCTFail(failure) }
        try XCTSkipIf(PlottedRuns.failure != nil)
    }

    private func eval(_ arguments: [String]) throws -> Finished {
        try PlottedRuns.textgan(["eval"] + arguments + ["--root", packageRoot.path])
    }

    func testArgumentsThatDepartFromTheProtocolAreRefused() throws {
        XCTAssertEqual(try EvalCommand.parse(["3", "--protocol", "gfs"]).temperatures, NamedProtocol.gfs.temperatures)
        XCTAssertEqual(try EvalCommand.parse(["3", "--protocol", "seqgan-synthetic-100k"]).sampleCount, 100_000)
        for extra in [["--samples", "50"], ["--sweep", "0.5,1"], ["--temperature", "0.7"], ["--smoothing", "method0"],
                      ["--references", "train"], ["--top-k", "5"]] {
            XCTAssertThrowsError(try EvalCommand.parse(["3", "--protocol", "texygen"] + extra), "\(extra)") { error in
                XCTAssertTrue(EvalCommand.message(for: error).contains("drop \(extra[0])"), EvalCommand.message(for: error))
            }
        }
        let unknown = try eval(["2", "--protocol", "texygen2"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("no evaluation protocol texygen2; the protocols are texygen, relgan, gfs"), unknown.stderr)
    }

    func testAProtocolsScoresCarryItsNameAndARunThatDoesNotMeetItIsRefused() throws {
        // The tiny corpus is lowercase words and a final period, and its test words all occur in training: it
        // meets Texygen's tokenization and vocabulary rule.
        let before = try RunDatabase(path: PlottedRuns.database, readOnly: true).evaluations(run: 2).compactMap(\.id).max() ?? 0
        let scored = try eval(["2", "--protocol", "texygen"])
        XCTAssertEqual(scored.status, 0, scored.stderr)
        XCTAssertTrue(scored.stdout.contains("protocol      texygen (Zhu et al. 2018"), scored.stdout)
        let added = try RunDatabase(path: PlottedRuns.database, readOnly: true).evaluations(run: 2).filter { $0.id! > before }
        XCTAssertEqual(added.count, 21)
        XCTAssertTrue(added.allSatisfy { $0.protocolName == "texygen" }, "\(added.map(\.protocolName))")
        XCTAssertTrue(added.filter { $0.metric != "nll_test" }.allSatisfy { $0.sampleCount == 10_000 && $0.temperature == 1 })

        // The synthetic benchmark's protocol does not apply to text.
        let synthetic = try eval(["2", "--protocol", "seqgan-synthetic"])
        XCTAssertNotEqual(synthetic.status, 0)
        XCTAssertEqual(synthetic.stderr, "Error: run 2 does not meet protocol seqgan-synthetic: seqgan-synthetic is for "
                       + "the synthetic benchmark; tiny is text\n")

        // A corpus with capitals and a clitic, tokenized by ICU words as written, is not split Texygen's way.
        let corpus = PlottedRuns.directory.appendingPathComponent("cased.txt")
        let lines = (0..<150).map { i in ["The cat's toy is red .", "A dog sleeps .", "The bird sings ."][i % 3] }
        try lines.joined(separator: "\n").write(to: corpus, atomically: true, encoding: .utf8)
        let trained = try PlottedRuns.textgan(["train", corpus.path, "--algo", "mle", "--epochs", "1", "--name", "cased",
                                               "--min-examples", "16", "--root", packageRoot.path])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let id = try XCTUnwrap(RunDatabase(path: PlottedRuns.database, readOnly: true).runIDs(named: "cased").first)
        let refused = try eval(["\(id)", "--protocol", "texygen"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.hasPrefix("Error: run \(id) does not meet protocol texygen: texygen splits text as "
                                               + "nltk-word-lowercase, but the run's tokenizer"), refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1)
        // GFS takes the run's own tokens and a training-split vocabulary: it applies.
        XCTAssertNil(try EvalCommand.parse(["\(id)", "--protocol", "gfs"]).samples)
    }
}

/// `eval --lm RUN` and `--reverse-lm`: Language GANs Falling Short's LM scores, stored with the LM behind them.
final class LanguageModelScoreCommandTests: XCTestCase {
    override func setUpWithError() throws {
        PlottedRuns.prepare()
        if let failure = PlottedRuns.failure { XCTFail(failure) }
        try XCTSkipIf(PlottedRuns.failure != nil)
    }

    func testTheLMScoresAreRecordedWithTheirLanguageModelAndAnLMOfAnotherVocabularyIsRefused() throws {
        // Given the tiny SeqGAN run 1 and the tiny MLE run 2 (an LM of the same corpus and vocabulary)
        let before = try RunDatabase(path: PlottedRuns.database, readOnly: true).evaluations(run: 1).compactMap(\.id).max() ?? 0

        // when run 1 is scored with run 2 as its LM and with a reverse LM trained on its samples
        let scored = try PlottedRuns.textgan(["eval", "1", "--samples", "80", "--lm", "tiny-mle", "--reverse-lm",
                                              "--root", packageRoot.path])

        // then both scores are printed and stored, each naming its LM, beside the likelihoods of both splits.
        XCTAssertEqual(scored.status, 0, scored.stderr)
        XCTAssertTrue(scored.stdout.contains("lm_score"), scored.stdout)
        XCTAssertTrue(scored.stdout.contains("nll_gen_train"), scored.stdout)
        let added = try RunDatabase(path: PlottedRuns.database, readOnly: true).evaluations(run: 1).filter { $0.id! > before }
        let lm = try XCTUnwrap(added.first { $0.metric == "lm_score" })
        XCTAssertTrue(lm.languageModel?.contains("/2/latest.safetensors sha256:") == true, "\(lm.languageModel ?? "nil")")
        XCTAssertEqual(lm.sampleCount, 80)
        let reverse = try XCTUnwrap(added.first { $0.metric == "reverse_lm_score" })
        XCTAssertTrue(reverse.referenceSet.hasSuffix(":test"), reverse.referenceSet)
        XCTAssertTrue(reverse.languageModel?.hasPrefix("reverse LM trained on the samples: {") == true)
        XCTAssertTrue(reverse.languageModel?.contains("\"epochs\":5") == true, reverse.languageModel ?? "nil")
        XCTAssertTrue(lm.value.isFinite && reverse.value.isFinite)
        let train = try XCTUnwrap(added.first { $0.metric == "nll_gen_train" })
        XCTAssertTrue(train.referenceSet.hasSuffix(":train"), train.referenceSet)
        XCTAssertNil(train.languageModel)

        // Given an MLE run on another corpus (another vocabulary), when it is named as the LM, then one line refuses it.
        let corpus = PlottedRuns.directory.appendingPathComponent("other-words.txt")
        try (0..<120).map { ["one two three .", "four five six .", "seven eight ."][$0 % 3] }.joined(separator: "\n")
            .write(to: corpus, atomically: true, encoding: .utf8)
        let trained = try PlottedRuns.textgan(["train", corpus.path, "--algo", "mle", "--epochs", "1", "--name", "other-words",
                                               "--min-examples", "16", "--root", packageRoot.path])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let refused = try PlottedRuns.textgan(["eval", "1", "--samples", "80", "--lm", "other-words", "--no-record",
                                               "--root", packageRoot.path])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.hasPrefix("Error: --lm other-words was trained on another vocabulary ("), refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
    }

    func testTheRelGANProtocolReportsNLLGenOnTheTrainingSplit() throws {
        XCTAssertEqual(NamedProtocol.relgan.likelihoods, [.train])
        XCTAssertEqual(NamedProtocol.texygen.likelihoods, [.test])
        XCTAssertEqual(LikelihoodSplit.train.metric, "nll_gen_train")
        let scored = try PlottedRuns.textgan(["eval", "2", "--protocol", "relgan", "--format", "json", "--no-record",
                                              "--root", packageRoot.path])
        XCTAssertEqual(scored.status, 0, scored.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(scored.stdout.utf8)) as? [String: Any])
        XCTAssertTrue(object["nll_gen_train"] is Double, "\(object["nll_gen_train"] ?? "nil")")
        XCTAssertTrue(object["nll_test"] is NSNull)
    }
}
