import Foundation
import Training

/// Prints training events: a single self-updating progress line on a terminal, plain lines otherwise (logs, pipes,
/// CI). Sequences are turned into text by `render`.
final class ConsoleReporter {
    private let interactive: Bool
    private let render: ([Int32]) -> String
    private var totals: [String: Int] = [:]
    /// When the current phase's first step was seen in this process, and at which step (for the ETA after a resume).
    private var phaseClock: (phase: String, start: Date, firstStep: Int)?
    private var progressShown = false
    private let started = Date()

    /// Self-BLEU-4 above which an evaluation prints a mode-collapse warning (`evaluation.selfBLEUAlarm`).
    private let selfBLEUAlarm: Double?

    init(render: @escaping ([Int32]) -> String, selfBLEUAlarm: Double? = nil) {
        interactive = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        self.render = render
        self.selfBLEUAlarm = selfBLEUAlarm
    }

    func handle(_ event: TrainingEvent) {
        switch event {
        case .phaseStarted(let phase, let total):
            endProgress()
            totals[phase] = total
            print("== \(phase)" + (total.map { " (\($0) steps)" } ?? ""))
        case .step(let phase, let step, let epoch, let metrics, _):
            let total = totals[phase].map { "/\($0)" } ?? ""
            if interactive {
                if phaseClock?.phase != phase { phaseClock = (phase, Date(), step) }
                let fraction = totals[phase].map { min(Double(step) / Double(max($0, 1)), 1) } ?? 0
                let barWidth = 16, filled = Int(fraction * Double(barWidth))
                let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: barWidth - filled)
                var line = "[\(bar)] \(phase) \(step)\(total)"
                if let eta = eta(step: step, total: totals[phase]) { line += " eta \(eta)" }
                // As many metrics as fit the terminal: a wrapped line would not be cleared by the next \r.
                let columns = Self.terminalColumns()
                for item in items(metrics, first: Self.shownFirst) where line.count + 2 + item.count < columns {
                    line += "  " + item
                }
                print("\r\u{1B}[2K\(line)", terminator: "")
                fflush(nil)  // all streams: Swift 6 forbids touching the global `stdout`
                progressShown = true
            } else {
                print("\(phase) step \(step)\(total) epoch \(epoch) " + format(metrics))
            }
        case .evaluation(let phase, let step, let epoch, let metrics, _):
            endProgress()
            print("\(phase) evaluation at step \(step) (epoch \(epoch)): \(format(metrics))  [\(elapsed())]")
            if let alarm = selfBLEUAlarm, let selfBLEU = metrics["self_bleu4"], selfBLEU > alarm {
                print("warning: Self-BLEU-4 \(String(format: "%.3f", selfBLEU)) exceeds \(alarm) (evaluation.selfBLEUAlarm): "
                      + "the samples are alike; the generator may be collapsing to few modes")
            }
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

    /// Ends the progress line, so what is printed next starts on a line of its own.
    func finish() { endProgress() }

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

    /// The metrics a narrow progress line keeps first: the losses.
    static let shownFirst = ["loss", "pg_loss", "d_loss", "mean_reward", "tokens_per_s"]

    private func items(_ metrics: [String: Double], first: [String] = []) -> [String] {
        let keys = first.filter { metrics[$0] != nil } + metrics.keys.sorted().filter { !first.contains($0) }
        return keys.map { key in
            let v = metrics[key]!
            let text = key.hasSuffix("_per_s") ? String(format: "%.0f", v) : String(format: "%.4f", v)
            return "\(key) \(text)"
        }
    }

    private func format(_ metrics: [String: Double]) -> String { items(metrics).joined(separator: "  ") }

    /// The time left in the phase at the rate of the steps seen so far in this process.
    private func eta(step: Int, total: Int?) -> String? {
        guard let total, let clock = phaseClock, step > clock.firstStep, total > step else { return nil }
        let perStep = Date().timeIntervalSince(clock.start) / Double(step - clock.firstStep)
        let s = Int(perStep * Double(total - step))
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    /// The terminal's width ($COLUMNS, else the tty's, else 80).
    static func terminalColumns() -> Int {
        if let text = ProcessInfo.processInfo.environment["COLUMNS"], let columns = Int(text), columns > 20 { return columns }
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 20 { return Int(size.ws_col) }
        return 80
    }
}
