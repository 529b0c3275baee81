import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An XML document (an SVG chart, an XHTML report) read with Foundation's XMLParser into a tree, so tests can find elements by name and attribute.
public final class ParsedElement {
    public let name: String
    public let attributes: [String: String]
    public var children: [ParsedElement] = []
    public var text = ""
    public weak var parent: ParsedElement?

    init(name: String, attributes: [String: String]) {
        self.name = name
        self.attributes = attributes
    }

    public subscript(_ attribute: String) -> String? { attributes[attribute] }

    /// This element and every element below it, in document order.
    public var all: [ParsedElement] { [self] + children.flatMap(\.all) }

    public func elements(_ name: String, class className: String? = nil) -> [ParsedElement] {
        all.filter { $0.name == name && (className == nil || ($0["class"] ?? "").split(separator: " ").contains { $0 == className! }) }
    }

    /// The text of this element and its descendants.
    public var allText: String { text + children.map(\.allText).joined() }
}

public struct XMLParseError: Error, CustomStringConvertible {
    public var description: String
}

/// Parses `text` as XML, or throws with the parser's error and line.
public func parseXML(_ text: String) throws -> ParsedElement {
    final class Builder: NSObject, XMLParserDelegate {
        var root: ParsedElement?
        var stack: [ParsedElement] = []

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String]) {
            let element = ParsedElement(name: name, attributes: attributes)
            if let parent = stack.last {
                element.parent = parent
                parent.children.append(element)
            } else {
                root = element
            }
            stack.append(element)
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            stack.removeLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { stack.last?.text += string }
    }
    let parser = XMLParser(data: Data(text.utf8))
    let builder = Builder()
    parser.delegate = builder
    guard parser.parse(), let root = builder.root else {
        throw XMLParseError(description: "not well-formed XML at line \(parser.lineNumber), column \(parser.columnNumber): "
            + "\(parser.parserError.map { "\($0)" } ?? "no root element")")
    }
    return root
}
