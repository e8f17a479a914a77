// forge report: a run's report card from what the run left on disk.
import ArgumentParser
import ForgeCore
import ForgeTrain
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Gather a run's data stats, tokenizer, model, training curves, evaluations and settings into one page.",
        discussion: """
        Writes card.md (plots beside it as SVG) and card.html (self-contained: inline styles and SVG) into the run dir.

        Example:
          forge report --run runs/shakespeare
        """)

    @Option(name: .customLong("run"), help: "The run directory (forge speedrun / pretrain --run).") var runDir: String

    func run() throws {
        let card = try RunCard(runDir: runDir)
        let (md, html) = try card.write(to: runDir)
        print("report card: \(md), \(html) (\(card.sections.map(\.0).joined(separator: ", ")))")
    }
}
