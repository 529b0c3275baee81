import Foundation

// A chart of lines and points over two numeric axes, written as a standalone SVG document by plain string
// building: axes at nice ticks with a light grid, shaded x ranges (training phases), vertical markers, a legend
// beside the plot, a title and subtitle. No fonts, scripts or links outside the file, so it opens anywhere and can
// be inlined in an HTML page.
//
// The document is meant to be read back too: each series is a `<g class="series" data-name="…">` holding its
// polylines (one per run of finite points; NaN and infinities break the line) and circles, and each tick a
// `<g class="tick x|y" data-value="…">` at its position, so a test can map coordinates back to data.

public struct SVGChart: Sendable, Equatable {
    public var title: String
    public var subtitle: String?
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// Shaded x ranges, drawn under everything else, each labelled at its top.
    public var bands: [Band]
    /// Vertical lines across the plot, labelled at their top.
    public var markers: [Marker]
    /// Fixed axis extents (e.g. 0…1 for an accuracy); nil: the nice ticks around the data.
    public var xDomain: ClosedRange<Double>?
    public var yDomain: ClosedRange<Double>?
    public var width: Double
    public var height: Double
    /// Prefix of the ids inside the document (its clip path); charts inlined in one HTML page need distinct ones.
    public var identifier: String

    public init(title: String, subtitle: String? = nil, xLabel: String, yLabel: String, series: [Series],
                bands: [Band] = [], markers: [Marker] = [], xDomain: ClosedRange<Double>? = nil,
                yDomain: ClosedRange<Double>? = nil, width: Double = 760, height: Double = 420,
                identifier: String = "chart") {
        self.title = title
        self.subtitle = subtitle
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.bands = bands
        self.markers = markers
        self.xDomain = xDomain
        self.yDomain = yDomain
        self.width = width
        self.height = height
        self.identifier = identifier
    }

    public struct Point: Sendable, Equatable {
        public var x: Double
        public var y: Double
        /// Written beside the point (e.g. "T=0.7" on a quality–diversity curve).
        public var label: String?

        public init(x: Double, y: Double, label: String? = nil) {
            self.x = x
            self.y = y
            self.label = label
        }
    }

    public enum Dash: String, Sendable, Equatable, CaseIterable {
        case solid, dashed, dotted

        var array: String? {
            switch self {
            case .solid: nil
            case .dashed: "7 4"
            case .dotted: "2 3"
            }
        }
    }

    public struct Series: Sendable, Equatable {
        public var name: String
        public var points: [Point]
        /// A CSS colour; `SVGChart.palette` holds readable ones.
        public var color: String
        public var dash: Dash
        /// Circles at every point (a lone finite point between non-finite ones always gets one).
        public var markers: Bool

        public init(name: String, points: [Point], color: String, dash: Dash = .solid, markers: Bool = false) {
            self.name = name
            self.points = points
            self.color = color
            self.dash = dash
            self.markers = markers
        }

        /// The runs of consecutive finite points, in order.
        public var segments: [[Point]] {
            var out: [[Point]] = [[]]
            for p in points {
                if p.x.isFinite && p.y.isFinite { out[out.count - 1].append(p) } else if !out.last!.isEmpty { out.append([]) }
            }
            return out.filter { !$0.isEmpty }
        }
    }

    public struct Band: Sendable, Equatable {
        public var label: String
        public var lower: Double
        public var upper: Double

        public init(label: String, lower: Double, upper: Double) {
            self.label = label
            self.lower = lower
            self.upper = upper
        }
    }

    public struct Marker: Sendable, Equatable {
        public var x: Double
        public var label: String
        public var color: String

        public init(x: Double, label: String, color: String) {
            self.x = x
            self.label = label
            self.color = color
        }
    }

    /// Okabe and Ito's colour-blind-safe colours (without the yellow, too pale on white), then black.
    public static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]

    /// The fill of shaded bands, in turn.
    static let bandFills = ["#f0f0f0", "#e3edf7", "#f7ebe1", "#e6f3ec"]
}

// MARK: - Layout

extension SVGChart {
    /// Where the plot area sits and how data maps into it.
    public struct Layout: Sendable {
        public var left: Double, top: Double, right: Double, bottom: Double
        public var xTicks: Ticks, yTicks: Ticks
        public var xDomain: ClosedRange<Double>, yDomain: ClosedRange<Double>
        public var legendX: Double

        public func x(_ value: Double) -> Double {
            left + (value - xDomain.lowerBound) / (xDomain.upperBound - xDomain.lowerBound) * (right - left)
        }

