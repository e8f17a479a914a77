// JSONLogHandler: swift-log records as JSON lines on standard error (time, level, message, metadata), one per
// request for the server's access log.
import Foundation
import Logging

public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var record: [String: Any] = ["time": ISO8601DateFormatter().string(from: Date()), "level": event.level.rawValue,
                                     "message": event.message.description, "logger": label]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, b in b }) { record[k] = Self.plain(v) }
        guard var data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        data.append(0x0A)
        FileHandle.standardError.write(data)
    }

    static func plain(_ v: Logger.MetadataValue) -> Any {
        switch v {
        case .string(let s): return s
        case .stringConvertible(let c): return c.description
        case .array(let a): return a.map(plain)
        case .dictionary(let d): return d.mapValues(plain)
        }
    }
}
