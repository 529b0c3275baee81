import Foundation
import Workbench
import XCTest

/// `train --set` assignments and the plans `textgan sweep` makes of seeds and grids.
final class SweepPlanTests: XCTestCase {
    func testAssignmentsReadJSONOrStringsAndNestIntoAnOverlay() throws {
        let rate = try ConfigAssignment(parsing: "mle.learningRate=0.005")
        XCTAssertEqual(rate.path, "mle.learningRate")
        XCTAssertEqual(rate.json, "0.005")
        XCTAssertEqual(try ConfigAssignment(parsing: "gan.loss=rsgan").json, #""rsgan""#, "a bare word is a string")
        XCTAssertEqual(try ConfigAssignment(parsing: #"gan.loss="rsgan""#).json, #""rsgan""#)
        XCTAssertEqual(try ConfigAssignment(parsing: "evaluation.testNLL=false").json, "false")
        XCTAssertEqual(try ConfigAssignment(parsing: "a.b=x=y").json, #""x=y""#, "only the first = splits")
        XCTAssertEqual(try ConfigAssignment(parsing: "gan.loss=rsgan").description, "gan.loss=rsgan")

        let overlay = try ConfigAssignment.overlay([
            ConfigAssignment(parsing: "mle.learningRate=0.01"), ConfigAssignment(parsing: "mle.epochs=3"),
            ConfigAssignment(parsing: "seed=7"), ConfigAssignment(parsing: "mle.epochs=4"),
        ])
        let mle = try XCTUnwrap(overlay["mle"] as? [String: Any])
        XCTAssertEqual(mle["learningRate"] as? Double, 0.01)
        XCTAssertEqual(mle["epochs"] as? Int, 4, "a later assignment of the same path wins")
        XCTAssertEqual(overlay["seed"] as? Int, 7)

        for bad in ["mle.learningRate", "=3", "mle..epochs=3", "mle.epochs=", ".x=1", "a b=1"] {
            XCTAssertThrowsError(try ConfigAssignment(parsing: bad), bad)
        }
        XCTAssertThrowsError(try ConfigAssignment.overlay([ConfigAssignment(parsing: "mle=1"), ConfigAssignment(parsing: "mle.epochs=2")]))
        XCTAssertThrowsError(try ConfigAssignment.overlay([ConfigAssignment(parsing: "mle.epochs=2"), ConfigAssignment(parsing: "mle=1")]))
    }

    func testGridValuesSplitAtTopLevelCommas() throws {
        let axis = try SweepAxis(parsing: #"discriminator.widths=[{"width":2,"filters":8}],[{"width":3,"filters":4}]"#)
        XCTAssertEqual(axis.values.map(\.json), [#"[{"width":2,"filters":8}]"#, #"[{"width":3,"filters":4}]"#])
        XCTAssertEqual(try SweepAxis(parsing: #"note="a,b",c"#).values.map(\.json), [#""a,b""#, #""c""#])
        XCTAssertEqual(try SweepAxis(parsing: "mle.learningRate=0.01, 0.005").values.map(\.json), ["0.01", "0.005"])
        XCTAssertThrowsError(try SweepAxis(parsing: "mle.learningRate=0.01,0.01"), "a value listed twice")
        XCTAssertThrowsError(try SweepAxis(parsing: "mle.learningRate="))
        XCTAssertThrowsError(try SweepAxis(parsing: "mle.learningRate"))
    }

    func testAPlanIsEveryGridPointTimesEverySeed() throws {
        let plan = try SweepPlan(name: "lr", seeds: [1, 2],
                                 axes: [SweepAxis(parsing: "mle.learningRate=0.01,0.005"), SweepAxis(parsing: "gan.loss=standard,rsgan,hinge")])
        XCTAssertEqual(plan.points.count, 2 * 3 * 2)
        XCTAssertEqual(plan.tag, "sweep:lr")
        // The first axis varies slowest, the seed fastest; names say the point and the seed.
        XCTAssertEqual(plan.points.prefix(4).map(\.runName), ["lr-1-s1", "lr-1-s2", "lr-2-s1", "lr-2-s2"])
        XCTAssertEqual(plan.points[0].assignments.map(\.description), ["mle.learningRate=0.01", "gan.loss=standard"])
        XCTAssertEqual(plan.points[2].assignments.map(\.description), ["mle.learningRate=0.01", "gan.loss=rsgan"])
        XCTAssertEqual(plan.points.last!.assignments.map(\.description), ["mle.learningRate=0.005", "gan.loss=hinge"])
        XCTAssertEqual(Set(plan.points.map(\.runName)).count, plan.points.count, "names are unique")
        XCTAssertEqual(Set(plan.points.map(\.gridIndex)), Set(1...6))

        let seedsOnly = try SweepPlan(name: "s", seeds: [3, 1], axes: [])
        XCTAssertEqual(seedsOnly.points.map(\.runName), ["s-s3", "s-s1"])
        XCTAssertTrue(seedsOnly.points.allSatisfy { $0.assignments.isEmpty && $0.gridIndex == 1 })

        XCTAssertThrowsError(try SweepPlan(name: "x", seeds: [], axes: []))
        XCTAssertThrowsError(try SweepPlan(name: "x", seeds: [1, 1], axes: []))
        XCTAssertThrowsError(try SweepPlan(name: "x", seeds: [1], axes: [SweepAxis(parsing: "a=1"), SweepAxis(parsing: "a=2")]))
        let wide = try SweepAxis(parsing: "a=" + (1...40).map(String.init).joined(separator: ","))
        XCTAssertThrowsError(try SweepPlan(name: "x", seeds: Array(1...30), axes: [wide])) {
            XCTAssertTrue("\($0)".contains("1200 runs"), "\($0)")
        }
    }

    func testSeedListsAndRanges() throws {
        XCTAssertEqual(try SweepPlan.seeds(parsing: "1,2,3"), [1, 2, 3])
        XCTAssertEqual(try SweepPlan.seeds(parsing: "1-3,10"), [1, 2, 3, 10])
        XCTAssertEqual(try SweepPlan.seeds(parsing: "5-5"), [5])
        for bad in ["", "1,,2", "3-1", "x", "-1", "1-", "0-5000"] {
            XCTAssertThrowsError(try SweepPlan.seeds(parsing: bad), bad)
        }
    }
}
