// forge plot: redraws a run's loss curve from its metrics.jsonl (also while the run is going).
import ArgumentParser
import ForgeCore
import ForgeTrain
import Foundation

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw RUN/loss.svg from RUN/metrics.jsonl.",
        discussion: "Example: forge plot --run runs/speedrun-20261123-210000")

    @Option(name: .customLong("run"), help: "Run directory.") var runDir: String

    func run() throws {
        let path = runDir + "/metrics.jsonl"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ForgeError.file(path, "no such file") }
        let records = text.split(separator: "\n").compactMap { MetricRecord(jsonLine: String($0)) }
        guard !records.isEmpty else { throw ForgeError.file(path, "holds no metric records") }
        let name = URL(fileURLWithPath: runDir).lastPathComponent
        try AtomicFile.write(runDir + "/loss.svg", string: LossPlot.svg(records, title: "\(name): loss (nats per token, log scale)"))
        print(runDir + "/loss.svg")
    }
}
