// forge tokenizer: train byte-level BPE tokenizers; inspect and convert any tokenizer Forge reads.
import ArgumentParser
import ForgeCore
import ForgeTokenizer
import ForgeTrain
import Foundation

extension InvalidUTF8Policy: ExpressibleByArgument {}

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer", abstract: "Train and inspect byte-level BPE tokenizers.",
        subcommands: [TokenizerTrain.self, TokenizerEncode.self, TokenizerDecode.self, TokenizerConvert.self, TokenizerChat.self])
}

struct TokenizerTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Learn a byte-level BPE vocabulary from .txt/.md/.jsonl files and write tokenizer.json.",
        discussion: "Example: forge tokenizer train --vocab 8192 --output runs/tok/tokenizer.json data/*.txt")

    @Argument(help: "Input files or directories.") var inputs: [String]
    @Option(help: "Vocabulary size (256 bytes + merges + special tokens).") var vocab = 8192
    @Option(help: "Output tokenizer.json.") var output: String
    @Option(help: "Pre-tokenizer: gpt2, llama3, or a regular expression.") var pattern = "gpt2"
    @Option(help: "Special tokens, comma-separated.") var special = BPETrainingOptions().specialTokens.joined(separator: ",")
    @Option(help: "Minimum pair count to merge.") var minFrequency = 2
    @Option(help: "JSONL text field.") var field = "text"
    @Option(help: "Invalid UTF-8 in inputs: replace or error.") var invalidUtf8: InvalidUTF8Policy = .replace
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        var options = BPETrainingOptions()
        options.vocabSize = vocab
        options.pattern = pattern == "gpt2" ? BPETrainingOptions.gpt2Pattern : pattern == "llama3" ? BPETrainingOptions.llama3Pattern : pattern
        options.specialTokens = special.split(separator: ",").map(String.init)
        options.minFrequency = minFrequency
        let progress = ProgressLine()
        let start = Date()
        var files = try TextFiles(paths: inputs, field: field, invalidUTF8: invalidUtf8)
        var counts = PieceCounts()
        var bytes = 0
        try files.forEachBatch { batch in
            counts.merge(try BPETrainer.count(batch, pattern: options.pattern))
            bytes += batch.reduce(0) { $0 + $1.utf8.count }
            progress.update(String(format: "counting: %.1f MB, %d distinct pieces", Double(bytes) / 1e6, counts.distinct))
        }
        progress.line(String(format: "counted %.1f MB into %d distinct pieces in %.1f s%@", Double(bytes) / 1e6, counts.distinct,
                             Date().timeIntervalSince(start), files.skippedLines > 0 ? ", \(files.skippedLines) JSONL lines skipped" : ""))
        let tok = try BPETrainer.train(counts, options: options) { done, total in
            if done % 256 == 0 || done == total { progress.update("merges \(done)/\(total)") }
        }
        try tok.save(to: output)
        progress.line(String(format: "vocabulary %d (%d merges) in %.1f s → %@", tok.vocabSize, tok.model.merges.count,
                             Date().timeIntervalSince(start), output))
    }
}

struct TokenizerEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode", abstract: "Print the token ids of a text.",
        discussion: "Example: forge tokenizer encode --tokenizer model.gguf --text 'Hello world'")

    @Option(help: "tokenizer.json, GGUF file, or model directory.") var tokenizer: String
    @Option(help: "Text to encode (default: standard input).") var text: String?
    @Flag(help: "Recognise special tokens written in the text.") var special = false
    @Flag(help: "Add the tokenizer's own special tokens (a leading BOS, ...), as Hugging Face's add_special_tokens.")
    var addSpecial = false
    @Flag(help: "Show each token's text too.") var verbose = false

    func run() throws {
        let tok = try TokenizerLoader.load(tokenizer)
        let input = text ?? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        let ids = tok.encode(input, allowSpecial: special, addSpecialTokens: addSpecial)
        if verbose {
            for id in ids { print(id, String(reflecting: String(decoding: tok.bytes(of: [id], skipSpecial: false), as: UTF8.self))) }
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}

struct TokenizerDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode", abstract: "Print the text of token ids.",
        discussion: "Example: forge tokenizer decode --tokenizer model.gguf 19556 905")

    @Option(help: "tokenizer.json, GGUF file, or model directory.") var tokenizer: String
    @Argument(help: "Token ids.") var ids: [Int32]

    func run() throws {
        let tok = try TokenizerLoader.load(tokenizer)
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= tok.vocabSize }) {
            throw ValidationError("token id \(bad) is outside the vocabulary (\(tok.vocabSize))")
        }
        print(tok.decode(ids))
    }
}

struct TokenizerConvert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert", abstract: "Write any tokenizer Forge reads (GGUF, tokenizer.json, model dir) as a Hugging Face tokenizer.json.",
        discussion: "Example: forge tokenizer convert --tokenizer SmolLM2-135M-Instruct.Q4_1.gguf --output smollm2.json")

    @Option(help: "tokenizer.json, GGUF file, or model directory.") var tokenizer: String
    @Option(help: "Output tokenizer.json.") var output: String

    func run() throws {
        let tok = try TokenizerLoader.load(tokenizer)
        try tok.save(to: output)
        print("\(output): vocabulary \(tok.vocabSize)")
    }
}

struct TokenizerChat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-prompt", abstract: "Render a conversation with a model's chat template (and show its tokens).",
        discussion: "Example: forge tokenizer chat-prompt --model SmolLM2-135M-Instruct.Q4_1.gguf --message user:Hello --generation-prompt")

    @Option(help: "GGUF file or model directory with a chat template.") var model: String
    @Option(help: "A message as role:content (repeatable, in order).") var message: [String] = []
    @Flag(help: "End with the assistant's turn opening.") var generationPrompt = false
    @Flag(help: "Also print the token ids (special tokens recognised).") var ids = false

    func run() throws {
        guard let template = try ChatTemplate.load(from: model) else { throw ForgeError.file(model, "has no chat template") }
        let msgs = try message.map { m -> ChatMessage in
            guard let colon = m.firstIndex(of: ":") else { throw ValidationError("--message must be role:content, got \(m)") }
            return ChatMessage(role: String(m[..<colon]), content: String(m[m.index(after: colon)...]))
        }
        let tok = try? TokenizerLoader.load(model)
        func name(_ id: Int32?) -> String { id.map { tok?.decode([$0]) ?? "" } ?? "" }
        let prompt: String
        do {
            prompt = try template.render(msgs, addGenerationPrompt: generationPrompt, bosToken: name(tok?.bosId), eosToken: name(tok?.eosId))
        } catch let e as ChatTemplateError {
            throw ForgeError("chat template: \(e.description)")
        }
        print(prompt, terminator: prompt.hasSuffix("\n") ? "" : "\n")
        if ids, let tok { print(tok.encode(prompt, allowSpecial: true).map(String.init).joined(separator: " ")) }
    }
}
