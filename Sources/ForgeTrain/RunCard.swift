// RunCard: a run's "report card" gathered from what the run left on disk: the data pipeline's summary, the
// tokenizer, the model's config, the training curves (metrics.jsonl), the evaluation results (eval/*.json) and the
// settings files, as card.md and a self-contained card.html (inline CSS and SVG, nothing fetched).
import ForgeCore
import Foundation

public struct RunCard {
    /// A block of a section.
    public enum Block {
        case table([String], [[String]])
        case text(String)
        case svg(String)
        case code(String)
    }

    public var title: String
    public var sections: [(String, [Block])] = []

    /// Reads a run directory; a directory with none of a run's files is an error.
    public init(runDir: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: runDir, isDirectory: &isDir), isDir.boolValue else { throw ForgeError.file(runDir, "is not a directory") }
        title = "Run card: " + (runDir as NSString).lastPathComponent
        func json(_ path: String) -> [String: Any]? {
            fm.contents(atPath: path).flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] }
        }
        func cell(_ v: Any) -> String {
            if let d = v as? Double { return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(format: "%.6g", d) }
            if let a = v as? [Any] { return a.map(cell).joined(separator: ", ") }
            return "\(v)"
        }
        var found = 0

        if let md = try? String(contentsOfFile: runDir + "/data/clean/summary.md", encoding: .utf8) {
            sections.append(("Data", [.text("The data pipeline's accounting (`data/clean/summary.md`):"), .code(md)]))
            found += 1
        }
        if let tok = json(runDir + "/tokenizer.json") {
            let model = tok["model"] as? [String: Any] ?? [:]
            let vocab = (model["vocab"] as? [String: Any])?.count ?? 0
            let added = (tok["added_tokens"] as? [[String: Any]])?.compactMap { $0["content"] as? String } ?? []
            let pre = (tok["pre_tokenizer"] as? [String: Any])?["type"] as? String ?? "none"
            sections.append(("Tokenizer", [.table(["setting", "value"], [
                ["model", model["type"] as? String ?? "?"], ["vocabulary", String(vocab + added.count)],
                ["merges", String((model["merges"] as? [Any])?.count ?? 0)], ["pre-tokenizer", pre],
                ["special tokens", added.isEmpty ? "none" : added.joined(separator: " ")],
            ])]))
            found += 1
        }
        if let config = json(runDir + "/model/config.json") {
            let keys = config.keys.sorted().filter { !($0.hasPrefix("_")) }
            sections.append(("Model", [.table(["config.json", "value"], keys.map { [$0, cell(config[$0]!)] })]))
            found += 1
        }
        if let lines = try? String(contentsOfFile: runDir + "/metrics.jsonl", encoding: .utf8) {
            let records = lines.split(separator: "\n").compactMap { line -> MetricRecord? in
                guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                      let kind = o["kind"] as? String, let step = o["step"] as? Int else { return nil }
                var values: [String: Double] = [:]
                for (k, v) in o where k != "kind" && k != "step" { if let d = v as? Double { values[k] = d } }
                return MetricRecord(kind: kind, step: step, values: values)
            }
            let train = records.filter { $0.kind == "train" }, val = records.filter { $0.kind == "val" }
            var rows: [[String]] = [["steps logged", String(train.last?.step ?? 0)]]
            if let l = train.last?.values["loss"] { rows.append(["final train loss (nats/token)", String(format: "%.4f", l)]) }
            if let l = val.last?.values["val_loss"] { rows.append(["final validation loss (nats/token)", String(format: "%.4f", l)]) }
            let rates = train.compactMap { $0.values["tokens_per_s"] }
            if !rates.isEmpty { rows.append(["mean throughput (tokens/s)", String(format: "%.0f", rates.reduce(0, +) / Double(rates.count))]) }
            var blocks: [Block] = [.table(["measure", "value"], rows)]
            if !train.isEmpty { blocks.append(.svg(LossPlot.svg(records, title: "loss (nats per token, log scale)"))) }
            sections.append(("Training", blocks))
            found += 1
        }
        let evalDir = runDir + "/eval"
        let evalFiles = ((try? fm.contentsOfDirectory(atPath: evalDir)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        var evalRows: [[String]] = []
        for f in evalFiles {
            guard let r = json(evalDir + "/" + f), let task = r["task"] as? String, let metrics = r["metrics"] as? [String: Any] else { continue }
            let settings = r["settings"] as? [String: Any] ?? [:]
            for name in metrics.keys.sorted() {
                let m = metrics[name] as? [String: Any] ?? [:]
                let value = (m["value"] as? Double).map { String(format: "%.4f", $0) } ?? "?"
                let err = (m["stderr"] as? Double).map { $0 > 0 ? String(format: "%.4f", $0) : "—" } ?? "—"
                evalRows.append([task, name, value, err, cell(r["n"] ?? ""), cell(settings["shots"] ?? "—")])
            }
        }
        if !evalRows.isEmpty {
            sections.append(("Evaluation", [.table(["task", "metric", "value", "± stderr", "n", "shots"], evalRows),
                                             .text("Per-item records: `eval/*.samples.jsonl`; each task's settings and the model's SHA-256: `eval/*.json`.")]))
            found += 1
        }
        if fm.fileExists(atPath: runDir + "/model/README.md") {
            sections.append(("Model card", [.text("The model's card in Hugging Face's format: `model/README.md` (`forge card --run DIR` rewrites it).")]))
        }
        var settings: [Block] = []
        for f in ["pipeline.json", "training.json"] {
            if let d = fm.contents(atPath: runDir + "/" + f) { settings += [.text("`\(f)`"), .code(String(decoding: d, as: UTF8.self))] }
        }
        if !settings.isEmpty { sections.append(("Settings", settings)); found += 1 }
        guard found > 0 else { throw ForgeError.file(runDir, "holds none of a run's files (metrics.jsonl, model/, tokenizer.json, eval/, data/clean/)") }
    }

    public func markdown() -> String {
        var s = "# \(title)\n\nGenerated by Forge \(ForgeVersion.string) on \(ISO8601DateFormatter().string(from: Date())).\n"
        for (name, blocks) in sections {
            s += "\n## \(name)\n\n"
            for b in blocks {
                switch b {
                case .table(let head, let rows):
                    s += "| " + head.joined(separator: " | ") + " |\n|" + head.map { _ in "---" }.joined(separator: "|") + "|\n"
                    for r in rows { s += "| " + r.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n" }
                    s += "\n"
                case .text(let t): s += t + "\n\n"
                case .svg: s += "![\(name)](card-\(name.lowercased()).svg)\n\n"
                case .code(let c): s += "```\n" + c + (c.hasSuffix("\n") ? "" : "\n") + "```\n\n"
                }
            }
        }
        return s
    }

    public func html() -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        func inline(_ s: String) -> String {
            // `code` spans only; everything else is text.
            var out = "", code = false
            for part in esc(s).split(separator: "`", omittingEmptySubsequences: false) {
                out += code ? "<code>\(part)</code>" : String(part)
                code.toggle()
            }
            return out
        }
        var s = """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(esc(title))</title>
        <style>body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
        table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
        th{background:#f3f3f3}pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:13px}code{background:#f3f3f3;padding:0 .2em}
        h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}</style></head><body>
        <h1>\(esc(title))</h1><p>Generated by Forge \(ForgeVersion.string) on \(ISO8601DateFormatter().string(from: Date())).</p>

        """
        for (name, blocks) in sections {
            s += "<h2>\(esc(name))</h2>\n"
            for b in blocks {
                switch b {
                case .table(let head, let rows):
                    s += "<table><tr>" + head.map { "<th>\(esc($0))</th>" }.joined() + "</tr>\n"
                    for r in rows { s += "<tr>" + r.map { "<td>\(inline($0))</td>" }.joined() + "</tr>\n" }
                    s += "</table>\n"
                case .text(let t): s += "<p>\(inline(t))</p>\n"
                case .svg(let svg): s += "<figure>\(svg)</figure>\n"
                case .code(let c): s += "<pre>\(esc(c))</pre>\n"
                }
            }
        }
        return s + "</body></html>\n"
    }

    /// Writes card.md (with its plots as SVG files) and card.html into the run dir; returns their paths.
    public func write(to runDir: String) throws -> (markdown: String, html: String) {
        for (name, blocks) in sections {
            for b in blocks { if case .svg(let svg) = b { try AtomicFile.write(runDir + "/card-\(name.lowercased()).svg", string: svg) } }
        }
        try AtomicFile.write(runDir + "/card.md", string: markdown())
        try AtomicFile.write(runDir + "/card.html", string: html())
        return (runDir + "/card.md", runDir + "/card.html")
    }
}
