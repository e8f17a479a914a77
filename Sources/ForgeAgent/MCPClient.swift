// MCPClient: a Model Context Protocol server started as a child process and spoken to over its stdin/stdout through
// the official Swift SDK (modelcontextprotocol/swift-sdk, product "MCP": its Client and StdioTransport do initialize,
// notifications/initialized, tools/list and tools/call). Forge adds what a command-line agent needs around it: the
// process (started from a command line, its stderr kept for error messages, ended at close), a time limit on every
// request (the SDK has none; a server that hangs is disconnected, which fails what it owes), and conversions between
// the SDK's `Value` and the JSON values templates see. SIGPIPE is ignored so that a server that dies is an error, not
// the end of forge. (The SDK adds about 50 s to a clean debug build on one core: see docs/ARCHITECTURE.md, "MCP".)
import ForgeCore
import ForgeTokenizer
import ForgeTools
import Foundation
import MCP
import SystemPackage

/// One MCP server over stdio.
public final class MCPClient: @unchecked Sendable {
    /// The command line it was started with.
    public let command: [String]
    /// serverInfo.name from initialize.
    public private(set) var serverName = ""
    /// Seconds a request may take.
    public let timeout: Double

    let process = Process()
    let client = Client(name: "forge", version: ForgeVersion.string)
    let input: FileHandle
    let lock = NSLock()
    var stderrTail = Data()

    /// Starts `command` (a program and its arguments, split as a shell would split them) and initializes the session.
    public init(command line: String, timeout: Double = 60) async throws {
        command = try Self.split(line)
        guard !command.isEmpty else { throw ForgeError("--mcp: an empty command") }
        self.timeout = timeout
        signal(SIGPIPE, SIG_IGN)
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
        // A server that exits fails the requests it owes at once (the SDK would otherwise wait for their answers).
        let client = client
        process.terminationHandler = { _ in Task { await client.disconnect() } }
        do { try process.run() } catch { throw ForgeError("--mcp: cannot start \(command[0]): \(error)") }
        let transport = StdioTransport(input: FileDescriptor(rawValue: stdoutPipe.fileHandleForReading.fileDescriptor),
                                       output: FileDescriptor(rawValue: stdinPipe.fileHandleForWriting.fileDescriptor))
        serverName = try await bounded("initialize") { try await client.connect(transport: transport) }.serverInfo.name
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
            let (page, next) = try await bounded("tools/list") { [client, cursor] in try await client.listTools(cursor: cursor) }
            tools += page.map { ToolDefinition(name: $0.name, description: $0.description ?? "", parameters: Self.jinja($0.inputSchema)) }
            cursor = next.flatMap { $0.isEmpty ? nil : $0 }
        } while cursor != nil
        return tools
    }

    /// Calls a tool; the text of its content, and whether the server marked it an error.
    public func callTool(_ name: String, arguments: JinjaDict) async throws -> (text: String, isError: Bool) {
        let args = arguments.pairs.reduce(into: [String: Value]()) { $0[$1.0] = Self.value($1.1) }
        let (content, isError) = try await bounded("tools/call \(name)") { [client] in
            let r = try await client.callTool(name: name, arguments: args)
            return (r.content, r.isError)
        }
        let parts = content.map { item -> String in
            switch item {
            case .text(let text, _, _): return text
            case .image(_, let mime, _, _), .audio(_, let mime, _, _): return "[\(mime) content]"
            case .resource: return "[embedded resource]"
            case .resourceLink(let uri, _, _, _, _, _): return "[resource \(uri)]"
            }
        }
        return (parts.joined(separator: "\n"), isError ?? false)
    }

    /// Runs one SDK request within `timeout`; on time-out the session is disconnected (failing what it owes).
    func bounded<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let seconds = timeout, client = client, started = ContinuousClock.now
        do {
            return try await withThrowingTaskGroup(of: T.self) { group in
                group.addTask { try await body() }
                group.addTask {
                    try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                    await client.disconnect()
                    throw ForgeError("\(what) took longer than \(Int(seconds)) s")
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch {
            // On time-out, the disconnect may fail the request before the timer's own error arrives.
            var reason = (error as? MCPError).map { "\($0.errorDescription ?? "\($0)")" } ?? "\(error)"
            if ContinuousClock.now - started >= .seconds(seconds) { reason = "\(what) took longer than \(Int(seconds)) s" }
            if !process.isRunning { reason += " (the server exited with status \(process.terminationStatus))" }
            throw ForgeError("MCP server \(serverName.isEmpty ? command.joined(separator: " ") : serverName): \(reason)\(stderrNote)")
        }
    }

    var stderrNote: String {
        let tail = lock.withLock { String(decoding: stderrTail, as: UTF8.self) }.trimmingCharacters(in: .whitespacesAndNewlines)
        return tail.isEmpty ? "" : "; its stderr ends: " + String(tail.suffix(600))
    }

    /// An SDK value as a template value (object keys sorted: the SDK keeps none of their order).
    static func jinja(_ v: Value) -> JinjaValue {
        switch v {
        case .null: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .data(_, let d): return .string(d.base64EncodedString())
        case .array(let a): return .list(a.map(jinja))
        case .object(let o): return .dict(JinjaDict(o.keys.sorted().map { ($0, jinja(o[$0]!)) }))
        }
    }

    /// A template value as an SDK value.
    static func value(_ v: JinjaValue) -> Value {
        switch v {
        case .undefined, .none, .namespace, .function: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .list(let l): return .array(l.map(value))
        case .dict(let d): return .object(d.pairs.reduce(into: [String: Value]()) { $0[$1.0] = value($1.1) })
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
