import Layers
import Models
import NumericCore
import TestSupport
import Training
import XCTest

// Greedy gradient-guided token swaps: each swap is the arg-max of the linearised gain, at most k per sentence, only
// words in and out, and the attack raises D's loss.

final class TokenSwapTests: XCTestCase {
    private let config = CNNDiscriminatorConfig(
        vocabularySize: 12, sequenceLength: 6, embeddingSize: 5,
        widths: [ConvolutionWidth(width: 1, filters: 4), ConvolutionWidth(width: 2, filters: 4),
                 ConvolutionWidth(width: 3, filters: 3)],
        keepProbability: 0.75, l2: 0.2, initStd: 0.5)
    /// Ids 4…11 are words; 0…3 (pad, bos, eos, unk) never move.
    private let words: [Int32] = Array(4...11)

    private func discriminator(seed: UInt64 = 3) -> CNNDiscriminator {
        var rng = SeededGenerator(seed: seed)
        return CNNDiscriminator(config, using: &rng)
    }

    private func sentences(_ count: Int, seed: UInt64, words range: ClosedRange<Int> = 4...11) -> [[Int32]] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            (0..<(2 + rng.nextInt(below: 4))).map { _ in Int32(range.lowerBound + rng.nextInt(below: range.count)) } + [2]
        }
    }

    private func meanLoss(_ d: CNNDiscriminator, _ sequences: [[Int32]], _ labels: [Int32]) -> Float {
        var unused = SeededGenerator(seed: 0)
        let logits = d.forward(.tokens(d.pack(sequences)), training: false, using: &unused).logits
        return CrossEntropyGANLoss().discriminatorLoss(logits: logits, labels: labels).loss
    }

    func testTheChosenSwapIsTheArgMaxOfTheLinearisedGain() throws {
        let d = discriminator()
        let batch = sentences(6, seed: 1)
        let labels: [Int32] = [1, 0, 1, 0, 1, 0]
        let embedded = try EmbeddedBatch(batch, discriminator: d, allowed: Set(words))
        let (_, g) = EmbeddingAttacks.lossAndGradient(d, embedded: embedded.embedded, labels: labels)
        let table = d.embedding.table.value
        let best = TokenSwapAttack.bestSwaps(gradient: g, ids: embedded.ids, movable: embedded.mask,
                                             active: [Bool](repeating: true, count: 6), table: table, allowed: words)
        let (T, W) = (config.sequenceLength, config.embeddingSize)
        for b in 0..<batch.count {
            // Brute force over every movable position and every other word, in Double.
            var bruteBest: (t: Int, v: Int32, gain: Double)?
            for t in 0..<T where embedded.mask[b * T + t] {
                let n = b * T + t, x = Int(embedded.ids[n])
                for v in words where v != embedded.ids[n] {
                    let gain = (0..<W).reduce(0.0) { $0 + Double(g[n, $1]) * Double(table[Int(v), $1] - table[x, $1]) }
                    if gain > (bruteBest?.gain ?? 0) { bruteBest = (t, v, gain) }
                }
            }
            let brute = try XCTUnwrap(bruteBest, "a random D has some swap that raises its loss")
            let chosen = try XCTUnwrap(best[b])
            XCTAssertEqual(chosen.position, brute.t, "sentence \(b)")
            XCTAssertEqual(chosen.token, brute.v, "sentence \(b)")
            XCTAssertEqual(Double(chosen.gain), brute.gain, accuracy: 1e-5 + 1e-4 * abs(brute.gain))
        }
        // An inactive sentence, or one with no movable position, gets no swap.
        let none = TokenSwapAttack.bestSwaps(gradient: g, ids: embedded.ids, movable: [Bool](repeating: false, count: embedded.mask.count),
                                             active: [Bool](repeating: true, count: 6), table: table, allowed: words)
        XCTAssertTrue(none.allSatisfy { $0 == nil })
        XCTAssertNil(TokenSwapAttack.bestSwaps(gradient: g, ids: embedded.ids, movable: embedded.mask,
                                               active: [false, true, true, true, true, true], table: table, allowed: words)[0])
        // One round of the attack makes exactly these swaps (on the sentences D judged right).
        var unused = SeededGenerator(seed: 0)
        let logits = d.forward(.tokens(embedded.ids), training: false, using: &unused).logits
        let (_, made) = try TokenSwapAttack.attack(d, sequences: batch, labels: labels, swaps: 1, allowed: words)
        for b in 0..<batch.count {
            let right = (logits[b, 1] > logits[b, 0]) == (labels[b] == 1)
            XCTAssertEqual(made[b], right ? [best[b]!] : [], "sentence \(b)")
        }
    }

    func testSwapsNeverExceedKAndOnlyWordsGoInAndOut() throws {
        let d = discriminator(seed: 9)
        let batch = sentences(24, seed: 2) + [[4, 5, 6, 7, 8, 9, 10, 11, 2]]  // longer than D's 6 tokens
        let labels = (0..<batch.count).map { Int32($0 % 2) }
        for k in [1, 2, 4] {
            let (adversarial, made) = try TokenSwapAttack.attack(d, sequences: batch, labels: labels, swaps: k, allowed: words)
            XCTAssertEqual(adversarial.map(\.count), batch.map(\.count))
            for b in 0..<batch.count {
                XCTAssertLessThanOrEqual(made[b].count, k)
                XCTAssertEqual(Set(made[b].map(\.position)).count, made[b].count, "a position is swapped once")
                for t in batch[b].indices {
                    let (clean, attacked) = (batch[b][t], adversarial[b][t])
                    if made[b].contains(where: { $0.position == t }) {
                        XCTAssertTrue(words.contains(attacked) && words.contains(clean) && attacked != clean)
                        XCTAssertLessThan(t, config.sequenceLength, "only what D reads is swapped")
                    } else {
                        XCTAssertEqual(attacked, clean)
                    }
                }
            }
            XCTAssertTrue(made.contains { !$0.isEmpty })
        }
    }

    /// On a D trained to tell sentences of words 4…7 (real) from words 8…11 (generated), a few swaps raise its loss
    /// and lower its accuracy; the report counts them.
    func testTheAttackRaisesTheLossOnAFixedModel() throws {
        let d = discriminator()
        var rng = SeededGenerator(seed: 4)
        let real = sentences(64, seed: 5, words: 4...7), fake = sentences(64, seed: 6, words: 8...11)
        _ = try trainDiscriminator(d, optimizer: Adam(d.parameters, config: .init(learningRate: 0.01)), positives: real,
                                   negatives: fake, epochs: 4, batchSize: 16, using: &rng)
        let batch = Array(real.prefix(16)) + Array(fake.prefix(16))
        let labels = [Int32](repeating: 1, count: 16) + [Int32](repeating: 0, count: 16)
        let (adversarial, made) = try TokenSwapAttack.attack(d, sequences: batch, labels: labels, swaps: 3, allowed: words)
        XCTAssertGreaterThan(meanLoss(d, adversarial, labels), meanLoss(d, batch, labels) + 0.1)
        XCTAssertTrue(made.allSatisfy { $0.count <= 3 })
        let report = try TokenSwapAttack.evaluate(d, sequences: batch, labels: labels, swaps: 3, allowed: words, batchSize: 10)
        XCTAssertGreaterThan(report.cleanAccuracy, 0.9)
        XCTAssertLessThan(report.attackedAccuracy, report.cleanAccuracy - 0.2)
        XCTAssertLessThanOrEqual(report.meanSwaps, 3)
        XCTAssertGreaterThan(report.meanSwaps, 0)
        XCTAssertFalse(report.flipped.isEmpty)
        for example in report.flipped { XCTAssertNotEqual(example.clean, example.adversarial) }
    }
}
