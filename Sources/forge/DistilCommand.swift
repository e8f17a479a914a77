// forge distil: a student trained on a teacher's cached top-k logits mixed with cross-entropy.
import ArgumentParser
import ForgeCompress
import ForgeCore
import ForgeInference
import ForgeModels
import ForgeTrain
import Foundation

enum DistilDefaults: TrainingDefaults {
    static var options: TrainingOptions {
        var o = TrainingOptions()
        o.steps = 300
        o.batch = 4
        o.seq = 128
        o.learningRate = 2e-3
        o.warmupSteps = 30
        o.evalEvery = 50
        return o
    }
}

struct DistilCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distil",
        abstract: "Train a student on a teacher's next-token distributions (cached top-k logits) and the text.",
        discussion: """
        The teacher (a GGUF, quantized or not, or a model dir) reads the training part of --data once in chunks of \
        --seq tokens; its --top-k largest logits at every position are cached in RUN/teacher-topk.bin and reused by \
        later runs on the same data. The student (--student DIR, or a new model shaped by --arch/--layers/--width/\
        --heads, with the teacher's vocabulary) trains on those chunks with loss α·τ²·KL(teacher ‖ student at τ) + \
        (1 − α)·cross-entropy. --alpha 0 trains the same student on the same chunks without the teacher: the \
        baseline. RUN/distil.json has held-out perplexity of the student and of the teacher on the same tokens.

        Example:
          forge distil --teacher SmolLM2-135M-Instruct.Q4_1.gguf --data hamlet.txt --arch llama --layers 4 --width 256 \\
            --heads 4 --run runs/distil --steps 300
        """)

    @Option(help: "The teacher: a .gguf file or a model dir.") var teacher: String
    @Option(help: "The student model dir (default: a new model from the shape options).") var student: String?
    @Option(parsing: .upToNextOption, help: "Text files (the last tenth is held out).") var data: [String]
    @Option(name: .customLong("run"), help: "Run directory.") var runDir: String
    @Option(help: "Weight of the distillation term (0: no teacher, 1: no cross-entropy).") var alpha: Float = 0.5
    @Option(help: "Softmax temperature τ of both distributions.") var temperature: Float = 2
    @Option(help: "Teacher logits kept per position.") var topK = 32
    @Option(help: "At most this many chunks of the training text for the teacher (default: all).") var teacherChunks: Int?
    @Flag(help: "Continue from RUN/checkpoint.safetensors.") var resume = false
    @OptionGroup var shape: ModelOptions
    @OptionGroup var training: TrainingFlags<DistilDefaults>
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        guard (0...1).contains(alpha) else { throw ValidationError("--alpha must be in [0, 1], got \(alpha)") }
        guard temperature > 0 else { throw ValidationError("--temperature must be positive") }
        let teacherConfig = try LoadedModel.open(teacher).model.config
        let model: Transformer
        if let student { model = try ModelDir.loadModel(from: student) }
        else { model = try Transformer(config: try shape.config(vocab: teacherConfig.vocabSize, seq: training.seq), seed: training.options.seed) }
        var r = DistillationRun(teacherPath: teacher, runDir: runDir, files: data)
        r.options = training.options
        r.alpha = alpha
        r.temperature = temperature
        r.topK = topK
        r.chunkLimit = teacherChunks
        r.log = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        Interrupt.install()
        let result = try r.run(student: model, resume: resume)
        print(String(format: "%@/model: student perplexity %.3f, teacher %.3f (held-out)", runDir, result.studentPerplexity, result.teacherPerplexity))
    }
}
