import ArgumentParser
import Foundation

/// Where the package lives (corpora/, vocab/, runs/) and where the shared benchmark data is.
struct WorkspaceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The package root, holding Package.swift, corpora/ and vocab/.",
                               discussion: "Default: $TEXTGAN_ROOT, else the nearest directory at or above the "
                                   + "current one that holds corpora/ and Package.swift, else the nearest at or above "
                                   + "the executable's directory."))
    var root: String?

    @Option(help: ArgumentHelp("The shared benchmark data directory.",
                               discussion: "Default: $TEXTGAN_SHARED_DATA, else ../shared/data beside the package root."))
    var sharedData: String?

    func packageRoot() throws -> URL {
        if let root = root ?? ProcessInfo.processInfo.environment["TEXTGAN_ROOT"] {
            let url = URL(fileURLWithPath: root).standardizedFileURL
            guard Self.isPackageRoot(url) else {
                throw ValidationError("\(url.path) is not the textgan package root (no Package.swift and corpora/ there)")
            }
            return url
        }
        let starts = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                      URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()]
        for start in starts {
            var url = start.standardizedFileURL
            while true {
                if Self.isPackageRoot(url) { return url }
                let parent = url.deletingLastPathComponent()
                if parent.path == url.path { break }
                url = parent
            }
        }
        throw ValidationError("cannot find the textgan package root (a directory with Package.swift and corpora/) "
            + "above the current directory; pass --root or set TEXTGAN_ROOT")
    }

    /// The shared data directory, or nil when it does not exist.
    func sharedDataDirectory(root: URL) -> URL? {
        let explicit = sharedData ?? ProcessInfo.processInfo.environment["TEXTGAN_SHARED_DATA"]
        let url = explicit.map { URL(fileURLWithPath: $0) }
            ?? root.deletingLastPathComponent().appendingPathComponent("shared/data")
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? url.standardizedFileURL : nil
    }

    private static func isPackageRoot(_ url: URL) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: url.appendingPathComponent("Package.swift").path)
            && fm.fileExists(atPath: url.appendingPathComponent("corpora").path)
    }
}
