// GGUF: llama.cpp's model file format (versions 2 and 3), read from a memory map.
//
// Layout: "GGUF", u32 version, u64 tensor count, u64 metadata count; metadata as (string key,
// u32 type, value); tensor infos as (string name, u32 dims, u64 × dims shape (fastest first),
// u32 type, u64 offset); padding to `general.alignment` (default 32); tensor data. Strings are
// u64 length + UTF-8 bytes. Every read is bounds-checked: a damaged file gives an error, never a
// read out of bounds.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One metadata value.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint(UInt64), int(Int64), float(Double), bool(Bool), string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .uint(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v): return Int(v)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .float(let v): return v
        case .uint(let v): return Double(v)
        case .int(let v): return Double(v)
        default: return nil
        }
    }
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var array: [GGUFValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var strings: [String]? { array?.compactMap(\.string) }
    public var ints: [Int]? { array?.compactMap(\.int) }
}

/// Tensor element types of GGUF (ggml's type ids).
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30

    /// (elements per block, bytes per block).
    public var block: (elements: Int, bytes: Int) {
        switch self {
        case .f32, .i32: return (1, 4)
        case .f16, .bf16, .i16: return (1, 2)
        case .i8: return (1, 1)
        case .i64, .f64: return (1, 8)
        case .q4_0: return (32, 18)
        case .q4_1: return (32, 20)
        case .q5_0: return (32, 22)
        case .q5_1: return (32, 24)
        case .q8_0: return (32, 34)
        case .q8_1: return (32, 36)
        case .q2_K: return (256, 84)
        case .q3_K: return (256, 110)
        case .q4_K: return (256, 144)
        case .q5_K: return (256, 176)
        case .q6_K: return (256, 210)
        case .q8_K: return (256, 292)
        }
    }
}

/// A tensor described in a GGUF file.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// Dimensions as GGUF stores them: fastest-varying first (ne0, ne1, ...).
    public let dims: [Int]
    public let type: GGMLType
    /// Byte offset from the start of the file.
    public let fileOffset: Int
    public let byteCount: Int
    public var elementCount: Int { dims.reduce(1, *) }
}

/// A parsed GGUF file: metadata, tensor infos, and the mapped bytes.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// The metadata in file order, each entry as stored (value type id and value bytes), for copying verbatim.
    public let rawMetadata: [(key: String, typedValue: [UInt8])]
    public let tensors: [GGUFTensorInfo]
    let tensorIndex: [String: Int]
    public let alignment: Int
    public let data: Data

    /// Opens and validates `path`; errors name the file and the problem.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw ForgeError.file(path, "no such file") }
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
            throw ForgeError.file(path, "cannot be read")
        }
        self.path = path
        self.data = data
        var r = GGUFCursor(data: data, path: path)
        let magic = try r.bytes(4)
        guard magic == Array("GGUF".utf8) else { throw ForgeError.file(path, "not a GGUF file (bad magic)") }
        version = try r.u32()
        guard version == 2 || version == 3 else { throw ForgeError.file(path, "unsupported GGUF version \(version) (2 and 3 are read)") }
        let tensorCount = try r.u64(), kvCount = try r.u64()
        guard tensorCount < 1 << 24, kvCount < 1 << 24 else { throw ForgeError.file(path, "corrupt header: \(tensorCount) tensors, \(kvCount) keys") }
        var meta: [String: GGUFValue] = [:], raw: [(key: String, typedValue: [UInt8])] = []
        for _ in 0..<kvCount {
            let key = try r.string()
            let start = r.offset
            let type = try r.u32()
            meta[key] = try r.value(type: type, depth: 0)
            raw.append((key, [UInt8](data[(data.startIndex + start)..<(data.startIndex + r.offset)])))
        }
        metadata = meta
        rawMetadata = raw
        let align = meta["general.alignment"]?.int ?? 32
        guard align > 0, align & (align - 1) == 0 else { throw ForgeError.file(path, "general.alignment \(align) is not a power of two") }
        alignment = align
        var infos: [(String, [Int], UInt32, UInt64)] = []
        for _ in 0..<tensorCount {
            let name = try r.string()
            let nd = try r.u32()
            guard nd <= 8 else { throw ForgeError.file(path, "tensor '\(name)' has \(nd) dimensions") }
            var dims: [Int] = []
            for _ in 0..<nd {
                let d = try r.u64()
                guard d < 1 << 40 else { throw ForgeError.file(path, "tensor '\(name)' has dimension \(d)") }
                dims.append(Int(d))
            }
            infos.append((name, dims, try r.u32(), try r.u64()))
        }
        let dataStart = (r.offset + align - 1) / align * align
        var list: [GGUFTensorInfo] = []
        for (name, dims, typeID, offset) in infos {
            guard let type = GGMLType(rawValue: typeID) else {
                throw ForgeError.file(path, "tensor '\(name)' has unknown or unsupported ggml type \(typeID)")
            }
            var n = 1
            for d in dims {
                let (m, overflow) = n.multipliedReportingOverflow(by: d)
                guard !overflow, m < 1 << 48 else { throw ForgeError.file(path, "tensor '\(name)' has an impossible shape \(dims)") }
                n = m
            }
            let (be, bb) = type.block
            guard n % be == 0 else { throw ForgeError.file(path, "tensor '\(name)' has \(n) elements, not a multiple of its block \(be)") }
            let bytes = n / be * bb
            guard offset < UInt64(data.count), dataStart + Int(offset) + bytes <= data.count else {
                throw ForgeError.file(path, "tensor '\(name)' data runs past the end of the file (truncated?)")
            }
            guard Int(offset) % align == 0 || version == 2 else {
                throw ForgeError.file(path, "tensor '\(name)' data offset \(offset) is not a multiple of the alignment \(align)")
            }
            list.append(GGUFTensorInfo(name: name, dims: dims, type: type, fileOffset: dataStart + Int(offset), byteCount: bytes))
        }
        tensors = list
        tensorIndex = Dictionary(list.enumerated().map { ($0.element.name, $0.offset) }, uniquingKeysWith: { a, _ in a })
    }

    public subscript(key: String) -> GGUFValue? { metadata[key] }

    /// The tensor called `name`.
    public func tensor(_ name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// Tells the system the mapped pages of a tensor are no longer needed (they are read again if touched), so a
    /// pass over a large file does not keep all of it resident.
    public func dropPages(of t: GGUFTensorInfo) {
        #if canImport(Glibc)
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let start = (t.fileOffset + page - 1) / page * page, end = (t.fileOffset + t.byteCount) / page * page
            if end > start { _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED) }
        }
        #endif
    }

    /// Calls `body` with the raw bytes of a tensor.
    public func withBytes<R>(of t: GGUFTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try data.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[t.fileOffset..<(t.fileOffset + t.byteCount)])) }
    }
}

