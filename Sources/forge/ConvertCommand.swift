// forge convert: a GGUF file (or a model dir) as a full Hugging Face model dir, in Float32.
import ArgumentParser
import ForgeCore
import ForgeModels
import ForgeTokenizer
import Foundation

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Write a GGUF model (or a model dir) as a Hugging Face model dir: weights in Float32, tokenizer, chat template.",
        discussion: """
        Every tensor is decoded from its stored type (quantized ones included) and put back in Hugging Face's form \
        (Llama's Q/K rows unpermuted, Gemma's norms as w, not 1 + w). The dir holds config.json, model.safetensors, \
        tokenizer.json, tokenizer_config.json (special tokens, chat template) and generation_config.json; \
        transformers loads it, and `forge pretrain/sft` can train it.

        Example:
          forge convert --model SmolLM2-135M-Instruct.Q4_1.gguf --output smollm2-hf
        """)

    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "The model directory to write.") var output: String
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDir) else { throw ForgeError.file(model, "no such file or directory") }
        let transformer: Transformer, tokenizer: TextTokenizer, template: String?
        if isDir.boolValue {
            transformer = try ModelDir.loadModel(from: model)
            tokenizer = try ModelDir.loadTokenizer(from: model)
            template = ModelDir.chatTemplateSource(model)
        } else {
            let file = try GGUFFile(path: model)
            transformer = try GGUFModel.transformer(file)
            tokenizer = try GGUFVocab.load(file)
            template = file["tokenizer.chat_template"]?.string
        }
        try ModelDir.save(transformer, tokenizer: tokenizer, chatTemplate: template, to: output)
        let c = transformer.config
        print("\(output): \(c.architecture) \(c.layers)×\(c.width), \(c.parameterCount) parameters in Float32, vocabulary \(tokenizer.vocabSize)"
              + (template == nil ? "" : ", chat template"))
    }
}
