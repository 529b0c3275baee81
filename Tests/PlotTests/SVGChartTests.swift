import Foundation
import TestSupport
import Plot
import XCTest

final class TicksTests: XCTestCase {
    /// Golden values worked by hand from Heckbert's rule (range → nice ceiling; step → nearest nice of range / 5;
    /// the axis from the multiple of the step at or below the data to the one at or above it).
    func testTicksAreNiceMultiplesCoveringTheData() {
        XCTAssertEqual(Ticks(covering: 0, 1).values, [0, 0.2, 0.4, 0.6, 0.8, 1])
        XCTAssertEqual(Ticks(covering: 0, 9.7).values, [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(Ticks(covering: 3.2, 8.9).values, [2, 4, 6, 8, 10])
        XCTAssertEqual(Ticks(covering: 0, 1234).values, [0, 500, 1000, 1500])
        XCTAssertEqual(Ticks(covering: -0.35, 0.12).values, [-0.4, -0.3, -0.2, -0.1, 0, 0.1, 0.2])
        XCTAssertEqual(Ticks(covering: 8.7, 10.02).values, [8.5, 9, 9.5, 10, 10.5])
        XCTAssertEqual(Ticks(covering: 0.000_12, 0.000_47).values, [0.0001, 0.0002, 0.0003, 0.0004, 0.0005])
        // Order does not matter; an empty range widens by 10% of the value (by 1 around zero).
        XCTAssertEqual(Ticks(covering: 1, 0).values, [0, 0.2, 0.4, 0.6, 0.8, 1])
        XCTAssertEqual(Ticks(covering: 5, 5).values, [4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6])
        XCTAssertEqual(Ticks(covering: 0, 0).values, [-1, -0.5, 0, 0.5, 1])
        XCTAssertEqual(Ticks(covering: .nan, 3).values, [0, 0.2, 0.4, 0.6, 0.8, 1])
        // A fixed domain keeps the nice values inside it.
        XCTAssertEqual(Ticks(inside: 0...1).values, [0, 0.2, 0.4, 0.6, 0.8, 1])
        XCTAssertEqual(Ticks(inside: 0.05...0.97).values, [0.2, 0.4, 0.6, 0.8])
    }

    func testLabelsHaveTheStepsDecimalsAndGroupedThousands() {
        let fine = Ticks(covering: -0.35, 0.12)
        XCTAssertEqual(fine.values.map(fine.label), ["-0.4", "-0.3", "-0.2", "-0.1", "0.0", "0.1", "0.2"])
        let coarse = Ticks(covering: 0, 1234)
        XCTAssertEqual(coarse.values.map(coarse.label), ["0", "500", "1,000", "1,500"])
        let large = Ticks(covering: 0, 1_234_567)
        XCTAssertEqual(large.label(1_000_000), "1,000,000")
        XCTAssertEqual(large.label(-0.0), "0")
        let tiny = Ticks(covering: 0.000_12, 0.000_47)
        XCTAssertEqual(tiny.label(0.0003), "0.0003")
    }
}

final class SVGChartTests: XCTestCase {
    /// Pixel → data along one axis, from the positions of its first and last ticks as the document draws them.
    private func axis(_ root: ParsedElement, _ name: String) throws -> (Double) -> Double {
        let ticks = root.elements("g").filter { $0["class"] == "tick \(name)" }
        XCTAssertGreaterThanOrEqual(ticks.count, 2)
        func position(_ tick: ParsedElement) throws -> (pixel: Double, value: Double) {
            let line = try XCTUnwrap(tick.children.first { $0.name == "line" })
            return (try XCTUnwrap(Double(line[name == "x" ? "x1" : "y1"] ?? "")), try XCTUnwrap(Double(tick["data-value"] ?? "")))
        }
        let (a, b) = (try position(ticks.first!), try position(ticks.last!))
        return { pixel in a.value + (pixel - a.pixel) / (b.pixel - a.pixel) * (b.value - a.value) }
    }

    private func points(_ polyline: ParsedElement) -> [(Double, Double)] {
        (polyline["points"] ?? "").split(separator: " ").map { pair in
            let xy = pair.split(separator: ",").map { Double($0)! }
            return (xy[0], xy[1])
        }
    }

    func testTheSVGParsesAndItsLinesMapBackToTheData() throws {
        // Given a smooth series of 50 points and one broken by NaN and infinity around a lone finite point,
        let smooth = (0..<50).map { i in SVGChart.Point(x: Double(i * 20), y: 2.5 + sin(Double(i) / 7)) }
        let broken: [SVGChart.Point] = [(0, 1), (100, 2), (200, 3), (300, .nan), (400, 2.2), (500, .infinity),
                                         (600, 1.5), (700, 1.25)].map { .init(x: $0.0, y: $0.1) }
        let chart = SVGChart(title: "loss", xLabel: "run step", yLabel: "loss", series: [
            .init(name: "smooth", points: smooth, color: SVGChart.palette[0]),
            .init(name: "broken", points: broken, color: SVGChart.palette[1], dash: .dashed),
        ])

        // when it is drawn and read back as XML,
        let root = try parseXML(chart.svg())
        XCTAssertEqual(root.name, "svg")
        XCTAssertEqual(root["xmlns"], "http://www.w3.org/2000/svg")
        let x = try axis(root, "x"), y = try axis(root, "y")
        let series = root.elements("g", class: "series")
        XCTAssertEqual(series.map { $0["data-name"] }, ["smooth", "broken"])

        // then the smooth series is one polyline through every point,
        let smoothLines = series[0].elements("polyline")
        XCTAssertEqual(smoothLines.count, 1)
        let drawn = points(smoothLines[0])
        XCTAssertEqual(drawn.count, 50)
        for (p, (px, py)) in zip(smooth, drawn) {
            XCTAssertEqual(x(px), p.x, accuracy: 0.05, "x of \(p)")  // a hundredth of a pixel is ~0.02 steps here
            XCTAssertEqual(y(py), p.y, accuracy: 1e-3, "y of \(p)")
        }
        // and the broken one is two lines (3 points, then 2) and a circle for the lone point, non-finite values left out.
        let brokenLines = series[1].elements("polyline")
        XCTAssertEqual(brokenLines.map { points($0).count }, [3, 2])
        XCTAssertEqual(brokenLines[0]["stroke-dasharray"], "7 4")
        let mapped = brokenLines.flatMap(points).map { (x($0.0), y($0.1)) }
        for (got, want) in zip(mapped, [(0.0, 1.0), (100, 2), (200, 3), (600, 1.5), (700, 1.25)]) {
            XCTAssertEqual(got.0, want.0, accuracy: 0.05)
            XCTAssertEqual(got.1, want.1, accuracy: 1e-3)
        }
        let lone = series[1].elements("circle", class: "point")
        XCTAssertEqual(lone.count, 1)
        XCTAssertEqual(x(Double(lone[0]["cx"]!)!), 400, accuracy: 0.05)
        XCTAssertEqual(y(Double(lone[0]["cy"]!)!), 2.2, accuracy: 1e-3)

        // The ticks span the plot area: the lowest y tick on its bottom edge, the highest on its top edge.
        let yTickLines = root.elements("g").filter { $0["class"] == "tick y" }.map { Double($0.children[0]["y1"]!)! }
        XCTAssertEqual(yTickLines.first!, chart.layout.bottom, accuracy: 0.01)
        XCTAssertEqual(yTickLines.last!, chart.layout.top, accuracy: 0.01)
        // The axes are at nice ticks around the data; the legend names both series; the title is there.
        let xTicks = root.elements("g").filter { $0["class"] == "tick x" }.compactMap { Double($0["data-value"]!) }
        XCTAssertEqual(xTicks, [0, 200, 400, 600, 800, 1000])
        XCTAssertEqual(root.elements("g").filter { $0["class"] == "tick x" }.map { $0.allText }.last, "1,000")
        XCTAssertEqual(root.elements("g", class: "entry").map(\.allText), ["smoothsmooth", "brokenbroken"])  // tooltip + label
        XCTAssertEqual(root.elements("text", class: "title").first?.text, "loss")
    }

    func testMarkersPointLabelsAndFixedDomain() throws {
        let chart = SVGChart(
            title: "qd", xLabel: "Self-BLEU", yLabel: "BLEU",
            series: [.init(name: "run", points: [.init(x: 0.4, y: 0.2, label: "T=1.5"), .init(x: 0.8, y: 0.45, label: "T=0.5")],
                           color: "#000", markers: true)],
            yDomain: 0...1)
        let root = try parseXML(chart.svg())
        let y = try axis(root, "y")
        XCTAssertEqual(root.elements("g").filter { $0["class"] == "tick y" }.compactMap { Double($0["data-value"]!) },
                       [0, 0.2, 0.4, 0.6, 0.8, 1])
        let circles = root.elements("circle", class: "point")
        XCTAssertEqual(circles.compactMap { Double($0["cy"]!) }.map(y).map { ($0 * 1000).rounded() / 1000 }, [0.2, 0.45])
        XCTAssertEqual(root.elements("text", class: "point-label").map(\.text), ["T=1.5", "T=0.5"])
        // The rightmost label is written leftwards, inside the plot.
        XCTAssertEqual(root.elements("text", class: "point-label").last?["text-anchor"], "end")
    }

    func testALongSubtitleWrapsAndPushesThePlotDown() throws {
        let series = [SVGChart.Series(name: "a", points: [.init(x: 0, y: 0), .init(x: 1, y: 1)], color: "#000")]
        let short = SVGChart(title: "t", subtitle: "one line", xLabel: "x", yLabel: "y", series: series)
        let long = SVGChart(title: "t", subtitle: Array(repeating: "twelve chars", count: 20).joined(separator: " "),
                            xLabel: "x", yLabel: "y", series: series)
        let lines = try parseXML(long.svg()).elements("text", class: "subtitle")[0].elements("tspan")
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(lines.map(\.text).joined(separator: " "), long.subtitle)
        XCTAssertEqual(long.layout.top - short.layout.top, 32)
    }

    func testBandsShadeTheirRangeAndTextIsEscaped() throws {
        let name = #"#3 <tang> & "quick""#
        let chart = SVGChart(
            title: "a < b & c", xLabel: "x", yLabel: "y",
            series: [.init(name: name, points: (0...100).map { .init(x: Double($0), y: Double($0 % 7)) }, color: "#123456")],
            bands: [.init(label: "mle", lower: 0, upper: 60), .init(label: "adversarial", lower: 60, upper: 100),
                    .init(label: "beyond", lower: 200, upper: 300)])
        let svg = chart.svg()
        let root = try parseXML(svg)
        XCTAssertEqual(root.elements("g", class: "series").first?["data-name"], name)
        XCTAssertEqual(root.elements("title").first?.text, "a < b & c")
        let x = try axis(root, "x")
        let bands = root.elements("g", class: "band")
        XCTAssertEqual(bands.map { $0["data-label"] }, ["mle", "adversarial"], "a band outside the data is not drawn")
        for (band, (lower, upper)) in zip(bands, [(0.0, 60.0), (60, 100)]) {
            let rect = band.elements("rect")[0]
            let x0 = Double(rect["x"]!)!, width = Double(rect["width"]!)!
            XCTAssertEqual(x(x0), lower, accuracy: 0.01)
            XCTAssertEqual(x(x0 + width), upper, accuracy: 0.01)
        }
        XCTAssertEqual(root.elements("g", class: "band-entry").map(\.allText), ["mle", "adversarial"])
    }
}
