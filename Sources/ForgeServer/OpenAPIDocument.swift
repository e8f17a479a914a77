// OpenAPIDocument: what `GET /openapi.json` returns: the routes this server serves, their request bodies and the
// shapes of their answers and errors (OpenAPI 3.0), so that clients and fuzzers (schemathesis) can use it.
import Foundation

enum OpenAPIDocument {
    /// The document for `model` with this server's limits as the schema's bounds.
    static func json(model: String, limits: RequestLimits = RequestLimits()) -> [String: Any] {
        func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }
        /// `field` may be present only when `flag` is true.
        func only(_ field: String, with flag: String) -> [String: Any] {
            ["anyOf": [["required": [flag], "properties": [flag: ["enum": [true]]]], ["not": ["required": [field]]]]]
        }
        func response(_ description: String, _ schema: [String: Any]? = nil, type: String = "application/json") -> [String: Any] {
            var r: [String: Any] = ["description": description]
            if let schema { r["content"] = [type: ["schema": schema]] }
            return r
        }
        let errors: [String: Any] = [
            "400": response("Invalid request", ref("Error")), "401": response("Missing or wrong API key", ref("Error")),
            "404": response("Unknown model", ref("Error")), "408": response("The request ran past its time limit", ref("Error")),
            "413": response("Request body too large", ref("Error")), "429": response("Rate limit or queue full", ref("Error")),
            "503": response("Not ready, shutting down or overloaded", ref("Error")),
        ]
        func completion(_ summary: String, _ body: String, _ result: String) -> [String: Any] {
            ["post": ["summary": summary, "operationId": body, "security": [["bearer": [String]()]],
                      "requestBody": ["required": true, "content": ["application/json": ["schema": ref(body)]]],
                      "responses": errors.merging(["200": ["description": "The completion (JSON), or server-sent events when stream is true",
                                                           "content": ["application/json": ["schema": ref(result)],
                                                                       "text/event-stream": ["schema": ["type": "object", "properties": ["data": ["type": "string"]]]]]]]) { a, _ in a }]]
        }
        let sampling: [String: Any] = [
            "model": ["type": "string", "example": model],
            "max_tokens": ["type": "integer", "minimum": 1, "maximum": limits.maxTokens, "nullable": true],
            "temperature": ["type": "number", "minimum": 0, "maximum": 2, "nullable": true],
            "top_p": ["type": "number", "minimum": 0, "maximum": 1, "nullable": true],
            "n": ["type": "integer", "minimum": 1, "maximum": min(128, limits.maxChoices), "nullable": true],
            "stream": ["type": "boolean", "nullable": true],
            "stop": ["nullable": true, "oneOf": [["type": "string"], ["type": "array", "items": ["type": "string"], "maxItems": 4]]],
            "seed": ["type": "integer", "nullable": true],
            "presence_penalty": ["type": "number", "minimum": -2, "maximum": 2, "nullable": true],
            "frequency_penalty": ["type": "number", "minimum": -2, "maximum": 2, "nullable": true],
            "user": ["type": "string", "nullable": true],
            "ignore_eos": ["type": "boolean", "nullable": true, "description": "Generate max_tokens tokens whatever the model says (an extension, as in llama.cpp and vLLM)."],
        ]
        var chat = sampling
        chat["messages"] = ["type": "array", "minItems": 1, "items": ref("Message")]
        chat["max_completion_tokens"] = ["type": "integer", "minimum": 1, "maximum": limits.maxTokens, "nullable": true]
        chat["logprobs"] = ["type": "boolean", "nullable": true]
        chat["top_logprobs"] = ["type": "integer", "minimum": 0, "maximum": 20, "nullable": true]
        chat["stream_options"] = ["type": "object", "nullable": true, "properties": ["include_usage": ["type": "boolean", "nullable": true]]]
        chat["tools"] = ["type": "array", "nullable": true, "items": ref("Tool")]
        chat["tool_choice"] = ["nullable": true, "oneOf": [
            ["type": "string", "enum": ["none", "auto", "required"]],
            ["type": "object", "required": ["type", "function"],
             "properties": ["type": ["type": "string", "enum": ["function"]],
                            "function": ["type": "object", "required": ["name"], "properties": ["name": ["type": "string"]]]]],
        ]]
        chat["parallel_tool_calls"] = ["type": "boolean", "nullable": true]
        var text = sampling
        text["stream_options"] = chat["stream_options"]
        text["prompt"] = ["oneOf": [["type": "string", "minLength": 1], ["type": "array", "minItems": 1, "maxItems": limits.maxChoices, "items": ["type": "string", "minLength": 1]]]]
        text["logprobs"] = ["type": "integer", "minimum": 0, "maximum": 5, "nullable": true]
        let usage: [String: Any] = ["type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
                                    "properties": ["prompt_tokens": ["type": "integer"], "completion_tokens": ["type": "integer"],
                                                   "total_tokens": ["type": "integer"]]]
        let schemas: [String: Any] = [
            "Message": ["type": "object", "required": ["role", "content"],
                        "properties": ["role": ["type": "string", "enum": ["system", "developer", "user", "assistant", "tool"],
                                                "description": "A tool message also needs tool_call_id, answering an assistant message's tool_calls."],
                                       "content": ["oneOf": [["type": "string"],
                                                             ["type": "array", "items": ["type": "object", "required": ["type", "text"],
                                                                                         "properties": ["type": ["type": "string", "enum": ["text"]],
                                                                                                        "text": ["type": "string"]]]]]]]],
            // As OpenAI has it: top_logprobs only with logprobs: true, stream_options only with stream: true.
            "ChatCompletionRequest": ["type": "object", "required": ["model", "messages"], "properties": chat,
                                      "allOf": [only("top_logprobs", with: "logprobs"), only("stream_options", with: "stream")]],
            "CompletionRequest": ["type": "object", "required": ["model", "prompt"], "properties": text,
                                  "allOf": [only("stream_options", with: "stream")]],
            "Tool": ["type": "object", "required": ["type", "function"],
                     "properties": ["type": ["type": "string", "enum": ["function"]],
                                    "function": ["type": "object", "required": ["name"],
                                                 "properties": ["name": ["type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"],
                                                                "description": ["type": "string", "nullable": true],
                                                                "parameters": ["type": "object", "nullable": true, "description": "A JSON schema."]]]]],
            "Usage": usage,
            "ChatCompletion": ["type": "object", "required": ["id", "object", "created", "model", "choices"],
                               "properties": ["id": ["type": "string"], "object": ["type": "string"], "created": ["type": "integer"],
                                              "model": ["type": "string"], "usage": ref("Usage"),
                                              "choices": ["type": "array", "items": ["type": "object"]]]],
            "Completion": ["type": "object", "required": ["id", "object", "created", "model", "choices"],
                           "properties": ["id": ["type": "string"], "object": ["type": "string"], "created": ["type": "integer"],
                                          "model": ["type": "string"], "usage": ref("Usage"),
                                          "choices": ["type": "array", "items": ["type": "object"]]]],
            "Models": ["type": "object", "required": ["object", "data"],
                       "properties": ["object": ["type": "string"], "data": ["type": "array", "items": ["type": "object"]]]],
            "Error": ["type": "object", "required": ["error"],
                      "properties": ["error": ["type": "object", "required": ["message", "type"],
                                               "properties": ["message": ["type": "string"], "type": ["type": "string"],
                                                              "param": ["type": "string", "nullable": true],
                                                              "code": ["type": "string", "nullable": true]]]]],
        ]
        return [
            "openapi": "3.0.3",
            "info": ["title": "Forge", "version": "1", "description": "OpenAI-compatible completions served by Forge (model \(model))."],
            "paths": [
                "/v1/chat/completions": completion("Chat completion (the model's own chat template)", "ChatCompletionRequest", "ChatCompletion"),
                "/v1/completions": completion("Text completion", "CompletionRequest", "Completion"),
                "/v1/models": ["get": ["summary": "The served model", "operationId": "models", "security": [["bearer": [String]()]],
                                       "responses": ["200": response("The model list", ref("Models")), "401": errors["401"]!]]],
                "/health": ["get": ["summary": "Ready once the model is loaded", "operationId": "health",
                                    "responses": ["200": response("Ready"), "503": response("Not ready")]]],
                "/metrics": ["get": ["summary": "Prometheus metrics", "operationId": "metrics",
                                     "responses": ["200": response("Text exposition format", ["type": "string"], type: "text/plain")]]],
                "/": ["get": ["summary": "The chat page", "operationId": "chatPage",
                              "responses": ["200": response("HTML", ["type": "string"], type: "text/html")]]],
            ],
            "components": ["schemas": schemas, "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]]],
        ]
    }
}
