// ToolCall: one call of a tool (a function) by the model, as the OpenAI API carries it: an id, the function's name
// and its arguments as a JSON text.

/// A tool call made by an assistant message.
public struct ToolCall: Sendable, Equatable {
    /// "call_" and 24 letters or digits, unless the client chose another.
    public var id: String
    public var name: String
    /// The arguments as a JSON object's text, as OpenAI's `function.arguments`.
    public var arguments: String

    public init(id: String = ToolCall.newID(), name: String, arguments: String) {
        (self.id, self.name, self.arguments) = (id, name, arguments)
    }

    /// A fresh OpenAI-style call id.
    public static func newID() -> String {
        "call_" + String((0..<24).map { _ in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".randomElement()! })
    }

    /// The arguments as an object when they are JSON (strict), else as the text itself.
    public var argumentsValue: JinjaValue {
        (try? LenientJSON.parse(arguments).value) ?? .string(arguments)
    }

    /// `{"id", "type": "function", "function": {"name", "arguments"}}` with the arguments as an object, as
    /// transformers' templates expect them.
    public var templateValue: JinjaValue {
        .dict(JinjaDict([("id", .string(id)), ("type", .string("function")),
                         ("function", .dict(JinjaDict([("name", .string(name)), ("arguments", argumentsValue)])))]))
    }
}
