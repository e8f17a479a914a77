// MetricsReader: a metrics.jsonl read incrementally, as a dashboard follows a training run: each update reads only the
// bytes appended since the last one (all of the file again when it was replaced or shrank, as a resumed run rewrites it).
// Lines that are not metric records are counted and skipped; an unfinished last line is read but not yet counted.
import Foundation

/// The records of a metrics.jsonl so far.
public struct MetricsReader: Sendable {
    /// Records of complete lines, then the unfinished last line's when it already parses.
    public var records: [MetricRecord] { tail.map { complete + [$0] } ?? complete }
    /// Complete lines that are not metric records.
    public private(set) var skippedLines = 0
    var complete: [MetricRecord] = []
    var tail: MetricRecord?
    /// Bytes read up to the end of the last complete line, and the file they came from.
    var offset: UInt64 = 0
    var file: UInt64?

    public init() {}

    /// Reads what `path` gained since the last update; a missing file reads as empty.
    public mutating func update(_ path: String) {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let file = (attributes?[.systemFileNumber] as? NSNumber)?.uint64Value, size = (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
        if file != self.file || size < offset { self = MetricsReader(); self.file = file }
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.readToEnd() else { return }
        let lastNewline = data.lastIndex(of: UInt8(ascii: "\n"))
        let lines = lastNewline.map { data[data.startIndex..<$0] }.map { $0.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) } ?? []
        for line in lines where line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") }) {
            if let r = MetricRecord(jsonLine: String(decoding: line, as: UTF8.self)) { complete.append(r) } else { skippedLines += 1 }
        }
        let rest = lastNewline.map { data[(data.index(after: $0))...] } ?? data[...]
        tail = rest.isEmpty ? nil : MetricRecord(jsonLine: String(decoding: rest, as: UTF8.self))
        offset += UInt64(lastNewline.map { data.distance(from: data.startIndex, to: $0) + 1 } ?? 0)
    }
}
