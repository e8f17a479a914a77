// TaskData: a task's rows read from its file and turned into items (prompt, choices, gold answer, target) by the
// spec's templates. JSON values keep their types (a 1 stays a number, not True), as Python's json would give them.
import ForgeCore
import ForgeData
import ForgeTokenizer
import Foundation

/// One evaluation item, rendered.
public struct EvalItem: @unchecked Sendable {
    /// Position in the task's data (after skipped rows).
    public let index: Int
    /// The value of the spec's group field ("" without one).
    public let group: String
    /// The row as template variables, and its identity for excluding it from its own shots (lm-eval compares docs).
    public let variables: [String: JinjaValue]
    public let identity: String
    /// doc_to_text, the rendered description, the choices, the gold choice and the target text.
    public let prompt: String
    public let description: String
    public let choices: [String]
    public let gold: Int?
    public let target: String?
}

/// Templates over a row's fields.
typealias RowTemplate = JinjaTemplate

public enum TaskData {
    /// The items of a task, in file order.
    public static func load(_ spec: TaskSpec) throws -> [EvalItem] {
        let rows = try readRows(spec)
        guard !rows.isEmpty else { throw ForgeError.file(spec.data, "no rows for task \(spec.name)") }
        let description = try RowTemplate(spec.description), prompt = try RowTemplate(spec.prompt)
        let choices = try spec.choices.map(RowTemplate.init)
        let answer = try spec.answer.map(RowTemplate.init), target = try spec.target.map(RowTemplate.init)
        var items: [EvalItem] = []
        for (n, row) in rows.enumerated() {
            let vars = row.variables
            func fail(_ m: String) -> ForgeError { ForgeError.file(spec.data, "row \(n + 1): \(m)") }
            func render(_ t: RowTemplate, _ what: String) throws -> String {
                do { return try t.render(vars) } catch { throw fail("\(what): \(error)") }
            }
            for field in spec.skip.keys where vars[field] == nil { throw fail("no field '\(field)' (named in 'skip')") }
            var group = ""
            if let g = spec.group {
                guard let v = vars[g], v.isDefined, v != .none else { throw fail("no field '\(g)' (the task's group)") }
                group = v.str
            }
            var list: [String] = []
            var gold: Int?
            if spec.kind == .multipleChoice {
                if let field = spec.choicesField {
                    switch vars[field] {
                    case .list(let l)?: list = l.map(\.str)
                    case .dict(let d)?:
                        // BIG-bench target_scores: choices in file order, the gold one with the highest score.
                        list = d.keys
                        let scores = d.pairs.map { p -> Double in
                            switch p.1 { case .int(let i): return Double(i); case .double(let x): return x; default: return 0 }
                        }
                        if spec.answer == nil, let best = scores.max() { gold = scores.firstIndex(of: best) }
                    default: throw fail("field '\(field)' must be a list of choices or an object of choice → score")
                    }
                } else {
                    list = try choices.map { try render($0, "choices") }
                }
                guard list.count >= 2 else { throw fail("fewer than two choices") }
                if let answer {
                    let a = try render(answer, "answer").trimmingCharacters(in: .whitespaces)
                    if let i = Int(a) { gold = i } else if let i = list.firstIndex(of: a) { gold = i } else {
                        throw fail("answer '\(a)' is neither an index nor one of the choices")
                    }
                }
                guard let g = gold, list.indices.contains(g) else { throw fail("answer index \(gold ?? -1) is outside 0..<\(list.count)") }
            }
            items.append(EvalItem(index: n, group: group, variables: vars, identity: row.identity,
                                  prompt: try render(prompt, "prompt"), description: try render(description, "description"),
                                  choices: list, gold: gold, target: try target.map { try render($0, "target") }))
        }
        return items
    }

    struct Row {
        var variables: [String: JinjaValue]
        var identity: String
    }

    static func readRows(_ spec: TaskSpec) throws -> [Row] {
        switch spec.format {
        case "bigbench":
            let bytes = try Decompression.read(spec.data)
            guard let json = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any],
                  let examples = json["examples"] as? [[String: Any]] else {
                throw ForgeError.file(spec.data, "is not a BIG-bench task.json (an object with an 'examples' list)")
            }
            return examples.compactMap { row(from: $0, spec) }
        case "jsonl":
            let bytes = try Decompression.read(spec.data)
            var rows: [Row] = []
            var line = 0
            for raw in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                line += 1
                if raw.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
                guard let object = (try? JSONSerialization.jsonObject(with: Data(raw))) as? [String: Any] else {
                    throw ForgeError.file(spec.data, "line \(line) is not a JSON object")
                }
                if let r = row(from: object, spec) { rows.append(r) }
            }
            return rows
        default:
            throw ForgeError.file(spec.source, "format '\(spec.format)' holds documents, not items")
        }
    }

    static func row(from object: [String: Any], _ spec: TaskSpec) -> Row? {
        for (field, value) in spec.skip {
            if let v = object[field] as? String, v == value { return nil }
        }
        var vars: [String: JinjaValue] = [:]
        for (k, v) in object { vars[k] = jinja(v) }
        let identity = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return Row(variables: vars, identity: identity)
    }

    /// A JSON value as a template value; numbers and booleans told apart (Foundation gives both as NSNumber).
    static func jinja(_ v: Any) -> JinjaValue {
        switch v {
        case is NSNull: return .none
        case let s as String: return .string(s)
        case let n as NSNumber:
            let t = String(cString: n.objCType)
            if t == "c" { return .bool(n.boolValue) }
            if t == "d" || t == "f" { return .double(n.doubleValue) }
            return .int(n.intValue)
        case let a as [Any]: return .list(a.map(jinja))
        case let d as [String: Any]:
            // Key order as in the file is lost by JSONSerialization; sorted keys keep runs reproducible.
            return .dict(JinjaDict(d.keys.sorted().map { ($0, jinja(d[$0]!)) }))
        default: return .string("\(v)")
        }
    }
}