/// Bounds-checked little-endian reader over the file bytes.
struct GGUFCursor {
    let data: Data
    let path: String
    var offset = 0

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, offset + n <= data.count else { throw truncated() }
        defer { offset += n }
        return [UInt8](data[(data.startIndex + offset)..<(data.startIndex + offset + n)])
    }

    func truncated() -> ForgeError { ForgeError.file(path, "truncated or corrupt GGUF: a read at byte \(offset) runs past the end (\(data.count) bytes)") }

    mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let n = MemoryLayout<T>.size
        guard offset + n <= data.count else { throw truncated() }
        let v = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        offset += n
        return T(littleEndian: v)
    }
    mutating func u32() throws -> UInt32 { try load(UInt32.self) }
    mutating func u64() throws -> UInt64 { try load(UInt64.self) }

    mutating func string() throws -> String {
        let n = try u64()
        guard n <= UInt64(data.count - offset) else { throw truncated() }
        let start = data.startIndex + offset
        offset += Int(n)
        return String(decoding: data[start..<(start + Int(n))], as: UTF8.self)
    }

    mutating func value(type: UInt32, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try load(UInt8.self)))
        case 1: return .int(Int64(try load(Int8.self)))
        case 2: return .uint(UInt64(try load(UInt16.self)))
        case 3: return .int(Int64(try load(Int16.self)))
        case 4: return .uint(UInt64(try load(UInt32.self)))
        case 5: return .int(Int64(try load(Int32.self)))
        case 6: return .float(Double(Float(bitPattern: try load(UInt32.self))))
        case 7: return .bool(try load(UInt8.self) != 0)
        case 8: return .string(try string())
        case 9:
            guard depth < 4 else { throw ForgeError.file(path, "corrupt GGUF: arrays nested too deeply") }
            let elementType = try u32()
            let count = try u64()
            guard count <= UInt64(data.count - offset) else { throw truncated() }
            var out: [GGUFValue] = []
            out.reserveCapacity(Int(count))
            for _ in 0..<count { out.append(try value(type: elementType, depth: depth + 1)) }
            return .array(out)
        case 10: return .uint(try load(UInt64.self))
        case 11: return .int(try load(Int64.self))
        case 12: return .float(Double(bitPattern: try load(UInt64.self)))
        default: throw ForgeError.file(path, "corrupt GGUF: unknown metadata value type \(type) at byte \(offset)")
        }
    }
}
