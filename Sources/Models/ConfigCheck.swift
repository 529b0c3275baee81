import Foundation
import NumericCore

// Range checks for config fields: every field of every config has a range, checked before a run is recorded, and
// a value outside it is one line naming the key, the value and the range. Configs call these from `validate()`.

public struct ConfigRangeError: Error, CustomStringConvertible, Equatable {
    public let key: String
    public let value: String
    public let allowed: String

    public var description: String { "config: \(key) = \(value) is out of range (allowed: \(allowed))" }
}

/// A valid value this machine cannot run.
public struct ConfigUnsupportedError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}

/// Checks the fields of one config section, naming them under `section` ("mle" → "mle.batchSize").
public struct ConfigCheck {
    public let section: String

    public init(_ section: String) { self.section = section }

    private func key(_ field: String) -> String { section.isEmpty ? field : "\(section).\(field)" }

    public func int(_ field: String, _ value: Int, _ range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw ConfigRangeError(key: key(field), value: "\(value)", allowed: "\(range.lowerBound)…\(range.upperBound)")
        }
    }

    /// An optional field: nil is allowed (it means the documented default).
    public func int(_ field: String, _ value: Int?, _ range: ClosedRange<Int>) throws {
        if let value { try int(field, value, range) }
    }

    /// A finite number in `range`; with `open`, the lower bound itself is excluded (a rate must be above 0).
    public func number(_ field: String, _ value: Float, _ range: ClosedRange<Float>, open: Bool = false) throws {
        guard value.isFinite, range.contains(value), !(open && value == range.lowerBound) else {
            let lower = open ? "above \(range.lowerBound)" : "from \(range.lowerBound)"
            throw ConfigRangeError(key: key(field), value: "\(value)", allowed: "\(lower) to \(range.upperBound)")
        }
    }

    /// A precision this CPU can run (bf16 needs AVX512_BF16): otherwise one line naming the key and why.
    public func supported(_ field: String, _ precision: Precision, on features: CPUFeatures = .current) throws {
        if let reason = precision.unsupportedReason(on: features) {
            throw ConfigUnsupportedError(message: "config: \(key(field)) = \(precision.rawValue): \(reason)")
        }
    }

    /// A rule that is not a range (e.g. a list that must not be empty).
    public func require(_ condition: Bool, _ field: String, _ value: String, _ allowed: String) throws {
        guard condition else { throw ConfigRangeError(key: key(field), value: value, allowed: allowed) }
    }
}
