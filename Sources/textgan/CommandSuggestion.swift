import ArgumentParser

/// "Did you mean" for a mistyped subcommand (`textgan trian` → `train`). ArgumentParser reports such a word as an
/// unexpected argument; when it is what the parser refused, `TextGAN.main` prints this instead.
enum CommandSuggestion {
    /// The error for `arguments`, or nil when their first unknown word is not in a subcommand's place: walks the
    /// command tree along the leading words, and at the first word that names no subcommand of a command that has
    /// subcommands, suggests the closest name (a typo or a unique prefix); a command without a default subcommand
    /// lists its subcommands when none is close.
    static func message(for arguments: [String], root: ParsableCommand.Type) -> String? {
        var command = Node(root)
        var path = [command.name]
        for word in arguments {
            if word.hasPrefix("-") || word == "help" { return nil }
            let subcommands = command.subcommands.map(Node.init)
            if let next = subcommands.first(where: { $0.name == word || $0.aliases.contains(word) }) {
                command = next
                path.append(word)
                continue
            }
            guard !subcommands.isEmpty else { return nil }
            let names = subcommands.map(\.name)
            let place = path.joined(separator: " ")
            let usage = "Usage: \(place) <subcommand>\n  See '\(place) --help' for more information."
            if let closest = closest(to: word, among: names) {
                return "Error: '\(word)' is not a \(place) command; did you mean '\(closest)'?\n" + usage
            }
            guard !command.hasDefaultSubcommand else { return nil }
            return "Error: '\(word)' is not a \(place) command; the commands are \(names.joined(separator: ", ")).\n" + usage
        }
        return nil
    }

    /// What the walk needs of a command type.
    private struct Node {
        let name: String
        let aliases: [String]
        let subcommands: [ParsableCommand.Type]
        let hasDefaultSubcommand: Bool

        init(_ type: ParsableCommand.Type) {
            let configuration = type.configuration
            name = configuration.commandName ?? type._commandName
            aliases = configuration.aliases
            subcommands = configuration.subcommands
            hasDefaultSubcommand = configuration.defaultSubcommand != nil
        }
    }

    /// The one name `word` is a prefix of (two letters at least), else the nearest by edit distance (a swap of
    /// neighbours counts as one edit) within 1 edit for names up to five letters and 2 beyond.
    static func closest(to word: String, among names: [String]) -> String? {
        let prefixed = names.filter { word.count >= 2 && $0.hasPrefix(word) }
        if prefixed.count == 1 { return prefixed[0] }
        let scored = names.map { (name: $0, distance: editDistance(word, $0)) }
            .filter { $0.distance <= ($0.name.count <= 5 ? 1 : 2) }
        guard let best = scored.min(by: { $0.distance < $1.distance }),
              scored.filter({ $0.distance == best.distance }).count == 1 else { return nil }
        return best.name
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}
