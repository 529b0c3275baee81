import ArgumentParser
import Foundation
import NumericCore

@main
struct TextGAN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "textgan",
        abstract: "A research workbench for text-generation GANs.",
        discussion: "Train, compare and probe adversarial text generators on a CPU. Runs, vocabularies and corpora "
            + "live under runs/, vocab/ and corpora/ in the package root.",
        // Lists --version in the help; main() answers it with the commit too (VersionInfo).
        version: VersionInfo.release,
        subcommands: [
            TrainCommand.self, SweepCommand.self, SampleCommand.self, EvalCommand.self, ReplCommand.self,
            RunsCommand.self, CompareCommand.self, SQLCommand.self, PlotCommand.self, ReportCommand.self, ReproduceCommand.self,
            CorpusCommand.self, VocabCommand.self, TokenizeCommand.self,
            DetectCommand.self, AttackCommand.self, Bleu.self, Bench.self,
        ]
    )

    static func main() {
        // Line-buffered even into a pipe or file, so `textgan train … | tee log` shows progress as it happens
        // (progress lines are mixed with FileHandle writes, which are unbuffered).
        StandardOutput.lineBuffered()
        // A closed stdout (`textgan train … | head`) must not kill a run: writes to it fail quietly and the work
        // goes on, recorded in the run store as ever.
        signal(SIGPIPE, SIG_IGN)
        AllocatorTuning.keepLargeBuffers()
        // Subnormal floats count as zero everywhere (soft Gumbel-softmax rows are full of them; see Parallel).
        Parallel.flushesSubnormals = true
        // ArgumentParser's own loop (parse, run, exit with the error), except that a mistyped subcommand gets a
        // "did you mean" instead of "Unexpected argument".
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments == ["--version"] {
            print(VersionInfo.describe())
            return
        }
        var command: ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            if !(error is CleanExit), let message = CommandSuggestion.message(for: arguments, root: self) {
                FileHandle.standardError.write(Data((message + "\n").utf8))
                Foundation.exit(ExitCode.validationFailure.rawValue)
            }
            exit(withError: error)
        }
        do {
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
