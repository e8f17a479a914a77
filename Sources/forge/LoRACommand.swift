// forge lora merge: fold a LoRA adapter into its base model, writing a model dir.
import ArgumentParser
import ForgeAlign
import ForgeCore
import ForgeModels
import Foundation

struct LoRACommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lora", abstract: "Work with LoRA adapters (PEFT layout).",
                                                    subcommands: [Merge.self])

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "merge", abstract: "Fold a LoRA adapter into its base model (W += α/r · B·A) and write a model dir.",
            discussion: "Example:\n  forge lora merge --model SmolLM2-135M-Instruct.Q4_1.gguf --lora runs/sft/adapter --output runs/sft/merged")

        @Option(help: "The base model the adapter was trained on: a .gguf file or a model dir.") var model: String
        @Option(help: "The adapter dir (adapter_config.json, adapter_model.safetensors).") var lora: String
        @Option(help: "The model dir to write.") var output: String

        func run() throws {
            let base = try BaseModel.load(model)
            let weights = try LoRA.load(lora, for: base.transformer.config)
            try LoRA.merge(weights, into: base.transformer)
            try ModelDir.save(base.transformer, tokenizer: base.tokenizer, chatTemplate: base.chatTemplate, to: output)
            print("merged \(weights.pairs.count) adapted projections (rank \(weights.config.rank)) into \(output)")
        }
    }
}
