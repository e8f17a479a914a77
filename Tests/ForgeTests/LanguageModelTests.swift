// The Forge library: what a Swift program does with a model, on the real SmolLM2 and on a model trained in memory.
import Forge
import ForgeCore
import Foundation
import Testing

@Suite struct LanguageModelTests {
    @Test func generateStreamAndChatWithSmolLM2() async throws {
        let model = try LanguageModel.load(smolLM2Path)
        let text = try model.generate("The capital of France is", maxTokens: 8)
        #expect(text.contains("Paris"), "\(text)")
        // Streaming gives the same text in pieces, as an async sequence too.
        var settings = GenerationSettings()
        settings.maxTokens = 12
        settings.sampling.seed = 7
        var pieces: [String] = []
        let whole = try model.generate("Once upon a time", settings: settings) { pieces.append($0); return true }.text
        #expect(pieces.joined() == whole && pieces.count > 1)
        var streamed = ""
        for try await piece in model.stream("Once upon a time", settings: settings) { streamed += piece }
        #expect(streamed == whole, "the same seed gives the same text")
        // A chat in the model's template; the second turn sees the first.
        let chat = model.chat(system: "Answer in one short sentence.")
        var greedy = GenerationSettings()
        greedy.maxTokens = 24
        greedy.sampling = .greedy
        let reply = try chat.send("What is the capital of France?", settings: greedy)
        #expect(reply.contains("Paris"), "\(reply)")
        _ = try chat.send("And of Italy?", settings: greedy)
        #expect(chat.history.count == 4 && chat.history[1].role == "assistant")
        // Guardrails keep what was shown: a redacted reply as redacted, a stopped exchange not at all.
        chat.amendLastReply("Rome, [REDACTED].")
        #expect(chat.history[3] == ChatMessage(role: "assistant", content: "Rome, [REDACTED]."))
        chat.amendLastReply(nil)
        #expect(chat.history.count == 2 && chat.history.last?.content == reply)
        #expect(model.cacheUsage.blocks > 0)
    }

    /// A model trained in the same program serves without a trip to disk, and the example program runs.
    @Test func aModelTrainedInMemoryAndTheExampleProgram() throws {
        let trained = try Transformer(config: tinyLlama, seed: 5)
        let model = try LanguageModel(trained, tokenizer: ByteTokenizer())
        #expect(try model.generate("ab", maxTokens: 5).utf8.count <= 5 * 4)
        let dir = temporaryDirectory("example")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ModelDir.save(try Transformer(config: tinyLongLlama, seed: 6), tokenizer: ByteTokenizer(), to: dir)
        let example = URL(fileURLWithPath: forgeBinary).deletingLastPathComponent().appendingPathComponent("forge-example").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: example)
        p.arguments = [dir, "hello"]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "forge-example on a model dir")
    }
}
