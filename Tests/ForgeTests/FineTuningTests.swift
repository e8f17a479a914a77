// Supervised fine-tuning: conversation files in each shipped format, bad files, the assistant-token mask, packing
// (a packed example gets the logits and loss it gets alone, in every family), zero gradient outside replies, and a
// run that resumes exactly.
import ForgeAlign
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeTokenizer
import ForgeTrain
import Foundation
import Testing

@Suite struct ConversationFileTests {
    func write(_ dir: String, _ name: String, _ text: String) -> String {
        let p = dir + "/" + name
        FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }

    @Test func readsEveryShippedFormat() throws {
        let dir = temporaryDirectory("chats")
        let messages = write(dir, "a.jsonl", """
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}

            {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
            """)
        // ShareGPT as it ships: a JSON array, here cut inside its third record (strings hold braces and escapes).
        let share = write(dir, "b.json", """
            [{"id": "x", "conversations": [{"from": "human", "value": "a {brace} \\"q\\""}, {"from": "gpt", "value": "b ]"}]},
             {"id": "y", "conversations": [{"from": "human", "value": "only a question"}]},
             {"id": "z", "conversations": [{"from": "human", "value": "cut he
            """)
        let chitchat = write(dir, "c.json", """
            {"k1": {"messages": [[{"text": "Hello", "sender": "a"}, {"text": "you there?", "sender": "a"}], [{"text": "yes", "sender": "b"}], [{"text": "bye", "sender": "a"}]]}}
            """)
        let bot = write(dir, "d.yml", "categories:\n- greetings\nconversations:\n- - Hello\n  - Hi\n- - How are you?\n  - Fine\n  - Good\n")
        let set = try ConversationFiles.read([messages, share, chitchat, bot])
        let roles = set.conversations.map { $0.messages.map(\.role).joined(separator: ",") }
        #expect(roles == ["system,user,assistant", "user,assistant", "user,assistant", "user,assistant", "user,assistant", "user,assistant"])
        #expect(set.conversations[2].messages.map(\.content) == ["a {brace} \"q\"", "b ]"])
        #expect(set.conversations[3].messages.map(\.content) == ["Hello\nyou there?", "yes"])  // the user's last turn dropped
        #expect(set.conversations[5].messages.map(\.content) == ["How are you?", "Fine"])
        #expect(set.notes.contains { $0.contains("truncated") && $0.contains("2 whole records") })
        #expect(set.notes.contains { $0.contains("1 records without") })
        #expect(set.conversations[1].origin == messages + ":3")
    }

