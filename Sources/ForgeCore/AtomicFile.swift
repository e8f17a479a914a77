// AtomicFile: outputs appear whole or not at all (temp file, fsync, rename, fsync the folder),
// so a crash or Ctrl-C mid-write never replaces a good file with a broken one.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sequential writer over a file descriptor, used inside `AtomicFile.write`.
public final class FileWriter {
    let fd: Int32
    let path: String
    public private(set) var bytesWritten = 0

    init(fd: Int32, path: String) { self.fd = fd; self.path = path }

    /// Writes raw bytes in full.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc_write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw ForgeError.file(path, "write failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        bytesWritten += bytes.count
    }

    public func write(_ data: Data) throws { try data.withUnsafeBytes { try write($0) } }
    public func write(_ string: String) throws { try write(Data(string.utf8)) }
}

@inline(__always) private func Glibc_write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, p, n)
    #else
    return Darwin.write(fd, p, n)
    #endif
}

/// Crash-safe whole-file writes.
public enum AtomicFile {
    /// Writes `path` through `body` into a temporary sibling, then renames it into place.
    public static func write(_ path: String, _ body: (FileWriter) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw ForgeError.file(path, "cannot create: \(String(cString: strerror(errno)))")
        }
        do {
            try body(FileWriter(fd: fd, path: path))
            guard fsync(fd) == 0 else { throw ForgeError.file(path, "fsync failed") }
            close(fd)
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw ForgeError.file(path, "rename failed: \(String(cString: strerror(errno)))")
        }
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// Writes `data` to `path` atomically.
    public static func write(_ path: String, data: Data) throws {
        try write(path) { try $0.write(data) }
    }

    /// Writes a UTF-8 string to `path` atomically.
    public static func write(_ path: String, string: String) throws {
        try write(path, data: Data(string.utf8))
    }
}
