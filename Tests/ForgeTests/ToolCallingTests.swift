// Tool calling: replies parsed and repaired into calls (or the failure reported), templates with tools rendered as
// transformers renders them (fixtures from Tests/python/make_tool_template_fixtures.py) and the fallback for
// SmolLM2's template, which has none; the openai client's round trip against forge serve with SmolLM2 (calls forced
// by tool_choice: a 135M model does not call tools by itself); forge agent with the calculator, read_file (escapes
// refused) and an MCP server written with the official Python SDK.
import ForgeAgent
import ForgeCore
import ForgeInference
import ForgeModels
import ForgeRetrieval
import ForgeServer
import ForgeTokenizer
import ForgeTools
import Foundation
import Testing

@Suite(.serialized) struct ToolCallingTests {
    // MARK: - Parsing and repair

    let tools = ["calculator", "get_weather"]

    @Test func wellFormedCallsInEachFamilysFormat() {
        let hermes = ToolCallParser.parse("<tool_call>\n{\"name\": \"calculator\", \"arguments\": {\"expression\": \"2+2\"}}\n</tool_call>",
                                          tools: tools)
        #expect(hermes.calls.map(\.name) == ["calculator"] && hermes.calls[0].arguments == #"{"expression": "2+2"}"#)
        #expect(hermes.content == nil && hermes.repairs.isEmpty && hermes.problems.isEmpty)
        #expect(hermes.calls[0].id.hasPrefix("call_") && hermes.calls[0].id.count == 29)
        // Two calls with text around them.
        let two = ToolCallParser.parse("Let me check.\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>\n"
                                       + "<tool_call>{\"name\": \"calculator\", \"arguments\": {\"expression\": \"1\"}}</tool_call>", tools: tools)
        #expect(two.calls.map(\.name) == ["get_weather", "calculator"] && two.content == "Let me check.")
        // Llama 3.x: a bare object with "parameters"; built-ins after <|python_tag|>.
        let llama = ToolCallParser.parse(#"{"name": "get_weather", "parameters": {"city": "Oslo"}}"#, tools: tools)
        #expect(llama.calls.first?.arguments == #"{"city": "Oslo"}"#)
        let tagged = ToolCallParser.parse(#"<|python_tag|>{"name": "calculator", "parameters": {"expression": "3"}}"#, tools: tools)
        #expect(tagged.calls.first?.name == "calculator")
        // Mistral: [TOOL_CALLS] and a list; OpenAI's own shape with arguments as a string.
        let mistral = ToolCallParser.parse(#"[TOOL_CALLS][{"name": "calculator", "arguments": {"expression": "4"}}]"#, tools: tools)
        #expect(mistral.calls.first?.arguments == #"{"expression": "4"}"#)
        let openAI = ToolCallParser.parse(#"{"type": "function", "function": {"name": "calculator", "arguments": "{\"expression\": \"5\"}"}}"#,
                                          tools: tools)
        #expect(openAI.calls.first?.arguments == #"{"expression": "5"}"#)
        // Plain answers stay answers, JSON-looking ones included.
        #expect(ToolCallParser.parse("The answer is 4.", tools: tools) == ParsedReply(content: "The answer is 4."))
        #expect(ToolCallParser.parse(#"{"answer": 4}"#, tools: tools).calls.isEmpty)
    }

    @Test func repairs() {
        func one(_ reply: String, expectCall: Bool = false) -> ParsedReply { ToolCallParser.parse(reply, tools: tools, expectCall: expectCall) }
        let fenced = one("```json\n{\"name\": \"calculator\", \"arguments\": {\"expression\": \"6*7\"}}\n```")
        #expect(fenced.calls.first?.arguments == #"{"expression": "6*7"}"# && fenced.content == nil)
        let trailing = one("<tool_call>{\"name\": \"calculator\", \"arguments\": {\"expression\": \"1\",},}</tool_call>")
        #expect(trailing.calls.first?.arguments == #"{"expression": "1"}"# && trailing.repairs == ["trailing comma"])
        let quotes = one("<tool_call>{'name': 'get_weather', 'arguments': {'city': 'Rome', 'metric': True}}</tool_call>")
        #expect(quotes.calls.first?.arguments == #"{"city": "Rome", "metric": true}"#)
        #expect(quotes.repairs == ["single-quoted string", "Python literal"])
        let dangling = one("<tool_call>{\"name\": \"calculator\", \"arguments\": {\"expression\": \"1\"}, \"typ")
        #expect(dangling.calls.first?.arguments == #"{"expression": "1"}"#, "a key cut off after the arguments is dropped")
        // Cut off (max_tokens): the string and both braces are closed.
        let cut = one("<tool_call>\n{\"name\": \"calculator\", \"arguments\": {\"expression\": \"12 * 7")
        #expect(cut.calls.first?.arguments == #"{"expression": "12 * 7"}"#)
        #expect(cut.repairs == ["unterminated string", "missing }"])
        // A forced call read from its first brace; unquoted keys; arguments given as a string of near-JSON.
        let forced = one("Sure: {name: \"calculator\", arguments: \"{'expression': '2^10'}\"} done", expectCall: true)
        #expect(forced.calls.first?.arguments == #"{"expression": "2^10"}"# && forced.content == "Sure:  done")
        #expect(forced.repairs.contains("unquoted key") && forced.repairs.contains("single-quoted string"))
    }

    @Test func unreadableCallsAreReportedNotThrown() {
        for (reply, problem) in [
            ("<tool_call>{\"name\": \"calculator\", \"arguments\": {\"expression\": }}</tool_call>", "not JSON"),
            ("<tool_call>not json at all</tool_call>", "not JSON"),
            ("<tool_call>{\"arguments\": {}}</tool_call>", "not an object with a \"name\""),
            ("<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>", "unknown tool 'rm_rf'"),
            ("<tool_call>{\"name\": \"calculator\", \"arguments\": \"2 +* 3\"}</tool_call>", "arguments of 'calculator' are not"),
            ("<tool_call>{\"name\": \"calculator\", \"arguments\": [1, 2]}</tool_call>", "not a JSON object"),
            ("<tool_call>" + String(repeating: "[", count: 10_000) + "</tool_call>", "nested more than 256"),
        ] {
            let r = ToolCallParser.parse(reply, tools: tools)
            #expect(r.calls.isEmpty && r.content == reply, "\(reply.prefix(60))")
            #expect(r.problems.count == 1 && r.problems[0].contains(problem), "\(reply.prefix(60)): \(r.problems)")
        }
        // One good call and one bad: the good one is kept, the bad one reported.
        let mixed = ToolCallParser.parse("<tool_call>{\"name\": \"calculator\", \"arguments\": {}}</tool_call><tool_call>{oops</tool_call>",
                                         tools: tools)
        #expect(mixed.calls.count == 1 && mixed.problems.count == 1)
        // Garbage of every kind never traps.
        var rng = RNG(seed: 7)
        let pieces = ["<tool_call>", "</tool_call>", "{", "}", "[", "]", "\"", "'", ",", ":", "name", "arguments", "\\", "```", "\n", "é", "1e9", "-"]
        for _ in 0..<2000 {
            let text = (0..<rng.below(30)).map { _ in pieces[rng.below(pieces.count)] }.joined()
            let r = ToolCallParser.parse(text, tools: tools, expectCall: rng.below(2) == 0)
            #expect(r.calls.isEmpty || r.calls.allSatisfy { tools.contains($0.name) })
        }
    }

    @Test func lenientJSONStrictAndRepaired() throws {
        #expect(try LenientJSON.parse(#"{"b": 1, "a": [true, null, 2.5, "x\"y\u00e9"]}"#).value.jsonText == #"{"b": 1, "a": [true, null, 2.5, "x\"yé"]}"#)
        for bad in ["{'a': 1}", "[1, 2,]", "{\"a\": 1", "tru", "\"\\q\"", "01x"] {
            #expect(throws: LenientJSON.Failure.self, "\(bad)") { try LenientJSON.parse(bad) }
        }
        let (value, repairs) = try LenientJSON.parse("{a: 'x' // note\n \"b\": None,}", lenient: true)
        #expect(value.jsonText == #"{"a": "x", "b": null}"# && repairs == ["unquoted key", "single-quoted string", "comment", "missing comma", "Python literal", "trailing comma"])
    }

    // MARK: - Templates

    struct Fixture {
        let name: String
        let source: String
        let cases: [JinjaDict]
        let now: Date
    }

    /// The fixtures read with their key order kept (templates print tools as given).
    static func toolFixtures() throws -> [Fixture] {
        let text = try String(contentsOfFile: fixturePath("tool_templates.json"), encoding: .utf8)
        guard case .dict(let json) = try LenientJSON.parse(text).value, case .list(let templates)? = json["templates"] else {
            throw ForgeError("tool_templates.json: no templates")
        }
        // The moment the fixtures were rendered at (Mistral Small prints today's date).
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        let now = try #require(formatter.date(from: json["now"]?.str ?? ""))
        return try templates.map { t in
            guard case .dict(let d) = t, case .string(let name)? = d["name"], case .dict(let ref)? = d["source"],
                  case .string(let file)? = ref["llama.cpp"], case .list(let cases)? = d["cases"] else { throw ForgeError("bad fixture") }
            let path = llamaModelsDir + "/" + file.replacingOccurrences(of: "models/", with: "")
            return Fixture(name: name, source: try String(contentsOfFile: path, encoding: .utf8),
                           cases: cases.compactMap { if case .dict(let c) = $0 { c } else { nil } }, now: now)
        }
    }

    /// A fixture message as Forge holds it (tool call arguments as JSON text, as the OpenAI API carries them).
    static func message(_ value: JinjaValue) -> ChatMessage {
        guard case .dict(let m) = value else { return ChatMessage(role: "", content: "") }
        var calls: [ToolCall] = []
        if case .list(let list)? = m["tool_calls"] {
            for case .dict(let c) in list {
                guard case .dict(let f)? = c["function"] else { continue }
                calls.append(ToolCall(id: c["id"]?.str ?? "", name: f["name"]?.str ?? "", arguments: f["arguments"]?.jsonText ?? "{}"))
            }
        }
        var content = ""
        if case .string(let s)? = m["content"] { content = s }
        return ChatMessage(role: m["role"]?.str ?? "", content: content, toolCalls: calls,
                           toolCallID: m["tool_call_id"].map(\.str))
    }

    @Test func templatesWithToolsRenderAsTransformers() throws {
        var checked = 0
        for f in try Self.toolFixtures() {
            let template = try ChatTemplate(f.source)
            #expect(ToolPrompt.rendersTools(template), "\(f.name) renders tools")
            for c in f.cases {
                guard case .list(let raw)? = c["messages"], case .list(let tools)? = c["tools"], case .string(let expected)? = c["expected"] else {
                    Issue.record("\(f.name): a case without messages, tools or an expected render (\(c["error"]?.str ?? ""))")
                    continue
                }
                let messages = raw.map(Self.message)
                // The tools as the server reads them: name, description and parameters, back in OpenAI's form.
                let definitions = tools.compactMap { t -> ToolDefinition? in
                    guard case .dict(let d) = t, case .dict(let fn)? = d["function"] else { return nil }
                    return ToolDefinition(name: fn["name"]?.str ?? "", description: fn["description"]?.str ?? "", parameters: fn["parameters"] ?? .none)
                }
                #expect(definitions.map(\.templateValue) == tools, "\(f.name): tools round trip")
                let got = try template.render(messages, addGenerationPrompt: c["add_generation_prompt"] == .bool(true),
                                              bosToken: c["bos_token"]?.str ?? "", eosToken: c["eos_token"]?.str ?? "",
                                              variables: ["tools": .list(definitions.map(\.templateValue)),
                                                          "date_string": c["date_string"] ?? .none], now: f.now)
                #expect(got == expected, "\(f.name):\n--- got\n\(got)\n--- want\n\(expected)")
                checked += 1
            }
        }
        #expect(checked == 24)
    }

    @Test func conventionsPerFamilyAndTheFallback() throws {
        let formats = Dictionary(uniqueKeysWithValues: try Self.toolFixtures().map { ($0.name, ToolFormat.of(templateSource: $0.source)) })
        #expect(formats == ["llama-3.1": .llama, "llama-3.2": .llama, "llama-3.3": .llama, "qwen-2.5": .hermes,
                            "mistral-nemo": .mistral, "mistral-small-3.2": .mistral])
        let loaded = try LoadedModel.open(smolLM2Path)
        let smol = try #require(loaded.chatTemplate)
        #expect(!ToolPrompt.rendersTools(smol), "SmolLM2's template has no tools")
        let weather = ToolDefinition(name: "get_weather", description: "Current weather in a city.",
                                     parameters: try LenientJSON.parse(#"{"type": "object", "properties": {"city": {"type": "string"}}}"#).value)
        let call = ToolCall(id: "call_1", name: "get_weather", arguments: #"{"city": "Paris"}"#)
        let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Weather in Paris?"),
                        ChatMessage(role: "assistant", content: "", toolCalls: [call]),
                        ChatMessage(role: "tool", content: "18 degrees", toolCallID: "call_1"),
                        ChatMessage(role: "tool", content: "sunny", toolCallID: "call_1")]
        let prompt = try ToolPrompt(loaded, messages: messages, tools: [weather], choice: .function("get_weather"))
        #expect(!prompt.native && prompt.format == .hermes)
        let block = ToolPrompt.toolBlock([weather])
        let want = "<|im_start|>system\nBe brief.\n\n\(block)<|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n"
            + "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n"
            + "<|im_start|>user\n<tool_response>\n18 degrees\n</tool_response>\n<tool_response>\nsunny\n</tool_response><|im_end|>\n"
            + "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {"
        #expect(prompt.text == want, "\(prompt.text)")
        #expect(block.contains(#"{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city.", "#
                               + #""parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}"#))
        // tool_choice "none": no tool block, no prefill; the history is still carried as text.
        let none = try ToolPrompt(loaded, messages: messages, tools: [weather], choice: .none)
        #expect(!none.text.contains("# Tools") && none.prefill.isEmpty && none.text.contains("<tool_response>"))
        // A native template gets the prefill of its own format.
        let calc = CalculatorTool().definition
        #expect(ToolFormat.llama.prefill(for: calc) == #"{"name": "calculator", "parameters": {"expression": ""#)
        #expect(ToolFormat.hermes.prefill(for: ToolDefinition(name: "f")) == "<tool_call>\n" + #"{"name": "f", "arguments": {"#)
        #expect(ToolFormat.mistral.prefill(for: nil) == #"[TOOL_CALLS][{"name": ""#)
        // Where a forced call's JSON ends (generation stops there in forge agent).
        var end = CallCompletion(prefill: ToolFormat.hermes.prefill(for: calc))
        #expect(!end.feed(#"2 } {"#) && !end.feed(#"\" ]"#) && end.feed(#""}, "extra": 1"#), "the arguments object closed")
        var unnamed = CallCompletion(prefill: ToolFormat.hermes.prefill(for: nil))
        #expect(!unnamed.feed(#"calculator", "arguments": {"expression": "1"}"#) && unnamed.feed("}\n</tool_call>"))
    }

    // MARK: - Requests

    @Test func requestsWithTools() throws {
        func parse(_ body: String) -> Result<CompletionRequest, APIError> {
            do throws(APIError) { return .success(try CompletionRequest.parse(Data(body.utf8), kind: .chat)) } catch { return .failure(error) }
        }
        let tool = #"{"type": "function", "function": {"name": "calc", "description": "d", "parameters": {"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "integer"}}}}}"#
        let convo = #"[{"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "calc", "arguments": "{\"z\": \"1\"}"}}]}, {"role": "tool", "tool_call_id": "call_1", "content": "2"}]"#
        let r = try parse(#"{"model": "m", "messages": \#(convo), "tools": [\#(tool)], "tool_choice": {"type": "function", "function": {"name": "calc"}}, "parallel_tool_calls": false}"#).get()
        #expect(r.tools.map(\.name) == ["calc"] && r.toolChoice == .function("calc") && !r.parallelToolCalls && r.readsToolCalls)
        #expect(r.tools[0].parameters.jsonText == #"{"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "integer"}}}"#, "key order kept")
        #expect(r.messages[1] == ChatMessage(role: "assistant", content: "", toolCalls: [ToolCall(id: "call_1", name: "calc", arguments: #"{"z": "1"}"#)]))
        #expect(r.messages[2].toolCallID == "call_1")
        #expect(try !parse(#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [\#(tool)], "tool_choice": "none"}"#).get().readsToolCalls)
        for (extra, param) in [(#""tools": [\#(tool)], "tool_choice": {"type": "function", "function": {"name": "nope"}}"#, "tool_choice"),
                               (#""tool_choice": "auto""#, "tool_choice"), (#""tools": [\#(tool)], "tool_choice": "sometimes""#, "tool_choice"),
                               (#""tools": [{"type": "retrieval"}]"#, "tools[0].type"), (#""tools": [{"type": "function"}]"#, "tools[0].function"),
                               (#""tools": [{"type": "function", "function": {"name": "a b"}}]"#, "tools[0].function.name"),
                               (#""tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]"#, "tools[0].function.parameters"),
                               (#""tools": [\#(tool), \#(tool)]"#, "tools"), (#""tools": {}"#, "tools"),
                               (#""tools": [\#(tool)], "parallel_tool_calls": 1"#, "parallel_tool_calls")] {
            guard case .failure(let e) = parse(#"{"model": "m", "messages": [{"role": "user", "content": "x"}], \#(extra)}"#) else {
                Issue.record("accepted \(extra)"); continue
            }
            #expect(e.status == 400 && e.param == param, "\(extra): \(e)")
        }
        for (messages, param) in [(#"[{"role": "tool", "tool_call_id": "call_9", "content": "2"}]"#, "messages[0].tool_call_id"),
                                  (#"[{"role": "tool", "content": "2"}]"#, "messages[0].tool_call_id"),
                                  (#"[{"role": "assistant", "content": null}]"#, "messages[0].content"),
                                  (#"[{"role": "assistant", "content": "", "tool_calls": [{"id": "c", "function": {"name": "f"}}]}]"#,
                                   "messages[0].tool_calls[0].function.arguments")] {
            guard case .failure(let e) = parse(#"{"model": "m", "messages": \#(messages)}"#) else { Issue.record("accepted \(messages)"); continue }
            #expect(e.status == 400 && e.param == param, "\(messages): \(e)")
        }
    }

    // MARK: - Built-in tools

    @Test(.enabled(if: miniLMPath != nil, miniLMMissing))
    func searchIndexTool() async throws {
        let dir = temporaryDirectory("search-tool")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/docs", withIntermediateDirectories: true)
        try "# Garden\n\n## Roses\nPrune roses in late winter before new growth starts.\n\n## Tomatoes\nTomatoes need full sun.\n"
            .write(toFile: dir + "/docs/garden.md", atomically: true, encoding: .utf8)
        let encoder = try SentenceEncoder(modelDir: miniLMPath!)
        let store = try VectorStore(path: dir + "/index.db", embedder: miniLMPath!, dimension: encoder.dimension)
        _ = try RAGIndexer(encoder: encoder, chunker: try DocumentChunker(maxTokens: 64, overlap: 8)).index(dir + "/docs", into: store)
        let tool = SearchIndexTool(retriever: try Retriever(store: store, encoder: encoder), k: 1)
        let out = try await tool.call(JinjaDict([("query", .string("When should I cut back roses?"))]))
        #expect(out.hasPrefix("[1] garden.md § Roses (score ") && out.contains("late winter"), "\(out)")
        let two = try await tool.call(JinjaDict([("query", .string("sun")), ("k", .string("2"))]))
        #expect(two.contains("[2] "))
        await #expect(throws: ForgeError.self) { try await tool.call(JinjaDict([("q", .string("x"))])) }
    }

    @Test func calculator() throws {
        for (e, want) in [("1+2*3", "7"), ("2^3^2", "512"), ("-2^2", "-4"), ("2**-1", "0.5"), ("sqrt(16) + abs(-3)", "7"), ("10/4", "2.5"),
                          ("log(8, 2)", "3"), ("max(1, 5, 3) % 3", "2"), ("(1 + 2) × 3 ÷ 9", "1"), ("1/3", "0.333333333333"), ("2e3", "2000")] {
            #expect(Calculator.format(try Calculator.evaluate(e)) == want, "\(e)")
        }
        for (e, why) in [("1/0", "division by zero"), ("__import__('os')", "unexpected '_'"), ("open(1)", "unknown function 'open'"),
                         ("1 +", "found the end"), ("(1", "missing ')'"), ("sqrt(-1)", "negative"), ("10^400", "not a finite"),
                         (String(repeating: "(", count: 80) + "1" + String(repeating: ")", count: 80), "nesting"),
                         (String(repeating: "1+", count: 600) + "1", "longer than 1,000")] {
            #expect(throws: ForgeError.self, "\(e.prefix(20))") { try Calculator.evaluate(e) }
            do { _ = try Calculator.evaluate(e) } catch { #expect("\(error)".contains(why), "\(e.prefix(20)): \(error)") }
        }
    }

    @Test func readFileStaysInsideItsFolder() throws {
        let base = temporaryDirectory("readfile")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let root = base + "/files", fm = FileManager.default
        try fm.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
        try "hello\n".write(toFile: root + "/a.txt", atomically: true, encoding: .utf8)
        try "secret".write(toFile: base + "/secret.txt", atomically: true, encoding: .utf8)
        try String(repeating: "x", count: 5000).write(toFile: root + "/big.txt", atomically: true, encoding: .utf8)
        try Data([0x41, 0x00, 0x42]).write(to: URL(fileURLWithPath: root + "/bin.dat"))
        try fm.createSymbolicLink(atPath: root + "/sub/inside-link", withDestinationPath: "../a.txt")
        try fm.createSymbolicLink(atPath: root + "/escape-link", withDestinationPath: base + "/secret.txt")
        try fm.createSymbolicLink(atPath: root + "/dir-link", withDestinationPath: base)
        let tool = try ReadFileTool(folder: root, maxBytes: 1000)
        for path in ["a.txt", "sub/inside-link", "./sub/../a.txt", root + "/a.txt"] {
            #expect(try tool.read(path) == "hello\n", "\(path)")
        }
        let listing = try tool.read(".")
        #expect(listing.contains("a.txt") && listing.contains("sub/"))
        let big = try tool.read("big.txt")
        #expect(big.hasPrefix(String(repeating: "x", count: 1000)) && big.contains("[cut: the file has 5000 bytes; this is the first 1000]"))
        for (path, why) in [("../secret.txt", "outside"), ("escape-link", "outside"), ("dir-link/secret.txt", "outside"),
                            ("sub/../../secret.txt", "outside"), (base + "/secret.txt", "outside"), ("/etc/passwd", "outside"),
                            ("missing.txt", "no such file"), ("bin.dat", "not a text file"), ("", "empty")] {
            do {
                let text = try tool.read(path)
                Issue.record("\(path) was read: \(text.prefix(40))")
            } catch { #expect("\(error)".contains(why), "\(path): \(error)") }
        }
        #expect(throws: ForgeError.self) { try ReadFileTool(folder: base + "/nope") }
    }

    // MARK: - MCP

    static let mcpServer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("python/mcp_server.py").path
    static let pythonHasMCP: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import mcp.server.mcpserver"]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    @Test(.enabled(if: pythonHasMCP, "needs the mcp Python package (the test command installs it)"))
    func mcpClientAgainstThePythonSDKServer() async throws {
        let dir = temporaryDirectory("mcp")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Starting Python and importing the SDK can take tens of seconds on a busy machine.
        let client = try await MCPClient(command: "python3 '\(Self.mcpServer)' \(dir)/calls.jsonl", timeout: 120)
        defer { client.close() }
        #expect(client.serverName == "forge-test-tools")
        let tools = try await client.listTools()
        #expect(tools.map(\.name) == ["word_count", "add"])
        #expect(tools[1].parameters.jsonText.contains(#""required": ["a", "b"]"#))
        let sum = try await client.callTool("add", arguments: JinjaDict([("a", .int(2)), ("b", .int(40))]))
        #expect(sum.text == "42" && !sum.isError)
        let bad = try await client.callTool("add", arguments: JinjaDict([("a", .string("two"))]))
        #expect(bad.isError, "invalid arguments are the tool's error: \(bad.text)")
        do {
            _ = try await client.callTool("no_such_tool", arguments: JinjaDict())
        } catch { #expect("\(error)".contains("no_such_tool") || "\(error)".contains("nknown"), "\(error)") }
        #expect(try MCPClient.split(#"python3 'a b.py' "c d" e\ f"#) == ["python3", "a b.py", "c d", "e f"])
        do {
            _ = try await MCPClient(command: "python3 -c 'import sys; sys.exit(3)'", timeout: 10)
            Issue.record("a server that exits at once was accepted")
        } catch {
            #expect("\(error)".contains("MCP server"), "\(error)")
            print("a server that exits at once: \(error)")
        }
        // A server that never answers: the time limit ends the wait.
        let start = Date()
        do {
            _ = try await MCPClient(command: "python3 -c 'import time; time.sleep(30)'", timeout: 2)
            Issue.record("a silent server was accepted")
        } catch { #expect("\(error)".contains("took longer than 2 s"), "\(error)") }
        #expect(Date().timeIntervalSince(start) < 10)
    }

    // MARK: - End to end with SmolLM2

    /// The openai client: forced calls (named and "required", streamed and whole), the result sent back and an answer, cut-off
    /// arguments repaired or reported, and 400s for an unknown tool in tool_choice and other bad tool input.
    @Test func openAIClientToolRoundTrip() throws {
        let server = try ServerProcess(["--model", smolLM2Path, "--name", "smollm2", "--context", "2048"])
        let out = try runPythonJSON("openai_tools.py", [server.base, "smollm2"])
        let failures = out["failures"] as? [String] ?? ["no output"]
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect((out["checks"] as? [String])?.count == 6)
        print("SmolLM2's forced calculator arguments: \(out["arguments"] ?? [])")
        #expect(server.stop() == 0)
    }

    /// forge agent: SmolLM2 forced to call the calculator at step 1 (later steps are its own choice), with --confirm declining.
    @Test func agentRunsTheCalculatorAndAsksFirst() throws {
        let dir = temporaryDirectory("agent")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = ["agent", "--model", smolLM2Path, "--temperature", "0", "-n", "48", "--tool-choice", "calculator", "--max-steps", "1",
                    "--transcript", dir + "/t.json", "What is 12 times 7?"]
        let r = try runForge(args)
        #expect(r.status == 0, "\(r.stderr)")
        let t = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/t.json"))) as? [String: Any])
        let messages = try #require(t["messages"] as? [[String: Any]])
        try #require(messages.map { $0["role"] as? String ?? "" }.prefix(4) == ["user", "assistant", "tool", "assistant"], "\(messages)")
        let call = try #require((messages[1]["tool_calls"] as? [[String: Any]])?.first?["function"] as? [String: String])
        #expect(call["name"] == "calculator")
        // Whatever expression the model wrote, the result is the calculator's value or its error, never a crash.
        let result = try #require(messages[2]["content"] as? String)
        #expect(Double(result) != nil || result.hasPrefix("Error: "), "\(result)")
        #expect(r.stderr.contains("[call] calculator(") && !r.stdout.isEmpty && t["hit_step_limit"] as? Bool == true)
        print("agent: \(call["arguments"] ?? "") -> \(result); answer: \(r.stdout.prefix(120))")
        // --confirm: "n" on stdin declines the call, and the model is told.
        let declined = try runForge(args + ["--confirm"], stdin: "n\n")
        #expect(declined.status == 0 && declined.stderr.contains("[y/N]") && declined.stderr.contains("[declined] calculator"))
        let t2 = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/t.json"))) as? [String: Any])
        #expect(((t2["messages"] as? [[String: Any]])?.dropFirst(2).first?["content"] as? String) == "The user declined this call.")
    }

    /// forge agent --mcp: the Python SDK's server is started, listed and called with the arguments SmolLM2 wrote.
    @Test(.enabled(if: pythonHasMCP, "needs the mcp Python package (the test command installs it)"))
    func agentCallsAnMCPServer() throws {
        let dir = temporaryDirectory("agent-mcp")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runForge(["agent", "--model", smolLM2Path, "--temperature", "0", "-n", "48", "--tool-choice", "word_count",
                              "--max-steps", "1", "--mcp", "python3 '\(Self.mcpServer)' '\(dir)/calls.jsonl'", "--transcript", dir + "/t.json",
                              "How many words are in this sentence: the quick brown fox jumps"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("tools: calculator, word_count, add"))
        let log = try String(contentsOfFile: dir + "/calls.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(log.count == 1 && log[0].contains(#""tool": "word_count""#), "\(log)")
        let t = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/t.json"))) as? [String: Any])
        let result = try #require((t["messages"] as? [[String: Any]])?.dropFirst(2).first?["content"] as? String)
        #expect(result.hasSuffix(" words"), "the server's result reaches the model: \(result)")
        print("MCP call: \(log.first ?? "") -> \(result)")
        // A server that cannot start is one clear error.
        let bad = try runForge(["agent", "--model", smolLM2Path, "--mcp", "no-such-program-xyz", "hi"])
        #expect(bad.status != 0 && bad.stderr.contains("MCP"), "\(bad.stderr)")
    }
}
