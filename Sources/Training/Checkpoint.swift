import Foundation
import NumericCore

// A checkpoint is one safetensors file: the model's parameters under their own names, each optimizer's state under
// "optimizer.<name>.", and string metadata: the training state as JSON (step, epoch, RNG, data-loader position,
// best score) plus what the caller adds — the CLI stores the run's full config and its vocabulary — so a checkpoint
// alone rebuilds its model and resumes exactly.
// Files are written atomically (temporary file, then rename), so a crash never leaves a half-written checkpoint
// under a checkpoint's name.

public enum Checkpoint {
    public static let stateKey = "state"
    public static let formatKey = "format"
    public static let format = "textgan-checkpoint-1"

    public struct Contents {
        public var tensors: [String: Tensor]
        public var metadata: [String: String]

        /// The training state stored under `stateKey`, decoded.
        public func state<S: Decodable>(_ type: S.Type) throws -> S {
            guard let json = metadata[Checkpoint.stateKey] else { throw CheckpointError.missingMetadata(Checkpoint.stateKey) }
            return try JSONDecoder().decode(S.self, from: Data(json.utf8))
        }

        /// Loads a model's parameters saved under `prefix` (every one must be present with its shape).
        public func restore(_ model: some ParameterContainer, prefix: String = "") throws {
            if prefix.isEmpty { return try model.load(tensors) }
            var own: [String: Tensor] = [:]
            for (key, value) in tensors where key.hasPrefix(prefix) { own[String(key.dropFirst(prefix.count))] = value }
            try model.load(own)
        }

        /// Loads an optimizer's state saved under `name`.
        public func restore(_ optimizer: some Optimizer, name: String) throws {
            let prefix = "optimizer.\(name)."
            var state: [String: Tensor] = [:]
            for (key, value) in tensors where key.hasPrefix(prefix) { state[String(key.dropFirst(prefix.count))] = value }
            try optimizer.loadState(state)
        }
    }

    /// Writes models, optimizers and state to `url` atomically. Each model's tensors are stored under a prefix
    /// ("" for none: parameter names are unique across different models, but a copy of a model, like the rollout
    /// policy, needs one).
    public static func save(
        to url: URL, models: [(prefix: String, model: any ParameterContainer)], optimizers: [String: any Optimizer],
        state: some Encodable, metadata: [String: String]
    ) throws {
        var tensors: [String: Tensor] = [:]
        for (prefix, model) in models {
            for (name, value) in model.namedTensors {
                precondition(tensors[prefix + name] == nil, "checkpoint: two tensors named \(prefix + name)")
                // A diverged model must not replace the last good checkpoint.
                guard value.scalars.allSatisfy(\.isFinite) else {
                    throw CheckpointError.nonFinite(url.lastPathComponent, tensor: prefix + name)
                }
                tensors[prefix + name] = value
            }
        }
        for (name, optimizer) in optimizers {
            for (key, value) in optimizer.stateTensors { tensors["optimizer.\(name).\(key)"] = value }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let stateJSON = String(decoding: try encoder.encode(state), as: UTF8.self)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var all = metadata
        all[stateKey] = stateJSON
        all[formatKey] = format
        try Safetensors.write(tensors, metadata: all, to: url)
    }

    public static func load(from url: URL) throws -> Contents {
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError.missing(url.path) }
        let (tensors, metadata) = try Safetensors.read(from: url)
        guard metadata[formatKey] == format else {
            throw CheckpointError.notACheckpoint(url.path, found: metadata[formatKey])
        }
        return Contents(tensors: tensors, metadata: metadata)
    }
}

public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case missing(String)
    case notACheckpoint(String, found: String?)
    case missingMetadata(String)
    case nonFinite(String, tensor: String)

    public var description: String {
        switch self {
        case .missing(let path): "no checkpoint at \(path)"
        case .notACheckpoint(let path, let found):
            "\(path) is a safetensors file but not a textgan checkpoint (format \(found ?? "missing"), expected \(Checkpoint.format))"
        case .missingMetadata(let key): "the checkpoint has no '\(key)' metadata"
        case .nonFinite(let file, let tensor):
            "training diverged: \(tensor) holds NaN or infinite values, so \(file) was not overwritten (it keeps the last finite state)"
        }
    }
}
