// PruningRun: `forge prune` as a library call: the model's held-out perplexity before, after pruning and after a
// short recovery fine-tune (masked for magnitude pruning, so pruned weights stay zero), the pruned model dir, and a
// report: RUN/prune.jsonl (one record per point), RUN/prune.svg (perplexity against sparsity or parameters) and
// RUN/prune.md.
import ForgeCore
import ForgeInference
import ForgeModels
import ForgeTokenizer
import ForgeTrain
import Foundation

public struct PruningRun {
    public enum Method: Sendable, Equatable {
        /// Unstructured: this fraction of each projection matrix zeroed.
        case magnitude(sparsity: Double)
        /// Structured: this many query heads fewer per key/value group.
        case heads(removePerGroup: Int)
        /// Structured: FFN width cut to this many channels.
        case ffn(keep: Int)

        public var label: String {
            switch self {
            case .magnitude(let s): return String(format: "magnitude %.0f%%", 100 * s)
            case .heads(let r): return "heads −\(r) per group"
            case .ffn(let k): return "ffn \(k) channels"
            }
        }
    }

    /// One measured point of the report.
    public struct Point: Codable, Sendable {
        public var method: String
        public var sparsity: Double
        public var parameters: Int
        public var perplexity: Double
        public var recoveredPerplexity: Double?
    }

    public var modelDir: String
    public var runDir: String
    public var files: [String]
    public var seq = 256
    public var batch = 4
    public var calibrationBatches = 8
    public var recoverSteps = 0
    public var learningRate = 1e-4
    /// Held-out tokens scored (at most).
    public var evalTokens = 16384
    public var log: (String) -> Void = { print($0) }

    public init(modelDir: String, runDir: String, files: [String]) {
        (self.modelDir, self.runDir, self.files) = (modelDir, runDir, files)
    }

    func perplexity(_ m: Transformer, _ tokens: [Int32], bos: Int32?) throws -> Double {
        let n = min(tokens.count, max(seq, evalTokens / seq * seq))
        return try Perplexity.evaluate(try InferenceModel(m), tokens: Array(tokens.prefix(n)), context: seq, bos: bos).perplexity
    }

    static func copy(_ m: Transformer) throws -> Transformer {
        try Transformer(config: m.config, weights: m.weights.mapValues { Tensor(shape: $0.shape, values: $0.array) })
    }

    /// Prunes with each of `methods` (each from the original model), measures, and writes the last one's model to
    /// RUN/model. Returns the points, the original model's first.
    public func run(_ methods: [Method]) throws -> [Point] {
        guard !methods.isEmpty else { throw ForgeError("nothing to prune: no method given") }
        let original = try ModelDir.loadModel(from: modelDir)
        let tokenizer = try ModelDir.loadTokenizer(from: modelDir)
        let template = ModelDir.chatTemplateSource(modelDir)
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        let data = try CompressionData(files: files, tokenizer: tokenizer, runDir: runDir)
        let bos = tokenizer.addsBOS ? tokenizer.bosId : nil
        let base = try perplexity(original, data.heldOut, bos: bos)
        var points = [Point(method: "original", sparsity: 0, parameters: original.config.parameterCount, perplexity: base)]
        log(String(format: "original: %d parameters, held-out perplexity %.3f", original.config.parameterCount, base))
        var scores: [String: Tensor]?
        var last: Transformer = original
        for (i, method) in methods.enumerated() {
            let pruned: Transformer
            var masks: [String: [Bool]] = [:]
            switch method {
            case .magnitude(let s):
                pruned = try Self.copy(original)
                masks = try Pruning.magnitude(pruned, sparsity: s)
            case .heads, .ffn:
                if scores == nil {
                    let calib = BatchSampler.evaluationBatches(data.train, batch: batch, seq: seq, maxBatches: calibrationBatches)
                    scores = try Pruning.taylorScores(original, batches: calib)
                    log("Taylor importance from \(calib.count) calibration batches of \(batch)×\(seq) tokens")
                }
                // Copied: the pruned model shares its untouched tensors with the original, and recovery trains it in place.
                if case .heads(let r) = method { pruned = try Self.copy(Pruning.pruneHeads(original, removePerGroup: r, scores: scores!)) }
                else if case .ffn(let k) = method { pruned = try Self.copy(Pruning.pruneFFN(original, keep: k, scores: scores!)) }
                else { fatalError() }
            }
            let sparsity = masks.isEmpty ? 1 - Double(pruned.config.parameterCount) / Double(original.config.parameterCount)
                                         : Pruning.sparsity(pruned)
            var point = Point(method: method.label, sparsity: sparsity, parameters: pruned.config.parameterCount,
                              perplexity: try perplexity(pruned, data.heldOut, bos: bos))
            if recoverSteps > 0 {
                var o = TrainingOptions()
                o.steps = recoverSteps
                o.batch = batch
                o.seq = seq
                o.learningRate = learningRate
                o.warmupSteps = min(20, recoverSteps / 10)
                o.evalEvery = max(1, recoverSteps / 4)
                o.checkpointEvery = recoverSteps
                o.weightDecay = 0
                let trainer = try Trainer(config: pruned.config, options: o, train: data.train, validation: data.validation,
                                          runDir: runDir + "/recover-\(i)", tokenizer: tokenizer, resume: false, initialModel: pruned)
                trainer.progress = nil
                trainer.chatTemplate = template
                if !masks.isEmpty { trainer.replan = { _, _ in Pruning.apply(masks, to: pruned); return nil } }
                let summary = try trainer.run()
                point.recoveredPerplexity = try perplexity(pruned, data.heldOut, bos: bos)
                log(String(format: "  recovery: %d steps in %.0f s", summary.steps, summary.seconds))
            }
            log(String(format: "%@: sparsity %.3f, %d parameters, perplexity %.3f%@", method.label, point.sparsity, point.parameters,
                       point.perplexity, point.recoveredPerplexity.map { String(format: " → %.3f after recovery", $0) } ?? ""))
            points.append(point)
            last = pruned
        }
        try ModelDir.save(last, tokenizer: tokenizer, chatTemplate: template, to: runDir + "/model")
        let lines = try points.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
        try AtomicFile.write(runDir + "/prune.jsonl") { try $0.write(lines) }
        try AtomicFile.write(runDir + "/prune.svg") { try $0.write(PruningPlot.svg(points, title: "Held-out perplexity against sparsity")) }
        var md = "# Pruning \(modelDir)\n\n| method | sparsity | parameters | perplexity | after recovery |\n|---|---|---|---|---|\n"
        for p in points {
            md += String(format: "| %@ | %.3f | %d | %.3f | %@ |\n", p.method, p.sparsity, p.parameters, p.perplexity,
                         p.recoveredPerplexity.map { String(format: "%.3f", $0) } ?? "—")
        }
        md += "\nHeld-out: the last tenth of the text, \(min(data.heldOut.count, evalTokens)) tokens scored in windows of \(seq)."
        md += recoverSteps > 0 ? " Recovery: \(recoverSteps) steps of \(batch)×\(seq) tokens at lr \(learningRate).\n" : "\n"
        try AtomicFile.write(runDir + "/prune.md") { try $0.write(md) }
        return points
    }
}

