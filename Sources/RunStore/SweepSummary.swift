import Foundation

// `compare --sweep`: a sweep's runs grouped by their grid point (the params that differ between them, seed aside),
// and each metric's latest value summarised over the seeds of a point as mean ± sample standard deviation.

/// Mean and spread of one metric over the runs of a grid point that recorded it.
public struct SeedStatistic: Equatable, Sendable {
    /// The latest value of each run that has one, in run order (NaN and infinities included).
    public var values: [Double]
    public var count: Int { values.count }
    public var mean: Double { values.reduce(0, +) / Double(values.count) }
    /// The sample standard deviation (n − 1 in the denominator); nil for a single run.
    public var standardDeviation: Double? {
        guard values.count > 1 else { return nil }
        let m = mean
        return (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
    }

    public init(values: [Double]) { self.values = values }
}

public struct SweepSummary: Sendable {
    public struct Group: Sendable {
        /// The grid point: each param that sets it apart from the sweep's other points, with its value here.
        public var assignments: [(key: String, value: String?)]
        public var runIDs: [Int64]
        /// "mle.learningRate=0.01, gan.loss=rsgan", or "all runs" for a sweep over seeds alone.
        public var label: String {
            assignments.isEmpty ? "all runs" : assignments.map { "\($0.key)=\($0.value ?? "—")" }.joined(separator: ", ")
        }
    }

    public struct Row: Sendable {
        public var key: String
        /// nil for a training metric; for an evaluation, what sets its protocol apart.
        public var `protocol`: String?
        /// One statistic per group, nil where no run of the group recorded it.
        public var statistics: [SeedStatistic?]
    }

    public var groups: [Group]
    /// Params that differ only with the seed (excluded from the grouping), e.g. "seed".
    public var seedKeys: [String]
    public var metrics: [Row]
    public var evaluations: [Row]
}

extension RunComparison {
    /// Groups the runs by every differing param not in `seedKeys`, in the order each grid point first appears.
    public func sweepSummary(seedKeys: Set<String> = ["seed"]) -> SweepSummary {
        let gridKeys = differingParams.filter { !seedKeys.contains($0.key) }
        var groups: [SweepSummary.Group] = []
        var members: [[Int]] = []
        for (index, run) in runs.enumerated() {
            let point = gridKeys.map { (key: $0.key, value: $0.values[index]) }
            if let existing = groups.firstIndex(where: { $0.assignments.map(\.value) == point.map(\.value) }) {
                groups[existing].runIDs.append(run.id ?? 0)
                members[existing].append(index)
            } else {
                groups.append(SweepSummary.Group(assignments: point, runIDs: [run.id ?? 0]))
                members.append([index])
            }
        }
        func statistics(_ values: [Double?]) -> [SeedStatistic?] {
            members.map { indices in
                let present = indices.compactMap { values[$0] }
                return present.isEmpty ? nil : SeedStatistic(values: present)
            }
        }
        return SweepSummary(
            groups: groups,
            seedKeys: differingParams.map(\.key).filter { seedKeys.contains($0) },
            metrics: metrics.map { SweepSummary.Row(key: $0.key, protocol: nil, statistics: statistics($0.values)) },
            evaluations: evaluations.map { SweepSummary.Row(key: $0.key, protocol: $0.protocol, statistics: statistics($0.values)) })
    }
}
