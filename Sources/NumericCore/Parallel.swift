import CKernels
import Dispatch

/// Splits independent work over threads. Callers keep results deterministic by writing each item's result to its
/// own slot and reducing in a fixed order afterwards, so the thread count never changes a number.
public enum Parallel {
    /// Threads for textgan's own loops (OpenBLAS has its own setting); set once at start-up.
    nonisolated(unsafe) public static var threads = 1

    /// Calls `body` on consecutive chunks covering 0..<count, concurrently when there are several threads and the
    /// work is large enough (`grain`: the fewest items worth a thread). Inside a chunk, further calls run inline on
    /// that chunk's thread, so work that is already split (e.g. independent sampling batches) is not split again.
    /// The chunks run on the C pool's workers (`tg_pool_run`), or on libdispatch's while another thread's region
    /// holds the pool; the chunks are the same either way.
    public static func forEachChunk(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = tg_parallel_depth() > 0 ? 1 : min(threads, max(1, count / max(grain, 1)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        // The chunks touch disjoint data by contract, which the compiler cannot see: vouch for it here, once.
        // Workers compute in the caller's floating-point mode (flush-to-zero or not), whatever thread created them,
        // so the thread count changes no bit there either.
        let control = tg_fp_control()
        withoutActuallyEscaping(body) { body in
            // The pool's workers first (they wait for the next region by spinning briefly, not in the kernel);
            // libdispatch when the pool is busy with another thread's region.
            var region = Region(body: body, count: count, chunks: chunks)
            let ran = withUnsafeMutablePointer(to: &region) { pointer in
                tg_pool_run(Int64(chunks), { context, k in
                    let region = context!.assumingMemoryBound(to: Region.self).pointee
                    region.body((Int(k) * region.count / region.chunks)..<((Int(k) + 1) * region.count / region.chunks))
                }, pointer, control)
            }
            if ran != 0 { return }
            let work = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { k in
                let (depth, previous) = (tg_parallel_depth(), tg_fp_control())
                // Modes only: the low six bits are sticky exception flags, which differ for no reason that matters.
                let differs = (previous & ~0x3F) != (control & ~0x3F)
                tg_set_parallel_depth(depth + 1)
                if differs { tg_set_fp_control(control) }
                defer {
                    tg_set_parallel_depth(depth)
                    if differs { tg_set_fp_control(previous) }
                }
                work.value((k * count / chunks)..<((k + 1) * count / chunks))
            }
        }
    }

    /// `forEachChunk` for items of uneven cost: the chunks are consecutive ranges holding about equal shares of the
    /// total `cost` (one per thread), instead of equal numbers of items.
    public static func forEachChunk(_ count: Int, cost: (Int) -> Int, _ body: (Range<Int>) -> Void) {
        let chunks = tg_parallel_depth() > 0 ? 1 : min(threads, count)
        guard chunks > 1 else { return body(0..<count) }
        var ends = [Int](repeating: 0, count: count + 1)
        for i in 0..<count { ends[i + 1] = ends[i] + max(cost(i), 0) }
        // Chunk c ends at the first item whose cumulative cost reaches (c + 1)/chunks of the total.
        var bounds = [0]
        for c in 1..<chunks {
            let target = ends[count] * c / chunks
            bounds.append(max(bounds.last!, ends.firstIndex { $0 >= target } ?? count))
        }
        bounds.append(count)
        forEachChunk(chunks) { range in
            for c in range where bounds[c] < bounds[c + 1] { body(bounds[c]..<bounds[c + 1]) }
        }
    }

    /// Subnormal floats flushed to zero (x86 FTZ and DAZ) on this thread, and so in the chunks it hands to workers.
    /// Gumbel-softmax rows at β ≈ 10 hold many subnormals, and every product touching them runs ~50× slower
    /// without it; the executable sets it once at start-up for the whole process.
    public static var flushesSubnormals: Bool {
        get { tg_flushes_subnormals() != 0 }
        set { tg_set_flush_subnormals(newValue ? 1 : 0) }
    }

    /// True inside a chunk of `forEachChunk` running on several threads.
    public static var isInsideParallelRegion: Bool { tg_parallel_depth() > 0 }
}

/// One region for the pool's C workers: the body and how its items split into chunks.
private struct Region {
    let body: (Range<Int>) -> Void
    let count: Int
    let chunks: Int
}

private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
