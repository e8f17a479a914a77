// PipelineConfig: the one file (JSON) that configures `forge data`. Every section and setting has
// a default, so `{"sources": [{"name": "web", "paths": ["raw/"]}]}` is a complete pipeline file.
import ForgeCore
import Foundation

/// One input source.
public struct SourceConfig: Codable, Sendable, Equatable {
    public var name: String
    public var paths: [String]
    /// Sampling weight: 1 keeps every document, 0.5 about half (by a hash of the id), 2 writes each twice.
    public var weight = 1.0
    /// The JSONL field holding the text.
    public var textField = "text"

    public init(name: String, paths: [String], weight: Double = 1, textField: String = "text") {
        (self.name, self.paths, self.weight, self.textField) = (name, paths, weight, textField)
    }
    enum CodingKeys: String, CodingKey { case name, paths, weight, textField = "text_field" }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        paths = try c.decode([String].self, forKey: .paths)
        weight = try c.decodeIfPresent(Double.self, forKey: .weight) ?? 1
        textField = try c.decodeIfPresent(String.self, forKey: .textField) ?? "text"
    }
}

/// The whole pipeline.
public struct PipelineConfig: Codable, Sendable, Equatable {
    public var sources: [SourceConfig]
    /// Output directory (JSONL shards, manifest, summary).
    public var output = "data/clean"
    /// Share of documents (by a hash of the id) that go to validation.
    public var validationFraction = 0.05
    /// Documents whose id contains one of these go to validation instead (whole works held out).
    public var validationIdsContaining: [String] = []
    public var shardDocuments = 10_000
    public var clean = CleanOptions()
    public var quality = QualityOptions()
    public var exactDedup = ExactDedupOptions()
    public var nearDedup = NearDedupOptions()
    public var toxicity = ToxicityOptions()
    public var pii = PIIOptions()

    public init(sources: [SourceConfig]) { self.sources = sources }

    enum CodingKeys: String, CodingKey {
        case sources, output, validationFraction = "validation_fraction", validationIdsContaining = "validation_ids_containing",
             shardDocuments = "shard_documents", clean, quality, exactDedup = "exact_dedup", nearDedup = "near_dedup", toxicity, pii
    }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        sources = try c.decode([SourceConfig].self, forKey: .sources)
        output = try c.decodeIfPresent(String.self, forKey: .output) ?? "data/clean"
        validationFraction = try c.decodeIfPresent(Double.self, forKey: .validationFraction) ?? 0.05
        validationIdsContaining = try c.decodeIfPresent([String].self, forKey: .validationIdsContaining) ?? []
        shardDocuments = try c.decodeIfPresent(Int.self, forKey: .shardDocuments) ?? 10_000
        clean = try c.decodeIfPresent(CleanOptions.self, forKey: .clean) ?? CleanOptions()
        quality = try c.decodeIfPresent(QualityOptions.self, forKey: .quality) ?? QualityOptions()
        exactDedup = try c.decodeIfPresent(ExactDedupOptions.self, forKey: .exactDedup) ?? ExactDedupOptions()
        nearDedup = try c.decodeIfPresent(NearDedupOptions.self, forKey: .nearDedup) ?? NearDedupOptions()
        toxicity = try c.decodeIfPresent(ToxicityOptions.self, forKey: .toxicity) ?? ToxicityOptions()
        pii = try c.decodeIfPresent(PIIOptions.self, forKey: .pii) ?? PIIOptions()
    }

    /// Reads a pipeline file; errors name the file and the problem (unknown keys are rejected).
    public static func load(_ path: String) throws -> PipelineConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "no such pipeline file") }
        let config: PipelineConfig
        do {
            try checkKeys(data)
            config = try JSONDecoder().decode(PipelineConfig.self, from: data)
        } catch let e as ForgeError {
            throw ForgeError.file(path, e.description)
        } catch DecodingError.keyNotFound(let k, let ctx) {
            throw ForgeError.file(path, "missing '\((ctx.codingPath + [k]).map(\.stringValue).joined(separator: "."))'")
        } catch DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx) {
            throw ForgeError.file(path, "wrong type at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'")
        } catch {
            throw ForgeError.file(path, "not valid JSON")
        }
        try config.validate()
        return config
    }

    public func validate() throws {
        guard !sources.isEmpty else { throw ForgeError("no sources") }
        for s in sources where s.weight < 0 || s.paths.isEmpty { throw ForgeError("source '\(s.name)' needs paths and a weight ≥ 0") }
        guard (0..<1).contains(validationFraction) else { throw ForgeError("validation_fraction must be in [0, 1)") }
        guard shardDocuments > 0 else { throw ForgeError("shard_documents must be positive") }
        try nearDedup.validate()
    }

    /// Unknown keys are mistakes (a misspelt threshold would otherwise be silently ignored).
    static func checkKeys(_ data: Data) throws {
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw ForgeError("not a JSON object") }
        let known: [String: Set<String>] = [
            "": ["sources", "output", "validation_fraction", "validation_ids_containing", "shard_documents", "clean", "quality",
                 "exact_dedup", "near_dedup", "toxicity", "pii"],
            "clean": ["html", "nfc", "control_characters", "whitespace", "gutenberg_boilerplate"],
            "quality": Set(["enabled", "min_words", "max_words", "min_mean_word_length", "max_mean_word_length", "max_symbol_word_ratio",
                            "max_bullet_line_fraction", "max_ellipsis_line_fraction", "min_alpha_word_fraction", "min_stop_words",
                            "max_duplicate_line_fraction", "max_duplicate_paragraph_fraction", "max_duplicate_line_char_fraction",
                            "max_duplicate_paragraph_char_fraction", "max_top_ngram_char_fraction", "max_duplicate_ngram_char_fraction",
                            "reject_lorem_ipsum", "reject_curly_braces", "min_sentences"]),
            "exact_dedup": ["enabled"],
            "near_dedup": ["enabled", "shingle", "shingle_size", "permutations", "bands", "threshold", "spelling", "seed"],
            "toxicity": ["enabled", "word_list", "threshold"],
            "pii": ["enabled", "email", "phone", "ip", "credit_card"],
        ]
        for k in obj.keys where !known[""]!.contains(k) { throw ForgeError("unknown setting '\(k)'") }
        for (section, keys) in known where !section.isEmpty {
            if let sub = obj[section] as? [String: Any] {
                for k in sub.keys where !keys.contains(k) { throw ForgeError("unknown setting '\(section).\(k)'") }
            }
        }
        for s in obj["sources"] as? [[String: Any]] ?? [] {
            for k in s.keys where !["name", "paths", "weight", "text_field"].contains(k) { throw ForgeError("unknown setting 'sources.\(k)'") }
        }
    }
}
