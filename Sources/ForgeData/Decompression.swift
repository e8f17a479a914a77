// Decompression: files read as byte streams, plain or compressed (.gz through zlib, .zst through
// libzstd), in bounded chunks. A damaged or truncated stream is an error naming the file.
import CZlib
import CZstd
import ForgeCore
import Foundation

/// A stream of bytes read in chunks.
protocol ByteStream {
    /// The next chunk (empty at the end).
    mutating func next() throws -> [UInt8]
}

/// Opens `path` as a byte stream, decompressing by extension.
func openStream(_ path: String, chunk: Int = 1 << 20) throws -> ByteStream {
    guard let h = FileHandle(forReadingAtPath: path) else { throw ForgeError.file(path, "cannot be read") }
    let plain = PlainStream(handle: h, chunk: chunk)
    if path.hasSuffix(".gz") { return try GzipStream(source: plain, path: path) }
    if path.hasSuffix(".zst") || path.hasSuffix(".zstd") { return ZstdStream(source: plain, path: path) }
    return plain
}

/// Whole files, decompressed by extension (.gz, .zst), for readers outside this module.
public enum Decompression {
    /// The bytes of `path` after decompression; more than `limit` bytes is an error.
    public static func read(_ path: String, limit: Int = 1 << 30) throws -> [UInt8] { try readAll(path, limit: limit) }
}

/// Reads a whole (decompressed) file, refusing more than `limit` bytes.
func readAll(_ path: String, limit: Int) throws -> [UInt8] {
    var s = try openStream(path)
    var out: [UInt8] = []
    while true {
        let c = try s.next()
        if c.isEmpty { return out }
        out += c
        if out.count > limit { throw ForgeError.file(path, "larger than \(limit >> 20) MiB after decompression") }
    }
}

struct PlainStream: ByteStream {
    let handle: FileHandle
    let chunk: Int
    mutating func next() throws -> [UInt8] { [UInt8](handle.readData(ofLength: chunk)) }
}

/// gzip (and zlib) streams, including concatenated members.
final class GzipStream: ByteStream {
    var source: PlainStream
    let path: String
    var z = z_stream()
    var input: [UInt8] = []
    var inputPos = 0
    var finished = false

    init(source: PlainStream, path: String) throws {
        self.source = source
        self.path = path
        guard forge_inflate_init_gzip(&z) == Z_OK else { throw ForgeError.file(path, "zlib could not start") }
    }
    deinit { inflateEnd(&z) }

    func next() throws -> [UInt8] {
        if finished { return [] }
        var out = [UInt8](repeating: 0, count: 1 << 20)
        var produced = 0
        while produced == 0 {
            if inputPos >= input.count {
                input = try source.next()
                inputPos = 0
                if input.isEmpty {
                    finished = true
                    throw ForgeError.file(path, "truncated gzip stream (ends before the end of the compressed data)")
                }
            }
            let status: Int32 = input.withUnsafeMutableBufferPointer { inp in
                out.withUnsafeMutableBufferPointer { o in
                    z.next_in = inp.baseAddress! + inputPos
                    z.avail_in = UInt32(inp.count - inputPos)
                    z.next_out = o.baseAddress!
                    z.avail_out = UInt32(o.count)
                    let r = inflate(&z, Z_NO_FLUSH)
                    inputPos = inp.count - Int(z.avail_in)
                    produced = o.count - Int(z.avail_out)
                    return r
                }
            }
            if status == Z_STREAM_END {
                // Another gzip member may follow.
                if inputPos >= input.count {
                    input = try source.next()
                    inputPos = 0
                    if input.isEmpty { finished = true; break }
                }
                inflateReset(&z)
                if produced > 0 { break }
                continue
            }
            guard status == Z_OK || status == Z_BUF_ERROR else {
                finished = true
                throw ForgeError.file(path, "corrupt gzip data (zlib error \(status))")
            }
        }
        return Array(out[0..<produced])
    }
}

/// Zstandard streams.
final class ZstdStream: ByteStream {
    var source: PlainStream
    let path: String
    let ctx: OpaquePointer
    var input: [UInt8] = []
    var pos = 0
    var lastResult = 0
    var finished = false

    init(source: PlainStream, path: String) {
        self.source = source
        self.path = path
        ctx = ZSTD_createDStream()
        ZSTD_initDStream(ctx)
    }
    deinit { ZSTD_freeDStream(ctx) }

    func next() throws -> [UInt8] {
        if finished { return [] }
        var out = [UInt8](repeating: 0, count: Int(ZSTD_DStreamOutSize()))
        var produced = 0
        while produced == 0 {
            if pos >= input.count {
                input = try source.next()
                pos = 0
                if input.isEmpty {
                    finished = true
                    if lastResult != 0 { throw ForgeError.file(path, "truncated zstd stream") }
                    return []
                }
            }
            let r: Int = input.withUnsafeBufferPointer { inp in
                out.withUnsafeMutableBufferPointer { o in
                    var ib = ZSTD_inBuffer(src: inp.baseAddress, size: inp.count, pos: pos)
                    var ob = ZSTD_outBuffer(dst: o.baseAddress, size: o.count, pos: 0)
                    let r = ZSTD_decompressStream(ctx, &ob, &ib)
                    pos = ib.pos
                    produced = ob.pos
                    return r
                }
            }
            if ZSTD_isError(r) != 0 {
                finished = true
                throw ForgeError.file(path, "corrupt zstd data (\(String(cString: ZSTD_getErrorName(r))))")
            }
            lastResult = r
        }
        return Array(out[0..<produced])
    }
}
