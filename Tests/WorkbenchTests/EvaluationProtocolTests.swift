import Foundation
import Metrics
import Workbench
import XCTest

/// The named protocols on fixed inputs: each one's tokenization and vocabulary rule.
final class EvaluationProtocolTests: XCTestCase {
    func testTexygenAndRelGANSplitTextAsNLTKsWordTokenizeDoesLowercased() {
        for p in [NamedProtocol.texygen, .relgan] {
            XCTAssertEqual(p.tokenize("A dog's bed, by the door."), ["a", "dog", "'s", "bed", ",", "by", "the", "door", "."])
            XCTAssertEqual(p.tokenize("They don't ski."), ["they", "do", "n't", "ski", "."])
            XCTAssertEqual(p.tokenize("several people skiing on a trail at night."),
                           ["several", "people", "skiing", "on", "a", "trail", "at", "night", "."])
            XCTAssertEqual(p.tokenize("carrots, broccoli and rice"), ["carrots", ",", "broccoli", "and", "rice"])
            XCTAssertEqual(p.tokenize("Mr. Smith (left) waves!"), ["mr.", "smith", "(", "left", ")", "waves", "!"])
            XCTAssertEqual(p.tokenize("a 3.5 inch screen; we'll see"), ["a", "3.5", "inch", "screen", ";", "we", "'ll", "see"])
            XCTAssertEqual(p.tokenize("  "), [])
        }
        // GFS scores the run's own tokens; the synthetic benchmark has ids.
        XCTAssertNil(NamedProtocol.gfs.tokenize("A dog's bed."))
        XCTAssertNil(NamedProtocol.seqganSynthetic.tokenize("1 2 3"))
    }

    func testTheVocabularyRules() {
        let train = [["a", "cat", "sits"], ["a", "dog"]], test = [["a", "zebra", "sits"], ["the", "cat"]]
        // Texygen's and RelGAN's vocabulary covers both splits: no test word is out of it.
        XCTAssertEqual(NamedProtocol.texygen.vocabularyTokens(train: train, test: test),
                       ["a", "cat", "sits", "dog", "zebra", "the"])
        XCTAssertEqual(NamedProtocol.relgan.vocabulary, .trainAndTest)
        // GFS's (ours) covers the training split: "zebra" and "the" are out of it.
        XCTAssertEqual(NamedProtocol.gfs.vocabularyTokens(train: train, test: test), ["a", "cat", "sits", "dog"])
        XCTAssertEqual(NamedProtocol.seqganSynthetic.vocabularyTokens(train: train, test: test), [])
    }

    func testTheProtocolsAreCodableValuesWithDistinctNames() throws {
        XCTAssertEqual(NamedProtocol.all.map(\.name), ["texygen", "relgan", "gfs", "seqgan-synthetic", "seqgan-synthetic-100k"])
        for p in NamedProtocol.all {
            XCTAssertEqual(try JSONDecoder().decode(NamedProtocol.self, from: JSONEncoder().encode(p)), p)
            XCTAssertEqual(try NamedProtocol.named(p.name), p)
        }
        XCTAssertEqual(NamedProtocol.gfs.sampleCount, 10_000)
        XCTAssertEqual(NamedProtocol.gfs.bleuOrders, [5])
        XCTAssertGreaterThan(NamedProtocol.gfs.temperatures.count, 1)
        XCTAssertEqual(NamedProtocol.texygen.smoothing, .method1)
        XCTAssertEqual(NamedProtocol.seqganSynthetic.sampleCount, 10_000)
        XCTAssertEqual(NamedProtocol.seqganSynthetic100k.sampleCount, 100_000)
        XCTAssertThrowsError(try NamedProtocol.named("texygen2")) { error in
            XCTAssertEqual("\(error)", "no evaluation protocol texygen2; the protocols are texygen, relgan, gfs, "
                           + "seqgan-synthetic, seqgan-synthetic-100k")
        }
    }
}
