// Chat templates rendered exactly as Hugging Face transformers renders them (fixtures from
// Tests/python/make_chat_template_fixtures.py), for SmolLM2, Llama 3.x, Qwen 2.5, Mistral and Gemma;
// template errors (raise_exception) are raised too, and unsupported Jinja is a clear error.
import ForgeCore
import ForgeTokenizer
import Foundation
import Testing

@Suite struct ChatTemplateTests {
    struct Fixture {
        let name: String
        let source: String
        let cases: [[String: Any]]
        let now: Date
    }

    static func fixtures() throws -> [Fixture] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("chat_templates.json")))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        // The moment the fixtures were rendered at (templates such as Mistral's print today's date).
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        let now = try #require(formatter.date(from: json["now"] as! String))
        return try (json["templates"] as! [[String: Any]]).map { t in
            let ref = t["source"] as! [String: String]
            let source: String
            if ref["gguf"] != nil {
                source = try #require(try GGUFFile(path: smolLM2Path)["tokenizer.chat_template"]?.string)
            } else {
                let path = llamaModelsDir + "/" + ref["llama.cpp"]!.replacingOccurrences(of: "models/", with: "")
                source = try String(contentsOfFile: path, encoding: .utf8)
            }
            return Fixture(name: t["name"] as! String, source: source, cases: t["cases"] as! [[String: Any]], now: now)
        }
    }

    @Test func rendersExactlyAsTransformers() throws {
        var checked = 0
        for f in try Self.fixtures() {
            let template = try ChatTemplate(f.source)
            for c in f.cases {
                let messages = (c["messages"] as! [[String: String]]).map { ChatMessage(role: $0["role"]!, content: $0["content"]!) }
                let render = {
                    try template.render(messages, addGenerationPrompt: c["add_generation_prompt"] as! Bool,
                                        bosToken: c["bos_token"] as! String, eosToken: c["eos_token"] as! String,
                                        variables: ["date_string": .string(c["date_string"] as! String)], now: f.now)
                }
                if let expected = c["expected"] as? String {
                    let got = try render()
                    #expect(got == expected, "\(f.name) \(messages.map(\.role)):\n--- got\n\(got)\n--- want\n\(expected)")
                } else {
                    let message = c["error"] as! String
                    do {
                        let got = try render()
                        Issue.record("\(f.name) \(messages.map(\.role)): expected an error (\(message)), rendered \(String(reflecting: got))")
                    } catch let e as ChatTemplateError {
                        if f.source.contains(message) { #expect(e.description == message, "\(f.name): error text") }
                    }
                }
                checked += 1
            }
        }
        #expect(checked >= 50)
    }

    @Test func templateFeatures() throws {
        func r(_ src: String, _ vars: [String: JinjaValue] = [:]) throws -> String {
            try ChatTemplate(src).render([], addGenerationPrompt: false, variables: vars)
        }
        #expect(try r("{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}") == "3")
        #expect(try r("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}") == "1")
        #expect(try r("{{ [1, 2, 3][1:] }} {{ 'abc'[::-1] }} {{ 'a,b'.split(',') | join('+') }}") == "[2, 3] cba a+b")
        #expect(try r("{{ {'b': 1, 'a': [true, none, 1.5, 'é\"']} | tojson }}") == #"{"b": 1, "a": [true, null, 1.5, "é\""]}"#)
        #expect(try r("{{ x | tojson(indent=2) }}", ["x": .dict(JinjaDict([("k", .list([.int(1)]))]))]) == "{\n  \"k\": [\n    1\n  ]\n}")
        #expect(try r("{% for k, v in {'a': 1, 'b': 2}.items() if v > 1 %}{{ k }}{{ loop.index }}{% endfor %}") == "b1")
        #expect(try r("{{ 'yes' if missing is not defined else 'no' }}-{{ missing | default('d') }}") == "yes-d")
        // Whitespace control as jinja2 with trim_blocks and lstrip_blocks renders it.
        #expect(try r("  {%- if true %}\n  x\n  {%- endif %}\n") == "  x")
        #expect(try r("a\n    {% if true %}\n    y\n    {% endif %}\nb") == "a\n    y\nb")
        #expect(throws: ChatTemplateError.self) { try r("{% macro m() %}{% endmacro %}") }
        #expect(throws: ChatTemplateError("boom")) { try r("{{ raise_exception('boom') }}") }
    }
}
