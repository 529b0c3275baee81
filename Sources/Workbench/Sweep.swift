import Foundation

// Sweeps over seeds and config grids (`textgan sweep`), and the `key=value` config assignments they are made of
// (`textgan train --set`). A sweep is a plan — the cartesian product of its grid axes, times its seeds — whose
// points are ordinary runs: each one's config is the train arguments' config with the point's assignments laid over
// it (through `RunConfig.merging`, so a misspelt key is refused before anything runs), tagged `sweep:<name>` and
// named after the point, so re-running the same sweep finds the runs it already has.

/// One `path=value` config field: `mle.learningRate=0.005`, `gan.loss=rsgan`, `evaluation.testNLL=false`.
public struct ConfigAssignment: Equatable, Sendable, CustomStringConvertible {
    /// The dotted path of the field ("mle.learningRate").
    public var path: String
    /// The value as JSON text (`0.005`, `"rsgan"`, `false`).
    public var json: String

    public var description: String { "\(path)=\(Self.display(json))" }

    /// Parses `path=value`. The value is read as JSON when it is JSON (a number, true/false, null, a quoted string,
    /// an array or object) and as a string otherwise, so `gan.loss=rsgan` needs no quotes.
    public init(parsing text: String, flag: String = "--set") throws {
        guard let equals = text.firstIndex(of: "=") else {
            throw WorkbenchError("\(flag) \(text): expected path=value (e.g. mle.learningRate=0.005)")
        }
        try self.init(path: String(text[..<equals]), value: String(text[text.index(after: equals)...]), flag: flag)
    }

    public init(path: String, value: String, flag: String = "--set") throws {
        let components = path.split(separator: ".", omittingEmptySubsequences: false)
        guard !path.isEmpty, components.allSatisfy({ !$0.isEmpty && !$0.contains(where: \.isWhitespace) }) else {
            throw WorkbenchError("\(flag) \(path)=\(value): the path must be dotted config keys (e.g. mle.learningRate)")
        }
        guard !value.isEmpty else {
            throw WorkbenchError("\(flag) \(path)=: give a value (a string value may be written without quotes)")
        }
        self.path = path
        if (try? JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)) != nil {
            json = value
        } else {
            json = String(decoding: try JSONSerialization.data(withJSONObject: value, options: .fragmentsAllowed), as: UTF8.self)
        }
    }

    /// Assignments as one nested JSON object, the shape of a `--config` file; a later assignment of the same path
    /// wins, and a path that is both a field and the parent of another is an error.
    public static func overlay(_ assignments: [ConfigAssignment]) throws -> [String: Any] {
        var root: [String: Any] = [:]
        func set(_ keys: ArraySlice<Substring>, _ value: Any, in object: inout [String: Any], whole: String) throws {
            let key = String(keys.first!)
            if keys.count == 1 {
                if object[key] is [String: Any] {
                    throw WorkbenchError("\(whole) sets \(key), which other assignments treat as a section")
                }
                object[key] = value
                return
            }
            var child: [String: Any]
            switch object[key] {
            case nil: child = [:]
            case let existing as [String: Any]: child = existing
            default: throw WorkbenchError("\(whole) treats \(key) as a section, which another assignment sets to a value")
            }
            try set(keys.dropFirst(), value, in: &child, whole: whole)
            object[key] = child
        }
        for assignment in assignments {
            let value = try JSONSerialization.jsonObject(with: Data(assignment.json.utf8), options: .fragmentsAllowed)
            try set(ArraySlice(assignment.path.split(separator: ".")), value, in: &root, whole: assignment.description)
        }
        return root
    }

    /// The value for people: strings without their quotes.
    static func display(_ json: String) -> String {
        if let string = (try? JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)) as? String {
            return string
        }
        return json
    }
}

/// One axis of a grid: a config path and the values it takes (`--grid mle.learningRate=0.01,0.005`).
public struct SweepAxis: Equatable, Sendable {
    public var path: String
    public var values: [ConfigAssignment]

