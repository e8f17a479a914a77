// forge feedback: what the chat page's ratings and the review page's judgements hold, and their export as training
// data (preference pairs `forge dpo` and `forge rm` read, and the safety set from reported replies).
import ArgumentParser
import ForgeAlign
import ForgeCore
import ForgeFeedback
import Foundation

struct FeedbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feedback",
        abstract: "Export feedback (chat ratings, reports, review judgements) as preference pairs.",
        subcommands: [Export.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write preference pairs (and the safety set) from a feedback database.",
            discussion: """
            Review judgements give a pair per item (the reviewers' majority; ties and split items give none); up and \
            down ratings of replies to the same prompt give a pair per good and bad reply; reported replies and \
            flagged answers go to --safety as the rejected side. No API key, owner or conversation id is written.

            Example: forge feedback export feedback.db --format pairs --output pairs.jsonl --safety safety.jsonl
                     forge dpo --model M --run runs/dpo --pairs pairs.jsonl
            """)

        @Argument(help: "The feedback database (forge serve --feedback DB).") var database: String
        @Option(help: "Output format: pairs (TRL's conversational preference layout).") var format = "pairs"
        @Option(help: "The pairs file (JSONL).") var output: String
        @Option(help: "The safety pairs file (JSONL): reported or flagged replies as the rejected side.") var safety: String?

        func run() throws {
            guard format == "pairs" else { throw ValidationError("--format \(format) is unknown; the one format is pairs") }
            guard FileManager.default.fileExists(atPath: database) else { throw ForgeError.file(database, "no such feedback database") }
            let store = try FeedbackStore(path: database)
            let export = try FeedbackExport.build(store, refusal: PairBuilder.refusal(for:))
            try AtomicFile.write(output, string: try FeedbackExport.jsonl(export.pairs))
            if let safety { try AtomicFile.write(safety, string: try FeedbackExport.jsonl(export.safety)) }
            print("\(export.pairs.count) pairs → \(output)" + (safety.map { "; \(export.safety.count) safety pairs → \($0)" } ?? ""))
            print("no pair: \(export.tiedItems) tied items, \(export.splitItems) split items, \(export.unpairedReports) reports with no better reply")
            if !export.agreement.isEmpty {
                let kappa = { (k: Double?) in k.map { String(format: "%.3f", $0) } ?? "undefined" }
                for p in export.agreement {
                    print("agreement \(p.reviewerA)–\(p.reviewerB): Cohen's kappa \(kappa(p.kappa)) over \(p.items) items judged by both")
                }
                if export.agreement.count > 1 { print("agreement overall: Light's kappa \(kappa(Agreement.lightKappa(export.agreement)))") }
            }
        }
    }
}
