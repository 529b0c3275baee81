import Foundation
import NumericCore
import XCTest

final class ParallelTests: XCTestCase {
    /// Chunks by cost cover every item once, in order, and split the cost about evenly: the discriminator's features
    /// (cost = filter width) would go 2700 : 9800 split by count, and 6300 : 6200 by cost.
    func testChunksByCostCoverEveryItemAndBalanceTheCost() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        let widths = [(1, 100), (2, 200), (3, 200), (4, 200), (5, 200), (6, 100), (7, 100), (8, 100), (9, 100),
                      (10, 100), (15, 160), (20, 160)].flatMap { [Int](repeating: $0.0, count: $0.1) }
        for threads in [1, 2, 3] {
            Parallel.threads = threads
            let lock = NSLock()
            var ranges: [Range<Int>] = []
            Parallel.forEachChunk(widths.count, cost: { widths[$0] }) { range in
                lock.lock()
                ranges.append(range)
                lock.unlock()
            }
            ranges.sort { $0.lowerBound < $1.lowerBound }
            XCTAssertEqual(ranges.count, threads)
            XCTAssertEqual(ranges.first?.lowerBound, 0)
            XCTAssertEqual(ranges.last?.upperBound, widths.count)
            for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
            let costs = ranges.map { $0.reduce(0) { $0 + widths[$1] } }
            let total = widths.reduce(0, +)
            for cost in costs {
                XCTAssertLessThanOrEqual(abs(cost - total / threads), 20, "\(threads) threads: \(costs)")
            }
        }
        // Fewer items than threads, and items without cost.
        Parallel.threads = 2
        var seen: [Int] = []
        let lock = NSLock()
        Parallel.forEachChunk(3, cost: { _ in 0 }) { range in
            lock.lock()
            seen += Array(range)
            lock.unlock()
        }
        XCTAssertEqual(seen.sorted(), [0, 1, 2])
    }

    /// Workers compute in the caller's mode: with flush-to-zero set on the calling thread, a subnormal input reads as
    /// 0 and a subnormal result becomes 0 in every chunk, on every worker; and the caller's setting is its own.
    func testWorkersFlushSubnormalsWhenTheCallerDoes() {
        let (savedThreads, savedMode) = (Parallel.threads, Parallel.flushesSubnormals)
        defer {
            Parallel.threads = savedThreads
            Parallel.flushesSubnormals = savedMode
        }
        Parallel.threads = 2
        let inputs: [Float] = [Float.leastNormalMagnitude / 4, Float.leastNormalMagnitude]  // subnormal, normal
        for flushing in [true, false] {
            Parallel.flushesSubnormals = flushing
            XCTAssertEqual(Parallel.flushesSubnormals, flushing)
            var modes = [Bool](repeating: !flushing, count: 8)
            var products = [Float](repeating: -1, count: 16)
            modes.withUnsafeMutableBufferPointer { modes in
                products.withUnsafeMutableBufferPointer { products in
                    Parallel.forEachChunk(8) { range in
                        for k in range {
                            modes[k] = Parallel.flushesSubnormals
                            // subnormal · 1 (DAZ) and normal · 0.25 (a subnormal result: FTZ)
                            products[2 * k] = inputs[0] * Float(k + 1) / Float(k + 1)
                            products[2 * k + 1] = inputs[1] * (0.25 + Float(k) * 0)
                        }
                    }
                }
            }
            XCTAssertEqual(modes, [Bool](repeating: flushing, count: 8), "flushing \(flushing)")
            let expected: [Float] = flushing ? [0, 0] : [inputs[0], inputs[1] * 0.25]
            for k in 0..<8 { XCTAssertEqual(Array(products[(2 * k)...(2 * k + 1)]), expected, "chunk \(k), flushing \(flushing)") }
        }
    }

    /// Regions asked for from several threads at once: one holds the pool, the others run on libdispatch, and every
    /// item of every region is visited exactly once, with nested regions inline. Every third region has two items,
    /// so two chunks, leaving one of the pool's two workers out of it while the other runs.
    func testRegionsFromSeveralThreadsAtOnceEachCoverTheirItemsOnce() {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 3
        let callers = 4, regions = 300, count = 97
        let visits = UnsafeMutablePointer<Int32>.allocate(capacity: callers * regions * count)
        visits.initialize(repeating: 0, count: callers * regions * count)
        defer { visits.deallocate() }
        let base = UncheckedPointer(visits)
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            for region in 0..<regions {
                let row = base.pointer + (caller * regions + region) * count
                let items = region % 3 == 0 ? 2 : count
                Parallel.forEachChunk(items) { range in
                    XCTAssertTrue(Parallel.isInsideParallelRegion || range.count == items)
                    // A nested region runs inline, on this chunk's thread.
                    Parallel.forEachChunk(range.count) { inner in
                        for i in inner { row[range.lowerBound + i] += 1 }
                    }
                }
            }
        }
        for i in 0..<(callers * regions * count) where visits[i] != ((i / count) % regions % 3 == 0 && i % count >= 2 ? 0 : 1) {
            XCTFail("item \(i % count) of region \(i / count) visited \(visits[i]) times")
            break
        }
    }
}

private struct UncheckedPointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int32>
    init(_ pointer: UnsafeMutablePointer<Int32>) { self.pointer = pointer }
}
