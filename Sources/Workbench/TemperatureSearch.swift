import Foundation

// The temperature at which a generator's samples are as diverse as another's: `textgan eval --match-self-bleu`.
// Language GANs Falling Short compares a GAN with MLE at the MLE temperature whose diversity matches the GAN's, not
// at T = 1 alone. Self-BLEU falls as T rises (hotter samples are more varied) in expectation; measured on finitely
// many samples it is noisy, so the search below only assumes that the statistic is decreasing apart from noise, that
// every probe is scored from the same seed (so neighbouring temperatures share most of their randomness), and that it
// may be measured a bounded number of times. It brackets the target by stepping out from a start temperature in
// doubling steps, then narrows the bracket by regula falsi with the Illinois modification (the endpoint kept twice
// in a row has its value halved, so the bracket shrinks from both sides), each new point kept 5 % of the bracket
// away from its ends.

/// The search for the temperature in [0, `maximumTemperature`] at which a statistic that decreases with
/// temperature (Self-BLEU-n) comes within `tolerance` of `target`.
public struct TemperatureSearch: Sendable, Equatable {
    public var target: Double
    /// How close a probe must come to the target, in the statistic's units.
    public var tolerance: Double
    public var maximumTemperature: Double
    /// At most this many measurements.
    public var maximumProbes: Int
    /// The first probe (clamped into [0, maximumTemperature]); 1, the temperature GANs are scored at.
    public var start: Double = 1
    /// The first step out from `start` while bracketing; each further step doubles it.
    public var firstStep: Double = 0.25
    /// A bracket narrower than this (in temperature) with no probe within tolerance means the statistic jumps across
    /// the target there (noise larger than the tolerance): the search stops.
    public var minimumWidth: Double = 0.002
    /// Probe temperatures are rounded to this many decimals (so that they read and query exactly).
    public static let decimals = 4

    public init(target: Double, tolerance: Double, maximumTemperature: Double, maximumProbes: Int) {
        self.target = target
        self.tolerance = tolerance
        self.maximumTemperature = maximumTemperature
        self.maximumProbes = maximumProbes
    }

    /// One measurement.
    public struct Probe: Sendable, Equatable {
        public let temperature: Double
        public let value: Double
    }

    public enum Outcome: String, Sendable, Equatable {
        /// A probe came within tolerance of the target: `closest`.
        case matched
        /// Even the hottest temperature gives samples more alike than the target (the target is below reach).
        case belowReach = "below-reach"
        /// Even the coolest (T = 0, greedy) gives samples more varied than the target (the target is above reach).
        case aboveReach = "above-reach"
        /// The probes ran out first (the target lies between `bracket`'s temperatures when it was bracketed).
        case probesExhausted = "probes-exhausted"
        /// The bracket shrank below `minimumWidth` with no probe within tolerance: the statistic jumps across the
        /// target there, by more than the tolerance.
        case noisy
    }

    public struct Result: Sendable, Equatable {
        public let outcome: Outcome
        /// Every measurement, in the order made.
        public let probes: [Probe]
        /// The probe nearest the target (the matched one when `outcome` is `.matched`).
        public let closest: Probe
        /// The two probes the target lies between when a search that bracketed it stopped unmatched: the cooler one
        /// above the target, the hotter below (nil when matched, or when the target was never bracketed).
        public let bracket: (cooler: Probe, hotter: Probe)?

        public static func == (a: Result, b: Result) -> Bool {
            a.outcome == b.outcome && a.probes == b.probes && a.closest == b.closest
                && a.bracket?.cooler == b.bracket?.cooler && a.bracket?.hotter == b.bracket?.hotter
        }
    }

