// forge data: clean, filter, deduplicate, scrub and mix raw text into JSONL shards, with a manifest.
import ArgumentParser
import ForgeDistributed
import ForgeSafety
import ForgeCore
import ForgeData
import ForgeTrain
import Foundation

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Run the data pipeline described by a pipeline file (JSON).",
        discussion: """
        Writes OUTPUT/train_*.jsonl and val_*.jsonl, manifest.jsonl (one line per input document: kept, or the stage \
        and reason that removed it), clusters.jsonl (near-duplicate groups), summary.json and summary.md.

        Example: forge data --config pipeline.json
                 forge data --print-defaults > pipeline.json   (every setting with its default)
        """)

    @Option(help: "Pipeline file (JSON).") var config: String?
    @Option(help: "Output directory (overrides the file's 'output').") var output: String?
    @Flag(help: "Print a pipeline file with every setting at its default and exit.") var printDefaults = false
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply(distributed: true)
        try runInJob(explicitThreads: threads.threads != nil) { world in try runPipeline(world) }
    }

    func runPipeline(_ world: any Communicator) throws {
        if printDefaults {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            var c = PipelineConfig(sources: [SourceConfig(name: "web", paths: ["raw/"])])
            c.output = "data/clean"
            print(String(decoding: try enc.encode(c), as: UTF8.self))
            return
        }
        guard let config else { throw ValidationError("--config is required (or --print-defaults)") }
        var c = try PipelineConfig.load(config)
        if let output { c.output = output }
        let progress = ProgressLine()
        let pipeline = DataPipeline(config: c)
        pipeline.world = world
        if c.toxicity.enabled, let dir = c.toxicity.classifier {
            let classifier = try TextClassifier.load(dir)
            pipeline.toxicityScorer = (classifier, classifier.settings.threshold, "classifier")
            progress.line(String(format: "toxicity: the classifier in %@ (threshold %.4f)", dir, classifier.settings.threshold))
        }
        pipeline.progress = { progress.update($0) }
        let s = try pipeline.run()
        guard world.isRoot else { return }
        progress.line(String(format: "%d documents (%.1f MB) in %.1f s: kept %d train + %d validation, removed %d; %d near-duplicate clusters",
                             s.inputDocuments, Double(s.inputBytes) / 1e6, s.seconds, s.trainDocuments, s.validationDocuments,
                             s.removedDocuments, s.nearDuplicateClusters))
        print(s.table)
        progress.line("output: \(c.output) (manifest.jsonl, summary.md)")
    }
}
