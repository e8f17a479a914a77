// ReadFileTool: the built-in `read_file`, confined to one folder. A path is resolved with every symlink and ".."
// followed (realpath) and refused unless it lands inside the folder; the file opened is checked again through
// /proc/self/fd, so a symlink swapped in between does not lead out either. Text files only, at most `maxBytes`
// (longer ones are cut, with a note); a folder gives its listing.
import ForgeCore
import ForgeTokenizer
import ForgeTools
import Foundation

/// The built-in `read_file` tool over one folder.
public final class ReadFileTool: AgentTool {
    /// The folder, as its real path.
    public let root: String
    public let maxBytes: Int
    public let definition: ToolDefinition

    public init(folder: String, maxBytes: Int = 64 * 1024) throws {
        guard let real = realpath(folder, nil) else { throw ForgeError.file(folder, "no such folder") }
        root = String(cString: real)
        free(real)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw ForgeError.file(folder, "not a folder")
        }
        self.maxBytes = maxBytes
        definition = ToolDefinition(
            name: "read_file", description: "Reads a text file (or lists a folder) inside the files folder. Paths are relative to it.",
            parameters: stringParameters([("path", "Path relative to the files folder, e.g. \"notes/todo.md\" or \".\"")]))
    }

    public func call(_ arguments: JinjaDict) async throws -> String { try read(try arguments.string("path")) }

    /// The file's text (or the folder's listing), or an error saying why not.
    public func read(_ path: String) throws -> String {
        guard !path.isEmpty, !path.contains("\0") else { throw ForgeError("read_file: an empty or invalid path") }
        let candidate = path.hasPrefix("/") ? path : root + "/" + path
        guard let real = realpath(candidate, nil) else { throw ForgeError("read_file: no such file: \(path)") }
        let resolved = String(cString: real)
        free(real)
        guard inside(resolved) else { throw ForgeError("read_file: \(path) is outside the files folder; refused") }
        let fd = open(resolved, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw ForgeError("read_file: cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // What was opened, whatever happened to the path since realpath.
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        if n > 0 {
            let opened = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard inside(opened) else { throw ForgeError("read_file: \(path) is outside the files folder; refused") }
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ForgeError("read_file: cannot stat \(path)") }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return try listing(resolved, path)
        case S_IFREG: break
        default: throw ForgeError("read_file: \(path) is not a regular file")
        }
        let size = Int(info.st_size)
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
        let data = try handle.read(upToCount: min(size, maxBytes)) ?? Data()
        guard !data.contains(0) else { throw ForgeError("read_file: \(path) is not a text file") }
        let text = String(decoding: data, as: UTF8.self)
        return size > maxBytes ? text + "\n[cut: the file has \(size) bytes; this is the first \(maxBytes)]" : text
    }

    func inside(_ resolved: String) -> Bool { resolved == root || resolved.hasPrefix(root == "/" ? "/" : root + "/") }

    func listing(_ resolved: String, _ path: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: resolved).sorted().filter { !$0.hasPrefix(".") }
        let shown = names.prefix(200).map { name -> String in
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: resolved + "/" + name, isDirectory: &isDir)
            return isDir.boolValue ? name + "/" : name
        }
        let more = names.count > 200 ? "\n[\(names.count - 200) more]" : ""
        return "Folder \(path): " + (shown.isEmpty ? "(empty)" : "\n" + shown.joined(separator: "\n")) + more
    }
}
