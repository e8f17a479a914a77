// forge chat: an interactive terminal chat with the model's own chat template.
import ArgumentParser
import ForgeCore
import ForgeInference
import ForgeTokenizer
import Foundation

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model in the terminal (its chat template, history, streaming replies).",
        discussion: """
            Type a message and press Enter. Commands: /reset (forget the conversation), /system TEXT (set the
            system message and reset), /exit. When the conversation outgrows the context window, the oldest
            turns are dropped (the system message stays).
            Example: forge chat --model SmolLM2-135M-Instruct.Q4_1.gguf --temperature 0.3
            """)

    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "System message.") var system: String?
    @Option(help: "Context window in tokens (default: the model's, at most 4096).") var context: Int?
    @Option(help: "Key/value cache type: f16 (llama.cpp's default and arithmetic) or f32.") var cacheType: KVCacheType = .f16
    @OptionGroup var sampling: SamplingFlags
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let loaded = try LoadedModel.open(model)
        let generator = try loaded.generator(contextLength: context ?? min(loaded.model.config.contextLength, 4096), cacheType: cacheType)
        let capacity = generator.session.capacity
        var systemMessage = system
        var history: [ChatMessage] = []
        let interactive = isatty(0) != 0
        let err = FileHandle.standardError, out = FileHandle.standardOutput
        err.write(Data("\(loaded.model.summary), context \(capacity) tokens. /reset, /system TEXT, /exit.\n".utf8))
        if loaded.chatTemplate == nil {
            err.write(Data("[no chat template in this model: using a plain 'User: / Assistant:' transcript]\n".utf8))
        }
        while true {
            if interactive { out.write(Data("> ".utf8)) }
            guard let line = readLine(strippingNewline: true) else { break }
            let input = line.trimmingCharacters(in: .whitespaces)
            if input.isEmpty { continue }
            if input == "/exit" || input == "/quit" { break }
            if input == "/reset" { history.removeAll(); err.write(Data("[conversation reset]\n".utf8)); continue }
            if input.hasPrefix("/system") {
                systemMessage = String(input.dropFirst("/system".count)).trimmingCharacters(in: .whitespaces)
                if systemMessage!.isEmpty { systemMessage = nil }
                history.removeAll()
                err.write(Data("[system message set; conversation reset]\n".utf8))
                continue
            }
            if input.hasPrefix("/") { err.write(Data("[unknown command \(input); try /reset, /system TEXT, /exit]\n".utf8)); continue }
            history.append(ChatMessage(role: "user", content: input))
            // Context policy: drop the oldest turns until the prompt leaves room for the reply.
            var prompt: [Int32] = []
            var dropped = 0
            while true {
                let messages = (systemMessage.map { [ChatMessage(role: "system", content: $0)] } ?? []) + history
                prompt = loaded.encode(try loaded.chatPrompt(messages), special: true, addBOS: true)
                let room = min(sampling.maxTokens, capacity / 2)
                if prompt.count + room <= capacity || history.count <= 1 { break }
                history.removeFirst(min(2, history.count - 1))
                dropped += 1
            }
            if dropped > 0 { err.write(Data("[dropped the \(dropped) oldest turn(s) to fit the context]\n".utf8)) }
            if prompt.count >= capacity {
                err.write(Data("[this message alone needs \(prompt.count) tokens; the context holds \(capacity)]\n".utf8))
                history.removeLast()
                continue
            }
            var settings = sampling.settings
            settings.maxTokens = min(settings.maxTokens, capacity - prompt.count)
            settings.stop += loaded.chatStops
            let result = try generator.generate(prompt: prompt, settings: settings) { piece in
                out.write(Data(piece.utf8))
                return true
            }
            out.write(Data("\n".utf8))
            history.append(ChatMessage(role: "assistant", content: result.text.trimmingCharacters(in: .whitespaces)))
        }
    }
}
