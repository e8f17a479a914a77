// MetricsLog: one JSON object per line, appended as a run goes, for plots and other tools.
import ForgeCore
import Foundation

/// One metrics record: kind ("train", "val", ...), step, and named numbers.
public struct MetricRecord: Codable, Equatable, Sendable {
    public var kind: String
    public var step: Int
    public var values: [String: Double]

    public init(kind: String, step: Int, values: [String: Double]) {
        self.kind = kind
        self.step = step
        self.values = values
    }

    /// The record as one JSON line: {"kind":..., "step":..., name: value, ...}.
    public var jsonLine: String {
        var parts = ["\"kind\":\"\(kind)\"", "\"step\":\(step)"]
        for (k, v) in values.sorted(by: { $0.key < $1.key }) { parts.append("\"\(k)\":\(v.isFinite ? "\(v)" : "null")") }
        return "{" + parts.joined(separator: ",") + "}"
    }

    /// Parses a line written by `jsonLine` (numbers round-trip exactly).
    public init?(jsonLine: String) {
        guard let r = try? JSONDecoder().decode(MetricRecord.self, from: Data(jsonLine.utf8)) else { return nil }
        self = r
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        kind = try c.decode(String.self, forKey: AnyKey(stringValue: "kind"))
        step = try c.decode(Int.self, forKey: AnyKey(stringValue: "step"))
        values = [:]
        for key in c.allKeys where key.stringValue != "kind" && key.stringValue != "step" {
            values[key.stringValue] = try c.decodeIfPresent(Double.self, forKey: key) ?? .nan
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.encode(kind, forKey: AnyKey(stringValue: "kind"))
        try c.encode(step, forKey: AnyKey(stringValue: "step"))
        for (k, v) in values { if v.isFinite { try c.encode(v, forKey: AnyKey(stringValue: k)) } else { try c.encodeNil(forKey: AnyKey(stringValue: k)) } }
    }
}

/// Appends metric records to a JSONL file and keeps them in memory.
public final class MetricsLog {
    public let path: String
    public private(set) var records: [MetricRecord] = []
    private var handle: FileHandle?

    /// Opens `path`; with `keepUpTo` the existing records up to that step are kept (a resumed run),
    /// otherwise the file starts empty.
    /// With `writing` false the records stay in memory only (the ranks of a distributed run but rank 0).
    public init(path: String, keepUpTo step: Int? = nil, writing: Bool = true) throws {
        self.path = path
        if let step, let text = try? String(contentsOfFile: path, encoding: .utf8) {
            records = text.split(separator: "\n").compactMap { MetricRecord(jsonLine: String($0)) }.filter { $0.step <= step }
        }
        guard writing else { return }
        let text = records.map { $0.jsonLine + "\n" }.joined()
        try AtomicFile.write(path, string: text)
        handle = FileHandle(forWritingAtPath: path)
        handle?.seekToEndOfFile()
    }

    public func append(_ record: MetricRecord) {
        records.append(record)
        handle?.write(Data((record.jsonLine + "\n").utf8))
    }

    deinit { try? handle?.close() }
}
