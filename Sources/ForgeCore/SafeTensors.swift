// SafeTensors: the Hugging Face tensor file format.
//
// Layout: u64 little-endian header length N, N bytes of JSON
// ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}),
// then the raw little-endian data, offsets relative to its start. Forge reads F32, F16, BF16 and
// F64 into Float32 and writes F32. Files Forge writes carry a checksum of the data in the
// metadata ("forge.fnv1a64") so that a corrupted checkpoint is caught, not trained on.
import Foundation

/// A set of named Float32 tensors and string metadata, as stored in a `.safetensors` file.
public struct SafeTensors {
    public var tensors: [String: Tensor]
    /// Names in file order.
    public var names: [String]
    public var metadata: [String: String]

    public init(tensors: [(String, Tensor)], metadata: [String: String] = [:]) {
        self.tensors = Dictionary(tensors, uniquingKeysWith: { a, _ in a })
        self.names = tensors.map(\.0)
        self.metadata = metadata
    }

    public subscript(name: String) -> Tensor? { tensors[name] }

    static let checksumKey = "forge.fnv1a64"

    // MARK: - Writing

    /// Writes the tensors as F32 to `path`, atomically.
    public func write(to path: String) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for name in names {
            let t = tensors[name]!
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + t.count * 4]]
            offset += t.count * 4
        }
        var hash = FNV1a64()
        for name in names {
            let t = tensors[name]!
            hash.update(UnsafeRawBufferPointer(start: t.data, count: t.count * 4))
        }
        var meta = metadata
        meta[Self.checksumKey] = String(hash.value, radix: 16)
        header["__metadata__"] = meta
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        try AtomicFile.write(path) { w in
            var n = UInt64(json.count).littleEndian
            try withUnsafeBytes(of: &n) { try w.write($0) }
            try w.write(json)
            for name in names {
                let t = tensors[name]!
                try w.write(UnsafeRawBufferPointer(start: t.data, count: t.count * 4))
            }
        }
    }

    // MARK: - Reading

    /// Reads every tensor in `path` as Float32 (integer buffers converted); errors name the file and the problem.
    public static func read(from path: String) throws -> SafeTensors {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ForgeError.file(path, FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file")
        }
        return try parse(data, path: path)
    }

    /// The `__metadata__` map of `path`, read from its header alone (the tensors are not read).
    public static func readMetadata(from path: String) throws -> [String: String] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ForgeError.file(path, FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file")
        }
        defer { try? handle.close() }
        guard let prefix = try handle.read(upToCount: 8), prefix.count == 8 else { throw ForgeError.file(path, "truncated: no safetensors header") }
        let headerLength = prefix.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength < 100_000_000, let header = try handle.read(upToCount: Int(headerLength)), header.count == Int(headerLength),
              let object = (try? JSONSerialization.jsonObject(with: header)) as? [String: Any] else {
            throw ForgeError.file(path, "corrupt or truncated: the safetensors header is not a JSON object")
        }
        guard let m = object["__metadata__"] else { return [:] }
        guard let metadata = m as? [String: String] else { throw ForgeError.file(path, "corrupt: __metadata__ is not a string map") }
        return metadata
    }

    /// Parses the bytes of a safetensors file; `path` is only used in error messages.
    public static func parse(_ data: Data, path: String) throws -> SafeTensors {
        guard data.count >= 8 else { throw ForgeError.file(path, "truncated: \(data.count) bytes, no safetensors header") }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8), headerLength < 100_000_000 else {
            throw ForgeError.file(path, "corrupt or truncated: header length \(headerLength) exceeds file size \(data.count)")
        }
        let headerBytes = data.subdata(in: 8..<(8 + Int(headerLength)))
        guard let header = (try? JSONSerialization.jsonObject(with: headerBytes)) as? [String: Any] else {
            throw ForgeError.file(path, "corrupt: safetensors header is not a JSON object")
        }
        let base = 8 + Int(headerLength)
        let dataBytes = data.count - base
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let m = m as? [String: String] else { throw ForgeError.file(path, "corrupt: __metadata__ is not a string map") }
            metadata = m
        }
        var entries: [(name: String, dtype: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw ForgeError.file(path, "corrupt: bad header entry for tensor '\(name)'") }
            guard let width = dtypeWidth[dtype] else {
                throw ForgeError.file(path, "tensor '\(name)' has unsupported dtype \(dtype)")
            }
            let n = shape.reduce(1, *)
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[1] - offsets[0] == n * width else {
                throw ForgeError.file(path, "corrupt: tensor '\(name)' shape \(shape) does not match its byte range \(offsets)")
            }
            guard offsets[1] <= dataBytes else {
                throw ForgeError.file(path, "truncated: tensor '\(name)' ends at byte \(offsets[1]) of a \(dataBytes)-byte data section")
            }
            entries.append((name, dtype, shape, offsets[0], offsets[1]))
        }
        entries.sort { $0.begin < $1.begin }
        if let expected = metadata[checksumKey] {
            var hash = FNV1a64()
            data.withUnsafeBytes { raw in
                for e in entries { hash.update(UnsafeRawBufferPointer(rebasing: raw[(base + e.begin)..<(base + e.end)])) }
            }
            guard String(hash.value, radix: 16) == expected else {
                throw ForgeError.file(path, "corrupt: data checksum mismatch (the file was damaged after it was written)")
            }
        }
        var tensors: [(String, Tensor)] = []
        data.withUnsafeBytes { raw in
            for e in entries {
                let t = Tensor(shape: e.shape, zeroed: false)
                let src = raw.baseAddress! + base + e.begin
                convertToFloat(src, dtype: e.dtype, count: t.count, into: t.data)
                tensors.append((e.name, t))
            }
        }
        return SafeTensors(tensors: tensors, metadata: metadata)
    }

    static let dtypeWidth: [String: Int] = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4]

    static func convertToFloat(_ src: UnsafeRawPointer, dtype: String, count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch dtype {
        case "F32":
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case "F64":
            for i in 0..<count { dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case "BF16":
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
        case "F16":
            #if arch(arm64) || arch(x86_64)
            for i in 0..<count { dst[i] = Float(Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
            #endif
        case "I64":  // integer buffers (e.g. BERT's position_ids), as floats
            for i in 0..<count { dst[i] = Float(Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case "I32":
            for i in 0..<count { dst[i] = Float(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        default:
            fatalError("unreachable dtype \(dtype)")
        }
    }
}

/// 64-bit FNV-1a over 8-byte words (bytes for the tail): a fast corruption check, not a MAC.
public struct FNV1a64 {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        let words = bytes.count / 8
        for i in 0..<words {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) &* 0x100_0000_01b3
        }
        for i in (words * 8)..<bytes.count { h = (h ^ UInt64(bytes[i])) &* 0x100_0000_01b3 }
        value = h
    }
}
