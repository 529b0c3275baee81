import Foundation
import RunStore

/// `textgan --version`: the release number and the git commit of the code.
///
/// Where the commit comes from, and why: SwiftPM runs no commands while building without a build-tool plugin
/// (which would mean a plugin target and its sandbox rules for one string), and a generated source file that an
/// install script writes would be missing, or stale, whenever someone builds with plain `swift build`. So the
/// commit is read when `--version` runs, from the checkout this binary was compiled from (found through
/// `#filePath`, as the run store's default path is) — the same way every run records `code_commit` — and checked
/// against the binary: when HEAD is newer than the executable, the binary was built from an older commit and says
/// so rather than claim HEAD. A binary moved away from its checkout prints "commit unknown".
enum VersionInfo {
    /// The release; there has been none yet.
    static let release = "0.1.0-dev"

    static func describe() -> String {
        let root = DatabaseOptions.packageRoot
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent(".git").path) else {
            return "textgan \(release) (commit unknown: the binary is not beside the git checkout it was built from)"
        }
        let environment = RunEnvironment.current(directory: root)
        guard let commit = environment.codeCommit else {
            return "textgan \(release) (commit unknown: git could not read \(root.path))"
        }
        var notes: [String] = []
        if environment.codeDirty == true { notes.append("the checkout has uncommitted changes") }
        if let committed = RunEnvironment.git(["log", "-1", "--format=%ct"], in: root)
            .flatMap({ TimeInterval($0.trimmingCharacters(in: .whitespacesAndNewlines)) }),
           let built = executableModificationDate(), built.timeIntervalSince1970 < committed {
            notes.append("this binary is older than that commit: rebuild (swift build) to run it")
        }
        return "textgan \(release) (commit \(commit), checkout \(root.path))"
            + notes.map { "\n  note: \($0)" }.joined()
    }

    /// When this executable was written (linked): /proc/self/exe's target on Linux, else argv[0].
    private static func executableModificationDate() -> Date? {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        return (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }
}
