// forge bench structured: generation speed with a JSON-schema constraint beside the same prompts without one.
import ArgumentParser
import ForgeCore
import ForgeInference
import Foundation

struct BenchStructured: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "structured",
        abstract: "Generation tokens/s with a JSON-schema constraint beside the same prompts without one.",
        discussion: """
        Each prompt (a chat turn asking for JSON) is generated greedily three times: free, constrained with empty mask \
        caches (cold: the grammar's masks are computed as states are first met), constrained again (warm: masks cached). \
        Tokens/s count generated tokens over decoding time (prompt excluded). Prints the three rates, the ratios, mask \
        statistics and a JSON line.

        Example: forge bench structured --model SmolLM2-135M-Instruct.Q4_1.gguf -n 96
        """)

    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "A JSON schema file (default: three built-in schemas, each with its own prompts).") var schema: String?
    @Option(name: .customShort("n"), help: "Most tokens per reply.") var maxTokens = 96
    @OptionGroup var threads: ThreadOptions

    /// Three schemas, each with three prompts.
    static let builtIn: [(schema: String, prompts: [String])] = [
        ("""
         {"type": "object", "properties": {"name": {"type": "string", "maxLength": 40},
          "age": {"type": "integer", "minimum": 0, "maximum": 120},
          "hobbies": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3}},
          "required": ["name", "age", "hobbies"]}
         """, ["Invent a sailor and describe them in JSON.", "Describe a famous painter in JSON.", "Invent a chess player in JSON."]),
        ("""
         {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"},
          "population": {"type": "integer", "minimum": 0}, "landmarks": {"type": "array", "items": {"type": "string"}, "maxItems": 4}},
          "required": ["city", "country", "population", "landmarks"]}
         """, ["Describe Paris in JSON.", "Describe Tokyo in JSON.", "Describe Cairo in JSON."]),
        ("""
         {"type": "object", "properties": {"steps": {"type": "array", "minItems": 1, "maxItems": 4, "items": {"type": "object",
          "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9}, "text": {"type": "string", "maxLength": 60}},
          "required": ["n", "text"]}}}, "required": ["steps"]}
         """, ["How do I make tea? Answer in JSON steps.", "How do I plant a tree? Answer in JSON steps.",
               "How do I tie a knot? Answer in JSON steps."]),
    ]

    func run() throws {
        try threads.apply()
        let loaded = try LoadedModel.open(model)
        var pairs = Self.builtIn
        if let schema {
            guard let data = FileManager.default.contents(atPath: schema) else { throw ForgeError.file(schema, "cannot be read") }
            let prompts = ["Reply in JSON.", "Describe something you like in JSON.", "Answer in JSON."]
            pairs = [(String(decoding: data, as: UTF8.self), prompts)]
        }
        var t0 = ContinuousClock.now
        let vocabulary = TokenVocabulary(loaded)
        let trieSeconds = seconds(since: t0)
        let generator = try loaded.generator(contextLength: 1024)
        var free = (tokens: 0, seconds: 0.0), cold = free, warm = free
        var maskSeconds = 0.0, masks = 0, compileSeconds = 0.0
        for (schemaText, prompts) in pairs {
            t0 = .now
            let constraint = try TokenConstraint(grammar: JSONSchemaGrammar.compile(schemaText), vocabulary: vocabulary,
                                                 endTokens: loaded.endTokens)
            compileSeconds += seconds(since: t0)
            for text in prompts {
                let prompt = loaded.encode(try loaded.chatPrompt([.init(role: "user", content: text)]), special: true)
                var settings = GenerationSettings()
                settings.maxTokens = maxTokens
                settings.sampling = .greedy
                let a = try generator.generate(prompt: prompt, settings: settings)
                free.tokens += a.tokens.count; free.seconds += a.decodeSeconds
                settings.constraint = constraint
                for pass in 0..<2 {
                    let r = try generator.generate(prompt: prompt, settings: settings)
                    if pass == 0 { cold.tokens += r.tokens.count; cold.seconds += r.decodeSeconds }
                    else { warm.tokens += r.tokens.count; warm.seconds += r.decodeSeconds }
                }
            }
            let s = constraint.statistics
            maskSeconds += s.maskSeconds
            masks += s.masks
        }
        let rate = { (x: (tokens: Int, seconds: Double)) in Double(x.tokens) / max(x.seconds, 1e-9) }
        print("model: \(loaded.model.summary), threads: \(Parallel.threads), \(pairs.count) schemas, "
              + "\(pairs.reduce(0) { $0 + $1.prompts.count }) prompts, greedy, at most \(maxTokens) tokens")
        print(String(format: "vocabulary trie: %d nodes in %.2f s; grammars bound in %.3f s", vocabulary.nodeCount, trieSeconds,
                     compileSeconds))
        for (name, x) in [("free:             ", free), ("constrained, cold:", cold), ("constrained, warm:", warm)] {
            print(String(format: "%@ %7.1f tokens/s (%d tokens)  ratio %.3f", name as NSString, rate(x), x.tokens, rate(x) / rate(free)))
        }
        print(String(format: "masks: %d computed in %.3f s (%.2f ms each)", masks, maskSeconds, 1000 * maskSeconds / Double(max(masks, 1))))
        let json: [String: Any] = ["free_tokens_per_s": rate(free), "cold_tokens_per_s": rate(cold),
                                   "warm_tokens_per_s": rate(warm), "cold_ratio": rate(cold) / rate(free),
                                   "warm_ratio": rate(warm) / rate(free), "masks": masks, "mask_seconds": maskSeconds,
                                   "threads": Parallel.threads]
        print(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
    }

    func seconds(since t: ContinuousClock.Instant) -> Double {
        (ContinuousClock.now - t).inSeconds
    }
}
