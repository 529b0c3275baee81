import Foundation
@testable import NumericCore
import XCTest

// Tests for the safetensors and .npy readers and writers.
//
// Three kinds of evidence, so the writer and reader cannot agree on a shared mistake:
//   - files assembled here byte by byte (literal hex for the values) and read back;
//   - the writer's bytes compared with a literal expected file;
//   - Python's own `safetensors` and `numpy` as oracles, in both directions, when they are installed.

final class SerializationTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("SerializationTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: - Safetensors: round trips and exact bytes

    func testSafetensorsRoundTripKeepsShapesValuesAndMetadata() throws {
        // Given tensors of ranks 0 to 3, an empty one, and special values.
        var rng = SeededGenerator(seed: 7)
        let tensors: [String: Tensor] = [
            "scalar": Tensor(shape: [], scalars: [3.25]),
            "empty": Tensor(zeros: [0, 3]),
            "lstm.wi": Tensor(randomNormal: [3, 4], using: &rng),
            "cube": Tensor(randomUniform: [2, 3, 4], low: -1, high: 1, using: &rng),
            "special": Tensor(shape: [6], scalars: [
                -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
            ]),
            "naïve \"quoted\" name": Tensor(shape: [1], scalars: [1]),
        ]
        let metadata = ["config": #"{"hidden": 32, "path": "a\b"}"#, "step": "100"]
        let url = directory.appendingPathComponent("model.safetensors")

        // When written and read back.
        try Safetensors.write(tensors, metadata: metadata, to: url)
        let (read, readMetadata) = try Safetensors.read(from: url)

        // Then everything is bit-for-bit the same.
        XCTAssertEqual(readMetadata, metadata)
        XCTAssertEqual(Set(read.keys), Set(tensors.keys))
        for (name, tensor) in tensors {
            assertBitwiseEqual(read[name], tensor, name)
        }
    }

    func testSafetensorsWriteIsDeterministic() throws {
        // Given the same tensors in two dictionaries built in opposite orders.
        let names = (0..<20).map { "layer\($0).weight" }
        var forward: [String: Tensor] = [:]
        var backward: [String: Tensor] = [:]
        func tensor(_ i: Int) -> Tensor { Tensor(repeating: Float(i), shape: [i % 3 + 1, 2]) }
        for (i, name) in names.enumerated() { forward[name] = tensor(i) }
        for (i, name) in names.enumerated().reversed() { backward[name] = tensor(i) }
        let metadata = ["b": "2", "a": "1", "c": "3"]

        let first = directory.appendingPathComponent("first.safetensors")
        let second = directory.appendingPathComponent("second.safetensors")
        try Safetensors.write(forward, metadata: metadata, to: first)
        try Safetensors.write(backward, metadata: metadata, to: second)

        XCTAssertEqual(try Data(contentsOf: first), try Data(contentsOf: second))
    }

    func testSafetensorsWriterProducesTheExpectedBytes() throws {
        let url = directory.appendingPathComponent("exact.safetensors")
        try Safetensors.write(
            ["b": Tensor(shape: [2], scalars: [1, -2]), "a": Tensor(shape: [], scalars: [0.5])],
            metadata: ["k": "v"], to: url)

        // Metadata first, then tensors in name order with contiguous offsets; padded with spaces to 8 bytes.
        let json = #"{"__metadata__":{"k":"v"},"#
            + #""a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        let header = Array(json.utf8) + [UInt8](repeating: 0x20, count: (8 - json.utf8.count % 8) % 8)
        let values: [UInt8] = [
            0x00, 0x00, 0x00, 0x3F,  // 0.5
            0x00, 0x00, 0x80, 0x3F,  // 1.0
            0x00, 0x00, 0x00, 0xC0,  // -2.0
        ]
        let expected = littleEndianBytes(UInt64(header.count)) + header + values

        XCTAssertEqual((8 + header.count) % 8, 0)
        XCTAssertEqual([UInt8](try Data(contentsOf: url)), expected)
    }

    func testSafetensorsWritesAnEmptyFileForNoTensors() throws {
        let url = directory.appendingPathComponent("nothing.safetensors")
        try Safetensors.write([:], to: url)
        let (tensors, metadata) = try Safetensors.read(from: url)
        XCTAssertTrue(tensors.isEmpty)
        XCTAssertTrue(metadata.isEmpty)
        XCTAssertEqual([UInt8](try Data(contentsOf: url)), littleEndianBytes(UInt64(8)) + Array("{}      ".utf8))
    }

    func testParameterContainerSurvivesASafetensorsRoundTrip() throws {
        struct TinyModel: ParameterContainer {
            let parameters: [Parameter]
            init(seed: UInt64) {
                var rng = SeededGenerator(seed: seed)
                parameters = [
                    Parameter("embedding", Tensor(randomNormal: [5, 3], using: &rng)),
                    Parameter("lstm.bias", Tensor(randomNormal: [12], using: &rng)),
                ]
            }
        }
        let saved = TinyModel(seed: 1)
        let restored = TinyModel(seed: 2)
        XCTAssertNotEqual(saved.parameters[0].value, restored.parameters[0].value)

        let url = directory.appendingPathComponent("tiny.safetensors")
        try Safetensors.write(saved.namedTensors, to: url)
        try restored.load(try Safetensors.read(from: url).tensors)

        for (a, b) in zip(saved.parameters, restored.parameters) {
            XCTAssertEqual(a.value, b.value, a.name)
        }
    }

    // MARK: - Safetensors: a file built by hand

    func testSafetensorsReadsAHandBuiltFileWithEveryDType() throws {
        // Keys out of order, no padding (so the data is unaligned), offsets not in key order.
        let header = #"{"w32":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},"#
            + #""w64":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"#
            + #""__metadata__":{"format":"pt"},"#
            + #""i32":{"dtype":"I32","shape":[1,1],"data_offsets":[8,12]},"#
            + #""none":{"dtype":"F32","shape":[0,3],"data_offsets":[12,12]},"#
            + #""i64":{"dtype":"I64","shape":[1],"data_offsets":[20,28]},"#
            + #""half":{"dtype":"F16","shape":[2],"data_offsets":[28,32]},"#
            + #""brain":{"dtype":"BF16","shape":[1],"data_offsets":[32,34]}}"#
        let data: [UInt8] = [
            0, 0, 0, 0, 0, 0, 0xD0, 0xBF,  // F64 -0.25
            0xFD, 0xFF, 0xFF, 0xFF,  // I32 -3
            0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x00, 0xC0,  // F32 1.5, -2.0
            0x2C, 0x01, 0, 0, 0, 0, 0, 0,  // I64 300
            0x00, 0x3C, 0x00, 0xB8,  // F16 1.0, -0.5
            0xC0, 0xBF,  // BF16 -1.5
        ]
        let url = directory.appendingPathComponent("hand.safetensors")
        try handBuiltSafetensors(header: header, data: data).write(to: url)

        let (tensors, metadata) = try Safetensors.read(from: url)

        XCTAssertEqual(metadata, ["format": "pt"])
        XCTAssertEqual(tensors["w64"], Tensor(shape: [], scalars: [-0.25]))
        XCTAssertEqual(tensors["i32"], Tensor(shape: [1, 1], scalars: [-3]))
        XCTAssertEqual(tensors["w32"], Tensor(shape: [2], scalars: [1.5, -2]))
        XCTAssertEqual(tensors["none"], Tensor(zeros: [0, 3]))
        XCTAssertEqual(tensors["i64"], Tensor(shape: [1], scalars: [300]))
        XCTAssertEqual(tensors["half"], Tensor(shape: [2], scalars: [1, -0.5]))
        XCTAssertEqual(tensors["brain"], Tensor(shape: [1], scalars: [-1.5]))
        XCTAssertEqual(tensors.count, 7)
    }

    #if !(os(macOS) && arch(x86_64))  // Float16 is unavailable on Intel Macs
    func testHalfPrecisionDecodingAgreesWithFloat16ForEveryBitPattern() {
        for bits in UInt16.min...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let decoded = StoredScalar.floatFromHalf(bits)
            if expected.isNaN {
                XCTAssertTrue(decoded.isNaN, "0x\(String(bits, radix: 16))")
            } else if decoded.bitPattern != expected.bitPattern {
                XCTFail("0x\(String(bits, radix: 16)): decoded \(decoded), Float16 says \(expected)")
                return
            }
        }
    }
    #endif

    // MARK: - Safetensors: errors

    func testSafetensorsReportsTruncationWhereverTheFileIsCut() throws {
        let url = directory.appendingPathComponent("model.safetensors")
        try Safetensors.write(
            ["a": Tensor(repeating: 1, shape: [4, 4]), "b": Tensor(repeating: 2, shape: [8])],
            metadata: ["note": "cut me"], to: url)
        let whole = try Data(contentsOf: url)
        let headerLength = Int(whole.prefix(8).reversed().reduce(0) { $0 << 8 | UInt64($1) })
        let dataStart = 8 + headerLength

        let cuts = [0, 4, 7, 8, 8 + headerLength / 2, dataStart - 1, dataStart, dataStart + 30, whole.count - 1]
        for length in cuts {
            let cut = directory.appendingPathComponent("cut-\(length).safetensors")
            try whole.prefix(length).write(to: cut)
            let error = assertThrows(SafetensorsError.self, containing: ["truncated", cut.path]) {
                _ = try Safetensors.read(from: cut)
            }
            XCTAssertEqual(error?.caseName, "truncated", "cut at \(length) bytes")
        }
        // The message for a cut in the data says how much is missing.
        let midData = directory.appendingPathComponent("cut-\(dataStart + 30).safetensors")
        assertThrows(SafetensorsError.self, containing: ["header says 96 bytes of tensor data, file has 30"]) {
            _ = try Safetensors.read(from: midData)
        }
    }

    func testSafetensorsReportsAMissingFile() {
        let url = directory.appendingPathComponent("absent.safetensors")
        let error = assertThrows(SafetensorsError.self, containing: ["no such file", url.path]) {
            _ = try Safetensors.read(from: url)
        }
        XCTAssertEqual(error?.caseName, "unreadable")
    }

    func testSafetensorsRejectsMalformedHeaders() throws {
        // (header JSON, bytes of data, expected error, words the message must contain)
        let cases: [(String, Int, String, [String])] = [
            ("{not json", 0, "invalidHeader", ["not valid JSON"]),
            ("[1, 2]", 0, "invalidHeader", ["invalid safetensors header"]),
            (#"{"w":{"dtype":"F32","shape":[1]}}"#, 4, "invalidHeader", ["data_offsets", "'w'"]),
            (#"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, 4, "invalidHeader",
             ["1.5 is not a non-negative integer", "'w' 'shape'"]),
            (#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4, "invalidHeader", ["-1.0 is not"]),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,true]}}"#, 4, "invalidHeader", ["'data_offsets'"]),
            (#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#, 4,
             "invalidHeader", ["too large"]),
            (#"{"__metadata__":{"step":100}}"#, 0, "invalidHeader", ["__metadata__"]),
            (#"{"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}"#, 4, "unsupportedDType", ["Q7", "'w'"]),
            (#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, 4, "invalidOffsets", ["needs 8 bytes"]),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, 8, "invalidOffsets", ["[8, 4]"]),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, 4, "invalidOffsets", ["expected [begin, end]"]),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
             12, "invalidOffsets", ["'a' and 'b' overlap"]),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
             12, "invalidOffsets", ["bytes 4..<8", "no tensor"]),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 8, "invalidOffsets", ["4 bytes after the last"]),
            (#"{"a":{"dtype":"F32","shape":[1024],"data_offsets":[0,4096]}}"#, 1000, "truncated",
             ["header says 4096 bytes of tensor data, file has 1000"]),
        ]
        for (index, (header, dataCount, expectedCase, fragments)) in cases.enumerated() {
            let url = directory.appendingPathComponent("bad-\(index).safetensors")
            try handBuiltSafetensors(header: header, data: [UInt8](repeating: 0, count: dataCount)).write(to: url)
            let error = assertThrows(SafetensorsError.self, containing: fragments + [url.path]) {
                _ = try Safetensors.read(from: url)
            }
            XCTAssertEqual(error?.caseName, expectedCase, header)
        }
    }

    func testSafetensorsRejectsAnAbsurdHeaderLength() throws {
        let url = directory.appendingPathComponent("huge.safetensors")
        try Data(littleEndianBytes(UInt64.max) + Array("{}".utf8)).write(to: url)
        assertThrows(SafetensorsError.self, containing: ["truncated", "\(UInt64.max) bytes"]) {
            _ = try Safetensors.read(from: url)
        }
    }

    // MARK: - Safetensors: atomic writes

    func testSafetensorsWriteReplacesAFileAtomicallyAndLeavesNoTemporaryFiles() throws {
        // Given an existing, larger file.
        let url = directory.appendingPathComponent("model.safetensors")
        try Safetensors.write(["big": Tensor(repeating: 1, shape: [1000])], to: url)

        // When a smaller one is written over it.
        try Safetensors.write(["small": Tensor(repeating: 2, shape: [3])], metadata: ["v": "2"], to: url)

        // Then only the new content is there, under the final name, with nothing left beside it.
        let (tensors, metadata) = try Safetensors.read(from: url)
        XCTAssertEqual(tensors, ["small": Tensor(repeating: 2, shape: [3])])
        XCTAssertEqual(metadata, ["v": "2"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["model.safetensors"])
    }

    func testAFailedSafetensorsWriteCleansUpAfterItself() throws {
        // A directory stands where the file should go, so the final rename fails.
        let blocked = directory.appendingPathComponent("blocked.safetensors")
        try FileManager.default.createDirectory(at: blocked, withIntermediateDirectories: false)
        let error = assertThrows(SafetensorsError.self, containing: ["cannot write", blocked.path]) {
            try Safetensors.write(["w": Tensor(zeros: [2])], to: blocked)
        }
        XCTAssertEqual(error?.caseName, "cannotWrite")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["blocked.safetensors"])

        // A missing directory fails before anything is created.
        let nowhere = directory.appendingPathComponent("missing/model.safetensors")
        assertThrows(SafetensorsError.self, containing: ["cannot write", "No such file"]) {
            try Safetensors.write(["w": Tensor(zeros: [2])], to: nowhere)
        }
    }

    func testSafetensorsRefusesATensorNamedLikeTheMetadata() {
        let url = directory.appendingPathComponent("reserved.safetensors")
        assertThrows(SafetensorsError.self, containing: ["__metadata__", "reserved"]) {
            try Safetensors.write(["__metadata__": Tensor(zeros: [1])], to: url)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    // MARK: - Safetensors: Python as the oracle

    func testPythonSafetensorsReadsWhatWeWrite() throws {
        try requirePython(modules: "safetensors, numpy")
        var rng = SeededGenerator(seed: 3)
        let tensors: [String: Tensor] = [
            "scalar": Tensor(shape: [], scalars: [-7.5]),
            "empty": Tensor(zeros: [0, 3]),
            "matrix": Tensor(randomNormal: [4, 5], using: &rng),
            "cube": Tensor(randomNormal: [2, 3, 2], using: &rng),
            "special": Tensor(shape: [4], scalars: [-0.0, .infinity, .leastNonzeroMagnitude, .nan]),
        ]
        let url = directory.appendingPathComponent("for-python.safetensors")
        try Safetensors.write(tensors, metadata: ["source": "swift", "é": "ü"], to: url)

        let report = try runPython(
            """
            import json, sys
            import numpy as np
            from safetensors import safe_open
            from safetensors.numpy import load_file
            tensors = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="np") as f:
                metadata = f.metadata()
            print(json.dumps({
                "metadata": metadata,
                "tensors": {name: {"dtype": str(a.dtype), "shape": list(a.shape),
                                   "bits": a.view(np.uint32).ravel().tolist()}
                            for name, a in tensors.items()},
            }))
            """, arguments: [url.path])

        XCTAssertEqual(report["metadata"] as? [String: String], ["source": "swift", "é": "ü"])
        let seen = try XCTUnwrap(report["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(Set(seen.keys), Set(tensors.keys))
        for (name, tensor) in tensors {
            let entry = try XCTUnwrap(seen[name], name)
            XCTAssertEqual(entry["dtype"] as? String, "float32", name)
            XCTAssertEqual(entry["shape"] as? [Int], tensor.shape, name)
            XCTAssertEqual(entry["bits"] as? [UInt32], tensor.scalars.map(\.bitPattern), name)
        }
    }

    func testWeReadWhatPythonSafetensorsWrites() throws {
        try requirePython(modules: "safetensors, numpy")
        let url = directory.appendingPathComponent("from-python.safetensors")

        // Python writes several dtypes and reports each array's values rounded to float32, as bit patterns.
        let report = try runPython(
            """
            import json, sys
            import numpy as np
            from safetensors.numpy import save_file
            arrays = {
                "f32": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
                "f64": np.array([[0.1, -2.5e-40], [1e300, -3.0]], dtype=np.float64),
                "f16": np.array([1.5, -2, 65504, 2**-24, np.inf, -0.0, 0.1], dtype=np.float16),
                "i32": np.array([[1, -2], [2**31 - 1, -2**31]], dtype=np.int32),
                "i64": np.array([7, -8, 2**24 + 1, 2**62], dtype=np.int64),
                "scalar": np.array(3.5, dtype=np.float32),
                "empty": np.zeros((0, 3), dtype=np.float32),
            }
            save_file(arrays, sys.argv[1], metadata={"format": "np"})
            with np.errstate(over="ignore"):
                print(json.dumps({name: {"shape": list(a.shape),
                                         "bits": a.astype(np.float32).view(np.uint32).ravel().tolist()}
                                  for name, a in arrays.items()}))
            """, arguments: [url.path])

        let (tensors, metadata) = try Safetensors.read(from: url)

        XCTAssertEqual(metadata, ["format": "np"])
        XCTAssertEqual(Set(tensors.keys), Set(report.keys))
        for (name, value) in report {
            let expected = try XCTUnwrap(value as? [String: Any])
            let tensor = try XCTUnwrap(tensors[name], name)
            XCTAssertEqual(tensor.shape, expected["shape"] as? [Int], name)
            XCTAssertEqual(tensor.scalars.map(\.bitPattern), expected["bits"] as? [UInt32], name)
        }
    }

    // MARK: - Npy: files built by hand

    func testNpyReadsHandBuiltFilesOfEachDTypeAndVersion() throws {
        let f4 = try readHandBuiltNpy(
            version: 1, header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
            data: [0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x00, 0xC0, 0, 0, 0, 0, 0x00, 0x00, 0x80, 0x3F])
        XCTAssertEqual(f4, Tensor(shape: [2, 2], scalars: [1.5, -2, 0, 1]))

        let f8 = try readHandBuiltNpy(
            version: 2, header: "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
            data: [0, 0, 0, 0, 0, 0, 0xD0, 0xBF, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0, 0, 0, 0x00, 0x40])
        XCTAssertEqual(f8, Tensor(shape: [3], scalars: [-0.25, 1, 2]))

        let i8 = try readHandBuiltNpy(
            version: 1, header: "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
            data: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x2C, 0x01, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(i8, Tensor(shape: [2], scalars: [-1, 300]))

        // Version 3.0, keys in another order, double quotes, a scalar.
        let i4 = try readHandBuiltNpy(
            version: 3, header: #"{"shape": (), "fortran_order": False, "descr": "<i4"}"#, data: [0xF9, 0xFF, 0xFF, 0xFF])
        XCTAssertEqual(i4, Tensor(shape: [], scalars: [-7]))
    }

    func testNpyTurnsFortranOrderIntoRowMajor() throws {
        let matrix = try readHandBuiltNpy(
            version: 1, header: "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            data: [1, 4, 2, 5, 3, 6].flatMap { littleEndianBytes(Float($0).bitPattern) })
        XCTAssertEqual(matrix, Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]))

        // Rank 3: element (i, j, k) holds 100i + 10j + k, stored with i varying fastest.
        var columnMajor: [UInt8] = []
        for k in 0..<4 { for j in 0..<3 { for i in 0..<2 {
            columnMajor += littleEndianBytes(Float(100 * i + 10 * j + k).bitPattern)
        } } }
        let cube = try readHandBuiltNpy(
            version: 1, header: "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }", data: columnMajor)
        XCTAssertEqual(cube.shape, [2, 3, 4])
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 {
            XCTAssertEqual(cube[i, j, k], Float(100 * i + 10 * j + k), "(\(i), \(j), \(k))")
        } } }
    }

    // MARK: - Npy: writing

    func testNpyRoundTripAndNumpyHeaderLayout() throws {
        var rng = SeededGenerator(seed: 11)
        let tensors = [
            Tensor(shape: [], scalars: [2.5]),
            Tensor(zeros: [0]),
            Tensor(randomNormal: [7], using: &rng),
            Tensor(randomNormal: [2, 3, 4], using: &rng),
        ]
        for (index, tensor) in tensors.enumerated() {
            let url = directory.appendingPathComponent("t\(index).npy")
            try Npy.write(tensor, to: url)
            assertBitwiseEqual(try Npy.read(from: url), tensor, "shape \(tensor.shape)")

            // Magic, version 1.0, then a header whose end (a newline) puts the data on a 64-byte boundary.
            let bytes = [UInt8](try Data(contentsOf: url))
            XCTAssertEqual(Array(bytes.prefix(8)), [0x93] + Array("NUMPY".utf8) + [1, 0])
            let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            XCTAssertEqual((10 + headerLength) % 64, 0)
            XCTAssertEqual(bytes[10 + headerLength - 1], UInt8(ascii: "\n"))
            XCTAssertEqual(bytes.count, 10 + headerLength + 4 * tensor.count)
        }
        let vector = try Data(contentsOf: directory.appendingPathComponent("t2.npy"))
        let header = String(decoding: vector[10..<74], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }"), header)
    }

    // MARK: - Npy: numpy as the oracle

    func testNpyReadsWhatNumpySaves() throws {
        try requirePython(modules: "numpy")
        let report = try runPython(
            """
            import json, os, sys
            import numpy as np
            folder = sys.argv[1]
            arrays = {
                "arange": np.arange(12, dtype=np.float32).reshape(3, 4),
                "transposed": np.arange(24, dtype=np.float32).reshape(2, 3, 4).T,  # saved with fortran_order True
                "f64": np.linspace(-1, 1, 5),
                "i64": np.array([[-3, 5], [2**24 + 1, 0]], dtype=np.int64),
                "i32": np.array([1, -2, 3], dtype=np.int32),
                "scalar": np.array(1.25, dtype=np.float32),
            }
            for name, a in arrays.items():
                np.save(os.path.join(folder, name + ".npy"), a)
            with open(os.path.join(folder, "v2.npy"), "wb") as f:
                np.lib.format.write_array(f, arrays["arange"], version=(2, 0))
            arrays["v2"] = arrays["arange"]
            print(json.dumps({name: {"shape": list(a.shape),
                                     "bits": np.ascontiguousarray(a).astype(np.float32).view(np.uint32).ravel().tolist()}
                              for name, a in arrays.items()}))
            """, arguments: [directory.path])

        XCTAssertEqual(report.count, 7)
        for (name, value) in report {
            let expected = try XCTUnwrap(value as? [String: Any])
            let tensor = try Npy.read(from: directory.appendingPathComponent("\(name).npy"))
            XCTAssertEqual(tensor.shape, expected["shape"] as? [Int], name)
            XCTAssertEqual(tensor.scalars.map(\.bitPattern), expected["bits"] as? [UInt32], name)
        }
        // The plainest case, spelled out.
        XCTAssertEqual(
            try Npy.read(from: directory.appendingPathComponent("arange.npy")),
            Tensor(shape: [3, 4], scalars: (0..<12).map(Float.init)))
    }

    func testNumpyLoadsWhatWeWrite() throws {
        try requirePython(modules: "numpy")
        var rng = SeededGenerator(seed: 5)
        let tensors = [
            "scalar": Tensor(shape: [], scalars: [-1.5]),
            "empty": Tensor(zeros: [0, 4]),
            "cube": Tensor(randomNormal: [2, 3, 4], using: &rng),
            "special": Tensor(shape: [3], scalars: [-0.0, .infinity, .nan]),
        ]
        for (name, tensor) in tensors {
            try Npy.write(tensor, to: directory.appendingPathComponent("\(name).npy"))
        }
        let report = try runPython(
            """
            import json, os, sys
            import numpy as np
            folder, names = sys.argv[1], sys.argv[2:]
            arrays = {name: np.load(os.path.join(folder, name + ".npy")) for name in names}
            print(json.dumps({name: {"dtype": str(a.dtype), "shape": list(a.shape),
                                     "bits": a.view(np.uint32).ravel().tolist()}
                              for name, a in arrays.items()}))
            """, arguments: [directory.path] + Array(tensors.keys))

        for (name, tensor) in tensors {
            let seen = try XCTUnwrap(report[name] as? [String: Any], name)
            XCTAssertEqual(seen["dtype"] as? String, "float32", name)
            XCTAssertEqual(seen["shape"] as? [Int], tensor.shape, name)
            XCTAssertEqual(seen["bits"] as? [UInt32], tensor.scalars.map(\.bitPattern), name)
        }
    }

    // MARK: - Npy: errors

    func testNpyReportsTruncationWhereverTheFileIsCut() throws {
        let url = directory.appendingPathComponent("array.npy")
        try Npy.write(Tensor(repeating: 1, shape: [4, 4]), to: url)
        let whole = try Data(contentsOf: url)
        let dataStart = 10 + (Int(whole[8]) | Int(whole[9]) << 8)

        for length in [0, 3, 6, 7, 9, 40, dataStart - 1, dataStart, dataStart + 30, whole.count - 1] {
            let cut = directory.appendingPathComponent("cut-\(length).npy")
            try whole.prefix(length).write(to: cut)
            let error = assertThrows(NpyError.self, containing: ["truncated", cut.path]) { _ = try Npy.read(from: cut) }
            XCTAssertEqual(error?.caseName, "truncated", "cut at \(length) bytes")
        }
        let midData = directory.appendingPathComponent("cut-\(dataStart + 30).npy")
        assertThrows(NpyError.self, containing: ["64 bytes of data, file has 30"]) { _ = try Npy.read(from: midData) }
    }

    func testNpyRejectsBadMagicVersionDTypeAndHeader() throws {
        let zip = directory.appendingPathComponent("archive.npz")
        try Data([0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0, 0, 0, 0, 0]).write(to: zip)
        let notNpy = assertThrows(NpyError.self, containing: ["not a .npy file", zip.path]) { _ = try Npy.read(from: zip) }
        XCTAssertEqual(notNpy?.caseName, "notNpy")

        let cases: [(version: UInt8, header: String, expectedCase: String, fragments: [String])] = [
            (4, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "unsupportedVersion", ["version 4.0"]),
            (1, "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "unsupportedDType", ["'>f4'"]),
            (1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "unsupportedDType", ["'<c8'"]),
            (1, "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }", "invalidHeader", ["'descr'"]),
            (1, "{'descr': '<f4', 'fortran_order': False, }", "invalidHeader", ["'shape'"]),
            (1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", "invalidHeader", ["'fortran_order'"]),
            (1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 'a'), }", "invalidHeader", ["integers"]),
            (1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "invalidHeader", ["invalid shape"]),
            (1, "{'descr': '<f4' 'fortran_order': False}", "invalidHeader", ["expected ',' or '}'"]),
            (1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} extra", "invalidHeader", ["after the header"]),
            (1, "('<f4', False)", "invalidHeader", ["not a dict"]),
        ]
        for (index, c) in cases.enumerated() {
            let url = directory.appendingPathComponent("bad-\(index).npy")
            try handBuiltNpy(version: c.version, header: c.header, data: [0, 0, 0, 0]).write(to: url)
            let error = assertThrows(NpyError.self, containing: c.fragments + [url.path]) { _ = try Npy.read(from: url) }
            XCTAssertEqual(error?.caseName, c.expectedCase, c.header)
        }

        let missing = directory.appendingPathComponent("absent.npy")
        assertThrows(NpyError.self, containing: ["no such file", missing.path]) { _ = try Npy.read(from: missing) }
    }

    // MARK: - The SeqGAN oracle's weights

    func testReadsTheSeqGANOracleWeights() throws {
        // Tests/NumericCoreTests/SerializationTests.swift → the package root → ../shared/data/seqgan-oracle
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let oracle = packageRoot.appendingPathComponent("../shared/data/seqgan-oracle").standardizedFileURL
        guard FileManager.default.fileExists(atPath: oracle.path) else {
            throw XCTSkip("the SeqGAN oracle weights are not at \(oracle.path)")
        }

        let expectedShapes = ["embedding": [5000, 32], "wo": [32, 5000], "bo": [5000]]
        var tensors: [String: Tensor] = [:]
        for (name, shape) in expectedShapes {
            let tensor = try Npy.read(from: oracle.appendingPathComponent("\(name).npy"))
            XCTAssertEqual(tensor.shape, shape, name)
            XCTAssertTrue(tensor.scalars.allSatisfy(\.isFinite), "\(name) has non-finite values")
            XCTAssertGreaterThan(tensor.squaredNorm, 0, "\(name) is all zeros")
            tensors[name] = tensor
        }

        // With numpy at hand, also compare sums and a sample of values.
        guard pythonHas(modules: "numpy") else { return }
        let report = try runPython(
            """
            import json, os, sys
            import numpy as np
            result = {}
            for name in sys.argv[2:]:
                a = np.load(os.path.join(sys.argv[1], name + ".npy"))
                result[name] = {"sum": float(a.astype(np.float64).sum()),
                                "sample": a.ravel()[::997].view(np.uint32).tolist()}
            print(json.dumps(result))
            """, arguments: [oracle.path] + Array(expectedShapes.keys))
        for (name, tensor) in tensors {
            let expected = try XCTUnwrap(report[name] as? [String: Any], name)
            let sum = try XCTUnwrap(expected["sum"] as? Double, name)
            XCTAssertEqual(tensor.sum, sum, accuracy: 1e-6 * max(1, abs(sum)), name)
            let sample = stride(from: 0, to: tensor.count, by: 997).map { tensor.scalars[$0].bitPattern }
            XCTAssertEqual(sample, expected["sample"] as? [UInt32], name)
        }
    }

    // MARK: - Helpers

    /// A safetensors file assembled without our writer: the length prefix, `header` verbatim, then `data`.
    private func handBuiltSafetensors(header: String, data: [UInt8]) -> Data {
        Data(littleEndianBytes(UInt64(header.utf8.count)) + Array(header.utf8) + data)
    }

    /// A .npy file assembled without our writer: no padding, just the header and a newline.
    private func handBuiltNpy(version: UInt8, header: String, data: [UInt8]) -> Data {
        let text = Array((header + "\n").utf8)
        let length = version == 1 ? littleEndianBytes(UInt16(text.count)) : littleEndianBytes(UInt32(text.count))
        return Data([0x93] + Array("NUMPY".utf8) + [version, 0] + length + text + data)
    }

    private func readHandBuiltNpy(version: UInt8, header: String, data: [UInt8]) throws -> Tensor {
        let url = directory.appendingPathComponent("hand-\(UUID().uuidString).npy")
        try handBuiltNpy(version: version, header: header, data: data).write(to: url)
        return try Npy.read(from: url)
    }

    private func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    /// Same shape and the same bits in every element (so NaN, -0 and infinities count too).
    private func assertBitwiseEqual(
        _ actual: Tensor?, _ expected: Tensor, _ message: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        guard let actual else { return XCTFail("\(message): missing", file: file, line: line) }
        XCTAssertEqual(actual.shape, expected.shape, message, file: file, line: line)
        XCTAssertEqual(actual.scalars.map(\.bitPattern), expected.scalars.map(\.bitPattern), message, file: file, line: line)
    }

    /// Runs `body`, which must throw an `E` whose message contains every fragment; returns that error.
    @discardableResult
    private func assertThrows<E: Error & CustomStringConvertible>(
        _ errorType: E.Type, containing fragments: [String], file: StaticString = #filePath, line: UInt = #line,
        _ body: () throws -> Void
    ) -> E? {
        do {
            try body()
            XCTFail("expected \(E.self), nothing was thrown", file: file, line: line)
        } catch let error as E {
            for fragment in fragments where !error.description.contains(fragment) {
                XCTFail("\"\(error)\" does not mention \"\(fragment)\"", file: file, line: line)
            }
            return error
        } catch {
            XCTFail("expected \(E.self), got \(type(of: error)): \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: - Python

    /// The interpreter `.ci/install-deps` prepares (a venv with numpy and safetensors under .build/), else python3.
    private static let python: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let venv = root.appendingPathComponent(".build/python/bin/python3").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3"
    }()

    private func pythonHas(modules: String) -> Bool {
        (try? runProcess([Self.python, "-c", "import \(modules)"]).status) == 0
    }

    private func requirePython(modules: String) throws {
        guard pythonHas(modules: modules) else {
            throw XCTSkip("\(Self.python) with \(modules) is not available; `bash .ci/install-deps` (or `pip install safetensors numpy`) to run this check")
        }
    }

    /// Runs a Python script that prints one JSON object on its last line of output, and returns that object.
    private func runPython(_ script: String, arguments: [String]) throws -> [String: Any] {
        let (status, output, errors) = try runProcess([Self.python, "-c", script] + arguments)
        guard status == 0 else {
            XCTFail("python3 exited with status \(status):\n\(errors)")
            return [:]
        }
        let lastLine = output.split(separator: "\n").last.map(String.init) ?? ""
        let object = try JSONSerialization.jsonObject(with: Data(lastLine.utf8))
        return try XCTUnwrap(object as? [String: Any], "python3 printed \(output)")
    }

    private func runProcess(_ command: [String]) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let output = Pipe()
        process.standardOutput = output
        // Standard error goes to a file, so a chatty process cannot block on a full pipe we are not reading.
        let errorsURL = directory.appendingPathComponent("stderr-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: errorsURL.path, contents: nil)
        let errorsHandle = try FileHandle(forWritingTo: errorsURL)
        process.standardError = errorsHandle
        defer {
            try? errorsHandle.close()
            try? FileManager.default.removeItem(at: errorsURL)
        }

        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stderr = (try? Data(contentsOf: errorsURL)) ?? Data()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}

// MARK: - Error case names, for assertions

extension SafetensorsError {
    fileprivate var caseName: String {
        switch self {
        case .unreadable: "unreadable"
        case .truncated: "truncated"
        case .invalidHeader: "invalidHeader"
        case .unsupportedDType: "unsupportedDType"
        case .invalidOffsets: "invalidOffsets"
        case .cannotWrite: "cannotWrite"
        }
    }
}

extension NpyError {
    fileprivate var caseName: String {
        switch self {
        case .unreadable: "unreadable"
        case .notNpy: "notNpy"
        case .unsupportedVersion: "unsupportedVersion"
        case .truncated: "truncated"
        case .invalidHeader: "invalidHeader"
        case .unsupportedDType: "unsupportedDType"
        case .cannotWrite: "cannotWrite"
        }
    }
}