        public func y(_ value: Double) -> Double {
            bottom - (value - yDomain.lowerBound) / (yDomain.upperBound - yDomain.lowerBound) * (bottom - top)
        }
    }

    /// About how wide a text is at `size` px in a sans-serif face (no font metrics in a string builder).
    static func textWidth(_ text: String, size: Double = 12) -> Double { Double(text.count) * size * 0.56 }

    /// Legend entries are cut to this many characters (the whole name is the entry's tooltip).
    static let legendCharacters = 38

    /// The subtitle cut into lines that fit the chart's width, at spaces.
    var subtitleLines: [String] {
        guard let subtitle else { return [] }
        let limit = max(20, Int((width - 80) / (12 * 0.56)))
        var lines: [String] = [], line = ""
        for word in subtitle.split(separator: " ", omittingEmptySubsequences: false) {
            if !line.isEmpty && line.count + 1 + word.count > limit {
                lines.append(line)
                line = String(word)
            } else {
                line += (line.isEmpty ? "" : " ") + word
            }
        }
        return lines + (line.isEmpty ? [] : [line])
    }

    public var layout: Layout {
        let finite = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        func ticks(_ fixed: ClosedRange<Double>?, _ values: [Double], extra: [Double]) -> Ticks {
            if let fixed { return Ticks(inside: fixed) }
            let all = values + extra.filter(\.isFinite)
            return Ticks(covering: all.min() ?? 0, all.max() ?? 1)
        }
        // The data sets the x extent; bands (phases) beyond it are cut off.
        let xTicks = ticks(xDomain, finite.map(\.x), extra: markers.map(\.x))
        let yTicks = ticks(yDomain, finite.map(\.y), extra: [])
        let yLabelWidth = yTicks.values.map { Self.textWidth(yTicks.label($0)) }.max() ?? 0
        let entries = series.map(\.name) + bands.map(\.label)
        let legendWidth = entries.isEmpty ? 0
            : min(Self.textWidth(String(repeating: "m", count: Self.legendCharacters)),
                  entries.map { Self.textWidth(String($0.prefix(Self.legendCharacters))) }.max()!) + 40
        let top = 46.0 + 16 * Double(subtitleLines.count)
        let right = width - 16 - legendWidth
        return Layout(
            left: 36 + yLabelWidth + 10, top: top, right: right, bottom: height - 48,
            xTicks: xTicks, yTicks: yTicks, xDomain: xDomain ?? xTicks.domain, yDomain: yDomain ?? yTicks.domain,
            legendX: right + 20)
    }
}

// MARK: - Rendering

