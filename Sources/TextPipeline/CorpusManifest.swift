import Foundation

// A named corpus's manifest: where its text comes from, how to tokenize it, how to split it. One small JSON file
// per corpus in corpora/ (e.g. corpora/coco.json); the texts themselves stay where they are.

public struct CorpusManifest: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    public var source: Source
    public var tokenizer: TokenizerConfig
    public var split: SplitRule
    /// Anything a researcher should know (conversion rules, provenance, caveats).
    public var notes: String?

    public init(name: String, description: String, source: Source, tokenizer: TokenizerConfig, split: SplitRule,
                notes: String? = nil) {
        self.name = name
        self.description = description
        self.source = source
        self.tokenizer = tokenizer
        self.split = split
        self.notes = notes
    }

    public struct Source: Codable, Sendable, Equatable {
        public enum Format: String, Codable, Sendable {
            /// One example per line; blank lines are skipped.
            case lines
            /// A fortune(6) file: entries separated by "%" lines, each a coloured title, an author line and the
            /// poem (optionally after a prose preface ending in a blank line); one example per line of the poem.
            case fortune
            /// Produced by the model layer (the SeqGAN oracle), not read from text.
            case generated
        }

        public var format: Format
        public var train: FileLocation?
        /// A separate test file; when absent, the test split is drawn from `train` by the split rule.
        public var test: FileLocation?
        /// How to get the files when they are missing, e.g. "sudo apt-get install fortunes-zh".
        public var install: String?

        public init(format: Format, train: FileLocation? = nil, test: FileLocation? = nil, install: String? = nil) {
            self.format = format
            self.train = train
            self.test = test
            self.install = install
        }
    }

    public struct FileLocation: Codable, Sendable, Equatable {
        public enum Root: String, Codable, Sendable {
            /// Relative to the shared data directory (`../shared/data` beside the package).
            case shared
            /// An absolute path (e.g. a file installed by a Debian package).
            case absolute
            /// Relative to the current directory (user files).
            case current
        }

        public var root: Root
        public var path: String

        public init(root: Root, path: String) {
            self.root = root
            self.path = path
        }

        /// How the location reads in messages: `../shared/data/coco/train.txt`, `/usr/share/…`.
        public var display: String {
            switch root {
            case .shared: return "../shared/data/\(path)"
            case .absolute, .current: return path
            }
        }
    }

    public struct SplitRule: Codable, Sendable, Equatable, CustomStringConvertible {
        public enum Kind: String, Codable, Sendable {
            /// The source's own test file.
            case testFile = "test-file"
            /// A seeded random draw from the examples (or from whole entries, see `unit`).
            case seeded
        }

        public enum Unit: String, Codable, Sendable {
            /// Individual examples (lines).
            case line
            /// Whole entries (for fortune files: poems), so no test line shares a poem with a training line.
            case entry
        }

        public var kind: Kind
        /// Fraction of the examples drawn for the test split (rounded to the nearest count, at least 1).
        public var testFraction: Double?
        /// A fixed number of test examples instead of a fraction.
        public var testCount: Int?
        public var seed: UInt64?
        public var unit: Unit?

        public init(kind: Kind, testFraction: Double? = nil, testCount: Int? = nil, seed: UInt64? = nil,
                    unit: Unit? = nil) {
            self.kind = kind
            self.testFraction = testFraction
            self.testCount = testCount
            self.seed = seed
            self.unit = unit
        }

        public static let testFile = SplitRule(kind: .testFile)

        public static func seeded(testFraction: Double = 0.1, seed: UInt64 = 0, unit: Unit = .line) -> SplitRule {
            SplitRule(kind: .seeded, testFraction: testFraction, seed: seed, unit: unit)
        }

        public var description: String {
            switch kind {
            case .testFile:
                return "the source's own test file"
            case .seeded:
                let size = testCount.map { "\($0) examples" } ?? "\(Self.percent(testFraction ?? 0.1)) of the examples"
                let unitText = (unit ?? .line) == .entry ? ", drawn by whole entry" : ""
                return "seeded: \(size) for test\(unitText) (seed \(seed ?? 0))"
            }
        }

        private static func percent(_ fraction: Double) -> String {
            let p = fraction * 100
            return p == p.rounded() ? "\(Int(p))%" : "\(p)%"
        }
    }

    // MARK: - Files

    public static func load(from url: URL) throws -> CorpusManifest {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CorpusError.badManifest(path: url.path, reason: "cannot read it")
        }
        do {
            return try JSONDecoder().decode(CorpusManifest.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw CorpusError.badManifest(path: url.path, reason: "missing key \"\(key.stringValue)\"")
        } catch let DecodingError.dataCorrupted(context) {
            throw CorpusError.badManifest(path: url.path, reason: context.debugDescription)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw CorpusError.badManifest(path: url.path, reason: "bad value at \"\(key)\": \(context.debugDescription)")
        }
    }

    /// Every `*.json` manifest in `directory`, by name.
    public static func all(in directory: URL) throws -> [CorpusManifest] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return try names.filter { $0.hasSuffix(".json") }
            .map { try load(from: directory.appendingPathComponent($0)) }.sorted { $0.name < $1.name }
    }
}
