// AgentToolset: the tools `forge agent` offers, from its options: calculator always, read_file with a folder,
// search_index with an index, and every tool of every MCP server started (a name already taken gets the server's
// name in front).
import ForgeCore
import ForgeRetrieval
import Foundation

/// The tools of one agent run and the MCP servers behind some of them.
public struct AgentToolset {
    public var tools: [any AgentTool] = []
    public var servers: [MCPClient] = []

    /// Built-in tools as asked, then the MCP servers' tools (each server started and listed).
    public init(files: String? = nil, maxFileBytes: Int = 64 * 1024, index: String? = nil, embedder: String? = nil, k: Int = 4,
                mcp: [String] = [], mcpTimeout: Double = 60) async throws {
        tools.append(CalculatorTool())
        if let files { tools.append(try ReadFileTool(folder: files, maxBytes: maxFileBytes)) }
        if let index { tools.append(SearchIndexTool(retriever: try Retriever(index: index, embedder: embedder), k: k)) }
        for command in mcp {
            let client = try await MCPClient(command: command, timeout: mcpTimeout)
            servers.append(client)
            for definition in try await client.listTools() {
                var name = definition.name
                if tools.contains(where: { $0.definition.name == name }) {
                    name = String((client.serverName.isEmpty ? "mcp" : client.serverName).map { $0.isLetter || $0.isNumber ? $0 : "_" }) + "_" + name
                }
                tools.append(MCPTool(client: client, definition: definition, exposedAs: name))
            }
        }
    }

    /// Ends the MCP servers.
    public func close() { servers.forEach { $0.close() } }
}
