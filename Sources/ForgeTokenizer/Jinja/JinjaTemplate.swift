// JinjaTemplate: a Jinja template over arbitrary variables (prompt templates of evaluation tasks, for instance),
// with the same parser and renderer as chat templates.
import Foundation

/// A compiled Jinja template rendered with any variables.
public final class JinjaTemplate: @unchecked Sendable {
    public let source: String
    let nodes: [JinjaNode]

    /// Parses `source`; an unsupported construct is an error naming it.
    public init(_ source: String) throws {
        self.source = source
        var parser = try JinjaParser(source)
        nodes = try parser.parseTemplate()
    }

    /// The text for these variables; `now` fixes the date templates print (nil: the clock). Errors raised while
    /// rendering are thrown.
    public func render(_ variables: [String: JinjaValue], now: Date? = nil) throws -> String {
        let r = JinjaRenderer(globals: variables, now: now)
        try r.render(nodes)
        return r.out
    }
}
