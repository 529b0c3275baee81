import ArgumentParser
import Foundation
import RunStore
import Workbench

// `textgan runs rename | note | tag | untag`: small edits of what a run is called and what is said about it. Names,
// notes and tags are data: any text, bound as SQL parameters, never spliced into a query.

/// What a run's name and tags may be. A name must stay a name: not an integer (it would read as a run id), without
/// "/" (it would read as a checkpoint path), without control characters (a table row per line).
enum RunLabel {
    static func checkName(_ name: String, flag: String = "the name") throws {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("\(flag) must not be empty") }
        guard Int64(name) == nil else { throw ValidationError("\(flag) \(name) would read as a run id; give a name that is not a number") }
        guard !name.contains("/") else { throw ValidationError("\(flag) \(name) would read as a checkpoint path; give a name without /") }
        try checkText(name, what: flag, limit: 200)
    }

    static func checkTag(_ tag: String) throws {
        guard !tag.isEmpty, tag == tag.trimmingCharacters(in: .whitespaces) else {
            throw ValidationError("a tag must not be empty or begin or end with a space (got \"\(tag)\")")
        }
        try checkText(tag, what: "tag \(tag)", limit: 100)
    }

    /// At most `limit` characters and no control characters (a note may have line breaks and tabs).
    static func checkText(_ text: String, what: String, limit: Int, note: Bool = false) throws {
        guard text.count <= limit else { throw ValidationError("\(what) is longer than \(limit) characters") }
        let allowed: Set<Unicode.Scalar> = note ? ["\n", "\t"] : []
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !allowed.contains($0) }) else {
            throw ValidationError("\(what) must not contain control characters\(note ? " other than line breaks and tabs" : " (line breaks, tabs)")")
        }
    }
}

extension DatabaseOptions {
    /// The store, opened to change runs; a missing store is an error naming it.
    func openForEditing() throws -> RunDatabase {
        guard exists else {
            throw WorkbenchError("no run store at \(path) (no run recorded yet, or pass --db / set TEXTGAN_DB)")
        }
        return try RunDatabase(path: path)
    }

    /// Recorded runs' ids from their ids or names, each once, in the order given (`runs delete`, `runs export`).
    func runIDs(_ references: [String]) throws -> [Int64] {
        var ids: [Int64] = []
        for reference in references {
            let id = try runID(reference)
            if !ids.contains(id) { ids.append(id) }
        }
        return ids
    }
}

/// The run a small edit applies to, and the store it is in (`runs rename`, `note`, `tag`, `untag`).
struct EditedRun: ParsableArguments {
    @OptionGroup var database: DatabaseOptions

    @Argument(help: ArgumentHelp("The run's id or name.", valueName: "run"))
    var reference: String

    /// The store opened for writing, and the run's id.
    func open() throws -> (RunDatabase, Int64) {
        let store = try database.openForEditing()
        return (store, try database.runID(reference))
    }
}

extension RunsCommand {
    struct Rename: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give a run another name.")

        @OptionGroup var target: EditedRun

        @Argument(help: "Its new name (not a number, no /).")
        var name: String

        func validate() throws { try RunLabel.checkName(name) }

