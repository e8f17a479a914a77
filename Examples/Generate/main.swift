// A Swift program on the Forge library: generate, stream and chat with a model.
//   swift run forge-example MODEL.gguf "The capital of France is"
import Forge
import Foundation

let args = CommandLine.arguments
guard args.count >= 2 else {
    print("usage: forge-example MODEL(.gguf or model dir) [PROMPT]")
    exit(2)
}
do {
    let model = try LanguageModel.load(args[1])
    let prompt = args.count > 2 ? args[2] : "The capital of France is"
    // One call, greedy.
    print(prompt + (try model.generate(prompt, maxTokens: 24)))
    // Streamed, sampled with a seed.
    var settings = GenerationSettings()
    settings.maxTokens = 24
    settings.sampling.seed = 1
    _ = try model.generate(prompt, settings: settings) { piece in print(piece, terminator: ""); return true }
    print()
    // A conversation in the model's chat template.
    let chat = model.chat(system: "Answer in one sentence.")
    print(try chat.send("What is the capital of France?"))
} catch {
    print("error: \(error)")
    exit(1)
}
