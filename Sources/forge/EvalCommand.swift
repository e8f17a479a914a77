// forge eval: standard benchmarks on any model Forge runs, with lm-evaluation-harness's protocols.
import ArgumentParser
import ForgeCore
import ForgeEval
import ForgeInference
import Foundation

struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a model on benchmarks (multiple choice, generation, code, perplexity) as lm-evaluation-harness does.",
        discussion: """
        Tasks are built in (mmlu, mmlu_cloze, gsm8k, humaneval) or spec files (docs/EVAL.md). Writes TASK.json \
        (score, standard error, n, settings, model hash), TASK.samples.jsonl (per item) and results.md in --output.

        Examples:
          forge eval --model SmolLM2-135M-Instruct.Q4_1.gguf --tasks mmlu --shots 5 --limit 1000
          forge eval --model runs/smollm2-f32 --tasks gsm8k,humaneval --output runs/eval
          forge eval --model runs/shakespeare/model --text held-out.txt
        """)

    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "A LoRA adapter dir (PEFT layout) applied without merging.") var lora: String?
    @Option(help: "Comma-separated tasks: built-in names or spec files (.json).") var tasks: String?
    @Option(help: "A text file or directory scored for bits per byte and perplexity.") var text: String?
    @Option(help: "Shots (default: each task's).") var shots: Int?
    @Option(help: "At most this many items per task, sampled by subject in proportion.") var limit: Int?
    @Option(help: "Seed of the --limit sample and of sampled generations.") var seed: UInt64 = 1234
    @Flag(help: "Render prompts with the model's chat template.") var chat = false
    @Flag(help: "With --chat: each shot as its own user and assistant turns.") var multiturn = false
    @Option(help: "Samples per problem for code tasks (pass@k needs k ≤ samples).") var samples: Int?
    @Option(help: "JSONL of given completions ({\"index\": N, \"completions\": [...]} per item) to score instead of generating.")
    var completions: String?
    @Option(help: "Context window (default: the model's, at most 8192).") var context: Int?
    @Option(help: "Key/value cache type: f32 (default) or f16.") var cacheType: KVCacheType = .f32
    @Option(help: "Directory for results (default: runs/eval).") var output = "runs/eval"
    @Option(help: ArgumentHelp("A JSONL file keeping multiple-choice scores as they are computed (lm-eval's --use_cache).",
                               discussion: "A rerun with the same file, model and settings skips the items it holds, so an interrupted run resumes."))
    var cache: String?
    @Flag(help: "List the built-in tasks and exit.") var listTasks = false
    @Option(help: "Print a built-in task's spec and exit.") var printSpec: String?
    @OptionGroup var threads: ThreadOptions

    func run() async throws {
        if listTasks {
            for s in BuiltinTasks.specs {
                let about = ((try? JSONSerialization.jsonObject(with: Data(s.json.utf8))) as? [String: Any])?["about"] as? String ?? ""
                print("\(s.name): \(about)")
            }
            return
        }
        if let name = printSpec {
            guard let s = BuiltinTasks.specs.first(where: { $0.name == name }) else { throw ValidationError("unknown task '\(name)'") }
            print(s.json)
            return
        }
        try threads.apply()
        var specs: [TaskSpec] = []
        for name in (tasks ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            specs.append(name.hasSuffix(".json") ? try TaskSpec.load(name) : try BuiltinTasks.spec(name))
        }
        if let text {
            let path = text.hasPrefix("/") ? text : FileManager.default.currentDirectoryPath + "/" + text
            specs.append(TaskSpec(name: "text", kind: .perplexity, data: path, format: "text"))
        }
        guard !specs.isEmpty else { throw ValidationError("name --tasks or --text") }
        if let s = shots, s < 0 { throw ValidationError("--shots must be 0 or more") }
        if let l = limit, l < 1 { throw ValidationError("--limit must be positive") }
        if let n = samples, n < 1 { throw ValidationError("--samples must be positive") }

        let loaded = try LoadedModel.open(model, lora: lora)
        let hash = try ModelFingerprint.sha256(model)
        var options = EvalOptions()
        options.shots = shots
        options.chat = chat
        options.multiturn = multiturn
        options.limit = limit
        options.seed = seed
        options.contextLength = context
        options.cacheType = cacheType
        options.samples = samples
        if let cache {
            let adapter = try lora.map { try ModelFingerprint.sha256($0) } ?? "-"
            let namespace = "forge-eval-v1 model=\(hash) lora=\(adapter) context=\(context.map(String.init) ?? "model") cache=\(cacheType.rawValue)"
            options.scoreCache = try ScoreCache(path: cache, namespace: namespace)
        }
        if let path = completions {
            guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "cannot be read") }
            var given: [Int: [String]] = [:]
            for (n, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
                guard let o = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any], let i = o["index"] as? Int,
                      let c = (o["completions"] as? [String]) ?? (o["response"] as? String).map({ [$0] }) else {
                    throw ForgeError.file(path, "line \(n + 1) needs an \"index\" and \"completions\" (a list of strings)")
                }
                given[i] = c
            }
            options.completions = given
        }
        let evaluator = try Evaluator(model: loaded, options: options)
        var results: [TaskResult] = []
        for spec in specs {
            var lastPrint = ContinuousClock.now - .seconds(1)
            let r = try await evaluator.run(spec) { p in
                guard ContinuousClock.now - lastPrint >= .milliseconds(500) || p.done == p.total else { return }
                lastPrint = ContinuousClock.now
                let rate = p.seconds > 0 ? Double(p.done) / p.seconds : 0
                let eta = rate > 0 ? Double(p.total - p.done) / rate : 0
                let line = "\r[\(p.task)] \(p.done)/\(p.total) \(p.metric) \(String(format: "%.4f", p.score)) · "
                    + "\(String(format: "%.2f", rate)) items/s · ETA \(Self.duration(eta))   "
                FileHandle.standardError.write(Data(line.utf8))
            }
            FileHandle.standardError.write(Data("\n".utf8))
            try EvalReport.write(r, to: output, model: model, modelSHA256: hash)
            results.append(r)
        }
        let table = EvalReport.markdown(results, model: model)
        try EvalReport.atomicWrite(Data(table.utf8), to: output + "/results.md")
        print(table, terminator: "")
        print("results in \(output)/")
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(String(format: "%02d", t / 60 % 60))m" : t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
    }
}

