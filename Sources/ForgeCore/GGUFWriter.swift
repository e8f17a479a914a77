// GGUFWriter: writes GGUF version 3 files as ggml's gguf writer lays them out: header, metadata in insertion
// order (setting a key again moves it to the end, as gguf_set_val_* does), tensor infos, zero padding to the
// alignment, then each tensor's data padded to the alignment. Written atomically (temp file + rename), the
// data streamed tensor by tensor so a model never has to be whole in memory.
import Foundation

/// A metadata value with the GGUF type it is written as.
public indirect enum GGUFTypedValue: Sendable {
    case u8(UInt8), i8(Int8), u16(UInt16), i16(Int16), u32(UInt32), i32(Int32), f32(Float), bool(Bool), string(String)
    case u64(UInt64), i64(Int64), f64(Double)
    /// An array of one element type (ggml's type id) holding values of that type.
    case array(elementType: UInt32, [GGUFTypedValue])

    public static func strings(_ s: [String]) -> GGUFTypedValue { .array(elementType: 8, s.map { .string($0) }) }
    public static func int32s(_ v: [Int32]) -> GGUFTypedValue { .array(elementType: 5, v.map { .i32($0) }) }
    public static func float32s(_ v: [Float]) -> GGUFTypedValue { .array(elementType: 6, v.map { .f32($0) }) }

    var typeID: UInt32 {
        switch self {
        case .u8: return 0
        case .i8: return 1
        case .u16: return 2
        case .i16: return 3
        case .u32: return 4
        case .i32: return 5
        case .f32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .u64: return 10
        case .i64: return 11
        case .f64: return 12
        }
    }

    /// The type id followed by the value, as stored after the key.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        GGUFWriter.append(typeID, to: &out)
        appendPayload(to: &out)
        return out
    }

    func appendPayload(to out: inout [UInt8]) {
        switch self {
        case .u8(let v): out.append(v)
        case .i8(let v): out.append(UInt8(bitPattern: v))
        case .u16(let v): GGUFWriter.append(v, to: &out)
        case .i16(let v): GGUFWriter.append(UInt16(bitPattern: v), to: &out)
        case .u32(let v): GGUFWriter.append(v, to: &out)
        case .i32(let v): GGUFWriter.append(UInt32(bitPattern: v), to: &out)
        case .f32(let v): GGUFWriter.append(v.bitPattern, to: &out)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let s): GGUFWriter.appendString(s, to: &out)
        case .u64(let v): GGUFWriter.append(v, to: &out)
        case .i64(let v): GGUFWriter.append(UInt64(bitPattern: v), to: &out)
        case .f64(let v): GGUFWriter.append(v.bitPattern, to: &out)
        case .array(let type, let values):
            GGUFWriter.append(type, to: &out)
            GGUFWriter.append(UInt64(values.count), to: &out)
            for v in values {
                precondition(v.typeID == type, "GGUF array of type \(type) holds a value of type \(v.typeID)")
                v.appendPayload(to: &out)
            }
        }
    }
}

/// Builds and writes one GGUF file.
public struct GGUFWriter {
    /// One tensor to write: its name, GGUF dims (fastest first), type, and a producer of its bytes.
    public struct Tensor {
        public let name: String
        public let dims: [Int]
        public let type: GGMLType
        public let byteCount: Int
        /// Called once, in file order, when the tensor's bytes are due.
        public let bytes: () throws -> [UInt8]

        public init(name: String, dims: [Int], type: GGMLType, bytes: @escaping () throws -> [UInt8]) {
            self.name = name
            self.dims = dims
            self.type = type
            let n = dims.reduce(1, *)
            self.byteCount = n / type.block.elements * type.block.bytes
            self.bytes = bytes
        }
    }

    public private(set) var metadata: [(key: String, typedValue: [UInt8])] = []
    public private(set) var tensors: [Tensor] = []
    public var alignment = 32

    public init() {}

    /// Sets `key` (an existing one is removed first, so it moves to the end, as ggml's gguf_set_val_* does).
    public mutating func set(_ key: String, _ value: GGUFTypedValue) { setEncoded(key, value.encoded) }

    /// Sets `key` to an already encoded (type id + value) entry, e.g. copied from another file.
    public mutating func setEncoded(_ key: String, _ typedValue: [UInt8]) {
        remove(key)
        metadata.append((key, typedValue))
        if key == "general.alignment", typedValue.count == 8, typedValue[0] == 4 {
            alignment = Int(typedValue[4]) | Int(typedValue[5]) << 8 | Int(typedValue[6]) << 16 | Int(typedValue[7]) << 24
        }
    }

    public mutating func remove(_ key: String) { metadata.removeAll { $0.key == key } }

    public mutating func add(_ tensor: Tensor) throws {
        guard !tensors.contains(where: { $0.name == tensor.name }) else { throw ForgeError("GGUF: tensor '\(tensor.name)' added twice") }
        guard tensor.dims.reduce(1, *) % tensor.type.block.elements == 0, tensor.dims.first.map({ $0 % tensor.type.block.elements == 0 }) ?? false else {
            throw ForgeError("GGUF: tensor '\(tensor.name)' with rows of \(tensor.dims.first ?? 0) values cannot be stored as \(tensor.type) (blocks of \(tensor.type.block.elements))")
        }
        tensors.append(tensor)
    }

    /// The header, metadata and tensor infos, padded to the alignment.
    public func header() -> [UInt8] {
        var out: [UInt8] = Array("GGUF".utf8)
        GGUFWriter.append(UInt32(3), to: &out)
        GGUFWriter.append(UInt64(tensors.count), to: &out)
        GGUFWriter.append(UInt64(metadata.count), to: &out)
        for (key, value) in metadata {
            GGUFWriter.appendString(key, to: &out)
            out += value
        }
        var offset = 0
        for t in tensors {
            GGUFWriter.appendString(t.name, to: &out)
            GGUFWriter.append(UInt32(t.dims.count), to: &out)
            for d in t.dims { GGUFWriter.append(UInt64(d), to: &out) }
            GGUFWriter.append(t.type.rawValue, to: &out)
            GGUFWriter.append(UInt64(offset), to: &out)
            offset += padded(t.byteCount)
        }
        out += [UInt8](repeating: 0, count: padded(out.count) - out.count)
        return out
    }

    func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// Writes the file atomically; `progress` is called after each tensor with (index, tensor).
    public func write(to path: String, progress: (Int, Tensor) -> Void = { _, _ in }) throws {
        try AtomicFile.write(path) { w in
            let head = header()
            try head.withUnsafeBytes { try w.write($0) }
            for (i, t) in tensors.enumerated() {
                var bytes = try t.bytes()
                guard bytes.count == t.byteCount else {
                    throw ForgeError.file(path, "tensor '\(t.name)' produced \(bytes.count) bytes, expected \(t.byteCount)")
                }
                bytes += [UInt8](repeating: 0, count: padded(bytes.count) - bytes.count)
                try bytes.withUnsafeBytes { try w.write($0) }
                progress(i, t)
            }
        }
    }

    static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }

    static func appendString(_ s: String, to out: inout [UInt8]) {
        let u = Array(s.utf8)
        append(UInt64(u.count), to: &out)
        out += u
    }
}
