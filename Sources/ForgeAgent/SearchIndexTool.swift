// SearchIndexTool: the built-in `search_index`, the nearest chunks of a retrieval index (forge rag index) to a query,
// numbered, with their document and section and score.
import ForgeCore
import ForgeRetrieval
import ForgeTokenizer
import ForgeTools
import Foundation

/// The built-in `search_index` tool over one index.
public final class SearchIndexTool: AgentTool {
    let retriever: Retriever
    /// Chunks returned when the model does not say.
    public let defaultK: Int
    public let definition: ToolDefinition

    public init(retriever: Retriever, k: Int = 4) {
        (self.retriever, defaultK) = (retriever, k)
        definition = ToolDefinition(
            name: "search_index", description: "Searches the document index and returns the passages closest to the query.",
            parameters: stringParameters([("query", "What to look for")],
                                         optional: [("k", .dict(JinjaDict([("type", .string("integer")),
                                                                           ("description", .string("How many passages (1-20)"))])))]))
    }

    public func call(_ arguments: JinjaDict) async throws -> String {
        let query = try arguments.string("query")
        let k = min(max(try arguments.int("k", default: defaultK), 1), 20)
        let hits = try retriever.search(query, k: k)
        guard !hits.isEmpty else { return "No passages found." }
        return try hits.enumerated().map { n, h in
            "[\(n + 1)] \(try retriever.label(h)) (score \(String(format: "%.3f", h.score)))\n\(h.text)"
        }.joined(separator: "\n\n")
    }
}
