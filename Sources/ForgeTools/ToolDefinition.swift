// ToolDefinition and ToolChoice: the tools a request offers the model (OpenAI's `tools`, type "function") and how
// the model may use them (`tool_choice`).
import ForgeTokenizer

/// A function the model may call: its name, description and JSON-schema parameters.
/// (Unchecked Sendable: `parameters` holds JSON values only, never a template's namespace or function objects.)
public struct ToolDefinition: @unchecked Sendable, Equatable {
    public var name: String
    public var description: String
    /// A JSON schema (an object schema), key order as given.
    public var parameters: JinjaValue

    public init(name: String, description: String = "", parameters: JinjaValue = .dict(JinjaDict([("type", .string("object")), ("properties", .dict(JinjaDict()))]))) {
        (self.name, self.description, self.parameters) = (name, description, parameters)
    }

    /// `{"type": "function", "function": {"name", "description", "parameters"}}`: what templates receive as `tools`
    /// (transformers passes OpenAI-format tools as they are).
    public var templateValue: JinjaValue {
        var f = JinjaDict([("name", .string(name))])
        if !description.isEmpty { f["description"] = .string(description) }
        f["parameters"] = parameters
        return .dict(JinjaDict([("type", .string("function")), ("function", .dict(f))]))
    }

    /// The first argument the schema requires, and whether it is a string.
    public var firstRequiredArgument: (name: String, isString: Bool)? {
        guard case .dict(let schema) = parameters, case .list(let required)? = schema["required"], case .string(let name)? = required.first
        else { return nil }
        var isString = false
        if case .dict(let props)? = schema["properties"], case .dict(let p)? = props[name], p["type"] == .string("string") { isString = true }
        return (name, isString)
    }

    /// Whether `name` is a valid OpenAI function name (letters, digits, _ and -, at most 64).
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }
    }
}

/// How the model may use the tools (OpenAI's `tool_choice`).
public enum ToolChoice: Sendable, Equatable {
    /// The model decides between a reply and calls.
    case auto
    /// No calls: tools are left out of the prompt and the reply is not read for calls.
    case none
    /// At least one call: the reply is started as a call (see ToolFormat.prefill).
    case required
    /// A call of this function: the reply is started as that call.
    case function(String)

    /// "auto", "none", "required" or a tool's name.
    public init(_ text: String) {
        switch text {
        case "auto": self = .auto
        case "none": self = .none
        case "required": self = .required
        default: self = .function(text)
        }
    }
}
