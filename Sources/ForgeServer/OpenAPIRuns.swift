// The runs dashboard's part of GET /openapi.json, added when the server shows runs (--runs): GET /v1/runs,
// /v1/runs/{name} and /v1/runs/compare, admin only.
import Foundation

extension OpenAPIDocument {
    /// Adds the /v1/runs routes with their schemas to a document made by `json(model:limits:)`.
    static func addRuns(to doc: inout [String: Any]) {
        func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }
        func error(_ d: String) -> [String: Any] { ["description": d, "content": ["application/json": ["schema": ref("Error")]]] }
        func ok(_ d: String, _ schema: String) -> [String: Any] { ["description": d, "content": ["application/json": ["schema": ref(schema)]]] }
        let common: [String: Any] = ["401": error("Missing or wrong API key"), "403": error("Not an admin's key"),
                                     "500": error("The runs folder cannot be read")]
        let number: [String: Any] = ["type": "number", "nullable": true]
        let score: [String: Any] = ["type": "object", "properties": ["task": ["type": "string"], "metric": ["type": "string"], "value": number,
                                                                       "stderr": number, "n": ["type": "integer", "nullable": true]] as [String: Any]]
        let summaryFields: [String: Any] = [
            "name": ["type": "string"], "status": ["type": "string", "enum": ["running", "finished", "stopped"]],
            "version": ["type": "string"], "steps": ["type": "integer"], "last_train_loss": number, "best_val_loss": number,
            "tokens": ["type": "integer", "nullable": true], "skipped_lines": ["type": "integer"],
            "updated": ["type": "string", "nullable": true], "evals": ["type": "array", "items": score], "sparkline": ["type": "string"],
        ]
        let required = ["name", "status", "version", "steps", "skipped_lines", "evals", "sparkline"]
        let summary: [String: Any] = ["type": "object", "required": required, "properties": summaryFields]
        let detail: [String: Any] = ["type": "object", "required": required + ["settings", "svg"], "properties": summaryFields.merging([
            "settings": ["type": "object", "additionalProperties": ["type": "string"]], "svg": ["type": "string"],
            "model_card": ["type": "string", "nullable": true],
        ]) { a, _ in a }]
        let list: [String: Any] = ["type": "object", "required": ["object", "data"],
                                   "properties": ["object": ["type": "string", "enum": ["list"]], "data": ["type": "array", "items": ref("RunSummary")]]]
        let setting: [String: Any] = ["type": "object", "properties": ["key": ["type": "string"],
                                                                         "values": ["type": "array", "items": ["type": "string", "nullable": true]]] as [String: Any]]
        let comparison: [String: Any] = ["type": "object", "required": ["runs", "settings", "svg"],
                                         "properties": ["runs": ["type": "array", "items": ref("RunSummary")],
                                                        "settings": ["type": "array", "items": setting], "svg": ["type": "string"]] as [String: Any]]
        let secured: [[String: [String]]] = [["bearer": []]]
        var paths = doc["paths"] as? [String: Any] ?? [:]
        paths["/v1/runs"] = ["get": [
            "summary": "Every run under the server's runs folder", "operationId": "listRuns", "security": secured,
            "responses": common.merging(["200": ok("The runs, by name", "RunList")]) { a, _ in a }] as [String: Any]]
        paths["/v1/runs/compare"] = ["get": [
            "summary": "Runs side by side: the settings that differ, the loss curves overlaid (SVG)", "operationId": "compareRuns",
            "security": secured,
            "parameters": [["name": "names", "in": "query", "required": true, "schema": ["type": "string"], "description": "Run names, comma-separated"]],
            "responses": common.merging(["200": ok("The comparison", "RunComparison"), "400": error("No names, or a name that is no run name"),
                                         "404": error("No such run")]) { a, _ in a }] as [String: Any]]
        paths["/v1/runs/{name}"] = ["get": [
            "summary": "One run: settings, loss curves (SVG), evals, model card", "operationId": "getRun", "security": secured,
            "parameters": [["name": "name", "in": "path", "required": true, "schema": ["type": "string"]]],
            "responses": common.merging(["200": ok("The run", "Run"), "400": error("Not a run name (a path, or hidden)"),
                                         "404": error("No such run")]) { a, _ in a }] as [String: Any]]
        doc["paths"] = paths
        var components = doc["components"] as? [String: Any] ?? [:]
        var schemas = components["schemas"] as? [String: Any] ?? [:]
        (schemas["RunSummary"], schemas["Run"], schemas["RunList"], schemas["RunComparison"]) = (summary, detail, list, comparison)
        components["schemas"] = schemas
        doc["components"] = components
    }
}
