// JSONRecords: the objects of a top-level JSON array, found by scanning bytes (strings and escapes respected), so
// each is parsed alone and a file cut mid-record still yields every record before the cut. Also the JSONL reader
// and the epoch order the post-training data sources share.
import ForgeCore
import Foundation

enum JSONRecords {
    /// Calls `body` with the bytes of each object of the array in `data`; returns true when the file ends inside
    /// a record (truncated).
    static func forEachObject(in data: Data, path: String, _ body: (Data) throws -> Void) throws -> Bool {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Bool in
            let b = raw.bindMemory(to: UInt8.self)
            var i = 0
            while i < b.count, b[i] != UInt8(ascii: "[") {
                guard b[i] == 32 || b[i] == 9 || b[i] == 10 || b[i] == 13 || b[i] == 0xEF || b[i] == 0xBB || b[i] == 0xBF else {
                    throw ForgeError.file(path, "not a JSON array")
                }
                i += 1
            }
            guard i < b.count else { throw ForgeError.file(path, "not a JSON array") }
            i += 1
            var depth = 0, start = -1, inString = false, escaped = false
            while i < b.count {
                let c = b[i]
                if inString {
                    if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                } else if c == UInt8(ascii: "\"") {
                    inString = true
                } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                    if depth == 0 {
                        guard c == UInt8(ascii: "{") else { throw ForgeError.file(path, "array element at byte \(i) is not an object") }
                        start = i
                    }
                    depth += 1
                } else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                    if depth == 0 { return false }  // the array's closing bracket
                    depth -= 1
                    if depth == 0 { try body(Data(UnsafeRawBufferPointer(rebasing: raw[start...i]))) }
                }
                i += 1
            }
            return true
        }
    }
}

/// The JSON objects of a JSONL file, with "file:line" origins; blank lines are skipped, anything else must be an object.
func forEachJSONLine(_ path: String, _ body: ([String: Any], String) throws -> Void) throws {
    guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "cannot be read") }
    var line = 0
    for slice in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
        line += 1
        if slice.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
        let origin = "\(path):\(line)"
        guard let object = try? JSONSerialization.jsonObject(with: Data(slice)) as? [String: Any] else {
            throw ForgeError("\(origin): not a JSON object")
        }
        try body(object, origin)
    }
}

/// The order of `count` examples in epoch `epoch`: a shuffle seeded by (seed, epoch), or file order.
func epochOrder(count: Int, epoch: Int, seed: UInt64, shuffle: Bool) -> [Int] {
    var idx = Array(0..<count)
    guard shuffle else { return idx }
    var rng = RNG(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
    for i in stride(from: idx.count - 1, to: 0, by: -1) { idx.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    return idx
}
