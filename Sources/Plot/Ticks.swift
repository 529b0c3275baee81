import Foundation

// Axis ticks at "nice" values: 1, 2 or 5 times a power of ten (Heckbert, "Nice numbers for graph labels",
// Graphics Gems, 1990), with the axis running from the tick at or below the data to the tick at or above it.

/// The ticks of an axis and the step between them.
public struct Ticks: Sendable, Equatable {
    public var values: [Double]
    public var step: Double

    /// The axis's extent: the first tick to the last.
    public var domain: ClosedRange<Double> { values.first!...values.last! }

    /// Ticks covering `lo…hi`, about `count` of them. An empty range (`lo == hi`) is widened by 10% of the value
    /// (by 1 around zero); non-finite bounds give the ticks of 0…1.
    public init(covering lo: Double, _ hi: Double, count: Int = 6) {
        var (lo, hi) = (Swift.min(lo, hi), Swift.max(lo, hi))
        if !lo.isFinite || !hi.isFinite { (lo, hi) = (0, 1) }
        if lo == hi {
            let delta = lo == 0 ? 1 : abs(lo) * 0.1
            (lo, hi) = (lo - delta, hi + delta)
        }
        let range = Self.nice(hi - lo, round: false)
        let step = Self.nice(range / Double(Swift.max(count - 1, 1)), round: true)
        let first = (lo / step).rounded(.down), last = (hi / step).rounded(.up)
        // Multiples of the step, each rounded to the step's decimals (0.1 * 3 is 0.30000000000000004).
        let digits = Self.decimals(of: step)
        values = stride(from: first, through: last, by: 1).map { Self.rounded($0 * step, digits: digits) }
        self.step = step
    }

    /// Ticks inside a fixed domain (e.g. 0…1 for accuracies): the nice multiples that fall within it.
    public init(inside domain: ClosedRange<Double>, count: Int = 6) {
        let covering = Ticks(covering: domain.lowerBound, domain.upperBound, count: count)
        let tolerance = covering.step * 1e-9
        values = covering.values.filter { $0 >= domain.lowerBound - tolerance && $0 <= domain.upperBound + tolerance }
        step = covering.step
    }

    /// A tick's label: as many decimals as the step has, thousands grouped (1,500), never "-0".
    public func label(_ value: Double) -> String {
        Self.format(value, digits: Self.decimals(of: step))
    }

    // MARK: - Nice numbers

    /// The nice number (1, 2, 5 or 10 × 10^k) nearest `x` (`round`), or the smallest at least `x`.
    static func nice(_ x: Double, round: Bool) -> Double {
        let exponent = log10(x).rounded(.down)
        let power = pow(10, exponent)
        let fraction = x / power
        let niceFraction: Double
        if round {
            niceFraction = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        } else {
            niceFraction = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        }
        return niceFraction * power
    }

    /// Decimals needed to write multiples of `step` exactly (0.2 → 1, 0.05 → 2, 500 → 0).
    static func decimals(of step: Double) -> Int {
        Swift.max(0, -Int((log10(step) + 1e-9).rounded(.down)))
    }

    static func rounded(_ value: Double, digits: Int) -> Double {
        let scale = pow(10, Double(digits))
        let r = (value * scale).rounded() / scale
        return r == 0 ? 0 : r  // no -0
    }

    static func format(_ value: Double, digits: Int) -> String {
        let text = String(format: "%.\(digits)f", rounded(value, digits: digits))
        // Group the integer part's thousands: 12000 → 12,000.
        let negative = text.hasPrefix("-")
        let body = negative ? String(text.dropFirst()) : text
        let parts = body.split(separator: ".", maxSplits: 1).map(String.init)
        var grouped = ""
        for (index, digit) in parts[0].enumerated() {
            if index > 0 && (parts[0].count - index) % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        return (negative ? "-" : "") + grouped + (parts.count > 1 ? "." + parts[1] : "")
    }
}
