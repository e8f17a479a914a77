// The feedback part of GET /openapi.json, added when the server keeps feedback: POST /v1/feedback and the owner's
// /v1/conversations.
import ForgeFeedback
import Foundation

extension OpenAPIDocument {
    /// Adds POST /v1/feedback and /v1/conversations with their schemas to a document made by `json(model:limits:)`.
    static func addFeedback(to doc: inout [String: Any]) {
        func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }
        func error(_ d: String) -> [String: Any] { ["description": d, "content": ["application/json": ["schema": ref("Error")]]] }
        func ok(_ d: String, _ schema: String) -> [String: Any] { ["description": d, "content": ["application/json": ["schema": ref(schema)]]] }
        let common: [String: Any] = ["401": error("Missing or wrong API key"), "403": error("The key's role may not do this"),
                                     "404": error("Feedback is off, or no such conversation of yours"), "429": error("Rate limit")]
        let id: [String: Any] = ["type": "string", "pattern": FeedbackEndpoints.idPattern]
        let message: [String: Any] = ["type": "object", "required": ["role", "content"],
                                      "properties": ["role": ["type": "string"], "content": ["type": "string"]]]
        // An enum that may be null lists null too (OpenAPI 3.0.3).
        let request: [String: Any] = [
            "type": "object", "required": ["conversation_id", "messages", "reply"],
            "properties": [
                "conversation_id": id, "messages": ["type": "array", "items": message, "minItems": 1],
                "reply": ["type": "string", "minLength": 1],
                "rating": ["type": "string", "enum": ["up", "down", "none", NSNull()], "nullable": true],
                "comment": ["type": "string", "maxLength": FeedbackEndpoints.maxComment, "nullable": true],
                "report": ["type": "string", "enum": FeedbackStore.reportCategories + [NSNull()] as [Any], "nullable": true],
                "model": ["type": "string", "nullable": true], "user": ["type": "string", "nullable": true],
                "settings": ["type": "object", "additionalProperties": ["type": "number"], "nullable": true],
            ] as [String: Any],
        ]
        let saved: [String: Any] = ["type": "object", "required": ["id", "object", "conversation_id", "rating"],
                                    "properties": ["id": ["type": "integer"], "object": ["type": "string", "enum": ["feedback"]],
                                                   "conversation_id": ["type": "string"], "rating": ["type": "string"],
                                                   "report": ["type": "string", "nullable": true]] as [String: Any]]
        let summary: [String: Any] = ["type": "object", "required": ["id", "object", "model", "feedback_count", "created_at", "updated_at"],
                                      "properties": ["id": ["type": "string"], "object": ["type": "string", "enum": ["conversation"]],
                                                     "model": ["type": "string"], "title": ["type": "string"], "feedback_count": ["type": "integer"],
                                                     "created_at": ["type": "integer"], "updated_at": ["type": "integer"],
                                                     "messages": ["type": "array", "items": message],
                                                     "feedback": ["type": "array", "items": ["type": "object"]]] as [String: Any]]
        let list: [String: Any] = ["type": "object", "required": ["object", "data"],
                                   "properties": ["object": ["type": "string", "enum": ["list"]], "data": ["type": "array", "items": ref("Conversation")]]]
        let deleted: [String: Any] = ["type": "object", "required": ["id", "deleted"],
                                      "properties": ["id": ["type": "string"], "object": ["type": "string"], "deleted": ["type": "boolean"]]]
        let secured: [[String: [String]]] = [["bearer": []]]
        let path: [[String: Any]] = [["name": "id", "in": "path", "required": true, "schema": id]]
        var paths = doc["paths"] as? [String: Any] ?? [:]
        paths["/v1/feedback"] = ["post": [
            "summary": "Rate or report a reply", "operationId": "feedback", "security": secured,
            "requestBody": ["required": true, "content": ["application/json": ["schema": ref("FeedbackRequest")]]],
            "responses": common.merging(["200": ok("The saved rating", "Feedback"), "400": error("Invalid request"),
                                         "409": error("The conversation was deleted"),
                                         "413": error("Request body too large")]) { a, _ in a }] as [String: Any]]
        paths["/v1/conversations"] = ["get": [
            "summary": "Your conversations with ratings", "operationId": "listConversations", "security": secured,
            "responses": common.merging(["200": ok("Your conversations, newest first", "ConversationList")]) { a, _ in a }] as [String: Any]]
        paths["/v1/conversations/{id}"] = [
            "get": ["summary": "One of your conversations and its ratings", "operationId": "getConversation", "security": secured,
                    "parameters": path,
                    "responses": common.merging(["200": ok("The conversation", "Conversation"), "400": error("Not a conversation id")]) { a, _ in a }],
            "delete": ["summary": "Delete one of your conversations and its ratings", "operationId": "deleteConversation", "security": secured,
                       "parameters": path,
                       "responses": common.merging(["200": ok("Deleted", "Deleted"), "400": error("Not a conversation id")]) { a, _ in a }],
        ] as [String: Any]
        doc["paths"] = paths
        var components = doc["components"] as? [String: Any] ?? [:]
        var schemas = components["schemas"] as? [String: Any] ?? [:]
        (schemas["FeedbackRequest"], schemas["Feedback"], schemas["Conversation"]) = (request, saved, summary)
        (schemas["ConversationList"], schemas["Deleted"]) = (list, deleted)
        components["schemas"] = schemas
        doc["components"] = components
    }
}
