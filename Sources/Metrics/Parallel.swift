import Dispatch
import Foundation

/// The number of threads the metrics use unless told otherwise: every core the process may use.
public var defaultMetricThreads: Int { ProcessInfo.processInfo.activeProcessorCount }

/// Splits 0..<count into contiguous chunks, runs `chunk` on each with at most `threads` running at once (worker w
/// takes chunks w, w + threads, …), and concatenates the results in index order. Each item's value is computed by the same code whatever the thread count, so results
/// are identical for any `threads`. A chunk allocates its own scratch space inside `chunk`.
func chunkedMap<T: Sendable>(count: Int, threads: Int, _ chunk: @Sendable (Range<Int>) -> [T]) -> [T] {
    let chunkCount = min(count, max(1, threads) * 4)
    if threads <= 1 || chunkCount <= 1 { return chunk(0..<count) }
    let bounds = (0...chunkCount).map { count * $0 / chunkCount }
    var parts = [[T]](repeating: [], count: chunkCount)
    parts.withUnsafeMutableBufferPointer { buffer in
        // Each iteration writes only its own slot.
        nonisolated(unsafe) let slots = buffer
        DispatchQueue.concurrentPerform(iterations: min(threads, chunkCount)) { worker in
            for c in stride(from: worker, to: chunkCount, by: threads) {
                slots[c] = chunk(bounds[c]..<bounds[c + 1])
            }
        }
    }
    return parts.flatMap { $0 }
}
