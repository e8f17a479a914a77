// TokenShard: a flat file of token ids with a 32-byte header.
//
//   bytes 0..<8   magic "FORGETOK"
//   bytes 8..<12  format version (UInt32 LE) = 1
//   bytes 12..<16 bytes per token (UInt32 LE): 2 (uint16 ids) or 4 (uint32 ids)
//   bytes 16..<24 token count (UInt64 LE)
//   bytes 24..<28 vocabulary size the ids were made with (UInt32 LE; 0 if unknown)
//   bytes 28..<32 reserved (0)
// followed by the ids, little-endian. The file is memory-mapped, not copied.
import ForgeCore
import Foundation

/// One token shard, mapped read-only.
public struct TokenShard: Sendable {
    public static let magic = Array("FORGETOK".utf8)
    public static let headerSize = 32

    public let path: String
    public let count: Int
    public let bytesPerToken: Int
    public let vocabSize: Int
    let data: Data

    /// Opens and validates a shard; errors name the file and what is wrong with it.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw ForgeError.file(path, "no such token shard") }
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
            throw ForgeError.file(path, "cannot be read")
        }
        guard data.count >= Self.headerSize else {
            throw ForgeError.file(path, "truncated: \(data.count) bytes, shorter than the \(Self.headerSize)-byte shard header")
        }
        guard Array(data.prefix(8)) == Self.magic else { throw ForgeError.file(path, "not a Forge token shard (bad magic)") }
        let (version, width, count, vocab) = data.withUnsafeBytes { raw in
            (UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
             UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self)),
             UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
             UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self)))
        }
        guard version == 1 else { throw ForgeError.file(path, "unsupported shard version \(version)") }
        guard width == 2 || width == 4 else { throw ForgeError.file(path, "unsupported token width \(width) bytes") }
        let expected = UInt64(Self.headerSize) + count * UInt64(width)
        guard count < 1 << 40, UInt64(data.count) == expected else {
            throw ForgeError.file(path, "truncated or corrupt: header says \(count) tokens (\(expected) bytes) but the file has \(data.count) bytes")
        }
        self.path = path
        self.data = data
        self.count = Int(count)
        self.bytesPerToken = Int(width)
        self.vocabSize = Int(vocab)
    }

    /// Copies `n` ids starting at `start` into `out`.
    public func read(_ start: Int, _ n: Int, into out: UnsafeMutablePointer<Int32>) {
        precondition(start >= 0 && start + n <= count)
        data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + Self.headerSize
            if bytesPerToken == 2 {
                for i in 0..<n { out[i] = Int32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * (start + i), as: UInt16.self))) }
            } else {
                for i in 0..<n { out[i] = Int32(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * (start + i), as: UInt32.self))) }
            }
        }
    }

    /// Largest id in the shard (a full scan).
    public func maxToken() -> Int {
        var m: Int32 = 0
        var buf = [Int32](repeating: 0, count: 1 << 16)
        var i = 0
        while i < count {
            let n = min(buf.count, count - i)
            buf.withUnsafeMutableBufferPointer { read(i, n, into: $0.baseAddress!) }
            for j in 0..<n where buf[j] > m || buf[j] < 0 { m = buf[j] < 0 ? Int32.max : buf[j] }
            i += n
        }
        return Int(m)
    }

    /// Writes `tokens` as a shard at `path` (uint16 when every id fits, else uint32), atomically.
    public static func write(_ tokens: [Int32], vocabSize: Int, to path: String) throws {
        let width = vocabSize <= 65536 ? 2 : 4
        var header = Data(magic)
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        append(UInt32(1)); append(UInt32(width)); append(UInt64(tokens.count)); append(UInt32(vocabSize)); append(UInt32(0))
        var body = Data(count: tokens.count * width)
        body.withUnsafeMutableBytes { raw in
            for (i, t) in tokens.enumerated() {
                precondition(t >= 0 && Int(t) < vocabSize, "token \(t) outside vocabulary \(vocabSize)")
                if width == 2 { raw.storeBytes(of: UInt16(t).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                else { raw.storeBytes(of: UInt32(t).littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            }
        }
        try AtomicFile.write(path) { w in try w.write(header); try w.write(body) }
    }
}

/// Several shards read as one sequence of documents' tokens.
public struct TokenDataset: Sendable {
    public let shards: [TokenShard]
    public var count: Int { shards.reduce(0) { $0 + $1.count } }

    /// Opens shards from paths; a directory contributes its `*.bin` files in name order.
    public init(paths: [String]) throws {
        var files: [String] = []
        for p in paths {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: p).filter { $0.hasSuffix(".bin") }.sorted()
                guard !names.isEmpty else { throw ForgeError.file(p, "directory has no .bin token shards") }
                files += names.map { p + "/" + $0 }
            } else {
                files.append(p)
            }
        }
        guard !files.isEmpty else { throw ForgeError("no token shards given") }
        shards = try files.map(TokenShard.init(path:))
    }

    /// Checks that every id is below `vocabSize`.
    public func validate(vocabSize: Int) throws {
        for s in shards {
            if s.vocabSize > vocabSize { throw ForgeError.file(s.path, "made for vocabulary \(s.vocabSize), the model has \(vocabSize)") }
            let m = s.maxToken()
            if m >= vocabSize { throw ForgeError.file(s.path, "holds token id \(m), outside the model's vocabulary of \(vocabSize)") }
        }
    }

    /// Copies `n` consecutive ids starting at global position `start` (may span shards).
    public func read(_ start: Int, _ n: Int, into out: UnsafeMutablePointer<Int32>) {
        var pos = start, done = 0
        for s in shards {
            if pos >= s.count { pos -= s.count; continue }
            let k = min(n - done, s.count - pos)
            s.read(pos, k, into: out + done)
            done += k
            pos = 0
            if done == n { return }
        }
        precondition(done == n, "read past the end of the dataset")
    }
}
