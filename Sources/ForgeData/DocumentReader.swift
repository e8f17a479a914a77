// DocumentReader: documents from the inputs of a source — .txt, .md, .html/.htm and .jsonl files,
// each optionally .gz or .zst — streamed file by file (JSONL line by line). Input that cannot become
// a document (invalid UTF-8, a binary file, a damaged archive, a JSONL line that is not JSON or lacks
// the text field) is reported as a rejected document with its reason; a missing path is an error.
import ForgeCore
import Foundation

/// One document.
public struct Document: Sendable {
    /// Stable id: "source:relative/path" or "source:relative/path#line".
    public var id: String
    public var source: String
    public var text: String
    /// Size of the input as read (before cleaning).
    public var inputBytes: Int
    /// The document is HTML (converted to text by the cleaning stage).
    public var isHTML: Bool
}

/// An input that could not become a document.
public struct RejectedInput: Sendable {
    public var id: String
    public var source: String
    public var bytes: Int
    public var reason: String
}

public enum InputItem: Sendable {
    case document(Document)
    case rejected(RejectedInput)
}

public struct DocumentReader {
    static let extensions = [".txt", ".md", ".html", ".htm", ".jsonl"]
    /// Whole-file documents larger than this are refused (JSONL is read line by line).
    public var maxDocumentBytes = 256 << 20

    public init() {}

    /// Input files of `paths` (directories recursively, in name order); missing paths are errors.
    public static func files(_ paths: [String]) throws -> [(path: String, relative: String)] {
        var out: [(String, String)] = []
        for p in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else { throw ForgeError.file(p, "no such file or directory") }
            if isDir.boolValue {
                let all = (FileManager.default.enumerator(atPath: p)?.allObjects as? [String] ?? []).sorted()
                for rel in all where isInput(rel) { out.append((p + "/" + rel, rel)) }
            } else {
                out.append((p, URL(fileURLWithPath: p).lastPathComponent))
            }
        }
        return out
    }

    static func baseName(_ name: String) -> String {
        for c in [".gz", ".zst", ".zstd"] where name.hasSuffix(c) { return String(name.dropLast(c.count)) }
        return name
    }

    static func isInput(_ name: String) -> Bool {
        let b = baseName(name).lowercased()
        return extensions.contains { b.hasSuffix($0) }
    }

    /// Calls `body` for every document (or rejected input) of one file, in order.
    public func read(path: String, relative: String, source: String, textField: String,
                     _ body: (InputItem) throws -> Void) throws {
        let base = DocumentReader.baseName(relative).lowercased()
        let id = source + ":" + relative
        if base.hasSuffix(".jsonl") {
            try readJSONL(path: path, id: id, source: source, field: textField, body)
            return
        }
        let bytes: [UInt8]
        do { bytes = try readAll(path, limit: maxDocumentBytes) }
        catch let e as ForgeError {
            try body(.rejected(RejectedInput(id: id, source: source, bytes: fileSize(path), reason: e.description.replacingOccurrences(of: path + ": ", with: ""))))
            return
        }
        if let reason = DocumentReader.binaryReason(bytes) {
            try body(.rejected(RejectedInput(id: id, source: source, bytes: bytes.count, reason: reason)))
            return
        }
        if let bad = firstInvalidUTF8(bytes) {
            try body(.rejected(RejectedInput(id: id, source: source, bytes: bytes.count, reason: "invalid UTF-8 at byte \(bad)")))
            return
        }
        try body(.document(Document(id: id, source: source, text: String(decoding: bytes, as: UTF8.self), inputBytes: bytes.count,
                                    isHTML: base.hasSuffix(".html") || base.hasSuffix(".htm"))))
    }

    func fileSize(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }

    func readJSONL(path: String, id: String, source: String, field: String, _ body: (InputItem) throws -> Void) throws {
        var stream = try openStream(path)
        var carry: [UInt8] = []
        var line = 0
        func handle(_ bytes: ArraySlice<UInt8>) throws {
            line += 1
            let lineId = id + "#\(line)"
            if bytes.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { return }
            if let bad = firstInvalidUTF8(Array(bytes)) {
                try body(.rejected(RejectedInput(id: lineId, source: source, bytes: bytes.count, reason: "invalid UTF-8 at byte \(bad) of the line")))
                return
            }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
                try body(.rejected(RejectedInput(id: lineId, source: source, bytes: bytes.count, reason: "line is not a JSON object")))
                return
            }
            guard let text = obj[field] as? String else {
                try body(.rejected(RejectedInput(id: lineId, source: source, bytes: bytes.count, reason: "no string field '\(field)'")))
                return
            }
            let docId = (obj["id"] as? String).map { source + ":" + $0 } ?? lineId
            try body(.document(Document(id: docId, source: source, text: text, inputBytes: bytes.count, isHTML: false)))
        }
        while true {
            let chunk: [UInt8]
            do { chunk = try stream.next() }
            catch let e as ForgeError {
                if !carry.isEmpty { try handle(carry[...]); carry = [] }
                try body(.rejected(RejectedInput(id: id + "#end", source: source, bytes: 0,
                                                 reason: e.description.replacingOccurrences(of: path + ": ", with: "") + " after line \(line)")))
                return
            }
            if chunk.isEmpty { break }
            carry += chunk
            var start = 0
            while let nl = carry[start...].firstIndex(of: 10) {
                try handle(carry[start..<nl])
                start = nl + 1
            }
            carry.removeFirst(start)
        }
        if !carry.isEmpty { try handle(carry[...]) }
    }

    /// Why bytes look like a binary file (NUL bytes, or many control bytes), or nil.
    static func binaryReason(_ b: [UInt8]) -> String? {
        let sample = b.prefix(65536)
        if sample.contains(0) { return "binary file (contains NUL bytes)" }
        let control = sample.filter { $0 < 32 && $0 != 9 && $0 != 10 && $0 != 13 && $0 != 12 }.count
        if sample.count > 0 && control * 10 > sample.count { return "binary file (\(control * 100 / sample.count)% control bytes)" }
        return nil
    }
}

/// Offset of the first invalid UTF-8 sequence, or nil.
func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
    var it = bytes.makeIterator()
    var decoder = UTF8()
    var offset = 0
    var consumed = 0
    while true {
        switch decoder.decode(&it) {
        case .scalarValue(let s):
            offset += UTF8.width(s)
            consumed = offset
        case .emptyInput: return nil
        case .error: return consumed
        }
    }
}
