import Dispatch
import Foundation
import GRDBSQLite

/// A user's SQL, run so that it cannot change the run store: the connection is opened read-only
/// (`SQLITE_OPEN_READONLY`) with `PRAGMA query_only`, an authorizer allows reading only (no writes, schema changes,
/// ATTACH/DETACH, transactions, or PRAGMA changes — introspection pragmas such as `table_info` stay allowed),
/// statements that SQLite reports as writing are refused, a progress handler interrupts a query past its timeout,
/// and at most `maxRows` rows are fetched.
///
/// This uses SQLite's C API directly rather than GRDB, because GRDB owns the connection's authorizer (it uses it to
/// track what statements touch); here the authorizer is ours alone.
public final class ReadOnlyQuery {
    public enum Value: Sendable, Equatable {
        case null, integer(Int64), real(Double), text(String), blob([UInt8])
        /// The start of a text or blob longer than the query's `maxCellBytes` (the rest was never copied out of
        /// SQLite), and its whole length in bytes.
        indirect case cut(Value, bytes: Int)
    }

    public struct Result: Sendable, Equatable {
        public var columns: [String]
        public var rows: [[Value]]
        /// True when the statement had more rows than `maxRows`; the rest were not fetched.
        public var truncated: Bool
        /// How many cells were cut to `maxCellBytes`.
        public var cutCells = 0
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case missingDatabase(String)
        /// SQLite's own message (syntax errors, unknown tables…).
        case sqlite(String)
        case refused(String)
        case timedOut(TimeInterval)

        public var description: String {
            switch self {
            case .missingDatabase(let path): return "no run store at \(path)"
            case .sqlite(let message): return message
            case .refused(let what): return "refused: \(what) — textgan sql is read-only"
            case .timedOut(let seconds): return "query interrupted: it ran longer than \(seconds) s (see --timeout)"
            }
        }
    }

    private var connection: OpaquePointer?
    private let guardState = GuardState()

    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw Failure.missingDatabase(path) }
        let flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        var connection: OpaquePointer?
        var code = sqlite3_open_v2(path, &connection, flags, nil)
        if code == SQLITE_OK {
            code = sqlite3_exec(connection, "SELECT count(*) FROM sqlite_master", nil, nil, nil)
        }
        // A WAL store that cannot be written and has no -shm file: read it immutable, as `RunDatabase` does.
        if code == SQLITE_CANTOPEN || code & 0xFF == SQLITE_READONLY {
            let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)?.intValue
            if let wal, wal > 0 {
                sqlite3_close_v2(connection)
                throw Failure.sqlite(RunStoreError.unreadableWAL(path: path).description)
            }
            sqlite3_close_v2(connection)
            connection = nil
            code = sqlite3_open_v2(RunDatabase.immutableURI(path), &connection, flags, nil)
            if code == SQLITE_OK {
                code = sqlite3_exec(connection, "SELECT count(*) FROM sqlite_master", nil, nil, nil)
            }
        }
        self.connection = connection
        guard code == SQLITE_OK, let connection else {
            throw Failure.sqlite("cannot read the run store \(path): \(Self.message(connection, code))")
        }
        sqlite3_busy_timeout(connection, 5000)
        guard sqlite3_exec(connection, "PRAGMA query_only = 1", nil, nil, nil) == SQLITE_OK else {
            throw Failure.sqlite(Self.message(connection, SQLITE_ERROR))
        }
        let context = Unmanaged.passUnretained(guardState).toOpaque()
        sqlite3_set_authorizer(connection, { context, action, first, second, _, _ in
            let state = Unmanaged<GuardState>.fromOpaque(context!).takeUnretainedValue()
            return state.authorize(action, first.map { String(cString: $0) }, second.map { String(cString: $0) })
        }, context)
        sqlite3_progress_handler(connection, 1000, { context in
            let state = Unmanaged<GuardState>.fromOpaque(context!).takeUnretainedValue()
            return DispatchTime.now().uptimeNanoseconds > state.deadline ? 1 : 0
        }, context)
    }

    deinit { sqlite3_close_v2(connection) }

    /// Runs every statement in `sql` (separated by `;`) and returns the result of each that yields columns. All
    /// statements are compiled before any runs, so a refused or malformed one means none runs.
    /// Texts and blobs longer than `maxCellBytes` (nil: no limit) are cut to about that many bytes (`Value.cut`;
    /// a blob to half, as it prints as two hex digits a byte), so a megabyte blob neither fills memory row after row
    /// nor takes seconds to print.
    public func execute(_ sql: String, timeout: TimeInterval, maxRows: Int, maxCellBytes: Int? = nil) throws -> [Result] {
        var statements: [OpaquePointer] = []
        defer { statements.forEach { sqlite3_finalize($0) } }

        let text = Array(sql.utf8CString)
        try text.withUnsafeBufferPointer { buffer in
            var next: UnsafePointer<CChar>? = buffer.baseAddress
            while let start = next, start.pointee != 0 {
                var statement: OpaquePointer?
                var tail: UnsafePointer<CChar>?
                guardState.reset()
                let code = sqlite3_prepare_v2(connection, start, -1, &statement, &tail)
                if let refusal = guardState.refusal { throw Failure.refused(refusal) }
                guard code == SQLITE_OK else { throw Failure.sqlite(Self.message(connection, code)) }
                next = tail
                guard let statement else { continue }  // only whitespace or a comment
                statements.append(statement)
                if sqlite3_stmt_readonly(statement) == 0 {
                    let text = String(cString: sqlite3_sql(statement)).trimmingCharacters(in: .whitespacesAndNewlines)
                    throw Failure.refused("a statement that writes (\(text.prefix(40)))")
                }
            }
        }

        guardState.deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeout) * 1e9)
        var results: [Result] = []
        for statement in statements {
            let columns = (0..<sqlite3_column_count(statement)).map { String(cString: sqlite3_column_name(statement, $0)) }
            var rows: [[Value]] = []
            var truncated = false
            var cutCells = 0
            while true {
                let code = sqlite3_step(statement)
                if code == SQLITE_DONE { break }
                if code == SQLITE_INTERRUPT { throw Failure.timedOut(timeout) }
                guard code == SQLITE_ROW else { throw Failure.sqlite(Self.message(connection, code)) }
                if rows.count == maxRows { truncated = true; break }
                rows.append((0..<Int32(columns.count)).map { column in
                    let value = Self.value(statement, column, maxBytes: maxCellBytes)
                    if case .cut = value { cutCells += 1 }
                    return value
                })
            }
            if !columns.isEmpty {
                results.append(Result(columns: columns, rows: rows, truncated: truncated, cutCells: cutCells))
            }
        }
        return results
    }

    private static func value(_ statement: OpaquePointer, _ column: Int32, maxBytes: Int?) -> Value {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_NULL: return .null
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, column))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let bytes = sqlite3_column_blob(statement, column) else { return .blob([]) }
            let kept = maxBytes.map { min(count, max(1, $0 / 2)) } ?? count
            let blob = Value.blob(Array(UnsafeRawBufferPointer(start: bytes, count: kept)))
            return kept < count ? .cut(blob, bytes: count) : blob
        default:
            guard let text = sqlite3_column_text(statement, column) else { return .null }
            let count = Int(sqlite3_column_bytes(statement, column))
            guard let maxBytes, count > maxBytes else { return .text(String(cString: text)) }
            // Cut where a character starts (not on a UTF-8 continuation byte, 0b10xxxxxx).
            var end = maxBytes
            while end > 0 && text[end] & 0xC0 == 0x80 { end -= 1 }
            let prefix = String(decoding: UnsafeBufferPointer(start: text, count: end), as: UTF8.self)
            return .cut(.text(prefix), bytes: count)
        }
    }

    private static func message(_ connection: OpaquePointer?, _ code: Int32) -> String {
        if let connection, let message = sqlite3_errmsg(connection) { return String(cString: message) }
        return String(cString: sqlite3_errstr(code))
    }
}

