// Structured output: JSON schemas compiled to byte grammars (instances accepted, invalid prefixes refused,
// unsupported keywords named), token masks over a vocabulary (the trie walk equals checking every token, UTF-8
// split across tokens), and SmolLM2 generating 200 constrained replies through the scheduler, the CLI and the
// server (the openai client), every output checked by Python's `jsonschema`.
import ForgeCore
@testable import ForgeInference
import ForgeTokenizer
import Foundation
import Testing

@Suite(.serialized) struct StructuredOutputTests {
    func grammar(_ schema: String) throws -> Grammar { try JSONSchemaGrammar.compile(schema) }

    /// Whole-text and prefix checks on one automaton.
    struct Matcher {
        let a: GrammarAutomaton
        init(_ g: Grammar) { a = GrammarAutomaton(g) }
        func accepts(_ s: String) -> Bool { a.walk(a.start, Array(s.utf8)).map(a.isAccepting) ?? false }
        func acceptsBytes(_ b: [UInt8]) -> Bool { a.walk(a.start, b).map(a.isAccepting) ?? false }
        func live(_ s: String) -> Bool { a.walk(a.start, Array(s.utf8)) != nil }
    }

    @Test func objectsInDeclaredOrderWithBoundedWhitespace() throws {
        let m = Matcher(try grammar(#"""
            {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 120},
             "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2}, "nick": {"type": "string"}},
             "required": ["age", "name"]}
            """#))
        for ok in [#"{"name":"Ann","age":31}"#, #"{"name":"Ann","age":31,"tags":["a"],"nick":"x"}"#, #"{"name":"","age":0,"nick":"é\n"}"#,
                   #"{"name":"Ann","age":120,"tags":[]}"#, "{\n  \"name\": \"Ann\",\n  \"age\": 31,\n  \"tags\": [\"a\", \"b\"]\n}",
                   #"{ "name": "A\"\\\u00e9", "age": 7 }"#] {
            #expect(m.accepts(ok), "\(ok)")
        }
        for bad in [#"{"age":31,"name":"Ann"}"#, #"{"name":"Ann"}"#, #"{"name":"Ann","age":121}"#, #"{"name":"Ann","age":31,"x":1}"#,
                    #"{"name":"Ann","age":31,"tags":["a","b","a"]}"#, #"{"name":"Ann","age":031}"#, #" {"name":"Ann","age":1}"#,
                    #"{"name":"Ann","age":1} "#, "{\n" + String(repeating: " ", count: 21) + #""name":"Ann","age":1}"#,
                    #"{"name":"Ann","age":1,"tags":["c"]}"#, #"{"name":"Ann" ,"age":1}"#, "{\"name\":\"a\nb\",\"age\":1}"] {
            #expect(!m.accepts(bad), "\(bad)")
        }
        #expect(m.live(#"{"name":"Ann","age":20"#) && !m.live(#"{"name":"Ann","age":200"#))
        #expect(m.live(#"{"name":"Ann","age":1"#) && !m.live(#"{"age""#) && !m.live(#"{"name":"Ann","agf"#))
        #expect(!m.live("[") && !m.live("{  "), "one space at most")
    }

    @Test func integerAndNumberBounds() throws {
        for (lo, hi) in [(0, 120), (-15, 7), (-200, -3), (5, 5), (10, 99), (1, 1000), (-1000, 1000)] {
            let m = Matcher(try grammar(#"{"type": "integer", "minimum": \#(lo), "maximum": \#(hi)}"#))
            for v in -1100...1100 { #expect(m.accepts(String(v)) == (lo...hi).contains(v), "\(v) in \(lo)...\(hi)") }
            #expect(!m.accepts("-0") && !m.accepts("01") && !m.accepts("1.0"))
        }
        let exclusive = Matcher(try grammar(#"{"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10}"#))
        #expect((-5...15).filter { exclusive.accepts(String($0)) } == Array(1...9))
        let open = Matcher(try grammar(#"{"type": "integer", "minimum": -3}"#))
        #expect(open.accepts("123456789") && open.accepts("-3") && !open.accepts("-4") && !open.accepts(String(repeating: "9", count: 17)))
        // Numbers: everything accepted lies within the bounds; the usual values are reachable.
        let n = Matcher(try grammar(#"{"type": "number", "minimum": -2.5, "exclusiveMaximum": 10}"#))
        var rng = RNG(seed: 4)
        for _ in 0..<3000 {
            let v = Double(rng.below(4001)) / 100 - 20
            for text in [String(format: "%.2f", v), String(format: "%.0f", v), String(format: "%.1f", v)] where n.accepts(text) {
                #expect(Double(text)! >= -2.5 && Double(text)! < 10, "\(text)")
            }
        }
        for ok in ["0", "9.99", "-1.5", "-0.25", "9", "3.14159", "-2"] { #expect(n.accepts(ok), "\(ok)") }
        for bad in ["10", "10.0", "-3", "1e3", ".5", "1.", "-"] { #expect(!n.accepts(bad), "\(bad)") }
        let any = Matcher(try grammar(#"{"type": "number"}"#))
        for ok in ["0", "-0.5", "1e10", "2.5E-3", "123"] { #expect(any.accepts(ok), "\(ok)") }
        for bad in ["01", "+1", "1e", "NaN", "1.5.2", "1e123"] { #expect(!any.accepts(bad), "\(bad)") }
    }

    @Test func stringsLengthsPatternsAndUTF8() throws {
        let m = Matcher(try grammar(#"{"type": "string", "minLength": 2, "maxLength": 3}"#))
        for ok in [#""ab""#, #""é日""#, #""a\n""#, #""😀x""#, #""\u00e9b\"""#] { #expect(m.accepts(ok), "\(ok)") }
        for bad in [#""a""#, #""abcd""#, #""\ud83d\ude00""#, "\"a\tb\""] { #expect(!m.accepts(bad), "\(bad)") }
        // Bytes that are not UTF-8: a broken sequence, an overlong encoding, an encoded surrogate.
        for bytes: [UInt8] in [[0x22, 0xC3, 0x28, 0x61, 0x22], [0x22, 0xC0, 0xAF, 0x61, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x61, 0x22]] {
            #expect(!m.acceptsBytes(bytes))
        }
        let p = Matcher(try grammar(#"{"type": "string", "pattern": "^[A-Z]{3}-\\d{2,3}$"}"#))
        #expect(p.accepts(#""ABC-12""#) && p.accepts(#""XYZ-999""#) && !p.accepts(#""ABC-1234""#) && !p.accepts(#""abc-12""#))
        let open = Matcher(try grammar(#"{"type": "string", "pattern": "ab"}"#))
        #expect(open.accepts(#""xxabyy""#) && open.accepts(#""ab""#) && !open.accepts(#""ba""#))
        let alt = Matcher(try grammar(#"{"pattern": "^(cat|dog)s?$|^a\"[^x]$"}"#))
        for ok in [#""cats""#, #""dog""#, #""a\"y""#, #""a\"\n""#, #""a\"é""#] { #expect(alt.accepts(ok), "\(ok)") }
        for bad in [#""cow""#, #""a\"x""#, #""a"y""#] { #expect(!alt.accepts(bad), "\(bad)") }
        let date = Matcher(try grammar(#"{"type": "string", "format": "date"}"#))
        #expect(date.accepts(#""2024-02-29""#) && !date.accepts(#""2024-13-01""#))
        for (pattern, construct) in [("(?=a)b", "lookaround"), ("(a)\\1", "backreference"), ("\\bword", "word boundar"),
                                     ("\\p{L}+", "Unicode property"), ("(?i)abc", "inline flags"), ("a++", "possessive")] {
            #expect(throws: ForgeError.self) { try grammar(#"{"type": "string", "pattern": \#(JSONValue.quoted(pattern))}"#) }
            do { _ = try grammar(#"{"properties": {"s": {"pattern": \#(JSONValue.quoted(pattern))}}}"#) } catch let e as ForgeError {
                #expect(e.description.contains(construct) && e.description.contains("#/properties/s/pattern"), "\(e)")
            }
        }
    }

    @Test func enumsConstsChoicesReferencesAndExtraKeys() throws {
        let e = Matcher(try grammar(#"{"enum": ["red", "gr\"een", 1, null, {"a": [1, 2]}]}"#))
        for ok in [#""red""#, #""gr\"een""#, "1", "null", #"{"a":[1,2]}"#] { #expect(e.accepts(ok), "\(ok)") }
        #expect(!e.accepts(#""blue""#) && !e.accepts("2"))
        let typed = Matcher(try grammar(#"{"type": "string", "enum": ["x", 1]}"#))
        #expect(typed.accepts(#""x""#) && !typed.accepts("1"))
        let tree = Matcher(try grammar(#"""
            {"$defs": {"node": {"type": "object", "properties": {"value": {"type": "integer"},
              "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 3}}, "required": ["value"]}},
             "$ref": "#/$defs/node"}
            """#))
        #expect(tree.accepts(#"{"value":1,"children":[{"value":2,"children":[{"value":3}]},{"value":4}]}"#))
        #expect(!tree.accepts(#"{"value":1,"children":[{"children":[]}]}"#))
        let choice = Matcher(try grammar(#"""
            {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "null"}, {"type": ["boolean", "integer"]}]}
            """#))
        for ok in [#""ab""#, "null", "true", "-4"] { #expect(choice.accepts(ok), "\(ok)") }
        #expect(!choice.accepts(#""abc""#) && !choice.accepts("1.5"))
        let extra = Matcher(try grammar(#"""
            {"type": "object", "properties": {"a": {"type": "integer"}, "ab": {"type": "integer"}},
             "additionalProperties": {"type": "boolean"}}
            """#))
        for ok in [#"{"a":1,"x":true}"#, #"{"x":true}"#, #"{"abc":false,"b":true}"#, #"{"ab":2}"#, #"{"":true}"#, #"{}"#] {
            #expect(extra.accepts(ok), "\(ok)")
        }
        for bad in [#"{"a":1,"a":true}"#, #"{"a":1,"ab":true}"#, #"{"a":1,"x":1}"#, #"{"x":true,"a":1}"#] {
            #expect(!extra.accepts(bad), "\(bad)")
        }
        let object = Matcher(JSONSchemaGrammar.anyObject())
        #expect(object.accepts(#"{"a":[1,{"b":null}],"c":"d"}"#) && object.accepts("{}"))
        #expect(!object.accepts("[1]") && !object.accepts(#""x""#))
        let tuple = Matcher(try grammar(#"""
            {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false, "minItems": 1}
            """#))
        #expect(tuple.accepts(#"["a",1]"#) && tuple.accepts(#"["a"]"#) && !tuple.accepts(#"["a",1,2]"#) && !tuple.accepts("[]"))
        let sized = Matcher(try grammar(#"{"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 3}"#))
        #expect(!sized.accepts("[true]") && sized.accepts("[true, false]") && sized.accepts("[true,false,true]"))
        #expect(!sized.accepts("[true,true,true,true]"))
    }

    static let unsupported: [(String, String)] = [
        (#"{"type": "object", "patternProperties": {"^a": {}}}"#, "'patternProperties' at #"),
        (#"{"properties": {"x": {"if": {}, "then": {}}}}"#, "'if' at #/properties/x"),
        (#"{"properties": {"x": {"not": {"type": "null"}}}}"#, "'not' at #/properties/x"),
        (#"{"type": "array", "items": {"type": "array", "uniqueItems": true}}"#, "'uniqueItems' at #/items"),
        (##"{"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}"##, "'$ref' at #/$defs/a"),
        (#"{"allOf": [{"type": "string"}, {"maxLength": 3}]}"#, "'allOf' at #"),
        (#"{"type": "integer", "minimum": 5, "maximum": 3}"#, "no integer"),
        (##"{"$ref": "#/definitions/missing"}"##, "does not point"),
        (#"{"type": "integer", "multipleOf": 3}"#, "'multipleOf' at #"),
    ]

    /// Scalar ranges as UTF-8 byte patterns accept exactly the encodings of their scalars (and no surrogates).
    @Test func utf8RangesMatchExactlyTheirScalars() throws {
        var rng = RNG(seed: 11)
        let edges: [UInt32] = [0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF]
        for _ in 0..<20 {
            let ranges = (0..<3).map { _ -> ClosedRange<UInt32> in
                let a = rng.below(2) == 0 ? edges[rng.below(edges.count)] : UInt32(rng.below(0x110000))
                let b = min(a + UInt32(rng.below(rng.below(2) == 0 ? 300 : 0x20000)), 0x10FFFF)
                return a...b
            }
            let m = Matcher(Grammar(UTF8Ranges.expr(ranges)))
            let probes = ranges.flatMap { [$0.lowerBound, $0.upperBound, $0.lowerBound &- 1, $0.upperBound + 1] }
                + edges + (0..<300).map { _ in UInt32(rng.below(0x110000)) }
            for v in probes where v <= 0x10FFFF {
                guard let scalar = Unicode.Scalar(v) else { continue }
                #expect(m.accepts(String(scalar)) == ranges.contains { $0.contains(v) }, "U+\(String(v, radix: 16)) in \(ranges)")
            }
            #expect(!m.acceptsBytes([0xED, 0xA0, 0x80]), "no encoded surrogate")
        }
    }

    @Test(arguments: unsupported)
    func unsupportedSchemasNameTheConstruct(schema: String, expected: String) {
        do {
            _ = try grammar(schema)
            Issue.record("\(schema) compiled")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }

    /// The trie walk gives exactly the tokens whose bytes keep the automaton alive; end tokens only where the
    /// grammar may end; a token that stops inside a UTF-8 character leaves only tokens that finish it.
    @Test func masksEqualCheckingEveryToken() throws {
        var tokens: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        for t in ["{\"", "\":", "\",\"", "\"}", "name", "日本", "é", " \"", "12", "}", "\"\n", "\u{1F600}"] {
            tokens.append(Array(t.utf8))
        }
        tokens += [[0xE6], [0x97, 0xA5], [0xE6, 0x97], [0xA5, 0x22], []]  // 日 = E6 97 A5, split three ways; a control token
        let end = Int32(tokens.count)
        tokens.append([])
        let vocabulary = TokenVocabulary(size: tokens.count) { tokens[Int($0)] }
        let g = try grammar(#"""
            {"type": "object", "properties": {"name": {"type": "string", "maxLength": 4}, "n": {"type": "integer"}},
             "required": ["name"]}
            """#)
        let c = try TokenConstraint(grammar: g, vocabulary: vocabulary, endTokens: [end])
        var state = ConstraintState(c)
        func brute(_ s: Int32) -> Set<Int32> {
            Set((0..<Int32(tokens.count)).filter { c.advance(s, $0) != nil })
        }
        func masked(_ s: Int32) -> Set<Int32> {
            let bits = c.mask(s)
            return Set((0..<Int32(tokens.count)).filter { bits[Int($0) >> 6] & (1 << UInt64($0 & 63)) != 0 })
        }
        let opening: [[UInt8]] = [Array("{\"".utf8), Array("name".utf8), Array("\":".utf8), [0x22], [0xE6]]
        let text = opening + [[0x97], [0xA5, 0x22], Array("}".utf8)]
        for piece in text {
            #expect(masked(state.state) == brute(state.state))
            #expect(masked(state.state).contains(end) == state.isAccepting)
            let id = Int32(tokens.firstIndex(of: piece)!)
            let moved = state.advance(id)
            #expect(moved, "\(piece)")
        }
        #expect(state.isAccepting && masked(state.state) == [end], "after the last brace only the end token")
        // Inside 日 after E6: continuation bytes only.
        var mid = ConstraintState(c)
        for piece in opening { _ = mid.advance(Int32(tokens.firstIndex(of: piece)!)) }
        let allowed = masked(mid.state)
        #expect(allowed.contains(Int32(tokens.firstIndex(of: [0x97, 0xA5])!)) && allowed.contains(0x97) && !allowed.contains(0x41))
        #expect(!allowed.contains(Int32(tokens.count - 2)), "a control token is never allowed")
        // Masked sampling picks only allowed tokens whatever the logits say.
        var sampler = Sampler(.greedy, constraint: c)
        var logits = [Float](repeating: 0, count: tokens.count)
        for (ch, v) in [("x", 50), ("}", 40), ("\"", 30)] as [(Character, Float)] { logits[Int(ch.asciiValue!)] = v }
        var out: [UInt8] = []
        for _ in 0..<40 {
            let t = sampler.sample(logits)
            if t == end { break }
            out += tokens[Int(t)]
        }
        #expect(String(decoding: out, as: UTF8.self) == #"{"name":"xxxx"}"#)
    }

    /// On SmolLM2's real vocabulary (49152 tokens), the trie's masks equal checking every token along a text.
    @Test func masksOnARealVocabulary() throws {
        let loaded = try LoadedModel.open(smolLM2Path)
        let vocabulary = TokenVocabulary(loaded)
        let g = try grammar(#"""
            {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12}, "pop": {"type": "integer", "minimum": 0}},
             "required": ["city", "pop"]}
            """#)
        let c = try TokenConstraint(grammar: g, vocabulary: vocabulary, endTokens: loaded.endTokens)
        var state = ConstraintState(c)
        let text = "{\"city\": \"Zürich 日本\", \"pop\": 402762}"
        let ids = loaded.encode(text, special: false, addBOS: false)
        #expect(loaded.tokenizer.decode(ids, skipSpecial: true) == text)
        for id in ids {
            let bits = c.mask(state.state)
            for t in 0..<vocabulary.size {
                let allowed = bits[t >> 6] & (1 << UInt64(t & 63)) != 0
                if allowed != (c.advance(state.state, Int32(t)) != nil) { Issue.record("token \(t) at state \(state.state)"); break }
            }
            let moved = state.advance(id)
            #expect(moved)
        }
        #expect(state.isAccepting)
        let stats = c.statistics
        #expect(stats.masks <= ids.count && stats.maskSeconds < 5)
    }

    // MARK: - SmolLM2, end to end

    /// Twenty small schemas (each task asks for something the schema describes), ten topics each.
    /// Twenty small schemas, each with a task that asks for what it describes (one JSON line each: task, schema).
    static func tasks() throws -> [(task: String, schema: String)] {
        let text = try String(contentsOfFile: fixturePath("structured_tasks.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let v = try JSONValue(parsing: String(line))
            guard case .string(let task)? = v["task"], let schema = v["schema"] else { throw ForgeError("bad fixture line \(line)") }
            return (task, schema.text)
        }
    }

    static let topics = ["the Moon", "a cat", "Paris", "the Eiffel Tower", "a red apple", "the Python language", "an old book",
                         "a football match", "the ocean", "a birthday party"]

    /// 200 (prompt, schema) pairs through the scheduler (16 sequences at a time), half greedy, half sampled: every
    /// reply ends by itself and `jsonschema` accepts every one.
    @Test func twoHundredConstrainedRepliesValidate() async throws {
        let started = ContinuousClock.now
        let loaded = try LoadedModel.open(smolLM2Path)
        let vocabulary = TokenVocabulary(loaded)
        let tasks = try Self.tasks()
        #expect(tasks.count == 20)
        let constraints = try tasks.map {
            try TokenConstraint(grammar: JSONSchemaGrammar.compile($0.schema), vocabulary: vocabulary, endTokens: loaded.endTokens)
        }
        var options = Scheduler.Options()
        options.maxSequences = 16
        options.maxQueue = 256
        let scheduler = Scheduler(engine: try InferenceEngine(model: loaded.model, contextLength: 1024), endTokens: loaded.endTokens,
                                  options: options) { [loaded] in loaded.bytes(of: $0) }
        defer { scheduler.shutdown() }
        var handles: [JobHandle] = [], schemas: [String] = []
        for (i, t) in tasks.enumerated() {
            for (j, topic) in Self.topics.enumerated() {
                let content = t.task.replacingOccurrences(of: "{topic}", with: topic)
                var s = GenerationSettings()
                s.maxTokens = 160
                s.sampling = .greedy
                if j % 2 == 1 { s.sampling = SamplingSettings(); s.sampling.seed = UInt64(10 * i + j) }
                s.constraint = constraints[i]
                let messages: [ChatMessage] = [.init(role: "system", content: "Reply in JSON."), .init(role: "user", content: content)]
                let prompt = loaded.encode(try loaded.chatPrompt(messages), special: true)
                handles.append(try scheduler.submit(JobRequest(prompt: prompt, settings: s)))
                schemas.append(t.schema)
            }
        }
        var lines: [String] = [], unfinished: [String] = [], generated = 0
        for (handle, schema) in zip(handles, schemas) {
            var text = "", reason: FinishReason?
            for await event in handle.events {
                switch event {
                case .text(_, let t, _): text += t
                case .finished(_, let r, let n): reason = r; generated += n
                case .failed(let e): Issue.record("\(e)")
                case .done: break
                }
            }
            if reason != .stop { unfinished.append(text) }
            lines.append(#"{"schema": \#(schema), "output": \#(JSONValue.quoted(text))}"#)
        }
        let seconds = Double((ContinuousClock.now - started).components.seconds)
        let dir = temporaryDirectory("structured")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/outputs.jsonl", atomically: true, encoding: .utf8)
        let report = try runPythonJSON("validate_json_outputs.py", [dir + "/outputs.jsonl"])
        let failures = report["failures"] as? [String] ?? ["no report"]
        #expect(report["total"] as? Int == 200 && report["valid"] as? Int == 200, "\(failures.prefix(10).joined(separator: "\n"))")
        #expect(unfinished.isEmpty, "cut off by max tokens: \(unfinished.prefix(5))")
        let stats = constraints.map(\.statistics)
        print(lines.prefix(3).joined(separator: "\n"))
        print("200 constrained replies, \(generated) tokens, in \(seconds) s; \(stats.reduce(0) { $0 + $1.masks }) masks computed in "
              + String(format: "%.2f s", stats.reduce(0) { $0 + $1.maskSeconds }))
    }

    /// `forge generate --json-schema` writes JSON the schema accepts; a schema it cannot follow is one error line
    /// naming the keyword and its place, and a non-zero exit.
    @Test func generateCommandWithASchema() throws {
        let dir = temporaryDirectory("structured-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let schema = try Self.tasks()[0].schema
        try schema.write(toFile: dir + "/person.json", atomically: true, encoding: .utf8)
        let r = try runForge(["generate", "--model", smolLM2Path, "--chat", "--prompt", "Invent a sailor. Reply in JSON.",
                              "--json-schema", dir + "/person.json", "-n", "80", "--temperature", "0"])
        #expect(r.status == 0, "\(r.stderr)")
        let text = r.stdout.trimmingCharacters(in: .newlines)
        let line = #"{"schema": \#(schema), "output": \#(JSONValue.quoted(text))}"#
        try line.write(toFile: dir + "/out.jsonl", atomically: true, encoding: .utf8)
        let report = try runPythonJSON("validate_json_outputs.py", [dir + "/out.jsonl"])
        #expect(report["valid"] as? Int == 1, "\(report)")
        let any = try runForge(["generate", "--model", smolLM2Path, "--chat", "--prompt", "Describe Rome in JSON.", "--json", "-n", "200",
                                "--temperature", "0"])
        #expect(any.status == 0 && any.stdout.hasPrefix("{"), "\(any.stdout)")
        try #"{"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": true}}}"#
            .write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        let bad = try runForge(["generate", "--model", smolLM2Path, "--prompt", "x", "--json-schema", dir + "/bad.json"])
        #expect(bad.status != 0 && bad.stderr.contains("'uniqueItems' at #/properties/tags is not supported"), "\(bad.stderr)")
    }

    /// The openai client against `forge serve`: response_format json_schema (whole, streamed, n > 1, completions),
    /// json_object, a 400 naming an unsupported keyword, and "length" for a reply cut short.
    @Test func serverResponseFormatThroughTheOpenAIClient() throws {
        let server = try ServerProcess(["--model", smolLM2Path, "--name", "smollm2", "--context", "2048"])
        let out = try runPythonJSON("openai_structured.py", [server.base, "smollm2"])
        let failures = out["failures"] as? [String] ?? ["no output"]
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect((out["checks"] as? [String])?.count == 6)
        #expect(server.stop() == 0)
    }
}
