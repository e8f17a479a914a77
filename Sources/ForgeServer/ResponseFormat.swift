// ResponseFormat: OpenAI's `response_format` — "text", "json_object" (any JSON object) or "json_schema" (a schema,
// always enforced as `strict` asks) — read from the raw body (the schema's property order decides the output's),
// compiled to a grammar at parse time so a schema Forge cannot follow is a 400 naming the construct, and bound to
// the model's vocabulary once per distinct schema (the masks then stay cached for later requests).
import ForgeCore
import ForgeInference
import Foundation

/// The structured output a request asks for.
public struct ResponseFormat: Sendable {
    /// "json_object", or the schema's compact text (the cache key).
    public let key: String
    public let grammar: Grammar

    /// Reads `response_format` from the body; nil when absent or "text".
    static func parse(_ body: Data, present: Any?) throws(APIError) -> ResponseFormat? {
        guard let present, !(present is NSNull) else { return nil }
        func invalid(_ message: String, _ param: String = "response_format") -> APIError {
            .invalid(message, param: param)
        }
        guard present is [String: Any], let raw = try? JSONValue(parsing: String(decoding: body, as: UTF8.self)),
              let format = raw["response_format"] else {
            throw invalid("Invalid type for 'response_format': expected an object.")
        }
        switch format["type"] {
        case .string("text")?: return nil
        case .string("json_object")?: return ResponseFormat(key: "json_object", grammar: JSONSchemaGrammar.anyObject())
        case .string("json_schema")?:
            guard case .object? = format["json_schema"] else {
                let param = "response_format.json_schema"
                throw invalid("Missing required parameter: '\(param)'.", param)
            }
            guard case .string(let name)? = format["json_schema"]?["name"] else {
                let param = "response_format.json_schema.name"
                throw invalid("Missing required parameter: '\(param)'.", param)
            }
            if let strict = format["json_schema"]?["strict"], strict != .null, strict != .bool(true), strict != .bool(false) {
                let param = "response_format.json_schema.strict"
                throw invalid("Invalid type for '\(param)': expected a boolean.", param)
            }
            let schema = format["json_schema"]?["schema"] ?? .object([])
            do {
                return ResponseFormat(key: schema.text, grammar: try JSONSchemaGrammar.compile(schema))
            } catch let e as ForgeError {
                throw invalid("Invalid schema for response_format '\(name)': \(e.description)")
            } catch {
                throw invalid("Invalid schema for response_format '\(name)': \(error)")
            }
        default:
            throw invalid("Invalid value for 'response_format.type': expected one of 'text', 'json_object', 'json_schema'.",
                          "response_format.type")
        }
    }
}

/// Grammars bound to the model's vocabulary, kept per schema (the 32 most recently used).
final class ConstraintCache: @unchecked Sendable {
    let lock = NSLock()
    var vocabulary: TokenVocabulary?
    var entries: [(key: String, constraint: TokenConstraint)] = []

    /// The constraint for `format` over `loaded`'s vocabulary (built on first use).
    func constraint(_ format: ResponseFormat, _ loaded: LoadedModel) throws(APIError) -> TokenConstraint {
        lock.lock()
        defer { lock.unlock() }
        if let i = entries.firstIndex(where: { $0.key == format.key }) {
            let e = entries.remove(at: i)
            entries.append(e)
            return e.constraint
        }
        let v = vocabulary ?? TokenVocabulary(loaded)
        vocabulary = v
        do {
            let c = try TokenConstraint(grammar: format.grammar, vocabulary: v, endTokens: loaded.endTokens)
            entries.append((format.key, c))
            if entries.count > 32 { entries.removeFirst() }
            return c
        } catch {
            throw .invalid("Invalid response_format: \(error)", param: "response_format")
        }
    }
}
