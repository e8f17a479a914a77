// forge review: fill the review queue of a feedback database, and print what reviewers found (win rates with
// intervals, Elo, Bradley–Terry, agreement). Reviewers judge at /review on `forge serve --feedback DB`.
import ArgumentParser
import ForgeCore
import ForgeFeedback
import Foundation

struct ReviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review", abstract: "Side-by-side review: load a queue of prompts with two answers, and the arena results.",
        subcommands: [ReviewLoadCommand.self, ReviewResultsCommand.self])
}

struct ReviewLoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Add review items to a feedback database (created if missing), from JSONL and/or from chat feedback.",
        discussion: """
        Each JSONL line is {"prompt": "text" or [{"role", "content"}...], "answers": [{"model": "m1", "text": "..."}, \
        {"model": "m2", "text": "..."}]} or {"prompt", "a", "b", "model_a", "model_b"}. Items already queued are skipped. \
        --from-chat makes an item of each prompt rated in the chat page with two or more different replies.

        Example:
          forge review load feedback.db pairs.jsonl && forge serve --model M --feedback feedback.db   # then open /review
        """)

    @Argument(help: "The feedback database.") var database: String
    @Argument(help: "A JSONL file of items.") var file: String?
    @Flag(help: "Also make items of chat prompts answered with two or more different replies.") var fromChat = false

    func validate() throws {
        guard file != nil || fromChat else { throw ValidationError("give a JSONL file, --from-chat, or both") }
    }

    func run() throws {
        let store = try FeedbackStore(path: database)
        if let file {
            let load = try store.addReviewItems(jsonlFile: file)
            print("\(file): \(load.added) items added, \(load.duplicates) already queued")
        }
        if fromChat {
            let load = try store.addReviewItemsFromChat()
            print("chat feedback: \(load.added) items added, \(load.duplicates) already queued")
        }
        print("\(database): \(try store.reviewItems().count) items in the queue")
    }
}

struct ReviewResultsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results",
        abstract: "Per model pair win rates (95% Wilson intervals), online Elo, Bradley–Terry ratings (bootstrap intervals) and Cohen's kappa.",
        discussion: """
        Judgements of two different models are battles: win rates count ties as half; Elo is LMSYS's online Elo (K 4, \
        in judgement order); Bradley–Terry is the maximum-likelihood fit (ties as half a win each) on the Elo scale with \
        mean 1000, with percentile intervals from --rounds bootstrap resamples. Agreement is Cohen's kappa per pair of \
        reviewers over the items both judged, and their mean (Light's kappa) for more than two.

        Example:
          forge review results feedback.db            # tables; --json for the same as JSON
        """)

    @Argument(help: "The feedback database.") var database: String
    @Flag(help: "Print JSON instead of tables.") var json = false
    @Option(help: "Bootstrap resamples for the Bradley–Terry intervals.") var rounds = 200
    @Option(help: "Seed of the bootstrap.") var seed: UInt64 = 42

    func run() throws {
        guard FileManager.default.fileExists(atPath: database) else { throw ForgeError.file(database, "no such file") }
        let results = try FeedbackStore(path: database).reviewResults(rounds: rounds, seed: seed)
        if json {
            let data = try JSONSerialization.data(withJSONObject: results.json, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(results.text, terminator: "")
        }
    }
}
