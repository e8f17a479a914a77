// ModelCard: a run's model described in Hugging Face's model-card format (README.md in the model dir): YAML metadata
// (license, language, tags, datasets, metrics, `model-index` with every evaluation the run holds) and sections for the
// model, intended use, limitations, training data (from the data pipeline's summary), evaluation and safety results.
// Everything comes from files the run wrote; what the run does not hold is said to be unmeasured, never invented.
import ForgeCore
import Foundation

public struct ModelCard {
    public var name: String
    public var license: String
    /// The YAML metadata and the markdown body.
    public private(set) var metadata = ""
    public private(set) var body = ""
    /// Every (task, metric, value) the card claims.
    public private(set) var results: [(task: String, metric: String, value: Double)] = []

    /// Builds the card of `runDir` (a model dir at RUN/model is required).
    public init(runDir: String, name: String? = nil, license: String = "apache-2.0") throws {
        let fm = FileManager.default
        let config = runDir + "/model/config.json"
        guard let cdata = fm.contents(atPath: config), let c = (try? JSONSerialization.jsonObject(with: cdata)) as? [String: Any] else {
            throw ForgeError.file(config, "missing or not JSON: a model card describes a run's model dir (RUN/model)")
        }
        self.name = name ?? (runDir as NSString).lastPathComponent
        self.license = license
        func json(_ path: String) -> [String: Any]? { fm.contents(atPath: path).flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] } }
        func int(_ k: String) -> Int? { (c[k] as? NSNumber)?.intValue }

        // Evaluations.
        let evalDir = runDir + "/eval"
        var rows: [String] = []
        for f in ((try? fm.contentsOfDirectory(atPath: evalDir)) ?? []).filter({ $0.hasSuffix(".json") }).sorted() {
            guard let r = json(evalDir + "/" + f), let task = r["task"] as? String, let metrics = r["metrics"] as? [String: Any] else { continue }
            let shots = ((r["settings"] as? [String: Any])?["shots"] as? NSNumber)?.intValue
            for m in metrics.keys.sorted() {
                guard let v = (metrics[m] as? [String: Any])?["value"] as? Double, v.isFinite else { continue }
                let se = ((metrics[m] as? [String: Any])?["stderr"] as? Double).map { String(format: " ± %.4f", $0) } ?? ""
                results.append((task, m, v))
                rows.append("| \(task) | \(m) | \(String(format: "%.4f", v))\(se) | \((r["n"] as? NSNumber)?.intValue ?? 0) | \(shots.map(String.init) ?? "—") |")
            }
        }
        // Data.
        let pipeline = json(runDir + "/pipeline.json")
        let sources = (pipeline?["sources"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
        let data = json(runDir + "/data/clean/summary.json")
        // Safety results the run may hold.
        let safety = ["redteam/summary.json", "canary.json", "bias.json"].filter { fm.fileExists(atPath: runDir + "/" + $0) }

        // Metadata.
        var y = "---\n"
        y += "license: \(Self.q(license))\nlanguage:\n- en\nlibrary_name: forge\npipeline_tag: text-generation\n"
        y += "tags:\n- forge\n- \(Self.q((c["model_type"] as? String) ?? "transformer"))\n"
        if !sources.isEmpty { y += "datasets:\n" + sources.map { "- \(Self.q($0))\n" }.joined() }
        let metricNames = Array(Set(results.map(\.metric))).sorted()
        if !metricNames.isEmpty { y += "metrics:\n" + metricNames.map { "- \(Self.q($0))\n" }.joined() }
        if !results.isEmpty {
            y += "model-index:\n- name: \(Self.q(self.name))\n  results:\n"
            for (task, group) in Dictionary(grouping: results, by: \.task).sorted(by: { $0.key < $1.key }) {
                y += "  - task:\n      type: text-generation\n      name: Text Generation\n"
                y += "    dataset:\n      name: \(Self.q(task))\n      type: \(Self.q(task))\n    metrics:\n"
                for r in group { y += "    - type: \(Self.q(r.metric))\n      value: \(r.value)\n      name: \(Self.q(r.metric))\n      verified: false\n" }
            }
        }
        y += "---\n"
        metadata = y

        // Body.
        var b = "# \(self.name)\n\nA \(c["model_type"] as? String ?? "transformer") language model trained with Forge "
            + "(\(ForgeVersion.string)). Run directory: `\((runDir as NSString).lastPathComponent)`.\n\n## Model\n\n| | |\n|---|---|\n"
        for (label, key) in [("layers", "num_hidden_layers"), ("width", "hidden_size"), ("attention heads", "num_attention_heads"),
                             ("key/value heads", "num_key_value_heads"), ("vocabulary", "vocab_size"), ("context", "max_position_embeddings")] {
            if let v = int(key) { b += "| \(label) | \(v) |\n" }
        }
        if let v = int("n_layer") { b += "| layers | \(v) |\n" }
        if let v = int("n_embd") { b += "| width | \(v) |\n" }
        if let v = int("n_ctx") ?? int("n_positions") { b += "| context | \(v) |\n" }
        b += "\nUse it with `forge generate --model model/ --prompt \"...\"` or `forge serve --model model/`.\n"
        b += "\n## Intended use\n\nResearch and teaching: a small model trained end to end on the data below, to study training, "
            + "evaluation and serving. It is not an assistant for real questions and must not be relied on for facts or advice.\n"
        b += "\n## Limitations\n\nA small model trained briefly: it writes text in the style of its training data, makes up facts, "
            + "and carries that data's biases and period language. Its safety behaviour is described below only where it was measured.\n"
        b += "\n## Training data\n\n"
        if let data {
            let n = { (k: String) in (data[k] as? NSNumber)?.intValue ?? 0 }
            b += "Sources: \(sources.isEmpty ? "(not recorded)" : sources.joined(separator: ", ")). The data pipeline read \(n("input_documents")) "
                + "documents (\(n("input_bytes")) bytes), removed \(n("removed_documents")) (quality, toxicity, exact and near duplicates; "
                + "\(n("near_duplicate_clusters")) near-duplicate clusters) and kept \(n("train_documents")) for training and "
                + "\(n("validation_documents")) for validation; \(n("pii_replacements")) PII spans were replaced. Per-document decisions: "
                + "`data/clean/manifest.jsonl`.\n"
        } else {
            b += "Not recorded in this run directory (no `data/clean/summary.json`).\n"
        }
        b += "\n## Evaluation\n\n"
        b += rows.isEmpty ? "No evaluation in this run directory.\n"
            : "| task | metric | value | n | shots |\n|---|---|---|---|---|\n" + rows.joined(separator: "\n") + "\n\nPer-item records: `eval/*.samples.jsonl`.\n"
        b += "\n## Safety\n\n"
        b += safety.isEmpty ? "Not measured for this run (no red-teaming, bias audit or canary results in the run directory).\n"
            : "Results in the run directory: " + safety.map { "`\($0)`" }.joined(separator: ", ") + ".\n"
        body = b
    }

    /// A YAML double-quoted scalar (JSON's escapes are a subset of YAML's).
    static func q(_ s: String) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8), as: UTF8.self)
            .dropFirst().dropLast().description
    }

    /// The whole card.
    public var text: String { metadata + "\n" + body }

    /// Writes the card to RUN/model/README.md (atomically); returns the path.
    @discardableResult
    public func write(to runDir: String) throws -> String {
        let path = runDir + "/model/README.md"
        try AtomicFile.write(path, string: text)
        return path
    }
}
