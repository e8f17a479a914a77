// RunRecord: one run directory as the runs dashboard and `forge runs` show it: its status, settings (from the
// checkpoint's training state, model/config.json, pipeline.json, training.json), metrics (metrics.jsonl, corrupt lines
// counted and skipped), evaluation scores (eval/*.json) and model card (model/README.md).
import ForgeCore
import Foundation

/// Where a run stands.
public enum RunStatus: String, Sendable {
    /// Not finished, and its metrics.jsonl changed within the last `RunRecord.liveSeconds`.
    case running
    /// Trained to its last step, with its model dir written.
    case finished
    /// Neither: interrupted, crashed, or waiting to be resumed.
    case stopped
}

/// One score from a run's eval/TASK.json.
public struct EvalScore: Sendable, Equatable {
    public var task: String
    public var metric: String
    public var value: Double
    public var stderr: Double?
    public var n: Int?
}

/// A run directory, read.
public struct RunRecord: Sendable {
    /// A run whose metrics changed this recently (seconds) and that is not finished is running.
    public static let liveSeconds: TimeInterval = 120

    public var name: String
    /// A hash of the sizes and modification times of the files read: another version means the run changed on disk.
    public var version: String
    /// Trained to its last step (the checkpoint's step, when there is one) with model/config.json written.
    public var complete: Bool
    /// Flattened settings ("training.batch", "model.layers", "pipeline.dedup.bands", ...) as text.
    public var settings: [String: String]
    public var metrics: [MetricRecord]
    /// Lines of metrics.jsonl that are not metric records (a line still being written at the end is not counted).
    public var skippedLines: Int
    public var evals: [EvalScore]
    /// model/README.md, when the run has one.
    public var modelCard: String?
    /// When metrics.jsonl last changed.
    public var updated: Date?

    public var status: RunStatus {
        if complete { return .finished }
        if let updated, Date().timeIntervalSince(updated) < Self.liveSeconds { return .running }
        return .stopped
    }

    /// The last train record's step (0 without one).
    public var steps: Int { metrics.last(where: { $0.kind == "train" })?.step ?? 0 }
    public var lastTrainLoss: Double? { metrics.last(where: { $0.kind == "train" && $0.values["loss"] != nil })?.values["loss"] }
    public var bestValLoss: Double? { metrics.compactMap { $0.kind == "val" ? $0.values["val_loss"] : nil }.filter(\.isFinite).min() }
    /// Tokens trained, from the last train record that gives them.
    public var tokens: Int? {
        metrics.last(where: { $0.kind == "train" && $0.values["tokens"].map { $0.isFinite && abs($0) < 1e18 } == true })?.values["tokens"].map { Int($0) }
    }

    /// Whether `dir` holds any of a run's files.
    public static func isRun(_ dir: String) -> Bool {
        ["metrics.jsonl", "checkpoint.safetensors", "model/config.json"].contains { FileManager.default.fileExists(atPath: dir + "/" + $0) }
    }

    /// Reads the run in `dir`, named `name`; a missing or unreadable part is left out, never invented. `metrics` is
    /// its metrics.jsonl when already read (RunCatalog follows a growing file).
    public init(dir: String, name: String, metrics reader: MetricsReader? = nil) {
        let fm = FileManager.default
        self.name = name
        version = Self.fingerprint(dir)
        let reader = reader ?? { var r = MetricsReader(); r.update(dir + "/metrics.jsonl"); return r }()
        (metrics, skippedLines) = (reader.records, reader.skippedLines)
        updated = (try? fm.attributesOfItem(atPath: dir + "/metrics.jsonl"))?[.modificationDate] as? Date
        var settings: [String: String] = [:]
        let state = try? Checkpoint.state(at: dir + "/checkpoint.safetensors")
        if let state {
            Self.flatten(Self.object(try? JSONEncoder().encode(state.options)), prefix: "training", into: &settings)
            Self.flatten(Self.object(try? JSONEncoder().encode(state.config)), prefix: "model", into: &settings)
        }
        let config = Self.object(fm.contents(atPath: dir + "/model/config.json"))
        if state == nil { Self.flatten(config, prefix: "model", into: &settings) }
        for file in ["pipeline", "training"] { Self.flatten(Self.object(fm.contents(atPath: "\(dir)/\(file).json")), prefix: file, into: &settings) }
        self.settings = settings
        evals = Self.readEvals(dir + "/eval")
        modelCard = try? String(contentsOfFile: dir + "/model/README.md", encoding: .utf8)
        complete = config != nil && state.map { $0.step >= $0.options.steps } ?? true
    }

    static let files = ["metrics.jsonl", "checkpoint.safetensors", "model/config.json", "model/README.md", "pipeline.json", "training.json", "eval"]

    /// A hash of the size and modification time of each file a record reads (eval/'s files included).
    public static func fingerprint(_ dir: String) -> String {
        let fm = FileManager.default
        let evals = ((try? fm.contentsOfDirectory(atPath: dir + "/eval")) ?? []).filter { $0.hasSuffix(".json") }.sorted().map { "eval/" + $0 }
        let stamps = (files + evals).map { f -> String in
            guard let a = try? fm.attributesOfItem(atPath: dir + "/" + f) else { return "-" }
            let size = (a[.size] as? NSNumber)?.intValue ?? 0, time = (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(size):\(time)"
        }.joined(separator: ",")
        var hash = FNV1a64()
        Array(stamps.utf8).withUnsafeBytes { hash.update($0) }
        return String(hash.value, radix: 16)
    }

    static func readEvals(_ dir: String) -> [EvalScore] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        return files.flatMap { f -> [EvalScore] in
            guard let r = object(FileManager.default.contents(atPath: dir + "/" + f)), let task = r["task"] as? String,
                  let metrics = r["metrics"] as? [String: Any] else { return [] }
            return metrics.keys.sorted().compactMap { name in
                guard let m = metrics[name] as? [String: Any], let value = (m["value"] as? NSNumber)?.doubleValue else { return nil }
                return EvalScore(task: task, metric: name, value: value, stderr: (m["stderr"] as? NSNumber)?.doubleValue,
                                 n: (r["n"] as? NSNumber)?.intValue)
            }
        }
    }

    static func object(_ data: Data?) -> [String: Any]? {
        data.flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] }
    }

    /// Nested objects become dotted keys; arrays, comma-separated values.
    static func flatten(_ object: [String: Any]?, prefix: String, into out: inout [String: String]) {
        for (key, value) in object ?? [:] {
            let name = prefix + "." + key
            if let nested = value as? [String: Any] { flatten(nested, prefix: name, into: &out) } else { out[name] = text(value) }
        }
    }

    static func text(_ value: Any) -> String {
        if let n = value as? NSNumber {
            // JSONSerialization's booleans are NSNumbers of type char.
            if String(cString: n.objCType) == "c" { return n.boolValue ? "true" : "false" }
            let d = n.doubleValue
            return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(format: "%.6g", d)
        }
        if let a = value as? [Any] { return a.map(text).joined(separator: ", ") }
        if value is NSNull { return "null" }
        return "\(value)"
    }
}
