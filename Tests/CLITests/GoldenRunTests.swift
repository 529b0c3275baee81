import Foundation
import NumericCore
import RunStore
import TestSupport
import XCTest

/// Short seeded runs of `textgan train` pinned to the bits they gave before the roles-and-registry redesign: the
/// recorded losses, the test NLL, the final parameters and the tokens `textgan sample` draws. A refactor that
/// changes any number fails here. The values hold for textgan's own AVX-512 sgemm (every machine of this kind);
/// with the OpenBLAS fallback the products round differently, so the test skips there.
final class GoldenRunTests: XCTestCase {
    private var directory: URL!
    private var database: String { directory.appendingPathComponent("runs/textgan.sqlite").path }

    override func setUpWithError() throws {
        // With MKL loaded, the runs below are told to leave it out (TEXTGAN_GEMM=own).
        guard GEMMBackend.current != .openblas else {
            throw XCTSkip("the pinned bits are those of textgan's AVX-512 sgemm; this machine uses \(GEMMBackend.current)")
        }
        directory = try temporaryDirectory(self)
        // "the <adjective> <animal> <verb> ." from a fixed linear congruential stream.
        var state: UInt64 = 11
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        let adjectives = ["small", "big", "red", "quiet", "old"], animals = ["cat", "dog", "bird", "fox"]
        let verbs = ["runs", "sleeps", "sings", "jumps"]
        let lines = (0..<200).map { _ in
            next(3) == 0 ? "a \(animals[next(4)]) \(verbs[next(4)])" : "the \(adjectives[next(5)]) \(animals[next(4)]) \(verbs[next(4)]) ."
        }
        try lines.joined(separator: "\n").write(to: directory.appendingPathComponent("golden.txt"), atomically: true, encoding: .utf8)
        let config = """
            {"generator": {"embeddingSize": 8, "hiddenSize": 12},
             "discriminator": {"embeddingSize": 6, "widths": [{"width": 1, "filters": 5}, {"width": 2, "filters": 6}, {"width": 4, "filters": 4}]},
             "mle": {"epochs": 3, "batchSize": 16, "logEvery": 4, "evaluateEvery": 1},
             "seqgan": {"discriminatorPretrainRounds": 2, "discriminatorPretrainEpochs": 1, "adversarialSteps": 3,
                        "discriminatorRounds": 1, "discriminatorEpochs": 1, "rollouts": 3, "negatives": 48,
                        "generatorBatchSize": 16, "evaluateEvery": 2},
             "evaluation": {"bleuSamples": 60}}
            """
        try config.write(to: directory.appendingPathComponent("golden.json"), atomically: true, encoding: .utf8)
        // MLE reads no discriminator or seqgan section (naming one is an error), so its file leaves them out.
        let mle = """
            {"generator": {"embeddingSize": 8, "hiddenSize": 12},
             "mle": {"epochs": 3, "batchSize": 16, "logEvery": 4, "evaluateEvery": 1},
             "evaluation": {"bleuSamples": 60}}
            """
        try mle.write(to: directory.appendingPathComponent("golden-mle.json"), atomically: true, encoding: .utf8)
    }

    private struct TrainingFailed: Error, CustomStringConvertible {
        var output: String
        var description: String { "textgan train failed: \(output)" }
    }

    private struct Pinned: Equatable, CustomStringConvertible {
        var metrics: [String: [UInt64]]
        var tensors: UInt64
        var samples: [String]

        var description: String {
            let m = metrics.keys.sorted().map { key in
                "\"\(key)\": [\(metrics[key]!.map { "0x" + String($0, radix: 16) }.joined(separator: ", "))]"
            }
            return "metrics: [\(m.joined(separator: ", "))],\ntensors: 0x\(String(tensors, radix: 16)),\nsamples: \(samples)"
        }
    }

    private let ownKernel = ["TEXTGAN_GEMM": "own"]

