// ScoreCache: log-likelihood scores kept on disk as they are computed (lm-evaluation-harness's --use_cache), so that
// an interrupted evaluation resumes where it stopped. One JSONL line per request, keyed by the SHA-256 of the run's
// namespace (model hash, adapter, context length, cache type) and the request's tokens, the log-likelihoods stored
// as their bit patterns so that a resumed run gives exactly the same numbers; lines are appended after
// each batch, and a line cut short by a crash is ignored when the file is read back.
import Crypto
import ForgeCore
import Foundation

/// Scores of multiple-choice requests on disk, keyed by model and tokens.
public final class ScoreCache: @unchecked Sendable {
    public let path: String
    let namespace: String
    var entries: [String: [ContinuationScore]] = [:]
    let handle: FileHandle
    /// Requests answered from the file, and those added to it, in this run.
    public private(set) var hits = 0, added = 0

    /// Opens (or creates) the cache at `path` for results measured under `namespace`.
    public init(path: String, namespace: String) throws {
        (self.path, self.namespace) = (path, namespace)
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) {
            let dir = (path as NSString).deletingLastPathComponent
            if !dir.isEmpty { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            guard fm.createFile(atPath: path, contents: nil) else { throw ForgeError.file(path, "cannot be created") }
        }
        guard let data = fm.contents(atPath: path) else { throw ForgeError.file(path, "cannot be read") }
        var torn = false
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any], let key = o["key"] as? String,
                  let rows = o["scores"] as? [[Any]] else { torn = true; continue }
            let scores = rows.compactMap { r -> ContinuationScore? in
                guard r.count == 3, let bits = (r[0] as? String).flatMap({ UInt64($0, radix: 16) }), let g = r[1] as? Bool,
                      let t = r[2] as? Int else { return nil }
                return ContinuationScore(logLikelihood: Double(bitPattern: bits), greedy: g, tokens: t)
            }
            if scores.count == rows.count { entries[key] = scores } else { torn = true }
        }
        guard let h = FileHandle(forUpdatingAtPath: path) else { throw ForgeError.file(path, "cannot be opened for writing") }
        handle = h
        handle.seekToEndOfFile()
        // A line cut short by a crash would glue itself to the next one: start on a fresh line.
        if torn || (data.last.map { $0 != UInt8(ascii: "\n") } ?? false) { handle.write(Data("\n".utf8)) }
    }

    deinit { try? handle.close() }

    /// Requests the file holds.
    public var count: Int { entries.count }

    /// The key of a request: its tokens under this cache's namespace.
    public func key(_ r: ScoreRequest) -> String {
        var h = SHA256()
        h.update(data: Data(namespace.utf8))
        func add(_ tokens: [Int32]) {
            var n = Int32(tokens.count)
            withUnsafeBytes(of: &n) { h.update(bufferPointer: $0) }
            tokens.withUnsafeBytes { h.update(bufferPointer: $0) }
        }
        add(r.context)
        for c in r.continuations { add(c) }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The stored scores of a request, if any.
    public func lookup(_ r: ScoreRequest) -> [ContinuationScore]? {
        let s = entries[key(r)]
        if s != nil { hits += 1 }
        return s
    }

    /// Appends the scores of finished requests and flushes them to disk.
    public func store(_ items: [(ScoreRequest, [ContinuationScore])]) throws {
        var out = Data()
        for (r, scores) in items {
            let k = key(r)
            guard entries[k] == nil else { continue }
            entries[k] = scores
            // The log-likelihood as its bit pattern: JSON numbers here keep 16 digits, and a resumed run must be exact.
            let rows: [[Any]] = scores.map { [String($0.logLikelihood.bitPattern, radix: 16), $0.greedy, $0.tokens] }
            out += try JSONSerialization.data(withJSONObject: ["key": k, "scores": rows], options: [.sortedKeys])
            out += Data("\n".utf8)
            added += 1
        }
        guard !out.isEmpty else { return }
        handle.write(out)
        try handle.synchronize()
    }
}
