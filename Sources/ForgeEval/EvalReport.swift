// EvalReport: a task's result as one JSON object (score, standard error, n, settings, the model's hash, Forge's
// version), its per-item records as JSONL, and all tasks of a run as a markdown table. Files are written atomically.
import ForgeCore
import Foundation

public enum EvalReport {
    /// The result JSON of one task.
    public static func json(_ r: TaskResult, model: String, modelSHA256: String) -> [String: Any] {
        var metrics: [String: Any] = [:]
        for m in r.metrics { metrics[m.name] = ["value": m.value, "stderr": m.stderr] }
        var out: [String: Any] = [
            "task": r.task, "kind": r.kind.rawValue, "n": r.n, "metrics": metrics, "settings": r.settings,
            "model": ["path": model, "sha256": modelSHA256], "forge_version": ForgeVersion.string,
            "seconds": r.seconds, "items_per_second": r.itemsPerSecond,
        ]
        if !r.groups.isEmpty {
            var groups: [String: Any] = [:]
            for g in r.groups {
                var d: [String: Any] = ["n": g.n]
                for (k, v) in g.metrics { d[k] = v }
                groups[g.name] = d
            }
            out["groups"] = groups
        }
        return out
    }

    /// Writes `<task>.json` and `<task>.samples.jsonl` in `dir`.
    public static func write(_ r: TaskResult, to dir: String, model: String, modelSHA256: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let object = json(r, model: model, modelSHA256: modelSHA256)
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try atomicWrite(data + Data("\n".utf8), to: dir + "/\(r.task).json")
        var lines = Data()
        for rec in r.records {
            lines += try JSONSerialization.data(withJSONObject: rec, options: [.sortedKeys, .withoutEscapingSlashes])
            lines += Data("\n".utf8)
        }
        try atomicWrite(lines, to: dir + "/\(r.task).samples.jsonl")
    }

    /// A markdown table of results: task, metric, value ± stderr, n, shots, items/s.
    public static func markdown(_ results: [TaskResult], model: String) -> String {
        var s = "Model: `\(model)` · Forge \(ForgeVersion.string)\n\n| task | metric | value | ± stderr | n | shots | items/s |\n|---|---|---|---|---|---|---|\n"
        for r in results {
            let shots = (r.settings["shots"] as? Int).map(String.init) ?? "—"
            for m in r.metrics {
                let value = String(format: "%.4f", m.value)
                let err = m.stderr > 0 ? String(format: "%.4f", m.stderr) : "—"
                s += "| \(r.task) | \(m.name) | \(value) | \(err) | \(r.n) | \(shots) | \(String(format: "%.2f", r.itemsPerSecond)) |\n"
            }
        }
        return s
    }

    /// Writes through a temporary file and a rename, so that a reader never sees half a file.
    public static func atomicWrite(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: data) else { throw ForgeError.file(tmp, "cannot be written") }
        if rename(tmp, path) != 0 { try? FileManager.default.removeItem(atPath: tmp); throw ForgeError.file(path, "cannot be replaced") }
    }
}
