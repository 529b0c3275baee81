import Foundation
import GRDB

/// A JSON value with its type kept (JSONSerialization blurs booleans and numbers on Linux).
enum JSONValue: Decodable, Equatable {
    case null, bool(Bool), integer(Int64), real(Double), text(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let b = try? container.decode(Bool.self) { self = .bool(b) }
        else if let i = try? container.decode(Int64.self) { self = .integer(i) }
        else if let d = try? container.decode(Double.self) { self = .real(d) }
        else if let s = try? container.decode(String.self) { self = .text(s) }
        else if let a = try? container.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    /// Compact JSON text, keys sorted, for arrays stored as one param.
    var jsonText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .integer(let i): return String(i)
        case .real(let d): return String(d)
        case .text(let s):
            let data = (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8)
            return String(decoding: data, as: UTF8.self)
        case .array(let a): return "[" + a.map(\.jsonText).joined(separator: ",") + "]"
        case .object(let o):
            return "{" + o.keys.sorted().map { JSONValue.text($0).jsonText + ":" + o[$0]!.jsonText }
                .joined(separator: ",") + "}"
        }
    }
}

/// Flattens a JSON object into dotted keys: `{"g": {"lr": 0.01}}` → `g.lr = 0.01`. Objects nest; arrays stay whole
/// (as compact JSON text, type `array`), because a list such as the discriminator's filter sizes is one setting.
func flattenConfig(_ json: String) throws -> [(key: String, value: DatabaseValue, type: String)] {
    let root: JSONValue
    do {
        root = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
    } catch {
        throw RunStoreError.invalidConfigJSON(String(describing: error))
    }
    guard case .object = root else { throw RunStoreError.invalidConfigJSON("the top level is not an object") }

    var rows: [(key: String, value: DatabaseValue, type: String)] = []
    func visit(_ value: JSONValue, _ key: String) {
        switch value {
        case .object(let fields):
            for name in fields.keys.sorted() { visit(fields[name]!, key.isEmpty ? name : key + "." + name) }
        case .null: rows.append((key, .null, "null"))
        case .bool(let b): rows.append((key, (b ? 1 : 0).databaseValue, "boolean"))
        case .integer(let i): rows.append((key, i.databaseValue, "integer"))
        case .real(let d): rows.append((key, d.databaseValue, "real"))
        case .text(let s): rows.append((key, s.databaseValue, "text"))
        case .array: rows.append((key, value.jsonText.databaseValue, "array"))
        }
    }
    visit(root, "")
    return rows
}
