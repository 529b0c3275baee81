import Foundation
import RunStore
import TestSupport
import XCTest

@testable import textgan

/// `textgan report` on the two tiny runs of `PlottedRuns`: the page parses, holds every run and chart, loads
/// nothing from outside, and renders in headless Chromium without a console message.
final class ReportCommandTests: XCTestCase {
    nonisolated(unsafe) static var report: (path: String, result: Finished)?

    override func setUpWithError() throws {
        PlottedRuns.prepare()
        if let failure = PlottedRuns.failure { XCTFail(failure) }
        try XCTSkipIf(PlottedRuns.failure != nil)
        if Self.report == nil {
            let path = PlottedRuns.directory.appendingPathComponent("report.html").path
            // Named, in this order: other tests add runs to the shared store.
            Self.report = (path, try PlottedRuns.textgan(["report", "1", "2", "--output", path]))
        }
        XCTAssertEqual(Self.report!.result.status, 0, Self.report!.result.stderr)
    }

    private var html: String { get throws { try String(contentsOfFile: Self.report!.path, encoding: .utf8) } }

    func testThePageHoldsEveryRunItsChartsSamplesAndScores() throws {
        // Run 1 (SeqGAN): loss, NLL-test, BLEU, Self-BLEU, mean reward, D's accuracy; run 2 (MLE): the first four;
        // and the quality–diversity plane of run 1's sweep.
        XCTAssertEqual(Self.report!.result.stdout, "wrote \(Self.report!.path): 2 runs, 11 charts\n")
        let root = try parseXML(html)
        XCTAssertEqual(root.name, "html")
        let runsTable = try XCTUnwrap(root.elements("table", class: "runs").first)
        XCTAssertEqual(runsTable.elements("a").compactMap { $0["href"] }, ["#run-1", "#run-2"], "in the order given")
        let sections = root.elements("section", class: "run")
        XCTAssertEqual(sections.compactMap { $0["id"] }, ["run-1", "run-2"])
        let titles = sections.map { $0.elements("svg").compactMap { $0["aria-label"] } }
        XCTAssertEqual(titles[0], ["Training loss (MLE)", "Held-out likelihood", "BLEU against the test split",
                                   "Self-BLEU of the samples", "Policy gradient: mean rollout reward",
                                   "The discriminator's accuracy over training"])
        XCTAssertEqual(titles[1], Array(titles[0].prefix(4)))
        XCTAssertEqual(root.elements("section", class: "overview").first?.elements("svg").first?["aria-label"],
                       "Quality and diversity over the sampling temperature")
        XCTAssertEqual(root.elements("svg").count, 11)

        // Each run's last samples and its scores by protocol, as the store has them.
        let store = try RunDatabase(path: PlottedRuns.database, readOnly: true)
        for (section, id) in zip(sections, [1, 2] as [Int64]) {
            let samples = try store.details(of: id, sampleLimit: 10).lastSamples.map(\.text)
            XCTAssertFalse(samples.isEmpty)
            XCTAssertEqual(section.elements("ol", class: "samples").first?.elements("li").map(\.text), samples)
            let captions = section.elements("th", class: "protocol").map(\.text)
            XCTAssertEqual(Set(captions), Set(try store.compare([id]).evaluations.map(\.protocol)))
            XCTAssertTrue(section.elements("details", class: "config").first?.allText.contains("mle.learningRate") == true)
        }
        // Run 1's sweep: a table for each temperature's BLEU protocol.
        XCTAssertTrue(sections[0].elements("th", class: "protocol").map(\.text).contains { $0.contains("T=1.4") })
    }

    func testThePageLoadsNothingAndRunsNoScript() throws {
        let root = try parseXML(html)
        XCTAssertTrue(root.elements("script").isEmpty)
        for element in root.all {
            for attribute in ["href", "src", "xlink:href"] {
                if let value = element[attribute] { XCTAssertTrue(value.hasPrefix("#"), "\(element.name) \(attribute)=\(value)") }
            }
        }
        XCTAssertFalse(try html.contains("@import") || html.contains("url(http"), "no outside stylesheet or font")
    }

    func testBadRunsAreOneLineErrors() throws {
        for (arguments, message) in [(["report", "42"], "Error: no run 42 in the run store "),
                                     (["report", "1", "--limit", "0"], "Error: --limit must be at least 1")] {
            let result = try PlottedRuns.textgan(arguments)
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.stderr.hasPrefix(message), result.stderr)
        }
    }

    // MARK: - In a real browser

    /// Debian's chromium, when installed (`apt-get install chromium`).
    private func chromium() throws -> URL {
        let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        try XCTSkipIf(found == nil, "chromium is not installed (apt-get install chromium): the report was not rendered in a browser")
        return URL(fileURLWithPath: found!)
    }

    /// Loads `file` in headless Chromium with the network off; returns the rendered DOM and every console message.
    private func render(_ file: String, extra: [String] = []) throws -> (dom: String, console: [String]) {
        let profile = try temporaryDirectory(self)
        let child = try Child(try chromium(), [
            "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile.path)", "--enable-logging=stderr",
            "--v=0", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
        ] + extra + ["--dump-dom", URL(fileURLWithPath: file).absoluteString])
        let finished = child.wait()
        XCTAssertEqual(finished.status, 0, finished.stderr)
        let console = finished.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
        return (finished.stdout, console)
    }

    func testTheReportRendersInHeadlessChromiumWithoutConsoleMessages() throws {
        // The check can fail: a page that logs an error is caught.
        let noisy = PlottedRuns.directory.appendingPathComponent("noisy.html")
        try #"<!DOCTYPE html><html><body><script>console.error("deliberate")</script></body></html>"#
            .write(to: noisy, atomically: true, encoding: .utf8)
        // (render throws XCTSkip without chromium; inside an XCTAssert expression that would count as a failure)
        let noisyConsole = try render(noisy.path).console
        XCTAssertTrue(noisyConsole.contains { $0.contains("deliberate") })

        let (dom, console) = try render(Self.report!.path)
        XCTAssertEqual(console, [], "console messages while rendering the report")
        XCTAssertEqual(dom.components(separatedBy: "<svg ").count - 1, 11, "every chart is in the rendered page")
        for id in ["run-1", "run-2"] { XCTAssertTrue(dom.contains("id=\"\(id)\""), id) }

        // And it paints: a screenshot is written.
        let screenshot = PlottedRuns.directory.appendingPathComponent("report.png")
        _ = try render(Self.report!.path, extra: ["--screenshot=\(screenshot.path)", "--window-size=1200,2400"])
        let png = try Data(contentsOf: screenshot)
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertGreaterThan(png.count, 20_000, "a page with charts, not a blank one")
    }
}
