import Foundation
import Metrics
import TestSupport
import TextPipeline
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
            // A clitic before the final period (a COCO caption): the period comes off first, then the clitic.
            XCTAssertEqual(p.tokenize("a skier without ski's."), ["a", "skier", "without", "ski", "'s", "."])
            XCTAssertEqual(p.tokenize("they don't. "), ["they", "do", "n't", "."])
            XCTAssertEqual(p.tokenize("wait..."), ["wait..."])
            XCTAssertEqual(p.tokenize("."), ["."])
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

    func testACorpusSplitTheTreebankWayWithAVocabularyOverBothSplitsMeetsTexygen() throws {
        // Given a corpus file of raw captions (final periods attached, a test-only word), as COCO's files are
        let directory = try temporaryDirectory(self)
        let corpus = directory.appendingPathComponent("captions.txt")
        let lines = (0..<60).map { i in ["A dog sits on the bed.", "Two cats, one dog.", "a zebra walks."][i % 3] }
        try lines.joined(separator: "\n").write(to: corpus, atomically: true, encoding: .utf8)
        var config = RunConfig(algorithm: MLEAlgorithm.self, corpus: corpus.path, preset: nil)
        config.tokenizer = TokenizerConfig(mode: .treebank, lowercase: true)

        // when the vocabulary is built over the training split, then Texygen refuses the run: test words are out
        // of it (the seeded 10% test split holds lines whose words the training split also has, so add one)
        let trainOnly = try TrainingData.text(root: packageRoot, sharedData: nil, config: config, minExamples: 16)
        XCTAssertEqual(trainOnly.trainTokens?.first { $0.first == "a" && $0.count == 7 },
                       ["a", "dog", "sits", "on", "the", "bed", "."])
        XCTAssertNil(NamedProtocol.texygen.unmet(by: trainOnly), "every test word occurs in training here")
        XCTAssertNotNil(NamedProtocol.texygen.unmet(by: try space(corpus)), "space tokens keep 'bed.' whole")

        // and with `vocabulary.splits` train-and-test the test split's words are in the vocabulary.
        config.vocabulary.splits = .trainAndTest
        let both = try TrainingData.text(root: packageRoot, sharedData: nil, config: config, minExamples: 16)
        let testWords = Set(try XCTUnwrap(both.testTokens).joined())
        XCTAssertTrue(testWords.allSatisfy { both.vocabulary!.contains($0) })
        XCTAssertTrue(both.vocabularyDescription.contains("built from captions:train+test"), both.vocabularyDescription)
        XCTAssertNil(NamedProtocol.texygen.unmet(by: both))
    }

    private func space(_ corpus: URL) throws -> TrainingData {
        var config = RunConfig(algorithm: MLEAlgorithm.self, corpus: corpus.path, preset: nil)
        config.tokenizer = TokenizerConfig(mode: .space, lowercase: true)
        return try TrainingData.text(root: packageRoot, sharedData: nil, config: config, minExamples: 16)
    }

    func testTheTreebankModeIsTexygensTokenizationAndJoinsWithSpaces() throws {
        let tokenizer = try Tokenizer(TokenizerConfig(mode: .treebank, lowercase: true))
        XCTAssertEqual(tokenizer.tokenize("Several people skiing at night."), ["several", "people", "skiing", "at", "night", "."])
        XCTAssertEqual(tokenizer.detokenize(["a", "dog", "'s", "bed", "."]), "a dog 's bed .")
        XCTAssertEqual(tokenizer.tokenize(tokenizer.detokenize(tokenizer.tokenize("The cat's toy, red."))),
                       tokenizer.tokenize("The cat's toy, red."))
    }
}
