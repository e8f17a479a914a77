// AgentTool: something `forge agent` can run for the model: a definition the model sees, and a call that turns the
// model's arguments into a text result. Errors a tool throws go back to the model as its result, so that it can
// correct itself; they never end the loop.
import ForgeCore
import ForgeTokenizer
import ForgeTools

/// A tool the agent offers the model.
public protocol AgentTool: AnyObject {
    /// Name, description and JSON-schema parameters, as the model sees them.
    var definition: ToolDefinition { get }
    /// Runs the call; `arguments` is the call's JSON object.
    func call(_ arguments: JinjaDict) async throws -> String
}

extension JinjaDict {
    /// A string argument, or an error naming it.
    public func string(_ key: String) throws -> String {
        guard case .string(let s)? = self[key] else { throw ForgeError("missing string argument \"\(key)\"") }
        return s
    }

    /// An integer argument (a whole number also when written as 3.0 or "3"), or `fallback` when absent.
    public func int(_ key: String, default fallback: Int) throws -> Int {
        switch self[key] {
        case nil, .none?: return fallback
        case .int(let i)?: return i
        case .double(let d)? where d == d.rounded() && abs(d) < 1e9: return Int(d)
        case .string(let s)? where Int(s) != nil: return Int(s)!
        default: throw ForgeError("argument \"\(key)\" must be an integer")
        }
    }
}

/// A JSON-schema object with string properties (all required), for built-in tools.
func stringParameters(_ properties: [(String, String)], optional: [(String, JinjaValue)] = []) -> JinjaValue {
    let props = properties.map { ($0.0, JinjaValue.dict(JinjaDict([("type", .string("string")), ("description", .string($0.1))]))) }
    return .dict(JinjaDict([("type", .string("object")), ("properties", .dict(JinjaDict(props + optional))),
                            ("required", .list(properties.map { .string($0.0) }))]))
}