    /// Parses `path=v1,v2,…`. Values are split at commas outside brackets and quotes, each read like a `--set` value.
    public init(parsing text: String) throws {
        guard let equals = text.firstIndex(of: "=") else {
            throw WorkbenchError("--grid \(text): expected path=value,value,… (e.g. mle.learningRate=0.01,0.005)")
        }
        let path = String(text[..<equals])
        let items = Self.split(String(text[text.index(after: equals)...]))
        guard !items.isEmpty else { throw WorkbenchError("--grid \(text): give at least one value after =") }
        self.path = path
        values = try items.map { try ConfigAssignment(path: path, value: $0, flag: "--grid") }
        let distinct = Set(values.map(\.json))
        guard distinct.count == values.count else {
            throw WorkbenchError("--grid \(path): a value is listed twice (\(items.joined(separator: ",")))")
        }
    }

    /// Commas split values except inside [], {} or a quoted string.
    static func split(_ text: String) -> [String] {
        var items: [String] = [], current = "", depth = 0, quoted = false, escaped = false
        for character in text {
            if quoted {
                current.append(character)
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { quoted = false }
                continue
            }
            switch character {
            case "\"": quoted = true; current.append(character)
            case "[", "{": depth += 1; current.append(character)
            case "]", "}": depth -= 1; current.append(character)
            case "," where depth == 0: items.append(current); current = ""
            default: current.append(character)
            }
        }
        items.append(current)
        return items.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// Every run a sweep makes: each grid point (the cartesian product of the axes, the first axis varying slowest)
/// with each seed.
public struct SweepPlan: Equatable, Sendable {
    public struct Point: Equatable, Sendable {
        /// 1-based position among the grid points (the same for every seed of the point).
        public var gridIndex: Int
        public var assignments: [ConfigAssignment]
        public var seed: UInt64
        /// The run's name: `<sweep>-<grid index>-s<seed>`, or `<sweep>-s<seed>` for a sweep over seeds alone.
        public var runName: String
    }

    public var name: String
    public var seeds: [UInt64]
    public var axes: [SweepAxis]
    public var points: [Point]

    /// The tag every run of the sweep carries.
    public var tag: String { Self.tag(name) }
    public static func tag(_ name: String) -> String { "sweep:\(name)" }

    /// The largest plan accepted: more runs than this is a typo rather than an experiment for this machine.
    public static let maximumRuns = 1_000

    public init(name: String, seeds: [UInt64], axes: [SweepAxis]) throws {
        guard !seeds.isEmpty else { throw WorkbenchError("a sweep needs at least one seed (--seeds 1,2,3)") }
        guard Set(seeds).count == seeds.count else { throw WorkbenchError("--seeds lists a seed twice") }
        if let repeated = Dictionary(grouping: axes, by: \.path).first(where: { $0.value.count > 1 })?.key {
            throw WorkbenchError("--grid \(repeated) is given twice; list all its values in one --grid")
        }
        var grid: [[ConfigAssignment]] = [[]]
        for axis in axes { grid = grid.flatMap { point in axis.values.map { point + [$0] } } }
        let count = grid.count * seeds.count
        guard count <= Self.maximumRuns else {
            throw WorkbenchError("the sweep has \(count) runs (\(grid.count) grid points × \(seeds.count) seeds); at most \(Self.maximumRuns)")
        }
        self.name = name
        self.seeds = seeds
        self.axes = axes
        points = grid.enumerated().flatMap { index, assignments in
            seeds.map { seed in
                Point(gridIndex: index + 1, assignments: assignments, seed: seed,
                      runName: axes.isEmpty ? "\(name)-s\(seed)" : "\(name)-\(index + 1)-s\(seed)")
            }
        }
    }

    /// Parses `--seeds`: a comma list of seeds and ranges (`1,2,3`, `1-5`, `1-3,10`).
    public static func seeds(parsing text: String) throws -> [UInt64] {
        var seeds: [UInt64] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
            if bounds.count == 2, let low = UInt64(bounds[0]), let high = UInt64(bounds[1]) {
                guard low <= high else { throw WorkbenchError("--seeds \(text): the range \(item) runs backwards") }
                guard high - low < UInt64(maximumRuns) else { throw WorkbenchError("--seeds \(text): the range \(item) has more than \(maximumRuns) seeds") }
                seeds += Array(low...high)
            } else if let seed = UInt64(item) {
                seeds.append(seed)
            } else {
                throw WorkbenchError("--seeds \(text): \(item.isEmpty ? "an empty item" : "'\(item)'") is not a seed (non-negative integers and ranges like 1-5)")
            }
        }
        return seeds
    }
}
