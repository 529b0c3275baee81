import Foundation
import Training

/// Prints training events: a single self-updating progress line on a terminal, plain lines otherwise (logs, pipes,
/// CI). Sequences are turned into text by `render`.
final class ConsoleReporter {
    private let interactive: Bool
    private let render: ([Int32]) -> String
    private var totals: [String: Int] = [:]
    private var progressShown = false
    private let started = Date()

    init(render: @escaping ([Int32]) -> String) {
        interactive = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        self.render = render
    }

    func handle(_ event: TrainingEvent) {
        switch event {
        case .phaseStarted(let phase, let total):
            endProgress()
            totals[phase] = total
            print("== \(phase)" + (total.map { " (\($0) steps)" } ?? ""))
        case .step(let phase, let step, let epoch, let metrics, _):
            let total = totals[phase].map { "/\($0)" } ?? ""
            let line = "\(phase) step \(step)\(total) epoch \(epoch) " + format(metrics)
            if interactive {
                let fraction = totals[phase].map { Double(step) / Double(max($0, 1)) } ?? 0
                let width = 24, filled = Int(fraction * Double(width))
                let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
                print("\r\u{1B}[2K[\(bar)] \(line)", terminator: "")
                fflush(nil)  // all streams: Swift 6 forbids touching the global `stdout`
                progressShown = true
            } else {
                print(line)
            }
        case .evaluation(let phase, let step, let epoch, let metrics, _):
            endProgress()
            print("\(phase) evaluation at step \(step) (epoch \(epoch)): \(format(metrics))  [\(elapsed())]")
        case .samples(_, let temperature, let sequences, _):
            endProgress()
            print("samples (temperature \(temperature)):")
            for s in sequences { print("  · \(render(s))") }
        case .checkpoint:
            break
        case .phaseFinished(let phase, let step):
            endProgress()
            print("== \(phase) finished at step \(step)  [\(elapsed())]")
        }
    }

    private func endProgress() {
        if progressShown {
            print("")
            progressShown = false
        }
    }

    private func elapsed() -> String {
        let s = Int(Date().timeIntervalSince(started))
        return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
    }

    private func format(_ metrics: [String: Double]) -> String {
        metrics.keys.sorted().map { key in
            let v = metrics[key]!
            let text = key.hasSuffix("_per_s") ? String(format: "%.0f", v) : String(format: "%.4f", v)
            return "\(key) \(text)"
        }.joined(separator: "  ")
    }
}
