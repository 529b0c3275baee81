import Models
import NumericCore

/// Token-id sequences of a corpus split, each at most `length` tokens (text sequences end with eos).
public struct SequenceDataset: Sendable {
    public let sequences: [[Int32]]
    /// The padded length of every batch.
    public let length: Int

    public init(sequences: [[Int32]], length: Int? = nil) {
        self.sequences = sequences
        self.length = length ?? (sequences.map(\.count).max() ?? 0)
        precondition(sequences.allSatisfy { $0.count <= self.length }, "SequenceDataset: a sequence exceeds the length")
    }

    public var count: Int { sequences.count }
    public var tokenCount: Int { sequences.reduce(0) { $0 + $1.count } }
}

/// Shuffled batches, one epoch at a time. The order of an epoch is a permutation drawn from a seed that the
/// training state stores, so a resumed run sees exactly the batches the uninterrupted run would have.
public struct BatchLoader: Sendable {
    public let dataset: SequenceDataset
    public let batchSize: Int
    /// Drop the last partial batch, as SeqGAN's reference does (10,000 sequences → 156 batches of 64).
    public let dropLast: Bool

    public init(dataset: SequenceDataset, batchSize: Int, dropLast: Bool = true) {
        precondition(batchSize > 0, "batch size must be positive")
        self.dataset = dataset
        self.batchSize = batchSize
        self.dropLast = dropLast
    }

    public var batchesPerEpoch: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// The order of one epoch.
    public func order(epochSeed: UInt64) -> [Int] {
        var rng = SeededGenerator(seed: epochSeed)
        return rng.permutation(dataset.count)
    }

    /// Batch `index` of the epoch whose order is `order`.
    public func batch(_ index: Int, order: [Int]) -> TokenBatch {
        let start = index * batchSize
        let members = order[start..<min(start + batchSize, order.count)]
        return TokenBatch(sequences: members.map { dataset.sequences[$0] }, length: dataset.length)
    }
}
