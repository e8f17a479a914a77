// JSONRecords: the objects of a top-level JSON array, found by scanning bytes (strings and escapes respected), so
// each is parsed alone and a file cut mid-record still yields every record before the cut.
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
