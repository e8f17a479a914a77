// forge runs list|compare: the run directories under a folder as a table, and two or more runs side by side (the
// settings that differ, summaries, evals) with their loss curves overlaid in one SVG. `forge serve --runs` shows
// the same in a browser.
import ArgumentParser
import ForgeCore
import ForgeTrain
import Foundation

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List the runs under a folder, or compare runs (settings, losses, evals, overlaid curves).",
        subcommands: [RunsList.self, RunsCompare.self])
}

struct RunsList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "A table of the runs under a folder: status, steps, last train loss, best val loss, tokens, eval scores.",
        discussion: "Example: forge runs list --dir runs")

    @Option(help: "The folder of run directories.") var dir = "runs"

    func run() throws {
        let runs = try RunCatalog(folder: dir).runs()
        guard !runs.isEmpty else { print("no runs in \(dir) (a run dir holds metrics.jsonl, checkpoint.safetensors or model/)"); return }
        let rows = runs.map { r in
            [r.name, r.status.rawValue, String(r.steps), RunsTable.number(r.lastTrainLoss), RunsTable.number(r.bestValLoss),
             r.tokens.map(String.init) ?? "—", r.evals.map { "\($0.task) \($0.metric) \(RunsTable.number($0.value))" }.joined(separator: "; ")]
        }
        print(RunsTable.text(["run", "status", "steps", "train loss", "best val loss", "tokens", "evals"], rows), terminator: "")
        for r in runs where r.skippedLines > 0 { print("\(r.name): \(r.skippedLines) corrupt line(s) of metrics.jsonl skipped") }
    }
}

struct RunsCompare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare runs: the settings that differ, losses and evals side by side; the loss curves overlaid in an SVG.",
        discussion: "Example: forge runs compare speedrun-a speedrun-b --output compare.svg")

    @Argument(help: "Run names (directories in --dir).") var names: [String]
    @Option(help: "The folder of run directories.") var dir = "runs"
    @Option(help: "Where to write the overlaid loss curves.") var output = "compare.svg"

    func validate() throws {
        guard names.count >= 2 else { throw ValidationError("give two or more runs to compare") }
    }

    func run() throws {
        let catalog = RunCatalog(folder: dir)
        _ = try catalog.names()
        var runs: [RunRecord] = []
        for name in names {
            do { runs.append(try catalog.run(name)) } catch { throw ForgeError(error.description) }
        }
        let head = [""] + runs.map { $0.name }
        var summary: [[String]] = [["status"] + runs.map { $0.status.rawValue }, ["steps"] + runs.map { String($0.steps) }]
        summary.append(["last train loss"] + runs.map { RunsTable.number($0.lastTrainLoss) })
        summary.append(["best val loss"] + runs.map { RunsTable.number($0.bestValLoss) })
        let scores = Set(runs.flatMap { $0.evals.map { "\($0.task) \($0.metric)" } }).sorted()
        for s in scores {
            summary.append([s] + runs.map { r in RunsTable.number(r.evals.first { "\($0.task) \($0.metric)" == s }?.value) })
        }
        print(RunsTable.text(head, summary))
        let differing = RunCatalog.differingSettings(runs)
        if differing.isEmpty { print("The settings are the same.") } else {
            print("Settings that differ:")
            print(RunsTable.text(["setting"] + runs.map { $0.name }, differing.map { [$0.key] + $0.values.map { $0 ?? "—" } }), terminator: "")
        }
        try AtomicFile.write(output, string: LossPlot.overlay(runs.map { ($0.name, $0.metrics) }, title: "loss (nats per token, log scale)"))
        print("overlaid loss curves: \(output)")
    }
}

/// Plain-text tables for the terminal.
enum RunsTable {
    /// Columns padded to their widest cell, a rule under the header.
    static func text(_ head: [String], _ rows: [[String]]) -> String {
        let widths = head.indices.map { c in ([head] + rows).map { $0[c].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            let padded = cells.enumerated().map { c, s in s.padding(toLength: widths[c], withPad: " ", startingAt: 0) }.joined(separator: "  ")
            return String(padded.reversed().drop { $0 == " " }.reversed()) + "\n"
        }
        return line(head) + line(widths.map { String(repeating: "-", count: $0) }) + rows.map(line).joined()
    }

    static func number(_ d: Double?) -> String { d.map { $0.isFinite ? String(format: "%.4f", $0) : "nan" } ?? "—" }
}
