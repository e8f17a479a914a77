// RunReport: runs/<name>/report.md: data, settings, results, the loss curve (loss.svg) and samples.
import ForgeCore
import ForgeKernels
import ForgeModels
import Foundation

/// One page describing a run.
public struct RunReport {
    public var title: String
    public var runDir: String
    public var config: TransformerConfig
    public var options: TrainingOptions
    public var summary: TrainingSummary
    public var metrics: [MetricRecord]
    public var samples: [(prompt: String, text: String)]
    public var data: [(String, String)]
    /// Extra result rows (measure, value).
    public var results: [(String, String)] = []
    public var totalSeconds: Double
    /// Extra sections (title, Markdown) placed after the data table.
    public var sections: [(String, String)] = []

    /// Writes report.md and loss.svg into the run dir; returns the report's path.
    public func write() throws -> String {
        try AtomicFile.write(runDir + "/loss.svg", string: LossPlot.svg(metrics, title: "\(title): loss (nats per token, log scale)"))
        let path = runDir + "/report.md"
        try AtomicFile.write(path, string: markdown())
        return path
    }

    public func markdown() -> String {
        let ln2 = log(2.0)
        var s = "# \(title)\n\n"
        s += "Generated \(ISO8601DateFormatter().string(from: Date())) in \(ProgressLine.duration(totalSeconds)) "
        s += "(\(Parallel.threads) threads, BLAS kernels: \(blasName)).\n\n"
        s += "## Data\n\n| | |\n|---|---|\n"
        for (k, v) in data { s += "| \(k) | \(v) |\n" }
        for (title, body) in sections { s += "\n## \(title)\n\n\(body)" }
        s += "\n## Model\n\n| setting | value |\n|---|---|\n"
        s += "| architecture | \(config.architecture.rawValue) |\n| layers × width | \(config.layers) × \(config.width) |\n"
        s += "| heads (kv) | \(config.heads) (\(config.kvHeads)) |\n| MLP width | \(config.ffnWidth) |\n"
        s += "| context | \(config.contextLength) |\n| vocabulary | \(config.vocabSize) |\n"
        s += "| tied embeddings | \(config.tiedEmbeddings) |\n| parameters | \(config.parameterCount) |\n"
        s += "\n## Training\n\n| setting | value |\n|---|---|\n"
        s += "| steps | \(options.steps) |\n| batch × seq × accumulation | \(options.batch) × \(options.seq) × \(options.gradAccumulation) (\(options.tokensPerStep) tokens/step) |\n"
        s += "| optimizer | AdamW β=(\(options.beta1), \(options.beta2)), eps \(options.eps), weight decay \(options.weightDecay) on matrices |\n"
        s += "| learning rate | \(options.learningRate) peak, \(options.warmupSteps) warmup steps, \(options.decay.rawValue) to \(options.minLRFraction)× |\n"
        s += "| gradient clip | \(options.clipNorm) |\n| seed | \(options.seed) |\n"
        s += "\n## Results\n\n| measure | value |\n|---|---|\n"
        s += String(format: "| final train loss | %.4f nats/token (%.3f bits) |\n", summary.finalTrainLoss, summary.finalTrainLoss / ln2)
        if let v = summary.finalValLoss {
            s += String(format: "| final validation loss | %.4f nats/token (%.3f bits) |\n", v, v / ln2)
        }
        for (k, v) in results { s += "| \(k) | \(v) |\n" }
        s += String(format: "| tokens trained | %d |\n| training time | %@ |\n| throughput | %.0f tokens/s |\n",
                    summary.tokens, ProgressLine.duration(summary.seconds), summary.tokensPerSecond)
        s += "\n![loss curve](loss.svg)\n\nMetrics: `metrics.jsonl` (one JSON object per line). Model: `model/` (Hugging Face layout).\n"
        if !samples.isEmpty {
            s += "\n## Samples\n\nTemperature 0.8, top-k 40.\n\n"
            for (i, smp) in samples.enumerated() {
                s += "### Sample \(i + 1): prompt \(String(reflecting: smp.prompt))\n\n```text\n\(smp.text)\n```\n\n"
            }
        }
        return s
    }

    var blasName: String { BLAS.coreName }
}
