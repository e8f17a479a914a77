// forge audit bias: counterfactual templates over gender, religion and nationality terms.
import ArgumentParser
import Forge
import ForgeCore
import ForgeInference
import ForgeSafety
import Foundation

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Audit a model.", subcommands: [BiasAuditCommand.self])
}

struct BiasAuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bias",
        abstract: "Counterfactual bias audit: attribute log-probability gaps and continuation toxicity across gender, religion and nationality terms.",
        discussion: """
        Each template ("My {X} neighbour is very") is filled with every term of a group; the model's log-probability of \
        six negative and six positive attribute words after it gives each term's negative lean, and the gap between the \
        highest and lowest term comes with a 95% bootstrap interval over templates. With --classifier, each filled \
        template's greedy continuation is scored for toxicity. bigbench's BBQ-lite does not install here (PyPI has only \
        bigbench 0.0.1, without task data), so the BBQ part of the audit is not run. Writes OUTPUT/bias.json and bias.md.
        """)
    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "Toxicity classifier dir for continuation toxicity.") var classifier: String?
    @Option(help: "Output directory.") var output: String
    @OptionGroup var threads: ThreadOptions

    func run() async throws {
        try threads.apply()
        let loaded = try LoadedModel.open(model, lora: nil)
        let clf = try classifier.map { try TextClassifier.load($0) }
        let results = try await BiasAudit.run(loaded, classifier: clf)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(output + "/bias.json", data: try enc.encode(results))
        let md = BiasAudit.markdown(results)
        try AtomicFile.write(output + "/bias.md", string: md)
        print(md)
    }
}
