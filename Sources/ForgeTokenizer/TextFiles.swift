// TextFiles: documents from plain-text and JSONL files, read in bounded pieces.
// A .txt/.md file is one document (files over 64 MiB are read in blocks cut at line ends); a .jsonl file
// gives one document per line (the string at `field`). Lines that are not JSON objects with that
// string field are counted and skipped.
import ForgeCore
import Foundation

public struct TextFiles {
    public let paths: [String]
    public let field: String
    public let invalidUTF8: InvalidUTF8Policy
    public private(set) var skippedLines = 0

    /// Expands directories (recursively, sorted) into .txt, .md and .jsonl files; missing paths are errors.
    public init(paths: [String], field: String = "text", invalidUTF8: InvalidUTF8Policy = .replace) throws {
        var files: [String] = []
        for p in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else { throw ForgeError.file(p, "no such file or directory") }
            if isDir.boolValue {
                let all = (FileManager.default.enumerator(atPath: p)?.allObjects as? [String] ?? []).sorted()
                files += all.filter { $0.hasSuffix(".txt") || $0.hasSuffix(".md") || $0.hasSuffix(".jsonl") }.map { p + "/" + $0 }
            } else {
                files.append(p)
            }
        }
        guard !files.isEmpty else { throw ForgeError("no .txt, .md or .jsonl files in \(paths.joined(separator: ", "))") }
        self.paths = files
        self.field = field
        self.invalidUTF8 = invalidUTF8
    }

    /// Calls `body` with batches of documents (about `batchBytes` each) in file order.
    public mutating func forEachBatch(batchBytes: Int = 16 << 20, _ body: ([String]) throws -> Void) throws {
        var batch: [String] = []
        var size = 0
        func emit(_ s: String) throws {
            batch.append(s)
            size += s.utf8.count
            if size >= batchBytes { try body(batch); batch = []; size = 0 }
        }
        for path in paths {
            guard let handle = FileHandle(forReadingAtPath: path) else { throw ForgeError.file(path, "cannot be read") }
            defer { try? handle.close() }
            let jsonl = path.hasSuffix(".jsonl")
            var carry = Data()
            var offset = 0
            while true {
                let chunk = handle.readData(ofLength: 16 << 20)
                let atEnd = chunk.isEmpty
                carry.append(chunk)
                var cut = carry.count
                if !atEnd {
                    // Whole files up to 64 MiB are one document; longer ones are cut at line ends.
                    guard carry.count >= 64 << 20, let nl = carry.lastIndex(of: 10) else { continue }
                    cut = nl + 1 - carry.startIndex
                }
                let piece = carry.prefix(cut)
                if jsonl {
                    for line in piece.split(separator: 10) where !line.isEmpty {
                        if let obj = try? JSONSerialization.jsonObject(with: line) as? [String: Any], let text = obj[field] as? String {
                            try emit(text)
                        } else {
                            skippedLines += 1
                        }
                    }
                } else if !piece.isEmpty {
                    try emit(try decode(piece, path: path, offset: offset))
                }
                offset += cut
                carry = Data(carry.dropFirst(cut))
                if atEnd { break }
            }
        }
        if !batch.isEmpty { try body(batch) }
    }

    func decode(_ d: Data, path: String, offset: Int) throws -> String {
        let bytes = [UInt8](d)
        if invalidUTF8 == .error, let bad = BPETokenizer.firstInvalidUTF8(bytes) {
            throw ForgeError.file(path, "invalid UTF-8 at byte \(offset + bad) (use --invalid-utf8 replace to substitute U+FFFD)")
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
