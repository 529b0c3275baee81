import ArgumentParser
import CEditLine
import Foundation
import Workbench
import RunStore

struct ReplCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repl",
        abstract: "Probe a trained generator interactively: sample, list next tokens, score text.",
        discussion: """
            Loads the model once, then reads lines: text samples continuations of it (an empty line samples \
            unconditionally) and slash-commands change settings or probe the model; /help lists them. On a \
            terminal the prompt has line editing and history (kept in .repl_history beside the run store); \
            Ctrl-C cancels the line or a running generation, Ctrl-D or /quit leaves. When stdin is not a \
            terminal, lines are read plainly and nothing but results is printed, so the REPL can be scripted: \
            `echo "/score the big cat" | textgan repl 3`. Errors go to stderr, one line each; a script's exit \
            status is 1 when any line failed.
            """)

    @Argument(help: ArgumentHelp(
        "A run id or name (its latest checkpoint, or --best) or a checkpoint file (./name for a file named like a run).",
        discussion: "Default: the most recent finished run with a checkpoint."))
    var runOrCheckpoint: String?

    @Flag(help: "Use the run's best checkpoint instead of its latest.")
    var best = false

    @Option(help: ArgumentHelp("A detector run (`textgan detect train`) whose P(generated) /score shows; same vocabulary as the run.",
                               valueName: "run"))
    var detector: String?

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let reference = try database.reference(runOrCheckpoint ?? Self.mostRecentFinishedRun(database))
        let model = try database.loadRun(reference, best: best)
        let interactive = isatty(STDIN_FILENO) == 1
        let session = REPLSession(
            model: model, name: REPLSession.name(of: reference), database: database,
            write: { text in
                // After Ctrl-C the terminal has echoed ^C: start a new line.
                let start = interactive && textgan_repl_interrupted() != 0 ? "\n" : ""
                FileHandle.standardOutput.write(Data((start + text + "\n").utf8))
            },
            isCancelled: interactive ? { textgan_repl_interrupted() != 0 } : { false },
            notify: interactive ? { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) } : nil)
        if let detector {
            let (loaded, id) = try loadDetector(detector, database: database, best: false)
            guard loaded.vocabulary == model.vocabulary, loaded.discriminator.vocabularySize == model.generator.vocabularySize else {
                throw WorkbenchError("--detector \(detector) reads another vocabulary than the run's; it cannot score its text")
            }
            session.detector = (loaded, id.map { "run \($0)" } ?? loaded.checkpoint.lastPathComponent)
        }
        if interactive {
            let history = database.runsDirectory.appendingPathComponent(".repl_history")
            FileHandle.standardOutput.write(Data((session.describeModel() + "\n/help lists the commands; Ctrl-D leaves.\n").utf8))
            Self.runInteractive(session, history: history)
        } else {
            var input = PlainLineReader(fileDescriptor: STDIN_FILENO)
            var failed = false
            while let line = input.next() {
                do {
                    if try session.handle(bytes: line) == .quit { break }
                } catch {
                    failed = true
                    Self.report(error)
                }
            }
            if failed { throw ExitCode.failure }
        }
    }

    /// The newest finished run whose latest checkpoint is on disk.
    static func mostRecentFinishedRun(_ database: DatabaseOptions) throws -> String {
        guard database.exists else {
            throw ValidationError("no run store at \(database.path); pass a run id or checkpoint, or train a model first (`textgan train`)")
        }
        let finished = try database.openExisting().runs(RunFilter(status: .finished))
        for summary in finished {
            guard let id = summary.run.id else { continue }
            let checkpoint = database.runsDirectory.appendingPathComponent("\(id)/latest.safetensors")
            if FileManager.default.fileExists(atPath: checkpoint.path) { return String(id) }
        }
        throw ValidationError("no finished run with a checkpoint in \(database.path); pass a run id or checkpoint (see `textgan runs`)")
    }

    // MARK: - The terminal loop

    /// libedit's readline with history; Ctrl-C ends the line being typed (discarded) or stops a generation.
    static func runInteractive(_ session: REPLSession, history: URL) {
        useUTF8Locale()
        textgan_repl_configure_readline("textgan")
        setCompletions(REPLSession.commandWords)
        textgan_repl_install_sigint()
        stifle_history(1000)
        _ = read_history(history.path)  // a missing file is a first session
        defer { _ = write_history(history.path) }
        while true {
            textgan_repl_clear_interrupt()
            guard let line = readline("\(session.modelName)> ") else {
                FileHandle.standardOutput.write(Data("\n".utf8))  // Ctrl-D: end the prompt's line
                return
            }
            defer { free(line) }
            if textgan_repl_line_cancelled() != 0 { continue }
            let bytes = Array(UnsafeRawBufferPointer(start: line, count: strlen(line)))
            if bytes.contains(where: { $0 != 0x20 && $0 != 0x09 }) {
                add_history(line)
                _ = write_history(history.path)  // after every line, so a crash loses nothing
            }
            do {
                if try session.handle(bytes: bytes) == .quit { return }
            } catch {
                report(error)
            }
        }
    }

    /// Hands the slash commands to the shim's Tab completion.
    static func setCompletions(_ words: [String]) {
        let copies = words.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        copies.map { UnsafePointer($0) }.withUnsafeBufferPointer {
            textgan_repl_set_completions($0.baseAddress, Int32(words.count))
        }
    }

    static func report(_ error: Error) {
        FileHandle.standardError.write(Data("Error: \(REPLSession.oneLine(error))\n".utf8))
    }

    /// libedit turns the typed characters into bytes with the C locale's encoding, so it must be UTF-8.
    private static func useUTF8Locale() {
        if let current = setlocale(LC_CTYPE, ""), String(cString: current).uppercased().contains("UTF-8")
            || String(cString: nl_langinfo(nl_item(CODESET))) == "UTF-8" {
            return
        }
        _ = setlocale(LC_CTYPE, "C.UTF-8")
    }
}

/// Lines from a file descriptor as raw bytes (decoding is the session's job, so invalid UTF-8 can be reported);
/// "\n" or "\r\n" ends a line, and a last line without one counts. A UTF-8 byte order mark at the start is dropped.
struct PlainLineReader {
    let fileDescriptor: Int32
    private var buffer: [UInt8] = []
    private var atEnd = false
    private var first = true

    init(fileDescriptor: Int32) { self.fileDescriptor = fileDescriptor }

    mutating func next() -> [UInt8]? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                var line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.last == 0x0D { line.removeLast() }
                return dropBOM(line)
            }
            if atEnd {
                guard !buffer.isEmpty else { return nil }
                defer { buffer = [] }
                return dropBOM(buffer)
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(fileDescriptor, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer += chunk[..<n]
            } else if n == 0 || errno != EINTR {
                atEnd = true
            }
        }
    }

    private mutating func dropBOM(_ line: [UInt8]) -> [UInt8] {
        defer { first = false }
        return first && line.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(line.dropFirst(3)) : line
    }
}
