// MCPClient: a Model Context Protocol server started as a child process and spoken to over its stdin/stdout
// (JSON-RPC 2.0, one message per line): initialize, notifications/initialized, tools/list (all pages), tools/call.
// Requests the server sends us get "method not found" (ping gets its empty result); its notifications are ignored.
//
// Why not the official Swift SDK (modelcontextprotocol/swift-sdk 0.12.1, product "MCP"): it builds on Linux, but this
// client needs four methods of it, and the SDK (~530 KB of Swift in one module plus swift-system) would be built by
// every CI run from a clean clone on 2 cores; see docs/ARCHITECTURE.md ("MCP") for the measured cost.
import ForgeCore
import ForgeTokenizer
import ForgeTools
import Foundation

/// One MCP server over stdio.
public final class MCPClient: @unchecked Sendable {
    /// The command line it was started with.
    public let command: [String]
    /// serverInfo.name from initialize.
    public private(set) var serverName = ""
    /// Seconds a request may take.
    public var timeout: Double

    let process = Process()
    let input: FileHandle
    let lock = NSLock()
    var nextID = 1
    var pending: [Int: CheckedContinuation<Reply, any Error>] = [:]
    var stderrTail = Data()
    var exited = false

    /// Starts `command` (a program and its arguments, split as a shell would split them) and initializes the session.
    public init(command line: String, timeout: Double = 60) async throws {
        command = try Self.split(line)
        guard !command.isEmpty else { throw ForgeError("--mcp: an empty command") }
        self.timeout = timeout
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let stdinPipe = Pipe(), stdoutPipe = Pipe(), stderrPipe = Pipe()
        (process.standardInput, process.standardOutput, process.standardError) = (stdinPipe, stdoutPipe, stderrPipe)
        input = stdinPipe.fileHandleForWriting
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { h.readabilityHandler = nil; return }
            self.lock.withLock { self.stderrTail = (self.stderrTail + d).suffix(4096) }
        }
        process.terminationHandler = { [weak self] _ in self?.failAll("the MCP server exited") }
        do { try process.run() } catch { throw ForgeError("--mcp: cannot start \(command[0]): \(error)") }
        let output = stdoutPipe.fileHandleForReading
        Thread.detachNewThread { [weak self] in self?.readLoop(output) }
        let result = try await request("initialize", .dict(JinjaDict([
            ("protocolVersion", .string("2025-06-18")), ("capabilities", .dict(JinjaDict())),
            ("clientInfo", .dict(JinjaDict([("name", .string("forge")), ("version", .string(ForgeVersion.string))]))),
        ])))
        if case .dict(let r) = result, case .dict(let info)? = r["serverInfo"], case .string(let name)? = info["name"] { serverName = name }
        try send(.dict(JinjaDict([("jsonrpc", .string("2.0")), ("method", .string("notifications/initialized"))])))
    }

    deinit { close() }

    /// Closes its input and ends the server (SIGTERM after a second, as the MCP spec suggests).
    public func close() {
        try? input.close()
        guard process.isRunning else { return }
        let deadline = Date().addingTimeInterval(1)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { process.terminate() }
    }

    /// The server's tools (every page of tools/list).
    public func listTools() async throws -> [ToolDefinition] {
        var tools: [ToolDefinition] = [], cursor: String?
        repeat {
            let params = cursor.map { JinjaValue.dict(JinjaDict([("cursor", .string($0))])) } ?? .dict(JinjaDict())
            guard case .dict(let page) = try await request("tools/list", params), case .list(let list)? = page["tools"] else {
                throw ForgeError("MCP server \(serverName): tools/list gave no tools")
            }
            for case .dict(let t) in list {
                guard case .string(let name)? = t["name"] else { continue }
                var description = ""
                if case .string(let d)? = t["description"] { description = d }
                tools.append(ToolDefinition(name: name, description: description, parameters: t["inputSchema"] ?? .dict(JinjaDict())))
            }
            if case .string(let next)? = page["nextCursor"], !next.isEmpty { cursor = next } else { cursor = nil }
        } while cursor != nil
        return tools
    }

    /// Calls a tool; the text of its content, and whether the server marked it an error.
    public func callTool(_ name: String, arguments: JinjaDict) async throws -> (text: String, isError: Bool) {
        let result = try await request("tools/call", .dict(JinjaDict([("name", .string(name)), ("arguments", .dict(arguments))])))
        guard case .dict(let r) = result else { throw ForgeError("MCP server \(serverName): tools/call gave no result") }
        var parts: [String] = []
        if case .list(let content)? = r["content"] {
            for case .dict(let item) in content {
                switch item["type"] {
                case .string("text")?: if case .string(let t)? = item["text"] { parts.append(t) }
                case .string(let type)?: parts.append("[\(type) content]")
                default: break
                }
            }
        }
        if parts.isEmpty, let structured = r["structuredContent"] { parts.append(structured.jsonText) }
        return (parts.joined(separator: "\n"), r["isError"] == .bool(true))
    }

    // MARK: - JSON-RPC

    /// A response's result (JSON values only: unchecked Sendable).
    struct Reply: @unchecked Sendable { let value: JinjaValue }

    func request(_ method: String, _ params: JinjaValue) async throws -> JinjaValue {
        let id = lock.withLock { () -> Int in nextID += 1; return nextID - 1 }
        let message = JinjaValue.dict(JinjaDict([("jsonrpc", .string("2.0")), ("id", .int(id)), ("method", .string(method)), ("params", params)]))
        let seconds = timeout
        let timer = Task { [weak self] in
            try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            self?.finish(id, .failure(ForgeError("MCP server: \(method) took longer than \(Int(seconds)) s")))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<Reply, any Error>) in
            let gone = lock.withLock { () -> Bool in
                if exited { return true }
                pending[id] = c
                return false
            }
            if gone { c.resume(throwing: ForgeError("the MCP server \(command.joined(separator: " ")) is not running\(stderrNote)")); return }
            do { try send(message) } catch { finish(id, .failure(error)) }
        }.value
    }

    func send(_ message: JinjaValue) throws {
        do { try input.write(contentsOf: Data((message.jsonText + "\n").utf8)) }
        catch { throw ForgeError("cannot write to the MCP server \(command.joined(separator: " ")): \(error)") }
    }

    func finish(_ id: Int, _ result: Result<Reply, any Error>) {
        guard let c = lock.withLock({ pending.removeValue(forKey: id) }) else { return }
        c.resume(with: result)
    }

    func failAll(_ why: String) {
        let waiting = lock.withLock { () -> [CheckedContinuation<Reply, any Error>] in
            exited = true
            defer { pending.removeAll() }
            return Array(pending.values)
        }
        let error = ForgeError("\(why) (\(command.joined(separator: " ")))\(stderrNote)")
        waiting.forEach { $0.resume(throwing: error) }
    }

    var stderrNote: String {
        let tail = lock.withLock { String(decoding: stderrTail, as: UTF8.self) }.trimmingCharacters(in: .whitespacesAndNewlines)
        return tail.isEmpty ? "" : "; its stderr ends: " + String(tail.suffix(600))
    }

    /// Reads messages line by line until the server closes its output.
    func readLoop(_ output: FileHandle) {
        var buffer = Data()
        while true {
            let chunk = output.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                handle(String(decoding: line, as: UTF8.self))
            }
        }
        failAll("the MCP server closed its output")
    }

    func handle(_ line: String) {
        guard !line.trimmingCharacters(in: .whitespaces).isEmpty,
              case .dict(let m)? = try? LenientJSON.parse(line).value else { return }
        if case .string(let method)? = m["method"] {
            // A request from the server: we offer no client features.
            guard let id = m["id"] else { return }
            let reply: (String, JinjaValue) = method == "ping" ? ("result", .dict(JinjaDict()))
                : ("error", .dict(JinjaDict([("code", .int(-32601)), ("message", .string("method not found: \(method)"))])))
            try? send(.dict(JinjaDict([("jsonrpc", .string("2.0")), ("id", id), reply])))
            return
        }
        guard case .int(let id)? = m["id"] else { return }
        if case .dict(let e)? = m["error"] {
            var text = "error"
            if case .string(let s)? = e["message"] { text = s }
            finish(id, .failure(ForgeError("MCP server \(serverName): \(text)")))
        } else {
            finish(id, .success(Reply(value: m["result"] ?? .none)))
        }
    }

    /// Words of a command line: spaces separate, quotes ('…', "…") group, backslash escapes.
    public static func split(_ line: String) throws -> [String] {
        var words: [String] = [], word = "", inWord = false, quote: Character?, escaped = false
        for ch in line {
            if escaped { word.append(ch); escaped = false; inWord = true; continue }
            if ch == "\\" && quote != "'" { escaped = true; continue }
            if let q = quote {
                if ch == q { quote = nil } else { word.append(ch) }
                continue
            }
            if ch == "'" || ch == "\"" { quote = ch; inWord = true; continue }
            if ch.isWhitespace {
                if inWord { words.append(word); word = ""; inWord = false }
                continue
            }
            word.append(ch)
            inWord = true
        }
        guard quote == nil, !escaped else { throw ForgeError("--mcp: unbalanced quotes in \(line)") }
        if inWord { words.append(word) }
        return words
    }
}

/// An MCP server's tool offered to the model.
public final class MCPTool: AgentTool {
    public let client: MCPClient
    /// The name on the server (the model sees `definition.name`, which differs when two servers share a name).
    public let remoteName: String
    public let definition: ToolDefinition

    public init(client: MCPClient, definition: ToolDefinition, exposedAs name: String? = nil) {
        (self.client, remoteName) = (client, definition.name)
        var d = definition
        if let name { d.name = name }
        self.definition = d
    }

    public func call(_ arguments: JinjaDict) async throws -> String {
        let (text, isError) = try await client.callTool(remoteName, arguments: arguments)
        if isError { throw ForgeError(text.isEmpty ? "the tool reported an error" : text) }
        return text
    }
}