/// The authorizer's and progress handler's state, reached from C callbacks through a context pointer.
private final class GuardState {
    var deadline: UInt64 = .max
    var refusal: String?
    /// The first action the statement being compiled asked for: SQLITE_SELECT for a query.
    var firstAction: Int32?

    func reset() {
        refusal = nil
        firstAction = nil
    }

    /// Pragmas that only describe the schema or the build; allowed with an argument (`table_info(runs)`).
    static let introspectionPragmas: Set<String> = [
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
        "foreign_key_check", "database_list", "collation_list", "function_list", "module_list", "pragma_list",
        "compile_options", "integrity_check", "quick_check",
    ]
    /// Pragmas that are settings; allowed only as getters (no argument).
    static let readablePragmas: Set<String> = [
        "user_version", "schema_version", "application_id", "page_size", "page_count", "freelist_count",
        "journal_mode", "encoding", "foreign_keys", "query_only", "data_version", "auto_vacuum", "cache_size",
        "max_page_count", "synchronous", "busy_timeout",
    ]

    func authorize(_ action: Int32, _ first: String?, _ second: String?) -> Int32 {
        if firstAction == nil { firstAction = action }
        let schemaTable = first == "sqlite_master" || first == "sqlite_schema" || first == "sqlite_temp_master"
        switch action {
        case SQLITE_SELECT, SQLITE_READ, SQLITE_FUNCTION, SQLITE_RECURSIVE:
            return SQLITE_OK
        case SQLITE_PRAGMA:
            let name = (first ?? "").lowercased()
            if Self.introspectionPragmas.contains(name) || (second == nil && Self.readablePragmas.contains(name)) {
                return SQLITE_OK
            }
            return deny(second == nil ? "PRAGMA \(name)" : "PRAGMA \(name) = \(second!)")
        case SQLITE_UPDATE where schemaTable && firstAction == SQLITE_SELECT:
            // A query using a table-valued pragma (`pragma_table_info('runs')`) registers it in the schema:
            // SQLite reports that as an update of sqlite_master, though nothing is written.
            return SQLITE_OK
        case SQLITE_INSERT where schemaTable, SQLITE_UPDATE where schemaTable, SQLITE_DELETE where schemaTable:
            return deny("a schema change (CREATE, DROP or ALTER)")
        case SQLITE_INSERT: return deny("INSERT into \(first ?? "?")")
        case SQLITE_UPDATE: return deny("UPDATE of \(first ?? "?")")
        case SQLITE_DELETE: return deny("DELETE from \(first ?? "?")")
        case SQLITE_ATTACH: return deny("ATTACH")
        case SQLITE_DETACH: return deny("DETACH")
        case SQLITE_TRANSACTION, SQLITE_SAVEPOINT: return deny("transaction control")
        case SQLITE_ALTER_TABLE: return deny("ALTER TABLE")
        default:
            // CREATE/DROP/ALTER of any kind, REINDEX, ANALYZE, virtual tables…
            return deny("a statement that changes the schema (action \(action)\(first.map { " on \($0)" } ?? ""))")
        }
    }

    private func deny(_ what: String) -> Int32 {
        if refusal == nil { refusal = what }
        return SQLITE_DENY
    }
}
