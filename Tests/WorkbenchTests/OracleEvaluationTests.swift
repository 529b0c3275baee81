import Foundation
import Models
import Training
import NumericCore
@testable import Workbench
import XCTest

/// On the synthetic benchmark an evaluation reports NLL-oracle, NLL-gen (the generator's NLL of fresh oracle
/// sequences it never trained on) and distinct-n of its samples.
final class OracleEvaluationTests: XCTestCase {
    func testAnOracleEvaluationReportsNLLOracleNLLGenAndDistinctN() throws {
        // The stand-in oracle (no shared data needed): same shapes, fixed seed.
        let config = RunConfig(algorithm: MLEAlgorithm.self, corpus: "oracle", preset: nil)
        let data = try TrainingData.oracle(sharedData: nil, config: config)
        var settings = EvaluationSettings()
        settings.nllOracleSamples = 64
        let evaluate = data.evaluator(settings)
        var rng = SeededGenerator(seed: 5)
        let generator = LSTMGenerator(LSTMGeneratorConfig(vocabularySize: data.vocabularySize, maxLength: 20), using: &rng)
        var stream = SeededGenerator(seed: 6)
        let metrics = evaluate(generator, &stream)
        XCTAssertNotNil(metrics["nll_oracle"])
        // NLL-gen is the mean token NLL of the held-out oracle sequences, which are not training sequences.
        let oracle = try XCTUnwrap(data.oracle)
        let heldOut = oracle.sampleCorpus(count: TrainingData.oracleHeldOutCount, seed: TrainingData.oracleHeldOutSeed)
        XCTAssertEqual(try XCTUnwrap(metrics["nll_gen_held_out"]), meanTokenNLL(generator, on: SequenceDataset(sequences: heldOut)),
                       accuracy: 1e-9)
        XCTAssertFalse(Set(heldOut.prefix(50)).isSubset(of: Set(data.train.sequences)))
        // An untrained generator is near uniform over 5000 tokens: ln 5000 ≈ 8.52 nats per token.
        XCTAssertEqual(metrics["nll_gen_held_out"]!, Foundation.log(5000), accuracy: 0.3)
        for n in 1...4 { XCTAssertTrue((0...1).contains(try XCTUnwrap(metrics["distinct\(n)"])), "distinct\(n)") }
        settings.testNLL = false
        XCTAssertNil(data.evaluator(settings)(generator, &stream)["nll_gen_held_out"])
    }
}
