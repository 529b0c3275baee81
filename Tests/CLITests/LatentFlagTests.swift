import ArgumentParser
import Models
import NumericCore
@testable import textgan
import XCTest

/// `sample --latent`: a vector or a seed names the code of a latent generator; other generators and wrong sizes are
/// one-line errors.
final class LatentFlagTests: XCTestCase {
    private func latent() -> LatentLSTMGenerator {
        var rng = SeededGenerator(seed: 1)
        return LatentLSTMGenerator(LatentLSTMGeneratorConfig(vocabularySize: 9, latentSize: 3, maxLength: 6,
                                                              startToken: 1, endToken: 2), using: &rng)
    }

    func testVectorsAndSeedsNameOneCode() throws {
        let g = latent()
        let vector = try GenerationFlags.parse(["--latent", "0.5,-0.25, 1"])
        XCTAssertEqual(try vector.latentCode(for: g), [0.5, -0.25, 1])
        let seeded = try GenerationFlags.parse(["--latent", "seed:7"])
        var rng = SeededGenerator(seed: 7)
        XCTAssertEqual(try seeded.latentCode(for: g), g.drawLatents(count: 1, using: &rng).scalars)
        XCTAssertNil(try GenerationFlags.parse([]).latentCode(for: g))
        // The code fixes the samples at temperature 0, whatever the sampling seed.
        var a = SeededGenerator(seed: 1), b = SeededGenerator(seed: 2)
        var options = SamplingOptions(temperature: 0)
        options.latent = try vector.latentCode(for: g)
        XCTAssertEqual(g.sample(count: 3, options: options, using: &a), g.sample(count: 3, options: options, using: &b))
    }

    func testBadCodesAreOneLineErrors() throws {
        for bad in ["", "1,,2", "nan,1,2", "seed:-1", "seed:x", "a,b"] {
            XCTAssertThrowsError(try GenerationFlags.parse(["--latent", bad]), bad)
        }
        XCTAssertThrowsError(try GenerationFlags.parse(["--latent", "1,2"]).latentCode(for: latent())) {
            XCTAssertTrue("\($0)".contains("has 2 values; this generator's code has 3"), "\($0)")
        }
        var rng = SeededGenerator(seed: 1)
        let lstm = LSTMGenerator(LSTMGeneratorConfig(vocabularySize: 9), using: &rng)
        XCTAssertThrowsError(try GenerationFlags.parse(["--latent", "1,2,3"]).latentCode(for: lstm)) {
            XCTAssertTrue("\($0)".contains("has no latent code"), "\($0)")
        }
    }
}