        func run() throws {
            let (store, id) = try target.open()
            let old = try store.run(id).name
            try store.rename(run: id, to: name)
            print("run \(id): renamed \(old) → \(name)")
        }
    }

    struct Note: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a run's note (shown by `runs show`; an empty text removes it).")

        @OptionGroup var target: EditedRun

        @Argument(help: "The note (at most 10,000 characters; it may span lines).")
        var text: String

        func validate() throws { try RunLabel.checkText(text, what: "the note", limit: 10_000, note: true) }

        func run() throws {
            let (store, id) = try target.open()
            try store.setNote(run: id, text.isEmpty ? nil : text)
            print(text.isEmpty ? "run \(id): note removed" : "run \(id): note set")
        }
    }

    struct Tag: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tag a run (`textgan runs --tag T` lists the runs tagged T).")

        @OptionGroup var target: EditedRun

        @Argument(help: "One or more tags.")
        var tags: [String]

        func validate() throws {
            guard !tags.isEmpty else { throw ValidationError("give at least one tag") }
            for tag in tags { try RunLabel.checkTag(tag) }
        }

        func run() throws {
            let (store, id) = try target.open()
            let now = try store.changeTags(run: id, adding: tags)
            print("run \(id): tags \(now.joined(separator: ", "))")
        }
    }

    struct Untag: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove tags from a run.")

        @OptionGroup var target: EditedRun

        @Argument(help: "One or more tags.")
        var tags: [String]

        func validate() throws {
            guard !tags.isEmpty else { throw ValidationError("give at least one tag") }
        }

        func run() throws {
            let (store, id) = try target.open()
            let before = try store.tags(of: id)
            if let missing = tags.first(where: { !before.contains($0) }) {
                throw WorkbenchError("run \(id) has no tag \(missing) (its tags: \(before.isEmpty ? "none" : before.joined(separator: ", ")))")
            }
            let now = try store.changeTags(run: id, removing: tags)
            print("run \(id): tags \(now.isEmpty ? "none" : now.joined(separator: ", "))")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete runs with everything recorded about them and their checkpoint directories.",
            discussion: """
                Removes each run's rows (params, metrics, evaluations, samples, checkpoints, tags) and its directory \
                beside the run store (runs/<id>/: checkpoints, vocabulary copy, lock file). A running run, or one \
                whose process holds its directory's lock (a suspended train), is refused and nothing is deleted. \
                Without --yes, it asks on a terminal; elsewhere it prints what it would delete, deletes nothing and \
                exits with status 1. Recorded checkpoint files outside the run's directory are listed and kept.
                """)

        @OptionGroup var database: DatabaseOptions

        @Argument(help: ArgumentHelp("Run ids or names.", valueName: "run"))
        var runs: [String]

        @Flag(help: "Delete without asking.")
        var yes = false

        @Flag(help: "Print what would be deleted, and delete nothing.")
        var dryRun = false

        func validate() throws {
            guard !runs.isEmpty else { throw ValidationError("give the runs to delete") }
            if yes && dryRun { throw ValidationError("--dry-run deletes nothing; drop --yes") }
        }

        func run() throws {
            let store = try database.openForEditing()
            let ids = try database.runIDs(runs)
            let plan = try RunRemoval.plan(ids, store: store, runsDirectory: database.runsDirectory)
            for item in plan.items {
                let run = item.run
                print("run \(run.id!): \(run.name) (\(run.algorithm) on \(run.corpus), \(run.status.rawValue))")
                if let directory = item.directory {
                    let bytes = item.files.reduce(0) { $0 + $1.bytes }
                    print("  \(directory.path)/ (\(item.files.count) file\(item.files.count == 1 ? "" : "s"), \(Format.count(Int(bytes))) bytes)")
                    for file in item.files { print("    \(URL(fileURLWithPath: file.path).lastPathComponent)") }
                } else {
                    print("  no directory beside the store")
                }
                for path in item.kept { print("  kept (outside the run's directory): \(path)") }
            }
            let summary = "\(plan.items.count) run\(plan.items.count == 1 ? "" : "s") and \(plan.fileCount) file\(plan.fileCount == 1 ? "" : "s") (\(Format.count(Int(plan.bytes))) bytes)"
            if dryRun {
                print("dry run: would delete \(summary)")
                return
            }
            if !yes {
                guard isatty(STDIN_FILENO) == 1 else {
                    FileHandle.standardError.write(Data("Error: nothing deleted: stdin is not a terminal to ask on; pass --yes to delete \(summary)\n".utf8))
                    throw ExitCode.failure
                }
                // Unbuffered, and after the plan's lines (stdout is line-buffered, so they are out already).
                FileHandle.standardOutput.write(Data("delete \(summary)? [y/N] ".utf8))
                guard let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased(), answer == "y" || answer == "yes" else {
                    print("nothing deleted")
                    return
                }
            }
            try plan.perform(store: store)
            print("deleted \(summary)")
        }
    }
}
