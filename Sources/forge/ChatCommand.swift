// forge chat: an interactive terminal chat with the model's own chat template.
import ArgumentParser
import Forge
import ForgeCore
import ForgeRetrieval
import ForgeInference
import ForgeTokenizer
import Foundation

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model in the terminal (its chat template, history, streaming replies).",
        discussion: """
            Type a message and press Enter. Commands: /reset (forget the conversation), /system TEXT (set the \
            system message and reset), /exit. When the conversation outgrows the context window, the oldest \
            turns are dropped (the system message stays).

            Example: forge chat --model SmolLM2-135M-Instruct.Q4_1.gguf --temperature 0.3
            """)

    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "A LoRA adapter dir (PEFT layout) applied without merging.") var lora: String?
    @Option(help: "System message.") var system: String?
    @Option(help: "Context window in tokens (default: the model's, at most 4096).") var context: Int?
    @Option(help: "Key/value cache type: f16 (llama.cpp's default and arithmetic) or f32.") var cacheType: KVCacheType = .f16
    @Option(help: "A retrieval index (forge rag index): each question is answered from its nearest chunks, with citations.") var rag: String?
    @Option(help: "Chunks retrieved per question with --rag.") var ragK = 4
    @Option(help: "Encoder dir for --rag (default: the one the index was built with) and --memory (default: --rag's).") var embedder: String?
    @Option(help: "A memory database (SQLite, created if missing): facts you state are kept and recalled in later sessions. /memories lists them, /forget ID deletes one, /remember TEXT adds one.")
    var memory: String?
    @Option(help: "Whose memories --memory reads and writes.") var user = "local"
    @OptionGroup var sampling: SamplingFlags
    @OptionGroup var guardOptions: GuardOptions
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let loaded = try LoadedModel.open(self.model, lora: lora)
        let model = try LanguageModel(loaded, contextLength: context ?? min(loaded.model.config.contextLength, 4096), cacheType: cacheType)
        let chat = model.chat(system: system)
        let retriever = try rag.map { try Retriever(index: $0, embedder: embedder) }
        let memories = try memory.map { path -> UserMemory in
            if let retriever, embedder == nil { return UserMemory(store: try MemoryStore(path: path, dimension: retriever.encoder.dimension), encoder: retriever.encoder) }
            guard let embedder else { throw ValidationError("--memory needs --embedder (a sentence-transformers dir) or --rag") }
            return try UserMemory(path: path, embedder: embedder)
        }
        let guardrails = try guardOptions.load()
        let interactive = isatty(0) != 0
        let err = FileHandle.standardError, out = FileHandle.standardOutput
        err.write(Data("\(model.summary), context \(model.contextLength) tokens. /reset, /system TEXT, /exit.\n".utf8))
        if model.loaded.chatTemplate == nil {
            err.write(Data("[no chat template in this model: using a plain 'User: / Assistant:' transcript]\n".utf8))
        }
        while true {
            if interactive { out.write(Data("> ".utf8)) }
            guard let line = readLine(strippingNewline: true) else { break }
            let input = line.trimmingCharacters(in: .whitespaces)
            if input.isEmpty { continue }
            if input == "/exit" || input == "/quit" { break }
            if input == "/reset" { chat.reset(); err.write(Data("[conversation reset]\n".utf8)); continue }
            if input.hasPrefix("/system") {
                let text = String(input.dropFirst("/system".count)).trimmingCharacters(in: .whitespaces)
                chat.system = text.isEmpty ? nil : text
                err.write(Data("[system message set; conversation reset]\n".utf8))
                continue
            }
            if let memories, try handleMemoryCommand(input, memories, err) { continue }
            if input.hasPrefix("/") { err.write(Data("[unknown command \(input); try /reset, /system TEXT, /exit\(memories == nil ? "" : ", /remember TEXT, /memories, /forget ID")]\n".utf8)); continue }
            var message = input
            if let guardrails {
                let v = guardrails.inspect(input, .input)
                if let b = v.blocked { err.write(Data("[blocked by the guardrails: \(b.code) (\(b.detail))]\n".utf8)); continue }
                message = v.text
            }
            if let memories {
                let context = try memories.context(user: user, message: message)
                for fact in try memories.capture(user: user, message: message) { err.write(Data("[remembered: \(fact)]\n".utf8)) }
                if let context { message = context + "\n\n" + message }
            }
            var grounded: GroundedPrompt?
            if let retriever {
                let (p, _) = try retriever.prompt(message, k: ragK)
                grounded = p
                message = p.message
            }
            let stream = guardrails?.stream()
            var shown = ""
            do {
                try chat.send(message, settings: sampling.settings) { piece in
                    let text = stream.map { $0.feed(piece) } ?? piece
                    shown += text
                    out.write(Data(text.utf8))
                    return stream?.blocked == nil
                }
                if let stream {
                    let rest = stream.finish()
                    shown += rest
                    out.write(Data(rest.utf8))
                    // The history keeps what was shown: a redacted reply as redacted, a stopped one not at all.
                    if let b = stream.blocked {
                        err.write(Data("\n[reply stopped by the guardrails: \(b.code) (\(b.detail)); the exchange is left out of the conversation]".utf8))
                        chat.amendLastReply(nil)
                    } else {
                        chat.amendLastReply(shown)
                    }
                }
            } catch let e as ForgeError {
                err.write(Data("[\(e.description)]\n".utf8))
                continue
            }
            if let grounded {
                let cited = grounded.citations(in: shownOrReply(chat))
                let list = (cited.isEmpty ? grounded.sources.map(\.number) : cited).map { n in "[\(n)] \(grounded.sources[n - 1].label)" }
                err.write(Data("\n[\(cited.isEmpty ? "retrieved (none cited)" : "cited"): \(list.joined(separator: "; "))]".utf8))
            }
            if chat.droppedTurns > 0 { err.write(Data("\n[dropped the \(chat.droppedTurns) oldest turn(s) to fit the context]".utf8)) }
            out.write(Data("\n".utf8))
        }
    }

    /// The last reply in the conversation.
    func shownOrReply(_ chat: ChatSession) -> String { chat.history.last { $0.role == "assistant" }?.content ?? "" }

    /// /remember TEXT, /memories, /forget ID; false for anything else.
    func handleMemoryCommand(_ input: String, _ memories: UserMemory, _ err: FileHandle) throws -> Bool {
        if input.hasPrefix("/remember ") {
            let id = try memories.remember(user: user, String(input.dropFirst("/remember ".count)))
            err.write(Data("[remembered as #\(id)]\n".utf8))
        } else if input == "/memories" {
            let all = try memories.store.list(user: user)
            err.write(Data((all.isEmpty ? "[no memories]\n" : all.map { "#\($0.id) \($0.text)\n" }.joined()).utf8))
        } else if input.hasPrefix("/forget ") {
            let arg = input.dropFirst("/forget ".count).trimmingCharacters(in: .whitespaces)
            if arg == "all" { err.write(Data("[forgot \(try memories.store.forgetAll(user: user)) memories]\n".utf8)) }
            else if let id = Int64(arg.drop { $0 == "#" }), try memories.store.forget(user: user, id: id) { err.write(Data("[forgot #\(id)]\n".utf8)) }
            else { err.write(Data("[no memory \(arg); /memories lists them]\n".utf8)) }
        } else {
            return false
        }
        return true
    }
}
