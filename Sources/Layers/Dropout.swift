import NumericCore

/// Inverted dropout: in training each element is kept with probability `keep` and scaled by 1/keep, so inference
/// is the identity. The mask comes from the caller's generator, and the backward pass reuses it.
public struct Dropout: Sendable, Equatable {
    public var keepProbability: Float

    public init(keepProbability: Float) {
        precondition(keepProbability > 0 && keepProbability <= 1, "Dropout: keep probability must be in (0, 1]")
        self.keepProbability = keepProbability
    }

    /// Returns y and the mask (already holding the 1/keep scale; empty when not training).
    public func forward(_ x: Tensor, training: Bool, using rng: inout SeededGenerator) -> (y: Tensor, mask: Tensor?) {
        guard training, keepProbability < 1 else { return (x, nil) }
        let (keep, scale) = (keepProbability, 1 / keepProbability)
        var generator = rng  // a local copy the optimiser keeps in registers
        var y = Tensor(uninitializedShape: x.shape) { _ in }  // every element written below
        let mask = Tensor(uninitializedShape: x.shape) { mask in
            x.withUnsafeBufferPointer { px in
                y.withUnsafeMutableBufferPointer { py in
                    for i in 0..<mask.count {
                        let m: Float = generator.nextFloat() < keep ? scale : 0
                        mask[i] = m
                        py[i] = px[i] * m
                    }
                }
            }
        }
        rng = generator
        return (y, mask)
    }

    public func backward(_ dy: Tensor, mask: Tensor?) -> Tensor {
        guard let mask else { return dy }
        return multiply(dy, mask)
    }

    /// Element-wise product, split over threads (the same numbers).
    private func multiply(_ a: Tensor, _ b: Tensor) -> Tensor {
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                Tensor(uninitializedShape: a.shape) { out in
                    Parallel.forEachChunk(out.count, grain: 1 << 14) { range in
                        for i in range { out[i] = pa[i] * pb[i] }
                    }
                }
            }
        }
    }
}
