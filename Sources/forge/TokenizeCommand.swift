// forge tokenize: a corpus into the token shards that forge pretrain reads.
import ArgumentParser
import ForgeCore
import ForgeTokenizer
import ForgeTrain
import Foundation

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode .txt/.md/.jsonl files into train/validation token shards.",
        discussion: "Example: forge tokenize --tokenizer runs/tok/tokenizer.json --output data/tokens --val-every 10 data/*.txt")

    @Argument(help: "Input files or directories.") var inputs: [String]
    @Option(help: "tokenizer.json, GGUF file, or model directory.") var tokenizer: String
    @Option(help: "Output directory for train_*.bin and val_*.bin.") var output: String
    @Option(help: "Hold out every N-th document for validation (0: none).") var valEvery = 10
    @Option(help: "Tokens per shard.") var shardTokens = 50_000_000
    @Option(help: "JSONL text field.") var field = "text"
    @Option(help: "Invalid UTF-8 in inputs: replace or error.") var invalidUtf8: InvalidUTF8Policy = .replace
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        guard valEvery >= 0, shardTokens > 0 else { throw ValidationError("--val-every must be ≥ 0 and --shard-tokens positive") }
        let tok = try TokenizerLoader.load(tokenizer)
        var files = try TextFiles(paths: inputs, field: field, invalidUTF8: invalidUtf8)
        let progress = ProgressLine()
        let s = try CorpusTokenizer.run(files: &files, tokenizer: tok, outDir: output, validationEvery: valEvery,
                                        shardTokens: shardTokens, progress: progress)
        progress.line(String(format: "%d documents: train %d tokens (%.2f bytes/token), validation %d tokens in %d documents → %@",
                             s.documents, s.tokens, s.bytesPerToken, s.validationTokens, s.validationDocuments, output))
    }
}
