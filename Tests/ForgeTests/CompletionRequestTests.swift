// OpenAI request parsing: JSON types as the API types them (a 0 is not false), ranges, the fields that depend on each
// other, and the error's param naming the field.
import ForgeServer
import ForgeTokenizer
import Foundation
import Testing

@Suite struct CompletionRequestTests {
    func chat(_ extra: String) -> String {
        #"{"model": "m", "messages": [{"role": "user", "content": "hi"}]\#(extra.isEmpty ? "" : ", " + extra)}"#
    }

    func parse(_ json: String, _ kind: CompletionRequest.Kind = .chat) -> Result<CompletionRequest, APIError> {
        Result { () throws(APIError) in try CompletionRequest.parse(Data(json.utf8), kind: kind) }
    }

    @Test(arguments: [
        (#""stream": 0"#, "stream"), (#""stream": "true""#, "stream"), (#""n": true"#, "n"), (#""n": 1.5"#, "n"),
        (#""n": 0"#, "n"), (#""temperature": true"#, "temperature"), (#""temperature": 2.5"#, "temperature"),
        (#""top_p": "1""#, "top_p"), (#""max_tokens": -1"#, "max_tokens"), (#""max_tokens": 0"#, "max_tokens"),
        (#""max_tokens": 4, "max_completion_tokens": 0"#, "max_completion_tokens"), (#""seed": 1.5"#, "seed"),
        (#""stop": [1]"#, "stop"), (#""stop": ["a", "b", "c", "d", "e"]"#, "stop"), (#""top_logprobs": 2"#, "top_logprobs"),
        (#""logprobs": 1"#, "logprobs"), (#""stream_options": {"include_usage": true}"#, "stream_options"),
        (#""stream": true, "stream_options": {"include_usage": 1}"#, "stream_options.include_usage"),
        (#""presence_penalty": 3"#, "presence_penalty"), (#""ignore_eos": 0"#, "ignore_eos"),
    ])
    func refusedWithTheFieldNamed(extra: String, param: String) {
        guard case .failure(let e) = parse(chat(extra)) else { Issue.record("accepted \(extra)"); return }
        #expect(e.status == 400 && e.param == param, "\(extra): \(e)")
    }

    @Test func acceptedFieldsAndDefaults() throws {
        let r = try parse(chat(#""stream": true, "stream_options": {"include_usage": true}, "n": 2.0, "temperature": 0, "top_p": 1,"#
                                 + #" "max_tokens": 9, "max_completion_tokens": 7, "stop": "x", "seed": -1, "logprobs": true,"#
                                 + #" "top_logprobs": 3, "user": "u", "ignore_eos": true, "unknown_field": {"a": 1}"#)).get()
        #expect(r.stream && r.includeUsage && r.n == 2 && r.temperature == 0 && r.maxTokens == 7 && r.stop == ["x"])
        #expect(r.seed == UInt64.max && r.topLogprobs == 3 && r.user == "u" && r.ignoreEOS)
        let d = try parse(chat("")).get()
        #expect(!d.stream && d.n == 1 && d.temperature == 1 && d.maxTokens == nil && d.topLogprobs == nil && d.seed == nil)
    }

    @Test func messages() throws {
        let r = try parse(#"{"model": "m", "messages": [{"role": "developer", "content": "be brief"},"#
                          + #" {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}"#).get()
        #expect(r.messages == [ChatMessage(role: "system", content: "be brief"), ChatMessage(role: "user", content: "ab")])
        for bad in [#"[]"#, #"[{"role": "user"}]"#, #"[{"role": "tool", "content": "x"}]"#, #"[{"role": "user", "content": 3}]"#,
                    #"[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]"#, #""hi""#] {
            guard case .failure(let e) = parse(#"{"model": "m", "messages": \#(bad)}"#) else { Issue.record("accepted \(bad)"); continue }
            #expect(e.status == 400 && e.param?.hasPrefix("messages") == true, "\(bad): \(e)")
        }
    }

    @Test func textPromptsAndMalformedBodies() throws {
        #expect(try parse(#"{"model": "m", "prompt": ["a", "b"], "logprobs": 2}"#, .text).get().prompts == ["a", "b"])
        for (body, param) in [(#"{"model": "m", "prompt": 5}"#, "prompt"), (#"{"model": "m", "prompt": []}"#, "prompt"),
                              (#"{"prompt": "x"}"#, "model"), (#"{"model": "m", "prompt": "x", "logprobs": 6}"#, "logprobs"),
                              (#"{"model": "m", "prompt": "x", "echo": true}"#, "echo")] {
            guard case .failure(let e) = parse(body, .text) else { Issue.record("accepted \(body)"); continue }
            #expect(e.status == 400 && e.param == param, "\(body): \(e)")
        }
        for body in ["{", "[1]", "", "null", #"{"model": "m", "messages": [{"role": "user", "content": "x"}]"#] {
            guard case .failure(let e) = parse(body) else { Issue.record("accepted \(body)"); continue }
            #expect(e.status == 400, "\(body): \(e)")
        }
    }
}