extension SVGChart {
    /// The chart as a standalone SVG document (no XML declaration, so it can also be inlined in HTML).
    public func svg() -> String {
        let l = layout
        var out: [String] = []
        out.append("""
            <svg xmlns="http://www.w3.org/2000/svg" width="\(n(width))" height="\(n(height))" \
            viewBox="0 0 \(n(width)) \(n(height))" role="img" aria-label="\(escape(title))" \
            font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">
            """)
        out.append("<title>\(escape(title))</title>")
        out.append("<defs><clipPath id=\"\(escape(identifier))-plot\"><rect x=\"\(n(l.left))\" y=\"\(n(l.top))\" "
                   + "width=\"\(n(l.right - l.left))\" height=\"\(n(l.bottom - l.top))\"/></clipPath></defs>")
        out.append("<rect class=\"background\" width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>")
        out.append("<text class=\"title\" x=\"\(n(l.left))\" y=\"24\" font-size=\"15\" font-weight=\"600\" "
                   + "fill=\"#222\">\(escape(title))</text>")
        if subtitle != nil {
            out.append("<text class=\"subtitle\" x=\"\(n(l.left))\" y=\"42\" fill=\"#555\">"
                       + subtitleLines.enumerated().map { i, line in
                           "<tspan x=\"\(n(l.left))\" dy=\"\(i == 0 ? 0 : 16)\">\(escape(line))</tspan>"
                       }.joined() + "</text>")
        }
        out += bandElements(l)
        out += gridAndAxes(l)
        out.append("<g class=\"data\" clip-path=\"url(#\(escape(identifier))-plot)\">")
        for (index, s) in series.enumerated() { out += seriesElements(s, index: index, l) }
        out.append("</g>")
        out += markerElements(l)
        out += legend(l)
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    private func bandElements(_ l: Layout) -> [String] {
        var out: [String] = []
        for (index, band) in bands.enumerated() {
            let x0 = min(max(l.x(band.lower), l.left), l.right), x1 = min(max(l.x(band.upper), l.left), l.right)
            guard x1 > x0 else { continue }
            out.append("<g class=\"band\" data-label=\"\(escape(band.label))\" data-lower=\"\(band.lower)\" "
                       + "data-upper=\"\(band.upper)\">")
            out.append("<rect x=\"\(n(x0))\" y=\"\(n(l.top))\" width=\"\(n(x1 - x0))\" height=\"\(n(l.bottom - l.top))\" "
                       + "fill=\"\(Self.bandFills[index % Self.bandFills.count])\"/>")
            if x1 - x0 >= Self.textWidth(band.label, size: 11) + 8 {
                out.append("<text x=\"\(n(x0 + 5))\" y=\"\(n(l.top + 14))\" font-size=\"11\" fill=\"#555\">"
                           + "\(escape(band.label))</text>")
            }
            out.append("</g>")
        }
        return out
    }

    private func gridAndAxes(_ l: Layout) -> [String] {
        var out: [String] = []
        for value in l.yTicks.values {
            let y = l.y(value)
            out.append("<g class=\"tick y\" data-value=\"\(value)\">"
                       + "<line x1=\"\(n(l.left))\" y1=\"\(n(y))\" x2=\"\(n(l.right))\" y2=\"\(n(y))\" stroke=\"#e2e2e2\"/>"
                       + "<text x=\"\(n(l.left - 8))\" y=\"\(n(y + 4))\" text-anchor=\"end\" fill=\"#444\">"
                       + "\(escape(l.yTicks.label(value)))</text></g>")
        }
        for value in l.xTicks.values {
            let x = l.x(value)
            out.append("<g class=\"tick x\" data-value=\"\(value)\">"
                       + "<line x1=\"\(n(x))\" y1=\"\(n(l.top))\" x2=\"\(n(x))\" y2=\"\(n(l.bottom))\" stroke=\"#f0f0f0\"/>"
                       + "<line x1=\"\(n(x))\" y1=\"\(n(l.bottom))\" x2=\"\(n(x))\" y2=\"\(n(l.bottom + 5))\" stroke=\"#666\"/>"
                       + "<text x=\"\(n(x))\" y=\"\(n(l.bottom + 18))\" text-anchor=\"middle\" fill=\"#444\">"
                       + "\(escape(l.xTicks.label(value)))</text></g>")
        }
        out.append("<g class=\"axes\" stroke=\"#666\"><line x1=\"\(n(l.left))\" y1=\"\(n(l.bottom))\" "
                   + "x2=\"\(n(l.right))\" y2=\"\(n(l.bottom))\"/><line x1=\"\(n(l.left))\" y1=\"\(n(l.top))\" "
                   + "x2=\"\(n(l.left))\" y2=\"\(n(l.bottom))\"/></g>")
        out.append("<text class=\"x-label\" x=\"\(n((l.left + l.right) / 2))\" y=\"\(n(height - 10))\" "
                   + "text-anchor=\"middle\" fill=\"#222\">\(escape(xLabel))</text>")
        let yMid = (l.top + l.bottom) / 2
        out.append("<text class=\"y-label\" x=\"16\" y=\"\(n(yMid))\" text-anchor=\"middle\" fill=\"#222\" "
                   + "transform=\"rotate(-90 16 \(n(yMid)))\">\(escape(yLabel))</text>")
        return out
    }

    private func seriesElements(_ s: Series, index: Int, _ l: Layout) -> [String] {
        var out = ["<g class=\"series\" data-index=\"\(index)\" data-name=\"\(escape(s.name))\">"]
        let dash = s.dash.array.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        for segment in s.segments {
            if segment.count >= 2 {
                let points = segment.map { "\(n(l.x($0.x))),\(n(l.y($0.y)))" }.joined(separator: " ")
                out.append("<polyline class=\"line\" points=\"\(points)\" fill=\"none\" stroke=\"\(escape(s.color))\" "
                           + "stroke-width=\"2\" stroke-linejoin=\"round\"\(dash)/>")
            }
            if s.markers || segment.count == 1 {
                for p in segment {
                    out.append("<circle class=\"point\" cx=\"\(n(l.x(p.x)))\" cy=\"\(n(l.y(p.y)))\" r=\"3.5\" "
                               + "fill=\"\(escape(s.color))\"><title>\(escape(s.name)): \(p.label.map { $0 + ", " } ?? "")"
                               + "(\(Self.compact(p.x)), \(Self.compact(p.y)))</title></circle>")
                }
            }
            for p in segment {
                guard let label = p.label else { continue }
                // Beside the point, on the side that keeps it inside the plot.
                let (x, y) = (l.x(p.x), l.y(p.y))
                let leftward = x + 6 + Self.textWidth(label, size: 10) > l.right
                out.append("<text class=\"point-label\" x=\"\(n(leftward ? x - 6 : x + 6))\" "
                           + "y=\"\(n(y - 6 < l.top + 10 ? y + 14 : y - 6))\"\(leftward ? " text-anchor=\"end\"" : "") "
                           + "font-size=\"10\" fill=\"\(escape(s.color))\">\(escape(label))</text>")
            }
        }
        out.append("</g>")
        return out
    }

