// forge card: a run's model card (Hugging Face's format) from what the run left on disk.
import ArgumentParser
import ForgeTrain

struct CardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "card",
        abstract: "Write RUN/model/README.md: a Hugging Face model card (YAML metadata with model-index results; model, use, limits, data, evaluation, safety).")
    @Option(name: .customLong("run"), help: "The run directory (with RUN/model).") var runDir: String
    @Option(help: "The model's name (default: the run dir's name).") var name: String?
    @Option(help: "License identifier for the metadata.") var license = "apache-2.0"

    func run() throws {
        let card = try ModelCard(runDir: runDir, name: name, license: license)
        let path = try card.write(to: runDir)
        print("model card: \(path) (\(card.results.count) evaluation results)")
    }
}