    /// Checks the settings; the message names the flags of `textgan eval`.
    public func validate() throws {
        guard target > 0 && target < 1 else {
            throw WorkbenchError("--match-self-bleu's target must be in (0, 1), not \(target)")
        }
        guard tolerance > 0 && tolerance < 1 else {
            throw WorkbenchError("--match-tolerance must be in (0, 1), not \(tolerance)")
        }
        guard maximumTemperature >= 0.01 && maximumTemperature <= 100 else {
            throw WorkbenchError("--match-max-temperature must be in [0.01, 100], not \(maximumTemperature)")
        }
        guard (2...100).contains(maximumProbes) else {
            throw WorkbenchError("--match-max-probes must be from 2 to 100, not \(maximumProbes)")
        }
    }

    /// Searches, measuring the statistic at each probe temperature with `measure` (never twice at one temperature).
    public func run(_ measure: (Double) throws -> Double) throws -> Result {
        try validate()
        var probes: [Probe] = []
        func rounded(_ t: Double) -> Double {
            let scale = pow(10, Double(Self.decimals))
            return (t * scale).rounded() / scale
        }
        func probe(_ temperature: Double) throws -> Probe {
            let value = try measure(temperature)
            guard value.isFinite else {
                throw WorkbenchError("the statistic is undefined (\(value)) at T=\(temperature): too few samples to compare")
            }
            let p = Probe(temperature: temperature, value: value)
            probes.append(p)
            return p
        }
        func within(_ p: Probe) -> Bool { abs(p.value - target) <= tolerance }
        func finish(_ outcome: Outcome, _ bracket: (cooler: Probe, hotter: Probe)? = nil) -> Result {
            let closest = probes.min { abs($0.value - target) < abs($1.value - target) }!
            return Result(outcome: outcome, probes: probes, closest: closest, bracket: bracket)
        }

        // Bracket: step out from the start, away from the side the target is not on, until the statistic crosses
        // the target or the range ends.
        let hottest = rounded(maximumTemperature)
        var near = try probe(rounded(min(max(start, 0), hottest)))
        if within(near) { return finish(.matched) }
        let needsHotter = near.value > target  // too alike: the target needs a higher temperature
        var step = firstStep
        var far: Probe
        while true {
            let edge = needsHotter ? hottest : 0
            if near.temperature == edge { return finish(needsHotter ? .belowReach : .aboveReach) }
            if probes.count == maximumProbes { return finish(.probesExhausted) }
            far = try probe(rounded(needsHotter ? min(near.temperature + step, edge) : max(near.temperature - step, edge)))
            if within(far) { return finish(.matched) }
            if (far.value > target) != (near.value > target) { break }
            near = far
            step *= 2
        }

        // Narrow: regula falsi with the Illinois modification inside [cooler, hotter]; the statistic is above the
        // target at `cooler` and below it at `hotter`.
        var (cooler, hotter) = needsHotter ? (near, far) : (far, near)
        var (fCooler, fHotter) = (cooler.value - target, hotter.value - target)
        var lastReplaced = 0  // +1: the last probe replaced `cooler`; −1: it replaced `hotter`
        while probes.count < maximumProbes {
            let width = hotter.temperature - cooler.temperature
            let secant = hotter.temperature - fHotter * width / (fHotter - fCooler)
            let margin = 0.05 * width
            let t = rounded(min(max(secant, cooler.temperature + margin), hotter.temperature - margin))
            // A bracket this narrow (or one rounding leaves no temperature inside) holds no probe within tolerance.
            if width < minimumWidth || t <= cooler.temperature || t >= hotter.temperature {
                return finish(.noisy, (cooler, hotter))
            }
            let next = try probe(t)
            if within(next) { return finish(.matched) }
            if next.value > target {
                (cooler, fCooler) = (next, next.value - target)
                if lastReplaced == 1 { fHotter /= 2 }
                lastReplaced = 1
            } else {
                (hotter, fHotter) = (next, next.value - target)
                if lastReplaced == -1 { fCooler /= 2 }
                lastReplaced = -1
            }
        }
        return finish(.probesExhausted, (cooler, hotter))
    }
}