    private func markerElements(_ l: Layout) -> [String] {
        markers.enumerated().compactMap { index, marker in
            let x = l.x(marker.x)
            guard x >= l.left - 0.5 && x <= l.right + 0.5 else { return nil }
            // Labels step down the plot, so markers close together stay readable, and turn left near the right edge.
            let leftward = x + 4 + Self.textWidth(marker.label, size: 10) > l.right
            return "<g class=\"marker\" data-x=\"\(marker.x)\"><line x1=\"\(n(x))\" y1=\"\(n(l.top))\" x2=\"\(n(x))\" "
                + "y2=\"\(n(l.bottom))\" stroke=\"\(escape(marker.color))\" stroke-dasharray=\"3 3\"/>"
                + "<text x=\"\(n(leftward ? x - 4 : x + 4))\" y=\"\(n(l.top + 12 + 13 * Double(index % 4)))\" font-size=\"10\" "
                + (leftward ? "text-anchor=\"end\" " : "")
                + "fill=\"\(escape(marker.color))\">\(escape(marker.label))</text></g>"
        }
    }

    private func legend(_ l: Layout) -> [String] {
        guard !series.isEmpty || !bands.isEmpty else { return [] }
        var out = ["<g class=\"legend\">"]
        for (index, s) in series.enumerated() {
            let y = l.top + 8 + Double(index) * 20
            let dash = s.dash.array.map { " stroke-dasharray=\"\($0)\"" } ?? ""
            let name = s.name.count > Self.legendCharacters ? s.name.prefix(Self.legendCharacters - 1) + "…" : s.name
            out.append("<g class=\"entry\"><title>\(escape(s.name))</title>"
                       + "<line x1=\"\(n(l.legendX))\" y1=\"\(n(y))\" x2=\"\(n(l.legendX + 24))\" y2=\"\(n(y))\" "
                       + "stroke=\"\(escape(s.color))\" stroke-width=\"2\"\(dash)/>"
                       + (s.markers ? "<circle cx=\"\(n(l.legendX + 12))\" cy=\"\(n(y))\" r=\"3.5\" fill=\"\(escape(s.color))\"/>" : "")
                       + "<text x=\"\(n(l.legendX + 30))\" y=\"\(n(y + 4))\" fill=\"#222\">\(escape(String(name)))</text></g>")
        }
        // The shaded ranges in view, by their fill (a narrow band has no room for its label).
        let shown = bands.enumerated().filter { $0.element.upper > l.xDomain.lowerBound && $0.element.lower < l.xDomain.upperBound }
        for (row, (index, band)) in shown.enumerated() {
            let y = l.top + 8 + Double(series.count + row) * 20 + (series.isEmpty ? 0 : 8)
            out.append("<g class=\"entry band-entry\"><rect x=\"\(n(l.legendX))\" y=\"\(n(y - 7))\" width=\"24\" "
                       + "height=\"14\" fill=\"\(Self.bandFills[index % Self.bandFills.count])\" stroke=\"#ccc\"/>"
                       + "<text x=\"\(n(l.legendX + 30))\" y=\"\(n(y + 4))\" fill=\"#555\">"
                       + "\(escape(String(band.label.prefix(Self.legendCharacters))))</text></g>")
        }
        out.append("</g>")
        return out
    }

    // MARK: - Text

    /// A coordinate, to a hundredth of a pixel.
    private func n(_ value: Double) -> String { String(format: "%.2f", value) }

    /// A value in a tooltip: up to 6 significant digits.
    static func compact(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.6g", value)
    }
}

/// `text` with XML's special characters escaped, for element content and attribute values alike.
public func escapeXML(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for c in text.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        // Control characters other than tab and newlines are not allowed in XML 1.0 at all.
        case _ where c.value < 0x20 && c != "\t" && c != "\n" && c != "\r": out += "\u{FFFD}"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

private func escape(_ text: String) -> String { escapeXML(text) }
