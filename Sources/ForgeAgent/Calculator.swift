// Calculator: arithmetic expressions evaluated by a small recursive-descent parser (no code is ever run).
//   expression = term {("+" | "-") term}
//   term       = unary {("*" | "/" | "%") unary}
//   unary      = ("+" | "-") unary | power
//   power      = primary ["^" unary]                 (right-associative: 2^3^2 = 2^9; -2^2 = -4; 2^-1 = 0.5)
//   primary    = number | constant | function "(" expression {"," expression} ")" | "(" expression ")"
// "**" is "^", "×" and "÷" are "*" and "/". Constants: pi, e. Functions: sqrt, cbrt, abs, exp, ln, log (natural; with a
// second argument, that base), log10, log2, sin, cos, tan, asin, acos, atan, floor, ceil, round, min, max, pow.
// Division by zero, a result that is not finite, more than 1,000 characters or nesting deeper than 64 are errors.
import ForgeCore
import ForgeTokenizer
import ForgeTools
import Foundation

/// The built-in `calculator` tool.
public final class CalculatorTool: AgentTool {
    public let definition = ToolDefinition(
        name: "calculator", description: "Evaluates an arithmetic expression: + - * / ^ % and parentheses, sqrt, ln, log, "
            + "sin, cos, tan, abs, round, min, max, pi, e. Example: sqrt(2) * (3 + 4)^2",
        parameters: stringParameters([("expression", "The expression, e.g. \"(2 + 3) * 4\"")]))

    public init() {}

    public func call(_ arguments: JinjaDict) async throws -> String {
        Calculator.format(try Calculator.evaluate(try arguments.string("expression")))
    }
}

/// Arithmetic on Doubles, parsed by hand.
public struct Calculator {
    let chars: [Character]
    var p = 0
    var depth = 0

    /// The value of `expression`, or an error saying what is wrong and where.
    public static func evaluate(_ expression: String) throws -> Double {
        guard expression.count <= 1000 else { throw ForgeError("the expression is longer than 1,000 characters") }
        var c = Calculator(chars: Array(expression))
        let v = try c.expression()
        c.skipSpace()
        guard c.p == c.chars.count else { throw c.error("unexpected '\(c.chars[c.p])'") }
        guard v.isFinite else { throw ForgeError("the result is not a finite number") }
        return v
    }

    /// A result as people write it: integers without ".0", others to 12 significant digits.
    public static func format(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        var s = String(format: "%.12g", v)
        if s.contains("e") { return s }
        if s.contains(".") { while s.hasSuffix("0") { s.removeLast() } }
        return s
    }

    func error(_ what: String) -> ForgeError { ForgeError("\(what) at position \(p + 1)") }

    mutating func skipSpace() { while p < chars.count && chars[p].isWhitespace { p += 1 } }

    /// Consumes `token` (after spaces) if it is next.
    mutating func accept(_ token: String) -> Bool {
        skipSpace()
        let t = Array(token)
        guard p + t.count <= chars.count, Array(chars[p..<p + t.count]) == t else { return false }
        p += t.count
        return true
    }

    mutating func expression() throws -> Double {
        depth += 1
        defer { depth -= 1 }
        guard depth <= 64 else { throw error("nesting deeper than 64") }
        var v = try term()
        while true {
            if accept("+") { v += try term() } else if accept("-") { v -= try term() } else { return v }
        }
    }

    mutating func term() throws -> Double {
        var v = try unary()
        while true {
            if accept("*") || accept("×") { v *= try unary() }
            else if accept("/") || accept("÷") {
                let d = try unary()
                guard d != 0 else { throw error("division by zero") }
                v /= d
            } else if accept("%") {
                let d = try unary()
                guard d != 0 else { throw error("division by zero") }
                v = v.truncatingRemainder(dividingBy: d)
            } else { return v }
        }
    }

    mutating func unary() throws -> Double {
        depth += 1
        defer { depth -= 1 }
        guard depth <= 64 else { throw error("nesting deeper than 64") }
        if accept("-") || accept("−") { return -(try unary()) }
        if accept("+") { return try unary() }
        return try power()
    }

    mutating func power() throws -> Double {
        let base = try primary()
        guard accept("^") || accept("**") else { return base }
        return Foundation.pow(base, try unary())
    }

    mutating func primary() throws -> Double {
        skipSpace()
        guard p < chars.count else { throw error("expected a number, found the end") }
        if accept("(") {
            let v = try expression()
            guard accept(")") else { throw error("missing ')'") }
            return v
        }
        if chars[p].isNumber || chars[p] == "." { return try number() }
        guard chars[p].isLetter else { throw error("unexpected '\(chars[p])'") }
        let start = p
        while p < chars.count && (chars[p].isLetter || chars[p].isNumber) { p += 1 }
        let name = String(chars[start..<p]).lowercased()
        if name == "pi" || name == "π" { return Double.pi }
        if name == "e" { return M_E }
        guard accept("(") else { throw ForgeError("unknown name '\(name)' at position \(start + 1)") }
        var args = [try expression()]
        while accept(",") { args.append(try expression()) }
        guard accept(")") else { throw error("missing ')' after the arguments of \(name)") }
        return try apply(name, args, at: start)
    }

    mutating func number() throws -> Double {
        let start = p
        while p < chars.count && (chars[p].isNumber || chars[p] == "." || chars[p] == "_") { p += 1 }
        if p < chars.count, chars[p] == "e" || chars[p] == "E",
           p + 1 < chars.count, chars[p + 1].isNumber || ((chars[p + 1] == "-" || chars[p + 1] == "+") && p + 2 < chars.count && chars[p + 2].isNumber) {
            p += 2
            while p < chars.count && chars[p].isNumber { p += 1 }
        }
        let text = String(chars[start..<p]).replacingOccurrences(of: "_", with: "")
        guard let v = Double(text), text.allSatisfy({ $0.isASCII }) else { throw ForgeError("invalid number '\(text)' at position \(start + 1)") }
        return v
    }

    func apply(_ name: String, _ a: [Double], at position: Int) throws -> Double {
        let one: [String: (Double) -> Double] = [
            "sqrt": { $0.squareRoot() }, "cbrt": cbrt, "abs": { Swift.abs($0) }, "exp": exp, "ln": log, "log10": log10, "log2": log2,
            "sin": sin, "cos": cos, "tan": tan, "asin": asin, "acos": acos, "atan": atan,
            "floor": { $0.rounded(.down) }, "ceil": { $0.rounded(.up) }, "round": { $0.rounded() },
        ]
        func arity(_ n: ClosedRange<Int>) throws {
            guard n.contains(a.count) else { throw ForgeError("\(name) takes \(n.lowerBound == n.upperBound ? "\(n.lowerBound)" : "\(n.lowerBound) or more") argument(s), got \(a.count)") }
        }
        if name == "sqrt", a.count == 1, a[0] < 0 { throw ForgeError("sqrt of a negative number (\(Calculator.format(a[0])))") }
        if let f = one[name] { try arity(1...1); return f(a[0]) }
        switch name {
        case "log":
            try arity(1...2)
            return a.count == 1 ? log(a[0]) : log(a[0]) / log(a[1])
        case "pow": try arity(2...2); return Foundation.pow(a[0], a[1])
        case "min": try arity(1...Int.max); return a.min()!
        case "max": try arity(1...Int.max); return a.max()!
        default: throw ForgeError("unknown function '\(name)' at position \(position + 1)")
        }
    }
}
