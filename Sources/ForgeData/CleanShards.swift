// CleanShards: reading back what the data pipeline wrote (JSONL shards and the manifest).
import ForgeCore
import Foundation

public enum CleanShards {
    /// Texts of the documents in DIR/SPLIT_*.jsonl, in shard order.
    public static func texts(_ dir: String, split: String) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(split + "_") && $0.hasSuffix(".jsonl") }.sorted()
        var out: [String] = []
        for n in names {
            guard let data = FileManager.default.contents(atPath: dir + "/" + n) else { throw ForgeError.file(dir + "/" + n, "cannot be read") }
            for line in data.split(separator: 10) where !line.isEmpty {
                guard let obj = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let t = obj["text"] as? String else {
                    throw ForgeError.file(dir + "/" + n, "a line is not a document")
                }
                out.append(t)
            }
        }
        return out
    }

    /// "id — stage: reason" for every removed document in DIR/manifest.jsonl.
    public static func removed(_ dir: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: dir + "/manifest.jsonl") else { throw ForgeError.file(dir + "/manifest.jsonl", "missing") }
        return data.split(separator: 10).compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], o["status"] as? String == "removed" else { return nil }
            return "\(o["id"] as? String ?? "?") — \(o["stage"] as? String ?? "?"): \(o["reason"] as? String ?? "")"
        }
    }
}
