// The /v1/embeddings part of GET /openapi.json, added when the server has an embedding model.
import Foundation

extension OpenAPIDocument {
    /// Adds POST /v1/embeddings and its schemas to a document made by `json(model:limits:)`.
    static func addEmbeddings(to doc: inout [String: Any], dimension: Int, maxInputs: Int) {
        func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }
        func error(_ d: String) -> [String: Any] { ["description": d, "content": ["application/json": ["schema": ref("Error")]]] }
        let tokens: [String: Any] = ["type": "array", "items": ["type": "integer", "minimum": 0], "minItems": 1]
        let request: [String: Any] = [
            "type": "object", "required": ["input"],
            "properties": [
                "input": ["oneOf": [["type": "string"], ["type": "array", "items": ["type": "string"], "minItems": 1, "maxItems": maxInputs],
                                    tokens, ["type": "array", "items": tokens, "minItems": 1, "maxItems": maxInputs]]],
                "model": ["type": "string"], "encoding_format": ["type": "string", "enum": ["float", "base64"]],
                "dimensions": ["type": "integer", "enum": [dimension]], "user": ["type": "string"],
            ] as [String: Any],
        ]
        let response: [String: Any] = [
            "type": "object", "required": ["object", "data", "model", "usage"],
            "properties": [
                "object": ["type": "string", "enum": ["list"]], "model": ["type": "string"],
                "data": ["type": "array", "items": ["type": "object", "required": ["object", "index", "embedding"], "properties": [
                    "object": ["type": "string", "enum": ["embedding"]], "index": ["type": "integer"],
                    "embedding": ["oneOf": [["type": "array", "items": ["type": "number"]], ["type": "string"]]]] as [String: Any]]],
                "usage": ["type": "object", "properties": ["prompt_tokens": ["type": "integer"], "total_tokens": ["type": "integer"]]],
            ] as [String: Any],
        ]
        var paths = doc["paths"] as? [String: Any] ?? [:]
        paths["/v1/embeddings"] = ["post": [
            "summary": "Sentence embeddings (\(dimension) dimensions)", "operationId": "embeddings", "security": [["bearer": [String]()]],
            "requestBody": ["required": true, "content": ["application/json": ["schema": ref("EmbeddingRequest")]]],
            "responses": ["200": ["description": "One vector per input, in order", "content": ["application/json": ["schema": ref("Embeddings")]]],
                          "400": error("Invalid request"), "401": error("Missing or wrong API key"), "413": error("Request body too large"),
                          "429": error("Rate limit")] as [String: Any]] as [String: Any]]
        doc["paths"] = paths
        var components = doc["components"] as? [String: Any] ?? [:]
        var schemas = components["schemas"] as? [String: Any] ?? [:]
        schemas["EmbeddingRequest"] = request
        schemas["Embeddings"] = response
        components["schemas"] = schemas
        doc["components"] = components
    }
}