/// Perplexity against sparsity as a self-contained SVG (log perplexity axis; recovered points beside).
public enum PruningPlot {
    public static func svg(_ points: [PruningRun.Point], title: String, width: Int = 640, height: Int = 380) -> String {
        let all = points.flatMap { [$0.perplexity] + ($0.recoveredPerplexity.map { [$0] } ?? []) }.filter { $0.isFinite && $0 > 0 }
        let (left, right, top, bottom) = (64.0, 20.0, 36.0, 44.0)
        let pw = Double(width) - left - right, ph = Double(height) - top - bottom
        // Sparsity axis to the next tenth, a tick per tenth.
        let tenths = max(1, Int(((points.map(\.sparsity).max() ?? 1) * 10).rounded(.up)))
        let maxX = Double(tenths) / 10
        let lo = log(max(1e-3, (all.min() ?? 1) / 1.05)), hi = log(max((all.min() ?? 1) * 1.1, (all.max() ?? 2) * 1.05))
        func x(_ s: Double) -> Double { left + s / maxX * pw }
        func y(_ p: Double) -> Double { top + (1 - (log(max(p, 1e-3)) - lo) / (hi - lo)) * ph }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"\(Int(left))\" y=\"22\" font-size=\"15\">\(title)</text>\n"
        for i in 0...5 {
            let p = exp(lo + (hi - lo) * Double(i) / 5)
            s += String(format: "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, left + pw, y(p), y(p))
            s += String(format: "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", left - 6, y(p) + 4, p)
        }
        for i in 0...tenths {
            s += String(format: "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d%%</text>\n", x(Double(i) / 10), top + ph + 18, 10 * i)
        }
        s += String(format: "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">sparsity (zeros, or parameters removed)</text>\n", left + pw / 2, height - 6)
        s += String(format: "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", left, top, pw, ph)
        let sorted = points.sorted { $0.sparsity < $1.sparsity }
        let line = sorted.enumerated().map { i, p in String(format: "%@%.1f,%.1f", i == 0 ? "M" : "L", x(p.sparsity), y(p.perplexity)) }
        s += "<path d=\"\(line.joined(separator: " "))\" fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\"/>\n"
        for p in sorted {
            s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#08519c\"><title>%@: %.3f</title></circle>\n",
                        x(p.sparsity), y(p.perplexity), p.method, p.perplexity)
            if let r = p.recoveredPerplexity {
                s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#d94801\"><title>%@ recovered: %.3f</title></circle>\n",
                            x(p.sparsity), y(r), p.method, r)
            }
        }
        s += String(format: "<text x=\"%.0f\" y=\"%.0f\" fill=\"#08519c\">pruned</text>", left + pw - 150, top + 16)
        s += String(format: "<text x=\"%.0f\" y=\"%.0f\" fill=\"#d94801\">after recovery</text>\n", left + pw - 96, top + 16)
        return s + "</svg>\n"
    }
}
