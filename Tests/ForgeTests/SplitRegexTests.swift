// SplitRegex against Python's `regex` module on the pre-tokenizer patterns of real tokenizers
// (fixtures from Tests/python/make_regex_fixtures.py).
import ForgeCore
import ForgeTokenizer
import Foundation
import Testing

/// Path of a file under Tests/ForgeTests/Fixtures.
func fixturePath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/" + name).path
}

@Suite struct SplitRegexTests {
    @Test func matchesPythonRegexOnTrickyTexts() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("regex_cases.json")))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let cases = json["cases"] as! [[String: Any]]
        var compiled: [String: SplitRegex] = [:]
        var failures = 0
        for c in cases {
            let pattern = c["pattern"] as! String, text = c["text"] as! String, expected = c["matches"] as! [String]
            let rx = try compiled[pattern] ?? SplitRegex(pattern)
            compiled[pattern] = rx
            let got = rx.matches(in: text)
            if got != expected {
                failures += 1
                if failures <= 5 { Issue.record("pattern \(pattern)\ntext \(String(reflecting: text))\n got \(got)\nwant \(expected)") }
            }
        }
        #expect(failures == 0, "\(failures) of \(cases.count) cases differ")
    }

    @Test func unsupportedConstructsAreClearErrors() {
        for bad in ["(?<=a)b", "a++", "[[:alpha:]]", "\\p{Greek}", "(a", "a)", "*a", "\\k"] {
            #expect(throws: ForgeError.self, "\(bad)") { try SplitRegex(bad) }
        }
    }
}
