import Foundation

/// The doc comments (`///`) of the stored properties of every type declared in the package's sources, by type name
/// and property name: what docs/reference.md says of each config field. A line-based reader, which is enough for
/// this code base's style (one declaration per line, braces not inside string literals that span lines).
public struct SourceDocs {
    public private(set) var docs: [String: [String: String]] = [:]

    public init(root: URL) throws {
        let sources = root.appendingPathComponent("Sources")
        guard let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil) else { return }
        for case let url as URL in files where url.pathExtension == "swift" {
            read(try String(contentsOf: url, encoding: .utf8))
        }
    }

    public func doc(of property: String, in type: String) -> String? { docs[type]?[property] }

    private static let declaration = try! NSRegularExpression(
        pattern: #"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|internal|fileprivate|private|package|final|indirect)(?:\(set\))?\s+)*(?:struct|enum|class|extension|protocol|actor)\s+(\w+)"#)
    private static let property = try! NSRegularExpression(
        pattern: #"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|internal|fileprivate|private|package|nonisolated|lazy)(?:\(set\))?\s+)*(?:var|let)\s+(\w+)"#)
    private static let strings = try! NSRegularExpression(pattern: #""(?:[^"\\]|\\.)*""#)

    private mutating func read(_ text: String) {
        var stack: [(name: String, depth: Int)] = []
        var depth = 0
        var pending: [String] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("///") {
                pending.append(String(trimmed.dropFirst(3)).trimmingCharacters(in: .whitespaces))
                continue
            }
            let range = NSRange(raw.startIndex..., in: raw)
            if let match = Self.declaration.firstMatch(in: raw, range: range), let name = Range(match.range(at: 1), in: raw) {
                stack.append((String(raw[name]), depth))
            } else if let match = Self.property.firstMatch(in: raw, range: range), let name = Range(match.range(at: 1), in: raw),
                      let owner = stack.last, depth == owner.depth + 1, !trimmed.hasPrefix("static"), !raw.contains(" static "),
                      !pending.isEmpty {
                docs[owner.name, default: [:]][String(raw[name])] = pending.joined(separator: " ")
            } else if let match = Self.property.firstMatch(in: raw, range: range), let name = Range(match.range(at: 1), in: raw),
                      let owner = stack.last, depth == owner.depth + 1, trimmed.contains("static let kind"), !pending.isEmpty {
                docs[owner.name, default: [:]][String(raw[name])] = pending.joined(separator: " ")
            }
            if !trimmed.hasPrefix("@") { pending = [] }
            // Braces outside string literals and line comments.
            var code = Self.strings.stringByReplacingMatches(in: raw, range: range, withTemplate: "\"\"")
            if let comment = code.range(of: "//") { code = String(code[..<comment.lowerBound]) }
            for character in code {
                if character == "{" { depth += 1 }
                if character == "}" {
                    depth -= 1
                    while let last = stack.last, depth <= last.depth { stack.removeLast() }
                }
            }
        }
    }
}
