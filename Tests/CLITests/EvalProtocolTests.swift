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
