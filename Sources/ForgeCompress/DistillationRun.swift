// DistillationRun: `forge distil` as a library call: the text split and written as shards, the teacher cache built
// (or reused when its fingerprint matches), the student trained on the Trainer, and held-out perplexity of the
// student (and of the teacher, on the same tokens) in RUN/distil.json.
import ForgeCore
import ForgeInference
import ForgeModels
import ForgeTokenizer
import ForgeTrain
import Foundation

public struct DistillationRun {
    public var teacherPath: String
    public var runDir: String
    public var files: [String]
    public var options = TrainingOptions()
    public var alpha: Float = 0.5
    public var temperature: Float = 2
    public var topK = 32
    /// Chunks of the training text the teacher reads (default: all).
    public var chunkLimit: Int?
    public var evalTokens = 16384
    public var log: (String) -> Void = { print($0) }

    public init(teacherPath: String, runDir: String, files: [String]) {
        (self.teacherPath, self.runDir, self.files) = (teacherPath, runDir, files)
    }

    /// The result of a run.
    public struct Result: Codable, Sendable {
        public var alpha: Float
        public var temperature: Float
        public var topK: Int
        public var steps: Int
        public var trainTokens: Int
        public var studentParameters: Int
        public var studentPerplexity: Double
        public var teacherPerplexity: Double
        public var finalValidationLoss: Double?
        public var seconds: Double
    }

    /// Trains `student` (its vocabulary must be the teacher's) and writes RUN/model and RUN/distil.json.
    public func run(student: Transformer, resume: Bool = false) throws -> Result {
        let loaded = try LoadedModel.open(teacherPath)
        let teacher = loaded.model, tokenizer = loaded.tokenizer
        guard teacher.config.vocabSize == student.config.vocabSize else {
            throw ForgeError("the student's vocabulary (\(student.config.vocabSize)) is not the teacher's (\(teacher.config.vocabSize)): they must share a tokenizer")
        }
        guard options.seq <= student.config.contextLength, options.seq <= teacher.config.contextLength else {
            throw ForgeError("--seq \(options.seq) exceeds a context (student \(student.config.contextLength), teacher \(teacher.config.contextLength))")
        }
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        let data = try CompressionData(files: files, tokenizer: tokenizer, runDir: runDir)
        let chunks = TeacherCache.chunkCount(data.train, seq: options.seq, limit: chunkLimit)
        let fingerprint = "\(URL(fileURLWithPath: teacherPath).standardizedFileURL.path) | \(data.train.count) tokens | checksum \(checksum(data.train)) | seq \(options.seq) | top-\(topK) | τ \(temperature) | \(chunks) chunks"
        let cachePath = runDir + "/teacher-topk.bin"
        var cache: TeacherCache
        if FileManager.default.fileExists(atPath: cachePath), let c = try? TeacherCache.read(cachePath), c.fingerprint == fingerprint {
            cache = c
            log("teacher cache: \(cachePath) (\(c.chunks) chunks of \(c.seq), top-\(c.k)), reused")
        } else {
            log("teacher: \(teacher.summary), \(chunks) chunks of \(options.seq) tokens, top-\(topK) logits cached")
            cache = try TeacherCache.build(teacher: teacher, data: data.train, seq: options.seq, k: topK, limit: chunkLimit,
                                           temperature: temperature, fingerprint: fingerprint, log: log)
            try cache.write(to: cachePath)
        }
        let source = try DistillationSource(cache: cache, data: data.train, batch: options.batch, seed: options.seed)
        var validation: [DistillationBatch] = []
        for b in BatchSampler.evaluationBatches(data.validation, batch: options.batch, seq: options.seq, maxBatches: options.evalBatches) {
            validation.append(DistillationBatch(tokens: b, ids: [], logits: [], lse: []))
        }
        let checkpoint = resume ? try Checkpoint.load(from: runDir + "/checkpoint.safetensors") : nil
        let trainer = try Trainer(model: student, options: options, source: source,
                                  objective: .distillation(alpha: alpha, temperature: temperature, k: topK),
                                  validation: validation, runDir: runDir, tokenizer: tokenizer, checkpoint: checkpoint)
        trainer.chatTemplate = loaded.chatTemplate?.source
        let summary = try trainer.run()
        let bos = tokenizer.addsBOS ? tokenizer.bosId : nil
        let n = min(data.heldOut.count, max(options.seq, evalTokens / options.seq * options.seq))
        let heldOut = Array(data.heldOut.prefix(n))
        let sp = try Perplexity.evaluate(try InferenceModel(student), tokens: heldOut, context: options.seq, bos: bos).perplexity
        let tp = try Perplexity.evaluate(teacher, tokens: heldOut, context: options.seq, bos: bos).perplexity
        let result = Result(alpha: alpha, temperature: temperature, topK: topK, steps: summary.steps, trainTokens: summary.tokens,
                            studentParameters: student.config.parameterCount, studentPerplexity: sp, teacherPerplexity: tp,
                            finalValidationLoss: summary.finalValLoss, seconds: summary.seconds)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = try enc.encode(result)
        try AtomicFile.write(runDir + "/distil.json") { try $0.write(json) }
        log(String(format: "student held-out perplexity %.3f (teacher %.3f) on %d tokens", sp, tp, n))
        return result
    }

    func checksum(_ d: TokenDataset) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var buf = [Int32](repeating: 0, count: 4096)
        var i = 0
        while i < d.count {
            let n = min(4096, d.count - i)
            buf.withUnsafeMutableBufferPointer { d.read(i, n, into: $0.baseAddress!) }
            for t in buf.prefix(n) { h = (h ^ UInt64(UInt32(bitPattern: t))) &* 0x100_0000_01b3 }
            i += n
        }
        return h
    }
}
