import Foundation
import Layers
import Models
import Training
import Workbench
import XCTest

/// Every config field has a range: a value outside it is refused, naming the key, before anything is recorded; the
/// edge of the range is accepted. Table-driven over every field of every section.
final class ConfigValidationTests: XCTestCase {
    /// (field, a value outside its range, a value at the edge of its range), as JSON.
    private let seqganFields: [(String, String, String)] = [
        ("maxLength", "1", "2"),
        ("vocabulary.minCount", "0", "1"), ("vocabulary.maxSize", "4", "5"),
        ("evaluation.nllOracleSamples", "0", "1"), ("evaluation.bleuSamples", "-1", "0"),
        ("evaluation.bleuOrders", "[]", "[9]"), ("evaluation.bleuOrders", "[2, 12]", "[1, 2]"),
        ("generator.embeddingSize", "0", "1"), ("generator.hiddenSize", "0", "8192"), ("generator.initStd", "-0.1", "0"),
        ("discriminator.embeddingSize", "-1", "1"), ("discriminator.widths", "[]", #"[{"width": 1, "filters": 1}]"#),
        ("discriminator.widths", #"[{"width": 0, "filters": 3}]"#, #"[{"width": 1000, "filters": 3}]"#),
        ("discriminator.widths", #"[{"width": 2, "filters": 0}]"#, #"[{"width": 2, "filters": 100000}]"#),
        ("discriminator.keepProbability", "0", "1"), ("discriminator.l2", "-0.5", "0"),
        ("discriminator.initStd", "11", "10"),
        ("mle.epochs", "-5", "0"), ("mle.batchSize", "0", "65536"), ("mle.learningRate", "0", "100"),
        ("mle.gradientClip", "-1", "1000000"), ("mle.earlyStoppingPatience", "0", "1"), ("mle.evaluateEvery", "0", "1"),
        ("mle.logEvery", "0", "1"), ("mle.samplesPerEpoch", "-1", "0"), ("mle.sampleTemperature", "-1", "0"),
        ("mle.weightDecay", "-0.1", "10"), ("mle.warmupSteps", "-1", "0"), ("mle.minimumLearningRateRatio", "1.5", "1"),
        ("seqgan.discriminatorPretrainRounds", "-1", "0"), ("seqgan.discriminatorPretrainEpochs", "0", "1"),
        ("seqgan.adversarialSteps", "-1", "0"), ("seqgan.generatorSteps", "0", "1"),
        ("seqgan.discriminatorRounds", "-1", "0"), ("seqgan.discriminatorEpochs", "0", "1"),
        ("seqgan.generatorBatchSize", "0", "1"), ("seqgan.rollouts", "0", "1024"),
        ("seqgan.rolloutUpdateRate", "1.5", "1"), ("seqgan.negatives", "0", "1"),
        ("seqgan.generatorLearningRate", "-0.01", "0.5"), ("seqgan.gradientClip", "0", "5"),
        ("seqgan.discriminatorLearningRate", "1000", "100"), ("seqgan.discriminatorBatchSize", "0", "1"),
        ("seqgan.evaluateEvery", "0", "1"), ("seqgan.samplesPerEvaluation", "-3", "0"),
    ]

    private func overlay(_ field: String, _ value: String) -> Data {
        let parts = field.split(separator: ".").map(String.init)
        var json = "\(value)"
        for part in parts.reversed() { json = "{\"\(part)\": \(json)}" }
        return Data(json.utf8)
    }

    func testEveryFieldRefusesAValueOutsideItsRangeAndTakesItsEdge() throws {
        let base = RunConfig(algorithm: SeqGANAlgorithm.self, corpus: "coco", preset: nil)
        XCTAssertNoThrow(try base.validate())
        for (field, bad, edge) in seqganFields {
            let refused = try base.merging(json: overlay(field, bad), source: "t.json")
            XCTAssertThrowsError(try refused.validate(), "\(field) = \(bad)") { error in
                guard let range = error as? ConfigRangeError else { return XCTFail("\(field): \(error)") }
                XCTAssertTrue(range.key.hasPrefix(field), "\(field) = \(bad) was reported as \(range.key)")
                XCTAssertFalse("\(range)".contains("\n"))
            }
            let accepted = try base.merging(json: overlay(field, edge), source: "t.json")
            XCTAssertNoThrow(try accepted.validate(), "\(field) = \(edge)")
        }
        // Non-finite numbers cannot come from JSON, but can from code: they are out of every range.
        var infinite = base
        infinite[section: MLEConfig.self].learningRate = .infinity
        XCTAssertThrowsError(try infinite.validate())
        // Self-BLEU needs two samples.
        XCTAssertThrowsError(try base.merging(json: Data(#"{"evaluation": {"bleuSamples": 1}}"#.utf8), source: "t").validate())
    }

    func testAWidthLongerThanEverySequenceIsRefusedOnceTheCorpusIsKnown() throws {
        var config = CNNDiscriminatorConfig(vocabularySize: 0, sequenceLength: 20, widths: [ConvolutionWidth(width: 8, filters: 4)])
        XCTAssertNoThrow(try config.validate(section: "discriminator"), "before fitting, the corpus's length is unknown")
        config.fit(to: SequenceShape(vocabularySize: 30, maxLength: 6, startToken: 1, endToken: 2, padToken: 0))
        XCTAssertThrowsError(try config.validate(section: "discriminator")) {
            XCTAssertEqual(($0 as? ConfigRangeError)?.key, "discriminator.widths")
        }
    }

    func testANumberThatDoesNotFitItsFieldNamesTheField() {
        let base = RunConfig(algorithm: SeqGANAlgorithm.self, corpus: "coco", preset: nil)
        for (json, key) in [(#"{"seed": -1}"#, "seed"), (#"{"mle": {"epochs": 9223372036854775808}}"#, "mle.epochs")] {
            XCTAssertThrowsError(try base.merging(json: Data(json.utf8), source: "n.json")) {
                XCTAssertTrue("\($0)".contains("n.json: \(key) ="), "\($0)")
            }
        }
    }

    // MARK: - Generated from the registry

    /// Every registered algorithm with every generator kind: each numeric field of each section, found by reflection
    /// (optional fields too, which the defaults' JSON leaves out), gets a negative, zero, huge, past-Int, NaN-string and
    /// null value. Each is accepted, or refused in one line naming the field: a `ConfigRangeError` from `validate`,
    /// or the config file's error from `merging`. Never a trap. A field must refuse -1 and a huge value (every field
    /// has a range), and NaN and ±infinity (which code can set, JSON not) are out of every float's range. A field
    /// added without a range fails here.
    func testEveryNumericFieldOfEveryRegisteredSectionRefusesValuesOutsideItsRange() throws {
        var tried = 0, fields = Set<String>()
        for name in Registry.shared.algorithmNames {
            let algorithm = try XCTUnwrap(Registry.shared.algorithm(name))
            for kind in Registry.shared.generatorKinds {
                let base = try RunConfig(algorithm: algorithm, corpus: "coco", preset: nil)
                    .merging(json: Data(#"{"generator": {"kind": "\#(kind)"}}"#.utf8), source: "t.json")
                XCTAssertNoThrow(try base.validate(), "\(name) \(kind) defaults")
                for field in Self.numericFields(of: base) {
                    fields.insert(field.path)
                    tried += try check(field, in: base, context: "\(name) \(kind)")
                }
            }
        }
        // The registry's sections are all there (a sanity check on the reflection, not a list to keep up to date).
        for expected in ["mle.epochs", "seqgan.rollouts", "gumbel.batchSize", "generator.hiddenSize", "generator.heads",
                         "discriminator.widths.0.filters", "evaluation.bleuOrders.0", "vocabulary.maxSize", "maxLength", "seed"] {
            XCTAssertTrue(fields.contains(expected), "\(expected) not found among \(fields.sorted())")
        }
        XCTAssertGreaterThan(tried, 500)
    }

    struct NumericField {
        var path: String
        /// The JSON value of the field's enclosing array element, for fields inside an array of objects.
        var element: [String: Any]?
        var isFloat: Bool
        var isInteger: Bool { !isFloat }
    }

    /// Numeric fields of the config's sections, by reflection: the fixed fields, the model sections (their kind's
    /// config) and the algorithm's sections. Arrays give their first element ("evaluation.bleuOrders.0",
    /// "discriminator.widths.0.width").
    static func numericFields(of config: RunConfig) -> [NumericField] {
        var sections: [(String, Any)] = [("", config), ("vocabulary", config.vocabulary), ("evaluation", config.evaluation),
                                         ("generator", config.generator.config)]
        if let discriminator = config.discriminator { sections.append(("discriminator", discriminator.config)) }
        for key in config.sections.keys.sorted() { sections.append((key, config.sections[key]!)) }
        var out: [NumericField] = []
        for (section, value) in sections {
            for child in Mirror(reflecting: value).children {
                guard let label = child.label else { continue }
                let path = section.isEmpty ? label : "\(section).\(label)"
                if let isFloat = numericKind(type(of: child.value)) {
                    out.append(NumericField(path: path, isFloat: isFloat))
                } else if let array = child.value as? [Any], let first = array.first {
                    if let isFloat = numericKind(type(of: first)) {
                        out.append(NumericField(path: path + ".0", isFloat: isFloat))
                    } else if let encodable = first as? any Encodable,
                              let data = try? JSONEncoder().encode(encodable),
                              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
                        for inner in Mirror(reflecting: first).children {
                            guard let innerLabel = inner.label, let isFloat = numericKind(type(of: inner.value)) else { continue }
                            out.append(NumericField(path: "\(path).0.\(innerLabel)", element: object, isFloat: isFloat))
                        }
                    }
                }
            }
        }
        return out
    }

    /// true for a float type, false for an integer type, nil otherwise (optionals unwrapped).
    static func numericKind(_ type: Any.Type) -> Bool? {
        let floats: [Any.Type] = [Float.self, Double.self, Float?.self, Double?.self]
        let integers: [Any.Type] = [Int.self, Int?.self, Int32.self, Int32?.self, UInt64.self, UInt64?.self]
        if floats.contains(where: { $0 == type }) { return true }
        if integers.contains(where: { $0 == type }) { return false }
        return nil
    }

    /// Tries the bad values on one field; returns how many.
    private func check(_ field: NumericField, in base: RunConfig, context: String) throws -> Int {
        let parts = field.path.split(separator: ".").map(String.init)
        // Inside an array, the whole array is replaced by one element holding the value.
        func overlay(_ value: Any) -> [String: Any] {
            var leaf: Any = value
            var keys = parts
            if let index = keys.firstIndex(of: "0") {
                if var element = field.element, index + 1 < keys.count {
                    element[keys[index + 1]] = value
                    leaf = [element]
                } else {
                    leaf = [value]
                }
                keys = Array(keys[..<index])
            }
            for key in keys.reversed() { leaf = [key: leaf] }
            return leaf as! [String: Any]
        }
        // As JSON text, so a number past every Swift type reaches the decoder as the user wrote it.
        func overlayJSON(_ text: String) throws -> Data {
            let placeholder = "@@value@@"
            let json = String(decoding: try JSONSerialization.data(withJSONObject: overlay(placeholder)), as: UTF8.self)
            return Data(json.replacingOccurrences(of: "\"\(placeholder)\"", with: text).utf8)
        }
        let values: [(String, String)] = [("-1", "-1"), ("0", "0"), ("huge", field.isFloat ? "1e30" : "1000000000000000"),
                                          ("past Int", "9223372036854775808"), ("NaN string", #""nan""#), ("null", "null")]
        let corpusDecided = parts.first == "generator" || parts.first == "discriminator"
            ? (["vocabularySize", "maxLength", "startToken", "endToken", "sequenceLength"].contains(parts.last!)) : false
        let unbounded = ["seed"]  // any 64-bit seed is a seed
        for (label, value) in values {
            let what = "\(context): \(field.path) = \(label)"
            var refused = false
            do {
                let config = try base.merging(json: overlayJSON(value), source: "bad.json")
                do {
                    try config.validate()
                } catch let error as ConfigRangeError {
                    refused = true
                    XCTAssertTrue(error.key.hasPrefix(field.path), "\(what) was reported as \(error.key)")
                    XCTAssertFalse("\(error)".contains("\n"), what)
                }
            } catch {
                refused = true
                let message = "\(error)"
                XCTAssertFalse(message.contains("\n"), what)
                // An array's element is named by the array ("discriminator.widths = [...] does not fit").
                let named = field.path.components(separatedBy: ".0").first!
                XCTAssertTrue(message.contains("bad.json") && message.contains(named), "\(what): \(message)")
            }
            if label == "-1" || (label == "huge" && !unbounded.contains(field.path)) || corpusDecided {
                XCTAssertTrue(refused, "\(what) was accepted: every field has a range")
            }
        }
        // NaN and infinities, as code could set them (JSON cannot hold them): out of every range.
        guard field.isFloat else { return values.count }
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(base)) as! [String: Any]
        for special in ["nan", "inf", "-inf"] {
            object = Self.merge(object, overlay(special))
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            let config = try decoder.decode(RunConfig.self, from: JSONSerialization.data(withJSONObject: object))
            XCTAssertThrowsError(try config.validate(), "\(context): \(field.path) = \(special)") { error in
                XCTAssertTrue((error as? ConfigRangeError)?.key.hasPrefix(field.path) == true, "\(field.path) = \(special): \(error)")
            }
        }
        return values.count + 3
    }

    private static func merge(_ base: [String: Any], _ overlay: [String: Any]) -> [String: Any] {
        var out = base
        for (key, value) in overlay {
            if let b = base[key] as? [String: Any], let o = value as? [String: Any] { out[key] = merge(b, o) } else { out[key] = value }
        }
        return out
    }
}
