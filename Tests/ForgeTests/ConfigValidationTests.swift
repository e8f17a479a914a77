// Configs from users: every value is checked with an error naming its key; no value crashes a loader.
import ForgeCore
import ForgeModels
import Foundation
import Testing

@Suite struct ConfigValidationTests {
    /// A small valid config.json of each family, and the keys each reads.
    static var bases: [(String, [String: Any])] { [
        ("gpt2", ["model_type": "gpt2", "vocab_size": 50, "n_positions": 16, "n_embd": 8, "n_layer": 1, "n_head": 2, "n_inner": 16,
                  "layer_norm_epsilon": 1e-5, "initializer_range": 0.02, "bos_token_id": 1, "eos_token_id": 2]),
        ("llama", ["model_type": "llama", "vocab_size": 50, "max_position_embeddings": 16, "hidden_size": 8, "num_hidden_layers": 1,
                   "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 16, "rms_norm_eps": 1e-6,
                   "rope_theta": 10000.0, "head_dim": 4, "bos_token_id": 1, "eos_token_id": 2]),
        ("gemma3", ["model_type": "gemma3_text", "vocab_size": 50, "max_position_embeddings": 16, "hidden_size": 8, "num_hidden_layers": 2,
                    "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4, "intermediate_size": 16, "rms_norm_eps": 1e-6,
                    "rope_theta": 1e6, "rope_local_base_freq": 1e4, "sliding_window": 4, "sliding_window_pattern": 2,
                    "query_pre_attn_scalar": 4, "bos_token_id": 1, "eos_token_id": 2]),
    ] }

    static var oddValues: [Any] { [0, -1, -7, 3, 1 << 40, 1_000_000_000_000, 1e30, 0.5, -0.0, Double.greatestFiniteMagnitude,
                                   "12", "", true, false, NSNull(), [1, 2], [String: Int]()] }

    func write(_ json: [String: Any], to dir: String) throws {
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/config.json"))
    }

    /// 600 configs with one to three fields replaced by zero, negative, huge, fractional or mistyped values: each
    /// either loads into a config that validates, or fails with a ForgeError naming a key it changed.
    @Test func randomConfigsNeverCrashTheLoader() throws {
        let dir = temporaryDirectory("configs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = RNG(seed: 77)
        var refused = 0
        for trial in 0..<600 {
            let (family, base) = Self.bases[trial % Self.bases.count]
            var json = base
            let keys = base.keys.sorted().filter { $0 != "model_type" }
            var changed: [String] = []
            for _ in 0..<(1 + rng.below(3)) {
                let key = keys[rng.below(keys.count)]
                json[key] = Self.oddValues[rng.below(Self.oddValues.count)]
                changed.append(key)
            }
            try write(json, to: dir)
            do {
                let c = try ModelDir.loadConfig(from: dir)
                try c.validate()
                #expect(c.architecture.rawValue == family)
            } catch let e as ForgeError {
                refused += 1
                #expect(changed.contains { e.description.contains($0) } || e.description.contains("parameters need"),
                        "\(family) with \(changed): the error does not name the key: \(e)")
                #expect(e.description.hasPrefix(dir + "/config.json: "), "\(e)")
            }
        }
        #expect(refused > 200)
    }

    /// The same for GGUF metadata: 600 sets of each family's keys with random values never crash the config reader,
    /// and every refusal names a key it changed.
    @Test func randomGGUFMetadataNeverCrashesTheLoader() {
        var rng = RNG(seed: 78)
        let values: [GGUFValue] = [.uint(0), .int(-1), .int(-3), .uint(7), .uint(1 << 40), .uint(UInt64.max), .float(1e30), .float(0.5),
                                   .float(-.infinity), .float(.nan), .string("x"), .bool(true), .array([.uint(1)])]
        let families: [(String, [String: GGUFValue])] = [
            ("llama", ["embedding_length": .uint(8), "block_count": .uint(1), "attention.head_count": .uint(2),
                       "attention.head_count_kv": .uint(1), "feed_forward_length": .uint(16), "context_length": .uint(32),
                       "attention.layer_norm_rms_epsilon": .float(1e-5), "rope.freq_base": .float(10000), "rope.dimension_count": .uint(4)]),
            ("gemma3", ["embedding_length": .uint(8), "block_count": .uint(2), "attention.head_count": .uint(2),
                        "attention.head_count_kv": .uint(1), "attention.key_length": .uint(4), "attention.value_length": .uint(4),
                        "feed_forward_length": .uint(16), "context_length": .uint(32), "attention.sliding_window": .uint(4),
                        "attention.layer_norm_rms_epsilon": .float(1e-6), "rope.freq_base": .float(1e6)]),
            ("gpt2", ["embedding_length": .uint(8), "block_count": .uint(1), "attention.head_count": .uint(2),
                      "feed_forward_length": .uint(16), "context_length": .uint(32), "attention.layer_norm_epsilon": .float(1e-5)]),
        ]
        for trial in 0..<600 {
            let (name, base) = families[trial % families.count]
            var meta = base
            let keys = base.keys.sorted()
            var changed: [String] = []
            for _ in 0..<(1 + rng.below(3)) {
                let k = keys[rng.below(keys.count)]
                meta[k] = values[rng.below(values.count)]
                changed.append(k)
            }
            let metadata = Dictionary(uniqueKeysWithValues: meta.map { (name + "." + $0.key, $0.value) })
            do {
                let family = try Architectures.forGGUF(name)
                try family.config(gguf: ConfigKeys(gguf: metadata, architecture: name), vocabSize: 50).validate()
            } catch let e as ForgeError {
                #expect(changed.contains { e.description.contains($0) } || e.description.contains("rotary")
                        || e.description.contains("parameters need"), "\(name) with \(changed): \(e)")
            } catch {
                Issue.record("\(name): unexpected error \(error)")
            }
        }
    }

    /// The cases a new user hit: a zero head count (was a division by zero) and a context of 10^12 positions (was an
    /// allocation failure) are one-line errors naming the key, through the CLI too.
    @Test func zeroHeadsAndAbsurdContextAreClearErrors() throws {
        let dir = temporaryDirectory("badconfig")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var json = Self.bases[1].1
        json["num_attention_heads"] = 0
        try write(json, to: dir)
        #expect(throws: ForgeError("\(dir)/config.json: num_attention_heads must be in 1...4096, got 0")) { try ModelDir.loadConfig(from: dir) }
        let r = try runForge(["generate", "--model", dir, "--prompt", "hi"])
        #expect(r.status != 0 && r.stderr.contains("num_attention_heads must be in 1...4096, got 0"), "\(r.stderr)")
        json = Self.bases[0].1
        json["n_positions"] = 1_000_000_000_000
        try write(json, to: dir)
        #expect(throws: ForgeError("\(dir)/config.json: n_positions must be in 1...1073741824, got 1000000000000")) {
            try ModelDir.loadConfig(from: dir)
        }
        json["n_positions"] = 1 << 30
        json["n_embd"] = 4096
        json["n_head"] = 32
        try write(json, to: dir)
        do { _ = try ModelDir.loadConfig(from: dir); Issue.record("a 4-trillion-parameter config was accepted") }
        catch let e as ForgeError { #expect(e.description.contains("parameters need") && e.description.contains("GiB"), "\(e)") }
    }
}