    @Test func badFilesNameTheRecordAndTheProblem() throws {
        let dir = temporaryDirectory("badchats")
        let cases: [(String, String)] = [
            (#"{"messages": [{"role": "wizard", "content": "x"}, {"role": "assistant", "content": "y"}]}"#, "role 'wizard'"),
            (#"{"messages": []}"#, "empty conversation"),
            (#"{"messages": [{"role": "user"}]}"#, "lacks a string 'role' or 'content'"),
            (#"{"messages": [{"role": "user", "content": "x"}]}"#, "no assistant message"),
            (#"{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": ""}]}"#, "is empty"),
            ("not json", "not a JSON object"),
        ]
        for (i, (line, problem)) in cases.enumerated() {
            let p = write(dir, "bad\(i).jsonl", "\n" + line + "\n")
            let e = #expect(throws: ForgeError.self) { try ConversationFiles.read([p]) }
            #expect(e?.description.contains(p + ":2") == true && e?.description.contains(problem) == true, "\(e?.description ?? "")")
        }
        #expect(throws: ForgeError.self) { try ConversationFiles.read([dir + "/missing.jsonl"]) }
    }
}

@Suite struct ChatEncoderTests {
    @Test func theLossCountsRepliesAndTheirEndTokenOnly() throws {
        let file = try GGUFFile(path: smolLM2Path)
        let tokenizer = try GGUFVocab.load(file)
        let encoder = ChatEncoder(template: try #require(try ChatTemplate.fromGGUF(file)), tokenizer: tokenizer)
        let c = Conversation(messages: [ChatMessage(role: "user", content: "Hi"), ChatMessage(role: "assistant", content: "Hello there!"),
                                        ChatMessage(role: "user", content: "And 2+2?"), ChatMessage(role: "assistant", content: "4, of course.")],
                             origin: "t")
        let e = try encoder.encode(c)
        // Pieces tokenized apart give the whole rendering's tokens here (ChatML boundaries).
        let whole = try encoder.template.render(c.messages, addGenerationPrompt: false)
        #expect(e.tokens == tokenizer.encode(whole, allowSpecial: true, addSpecialTokens: false))
        var spans: [String] = [], current: [Int32] = []
        for (t, on) in zip(e.tokens, e.trainable) {
            if on { current.append(t) } else if !current.isEmpty { spans.append(tokenizer.decode(current)); current = [] }
        }
        if !current.isEmpty { spans.append(tokenizer.decode(current)) }
        #expect(spans == ["Hello there!<|im_end|>", "4, of course.<|im_end|>"])
    }
}

@Suite struct PackingTests {
    static let examples = [ChatExample(tokens: [1, 5, 7, 2, 9], trainable: [false, false, true, true, true], origin: "a"),
                           ChatExample(tokens: [3, 4, 8, 6], trainable: [false, true, true, false], origin: "b")]

    @Test(arguments: ModelParityTests.configs)
    func aPackedExampleGetsTheLogitsItGetsAlone(config: TransformerConfig) throws {
        let model = try Transformer(config: config, seed: 3)
        perturbAll(model, seed: 4)
        let packed = ChatBatches.assemble([PackingTests.examples], seq: 12, pad: 0)
        let together = model.logits(Tape(recording: false), tokens: packed.inputs, layout: packed.layout).value.array
        var start = 0
        let V = config.vocabSize
        for e in PackingTests.examples {
            let alone = model.logits(Tape(recording: false), tokens: e.tokens, batch: 1, seq: e.count).value.array
            let part = Array(together[(start * V)..<((start + e.count) * V)])
            let diff = zip(alone, part).map { abs($0 - $1) }.max()!
            #expect(diff < 1e-5, "\(config.architecture) example \(e.origin): max |Δlogit| \(diff)")
            start += e.count
        }
    }

    @Test(arguments: ModelParityTests.configs)
    func packedAndPaddedBatchesGiveTheSameLossAndGradients(config: TransformerConfig) throws {
        func lossAndGrads(_ b: ChatBatch) throws -> (Float, [Float]) {
            let model = try Transformer(config: config, seed: 3)
            perturbAll(model, seed: 4)
            let tape = Tape()
            let loss = Objective<ChatBatch>.assistantTokens.loss(tape, model, b)
            tape.backward(loss)
            return (loss.value.data[0], model.parameters.flatMap { $0.grad?.array ?? [] })
        }
        let packed = ChatBatches.assemble([PackingTests.examples], seq: 12, pad: 0)
        let padded = ChatBatches.assemble(PackingTests.examples.map { [$0] }, seq: 12, pad: 0)
        #expect(packed.counted == 5 && padded.counted == 5 && packed.tokens == 9)
        let (l1, g1) = try lossAndGrads(packed), (l2, g2) = try lossAndGrads(padded)
        #expect(abs(l1 - l2) < 1e-5, "\(l1) vs \(l2)")
        let scale = g2.map(abs).max()!
        #expect(zip(g1, g2).map { abs($0 - $1) }.max()! < 1e-4 * scale)
    }

    @Test func tokensOutsideRepliesGetNoGradient() throws {
        let config = ModelParityTests.configs[1]
        let model = try Transformer(config: config, seed: 3)
        let b = ChatBatches.assemble([PackingTests.examples], seq: 12, pad: 0)
        // The model's logits as a leaf, so their gradient is kept.
        let logits = Variable(model.logits(Tape(recording: false), tokens: b.inputs, layout: b.layout).value, requiresGrad: true, name: "logits")
        let tape = Tape()
        tape.backward(Losses.crossEntropy(tape, logits, targets: b.targets))
        let grad = try #require(logits.grad).array, V = config.vocabSize
        // Targets: rows whose next token is an assistant token of the same example.
        #expect(b.targets == [-1, 7, 2, 9, -1, 4, 8, -1, -1, -1, -1, -1])
        for r in 0..<12 {
            let norm = grad[(r * V)..<((r + 1) * V)].map(abs).max()!
            if b.targets[r] < 0 { #expect(norm == 0, "row \(r)") } else { #expect(norm > 0, "row \(r)") }
        }
    }

    @Test func overLongExamplesAreRefusedCutOrSkipped() throws {
        let long = ChatExample(tokens: Array(0..<20), trainable: Array(repeating: true, count: 20), origin: "f.jsonl:7")
        let e = #expect(throws: ForgeError.self) {
            try ChatBatches(examples: [long, PackingTests.examples[0]], batch: 1, seq: 8, pack: true, pad: 0, seed: 1)
        }
        #expect(e?.description.contains("f.jsonl:7: 20 tokens") == true)
        let cut = try ChatBatches(examples: [long], batch: 1, seq: 8, pack: true, pad: 0, seed: 1, overLong: .truncate)
        #expect(cut.examples[0].count == 8)
        let skipped = try ChatBatches(examples: [long, PackingTests.examples[0]], batch: 1, seq: 8, pack: true, pad: 0, seed: 1, overLong: .skip)
        #expect(skipped.examples.map(\.origin) == ["a"])
    }
}

@Suite struct FineTuningRunTests {
    /// A tiny Llama over SmolLM2's tokenizer and template, saved as a model dir.
    static func tinyBase() throws -> String {
        let file = try GGUFFile(path: smolLM2Path)
        let tokenizer = try GGUFVocab.load(file)
        let config = TransformerConfig(architecture: .llama, vocabSize: tokenizer.vocabSize, contextLength: 128, width: 16, layers: 2,
                                       heads: 2, kvHeads: 1, ffnWidth: 24, tiedEmbeddings: true)
        let dir = temporaryDirectory("tinybase")
        try ModelDir.save(try Transformer(config: config, seed: 1), tokenizer: tokenizer,
                          chatTemplate: file["tokenizer.chat_template"]?.string, to: dir)
        return dir
    }

    /// A model dir's tokenizer keeps the GGUF's special tokens through tokenizer_config.json, also when a run saves it
    /// again (a fine-tuned model's dir must name its EOS, or Hugging Face generation never stops).
    @Test func specialTokensSurviveModelDirToModelDir() throws {
        let gguf = try GGUFVocab.load(try GGUFFile(path: smolLM2Path))
        let base = try FineTuningRunTests.tinyBase()
        let loaded = try #require(try ModelDir.loadTokenizer(from: base) as? BPETokenizer)
        #expect(loaded.eosId == 2 && loaded.eosId == gguf.eosId && loaded.padId == (gguf as? BPETokenizer)?.padId && loaded.bosId == gguf.bosId)
        let again = temporaryDirectory("tinybase-again")
        defer { try? FileManager.default.removeItem(atPath: again) }
        try ModelDir.save(try Transformer(config: ModelDir.loadConfig(from: base), seed: 1), tokenizer: loaded, to: again)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: again + "/tokenizer_config.json"))) as? [String: Any]
        #expect(config?["eos_token"] as? String == "<|im_end|>" && config?["pad_token"] as? String == "<|im_end|>", "\(config ?? [:])")
        #expect(try TokenizerLoader.load(again).eosId == 2)
    }

    @Test(arguments: [false, true])
    func aResumedRunEqualsAnUninterruptedOne(lora: Bool) throws {
        let base = try FineTuningRunTests.tinyBase()
        let data = temporaryDirectory("sftdata") + "/chats.jsonl"
        let lines = (0..<40).map { i in
            #"{"messages": [{"role": "user", "content": "What is \#(i) plus \#(i)?"}, {"role": "assistant", "content": "It is \#(2 * i)."}]}"#
        }
        FileManager.default.createFile(atPath: data, contents: Data(lines.joined(separator: "\n").utf8))
        var options = FineTuning.defaultOptions
        options.batch = 2; options.seq = 96; options.steps = 4; options.learningRate = 1e-3; options.evalEvery = 2; options.checkpointEvery = 0
        var settings = FineTuneData(paths: [data])
        settings.validationFraction = 0.2
        func train(_ dir: String, stopAt: Int?, resume: Bool) throws -> Trainer<ChatBatch> {
            // Under LoRA (with dropout, whose masks must repeat on resume) the checkpoint holds only the adapters.
            let config = lora ? try LoRAConfig(rank: 2, alpha: 4, dropout: 0.1, targets: ["q", "v", "down"]) : nil
            let t = try FineTuning.trainer(base: try BaseModel.load(base), data: settings, options: options, runDir: dir, resume: resume, lora: config)
            t.progress = nil
            _ = try t.run(stopAt: stopAt)
            return t
        }
        let straight = try train(temporaryDirectory("sft-a"), stopAt: nil, resume: false)
        let dir = temporaryDirectory("sft-b")
        _ = try train(dir, stopAt: 2, resume: false)
        let resumed = try train(dir, stopAt: nil, resume: true)
        let losses = { (t: Trainer<ChatBatch>) in t.metrics.records.filter { $0.kind == "train" }.map { $0.values["loss"]! } }
        #expect(losses(straight).count == 4 && losses(straight) == losses(resumed))
        #expect(straight.model.trainableParameters.map(\.value.array) == resumed.model.trainableParameters.map(\.value.array))
        if lora {
            #expect(FileManager.default.fileExists(atPath: dir + "/adapter/adapter_model.safetensors"))
            return
        }
        #expect(straight.model.parameters.map(\.value.array) == resumed.model.parameters.map(\.value.array))
        // The model dir carries the tokenizer and the template, and loads as a base again.
        let out = try BaseModel.load(resumed.modelDir)
        #expect(out.chatTemplate == (try BaseModel.load(base).chatTemplate))
        #expect(FileManager.default.fileExists(atPath: resumed.modelDir + "/tokenizer.json"))
    }
}

@Suite struct ShakespeareDialogueTests {
    @Test func speechesAndRepliesBecomeTurns() {
        let play = """
            KING.
            What's he comes here?

            [Enter BERTRAM, LAFEU, and PAROLLES.]

            FIRST LORD.
            It is the Count Rousillon, my good lord,
            Young Bertram.

            KING.
            Youth, thou bear'st thy father's face;
            [Aside.]
            Welcome to Paris.

            KING.
            I speak again.
            """
        let c = ShakespeareDialogue.conversations([play], origin: "p")
        // The stage direction breaks the first exchange; a speaker answering himself is no exchange.
        #expect(c.map { $0.messages.map(\.content) } == [["It is the Count Rousillon, my good lord,\nYoung Bertram.", "Youth, thou bear'st thy father's face;\nWelcome to Paris."]])
        #expect(c[0].messages.map(\.role) == ["user", "assistant"])
    }

    @Test func forgeTrainedTokenizersGetForgesTemplate() throws {
        let tokenizer = try BPETrainer.train(PieceCounts(), options: { var t = BPETrainingOptions(); t.vocabSize = 300; return t }())
        let base = BaseModel(transformer: try Transformer(config: TransformerConfig(architecture: .llama, vocabSize: 300, contextLength: 32,
                                                                                    width: 8, layers: 1, heads: 2), seed: 1),
                             tokenizer: tokenizer, chatTemplate: nil)
        #expect(try base.templateSource() == ChatEncoder.forgeTemplate)
        let e = try base.chatEncoder().encode(Conversation(messages: [ChatMessage(role: "user", content: "Hi"), ChatMessage(role: "assistant", content: "Yo")], origin: "t"))
        #expect(tokenizer.decode(zip(e.tokens, e.trainable).filter(\.1).map(\.0)) == "Yo<|end|>")
    }
}
