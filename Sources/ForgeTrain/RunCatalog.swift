// RunCatalog: the run directories under a folder (runs/ by default), read as RunRecords and kept until a run's files
// change on disk, so that a dashboard polling a training run re-reads it only when its files changed, and then only
// the lines its metrics.jsonl gained. Run names are single folder names: nothing outside the folder is ever read.
import ForgeCore
import Foundation
import Synchronization

/// The runs in one folder.
public final class RunCatalog: Sendable {
    /// A run name that cannot be looked up.
    public enum LookupError: Error, CustomStringConvertible, Equatable {
        /// Empty, hidden (leading "."), or holding "/" or "\\": not the name of a run dir in the folder.
        case invalidName(String)
        case notFound(String, folder: String)

        public var description: String {
            switch self {
            case .invalidName(let n): "'\(n)' is not a run name (one folder name, not starting with '.', without '/' or '\\')"
            case .notFound(let n, let folder): "no run named '\(n)' in \(folder)"
            }
        }
    }

    public let folder: String
    /// Each run as last read, and its metrics.jsonl as read so far.
    let cache = Mutex<[String: (record: RunRecord, metrics: MetricsReader)]>([:])

    public init(folder: String) { self.folder = folder }

    /// The names of the folder's run dirs (those holding metrics.jsonl, a checkpoint or model/config.json), sorted.
    public func names() throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw ForgeError.file(folder, "no such directory (give the folder that holds the run directories, e.g. runs)")
        }
        let entries = try FileManager.default.contentsOfDirectory(atPath: folder)
        return entries.filter { (try? Self.validate($0)) != nil && RunRecord.isRun(folder + "/" + $0) }.sorted()
    }

    /// Every run in the folder.
    public func runs() throws -> [RunRecord] {
        try names().map { try run($0) }
    }

    /// The run named `name`, read again only when its files changed (and then only the lines its metrics gained).
    public func run(_ name: String) throws(LookupError) -> RunRecord {
        try Self.validate(name)
        let dir = folder + "/" + name
        guard RunRecord.isRun(dir) else { throw .notFound(name, folder: folder) }
        let cached = cache.withLock { $0[name] }
        if let cached, cached.record.version == RunRecord.fingerprint(dir) { return cached.record }
        var metrics = cached?.metrics ?? MetricsReader()
        metrics.update(dir + "/metrics.jsonl")
        let record = RunRecord(dir: dir, name: name, metrics: metrics)
        cache.withLock { $0[name] = (record, metrics) }
        return record
    }

    /// Throws unless `name` is one folder name inside the catalog's folder.
    public static func validate(_ name: String) throws(LookupError) {
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/"), !name.contains("\\"), !name.contains("\0") else {
            throw .invalidName(name)
        }
    }

    /// The settings whose values differ between `runs` (a missing setting counts as a value), sorted by key.
    public static func differingSettings(_ runs: [RunRecord]) -> [(key: String, values: [String?])] {
        let keys = Set(runs.flatMap(\.settings.keys)).sorted()
        return keys.compactMap { key in
            let values = runs.map { $0.settings[key] }
            return Set(values).count > 1 ? (key, values) : nil
        }
    }
}
