import Foundation
import Models

// The config reference (docs/reference.md): every field of every registered algorithm's sections, of the top level
// and of every model kind, with its default and the algorithms that read it, taken from the code itself — the
// defaults by encoding the configs, the fields' Swift owners by reflection — so it cannot drift. The description of a
// field is its doc comment; `ReferenceTests` reads those from the sources, fails on a field without one, and checks
// that docs/reference.md is what this renders.

public struct ConfigField: Equatable, Sendable {
    /// Where it is listed: "top level", a section's key ("mle"), or a model kind ("generator lstm").
    public var group: String
    /// The dotted key: "mle.learningRate", "generator.hiddenSize" (under kind lstm).
    public var path: String
    /// The Swift type that declares the field, and the field's name in it: where its doc comment is.
    public var owner: String
    public var property: String
    /// The default as JSON ("unset" for an optional field that is nil by default); for a model field, that of its kind.
    public var defaultValue: String
    /// The algorithms that read it (every algorithm, for a model kind's fields).
    public var readers: [String]
}

public enum ConfigReference {
    /// Every field, in a stable order: the top level, the sections (by key), then each model kind's fields.
    public static func fields(registry: Registry = .shared) throws -> [ConfigField] {
        var fields: [String: ConfigField] = [:]
        var order: [String: Int] = [:]
        func adder(_ group: String, rank: Int, reader: String) -> Add {
            { path, owner, property, value in
                let key = group + "\u{0}" + path
                if fields[key] == nil {
                    fields[key] = ConfigField(group: group, path: path, owner: owner, property: property, defaultValue: value, readers: [])
                    order[key] = rank
                }
                if !fields[key]!.readers.contains(reader) { fields[key]!.readers.append(reader) }
                if fields[key]!.defaultValue != value { fields[key]!.defaultValue = "depends on the algorithm" }
            }
        }
        for name in registry.algorithmNames {
            guard let type = registry.algorithm(name) else { continue }
            let config = RunConfig(algorithm: type, corpus: "coco", preset: nil)
            let object = try jsonObject(config)
            for (key, value) in object where !["generator", "discriminator", "corpus"].contains(key) {
                if let section = config.sections[key] {
                    walk(section, json: value, path: key, add: adder(key, rank: 1, reader: name))
                } else {
                    walk(config, only: key, json: value, path: "", add: adder("top level", rank: 0, reader: name))
                }
            }
            // The corpus has no default: it is `train`'s argument.
            adder("top level", rank: 0, reader: name)("corpus", "RunConfig", "corpus", "(the corpus argument)")
            // Optional top-level fields absent by default (initFrom, canaries, tokenizer, maxLength…); the models have
            // groups of their own.
            var optional = object
            optional["discriminator"] = [:]
            walk(config, json: optional, path: "", add: adder("top level", rank: 0, reader: name), absentOnly: true)
        }
        for kind in registry.generatorKinds {
            guard let defaults = registry.generator(kind)?.defaults(nil) else { continue }
            walk(defaults, json: try jsonObject(GeneratorSettings(defaults)), path: "generator",
                 add: adder("generator \(kind)", rank: 2, reader: "runs with `--generator \(kind)`"), kind: kind)
        }
        for kind in registry.discriminatorKinds {
            guard let defaults = registry.discriminator(kind)?.defaults(nil) else { continue }
            walk(defaults, json: try jsonObject(DiscriminatorSettings(defaults)), path: "discriminator",
                 add: adder("discriminator \(kind)", rank: 3, reader: registry.algorithmNames.filter {
                     registry.algorithm($0)?.trainsDiscriminator == true }.joined(separator: ", ") + " (`discriminator.kind \(kind)`)"),
                 kind: kind)
        }
        return fields.keys.sorted { (order[$0]!, $0) < (order[$1]!, $1) }.map { fields[$0]! }
    }

    typealias Add = (_ path: String, _ owner: String, _ property: String, _ value: String) -> Void

    private static func jsonObject<T: Encodable>(_ value: T) throws -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try JSONSerialization.jsonObject(with: encoder.encode(value)) as! [String: Any]
    }

    private static func render(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
        else { return "\(value)" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The type inside Optional and Array wrappers: "Optional<EvaluationSettings>" → "EvaluationSettings".
    static func ownerName(_ type: Any.Type) -> String {
        var name = String(describing: type)
        for wrapper in ["Optional<", "Array<"] where name.hasPrefix(wrapper) {
            name = String(name.dropFirst(wrapper.count).dropLast())
        }
        return name.split(separator: ".").last.map(String.init) ?? name
    }

    private static func unwrapped(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return value }
        return mirror.children.first.map { unwrapped($0.value) } ?? nil
    }

    /// The fields of `value` (a struct) as its JSON shows them: a nested object is walked into, anything else is a
    /// leaf; a property that is nil, and so absent from the JSON, is a leaf whose default is "unset".
    private static func walk(_ value: Any, only: String? = nil, json: Any, path: String, add: Add,
                             absentOnly: Bool = false, kind: String? = nil) {
        let owner = ownerName(type(of: value))
        let object = only == nil ? json as? [String: Any] ?? [:] : [only!: json]
        if let kind, only == nil { add("\(path).kind", owner, "kind", render(kind)) }
        for child in Mirror(reflecting: value).children {
            guard let property = child.label, only == nil || property == only else { continue }
            let here = path.isEmpty ? property : "\(path).\(property)"
            guard let field = object[property] else {
                // Absent from the JSON: an optional that is nil by default (a stored field the JSON never has, such
                // as a cache, is not optional and is skipped).
                if Mirror(reflecting: child.value).displayStyle == .optional, unwrapped(child.value) == nil {
                    add(here, owner, property, "unset")
                }
                continue
            }
            if absentOnly { continue }
            if let nested = field as? [String: Any], let inner = unwrapped(child.value),
               Mirror(reflecting: inner).displayStyle == .struct {
                walk(inner, json: nested, path: here, add: add)
            } else {
                add(here, owner, property, render(field))
            }
        }
    }
}