    /// Trains, then reads back what the run recorded and what its checkpoint holds and samples.
    private func pinnedRun(_ arguments: [String], config file: String, keys: [String]) throws -> Pinned {
        let corpus = directory.appendingPathComponent("golden.txt").path
        let config = directory.appendingPathComponent(file).path
        let trained = try runProcess("textgan", ["train", corpus, "--config", config, "--seed", "5", "--db", database,
                                                 "--root", packageRoot.path, "--min-examples", "16"] + arguments,
                                 environment: ownKernel)
        guard trained.status == 0 else { throw TrainingFailed(output: trained.stderr + trained.stdout.suffix(2000)) }
        let store = try RunDatabase(path: database)
        let id = try XCTUnwrap(try store.runs().map(\.run.id!).max())
        var metrics: [String: [UInt64]] = [:]
        // In the order they were recorded (ids), which no change of step numbering can reorder.
        for key in keys {
            metrics[key] = try store.metricHistory(run: id, key: key).sorted { $0.id! < $1.id! }.map(\.value.bitPattern)
        }
        let checkpoint = database.replacingOccurrences(of: "textgan.sqlite", with: "\(id)/latest.safetensors")
        let (tensors, _) = try Safetensors.read(from: URL(fileURLWithPath: checkpoint))
        // FNV-1a over every model tensor's name and bits, in name order.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        for name in tensors.keys.sorted() where !name.hasPrefix("optimizer.") {
            name.utf8.forEach(mix)
            for x in tensors[name]!.scalars { withUnsafeBytes(of: x.bitPattern.littleEndian) { $0.forEach(mix) } }
        }
        let sampled = try runProcess("textgan", ["sample", "\(id)", "--db", database, "-n", "6", "--seed", "3"],
                                     environment: ownKernel)
        XCTAssertEqual(sampled.status, 0, sampled.stderr)
        return Pinned(metrics: metrics, tensors: hash, samples: sampled.stdout.split(separator: "\n").map(String.init))
    }

    func testAShortSeqGANRunKeepsItsBits() throws {
        let pinned = try pinnedRun([], config: "golden.json", keys: ["loss", "train_nll", "nll_test", "bleu3", "d_loss", "pg_loss", "mean_reward"])
        XCTAssertEqual(pinned, Self.seqgan, "now:\n\(pinned)")
    }

    func testAShortMLERunKeepsItsBits() throws {
        let pinned = try pinnedRun(["--algo", "mle", "--epochs", "4"], config: "golden-mle.json", keys: ["loss", "grad_norm", "train_nll", "nll_test", "self_bleu2"])
        XCTAssertEqual(pinned, Self.mle, "now:\n\(pinned)")
    }

    // Recorded on commit 3afc886 (before the redesign), Intel Xeon (Emerald Rapids), AVX-512 sgemm; each metric's
    // values in the order they were recorded.
    private static let mle = Pinned(
        metrics: [
            "grad_norm": [0x3fce79c440000000, 0x3fcf801720000000, 0x3fcedff2c0000000, 0x3fcfcf95a0000000, 0x3fd3e4f5e0000000, 0x3fd457dae0000000, 0x3fd10f2ac0000000, 0x3fc93e7400000000, 0x3fd48acdc0000000, 0x3fdafcf6e0000000, 0x3fd32927a0000000, 0x3fcfffa380000000, 0x3fcea2ef60000000, 0x3fd19be700000000],
            "loss": [0x40081ed5a0000000, 0x4007e79d40000000, 0x40076ca7e0000000, 0x400736ee40000000, 0x40064063e0000000, 0x4004c60440000000, 0x4004250a20000000, 0x40035cc060000000, 0x4002fa8720000000, 0x40026c7740000000, 0x400225d800000000, 0x40018e61e0000000, 0x40010c37a0000000, 0x4000aa1e60000000],
            "nll_test": [0x400748d1c0000000, 0x4003b445a0000000, 0x4002013ac0000000, 0x400030b420000000],
            "self_bleu2": [0x3fe31a2e864d4306, 0x3fe26071911f78f5, 0x3fe31eb7a0116cf4, 0x3fe22257e1492bd3],
            "train_nll": [0x4007e472ba98ef60, 0x4005db2db486e955, 0x4002f20e5fa78892, 0x40012b19995d7159],
        ],
        tensors: 0xcd9a18d6538836c9,
        samples: ["the big runs sings..", "cat sleeps", "quiet fox jumps. dog.", "fox red jumps", "the. <unk> jumps", "sings"])
    private static let seqgan = Pinned(
        metrics: [
            "bleu3": [0x3fbfd64d00218e70, 0x3fc1fce549746074, 0x3fc117ce2dcd7521, 0x3fc2363c48049bf1, 0x3fc13859119ffaea, 0x3fc396902d8cac83],
            "d_loss": [0x3fe899e2a0000000, 0x3fe8b35b75555555, 0x3fe8b70baaaaaaab, 0x3fe86f1ab5555555, 0x3fe8695f95555555],
            "loss": [0x4008159c20000000, 0x4007b41ce0000000, 0x400781efe0000000, 0x40074397e0000000, 0x400667ad20000000, 0x4004b74ca0000000, 0x40040a6900000000, 0x4003b8ac40000000, 0x40030bbe60000000, 0x40026272a0000000, 0x400200cb00000000],
            "mean_reward": [0x3fde16fc2dd9ca82, 0x3fde16786318c632, 0x3fde4026db6db6db],
            "nll_test": [0x400748dc40000000, 0x4003c2e9e0000000, 0x4001f243e0000000, 0x4001f243e0000000, 0x40022b8180000000, 0x4002458b00000000],
            "pg_loss": [0x4054136b80000000, 0x4052dc9300000000, 0x4050f84800000000],
            "train_nll": [0x4007e712ea234f73, 0x4005dd306626b440, 0x4002f86bb7611a7c],
        ],
        tensors: 0x7e38fbc564bf38a4,
        samples: [". dog sleeps.. dog", "bird jumps", "small fox jumps the.", "jumps red sings", "the.", "jumps"])
}
