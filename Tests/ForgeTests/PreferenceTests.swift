// Preference tuning: pair files in TRL's layouts, TRL's prompt/reply token split, the DPO loss and log-sigmoid against
// Float64 and finite differences, and a DPO run whose first loss is ln 2 (policy = reference), full and with LoRA.
import ForgeAlign
import ForgeAutograd
import ForgeCore
import ForgeInference
import ForgeModels
import ForgeTokenizer
import ForgeTrain
import Foundation
import Testing

@Suite struct PreferenceTests {
    @Test func logSigmoidAndTheDPOLossMatchFloat64() {
        var rng = RNG(seed: 3)
        checkOp("logSigmoid", inputs: [randomTensor([12], &rng, scale: 8)],
                fast: { t, v in t.logSigmoid(v[0]) },
                reference: { x in x[0].map { $0 < 0 ? $0 - log1p(exp($0)) : -log1p(exp(-$0)) } })
        let reference: [Float] = [-12.5, -30.25, -9.0, -14.0, -31.0, -8.5]
        let beta: Float = 0.3
        checkOp("dpoLoss", inputs: [randomTensor([6], &rng, scale: 4)],
                fast: { t, v in t.dpoLoss(v[0], reference: reference, beta: beta) },
                reference: { x in
                    let p = x[0], r = reference.map(Double.init), b = Double(beta)
                    let loss = (0..<3).map { i -> Double in
                        let z = b * ((p[i] - r[i]) - (p[3 + i] - r[3 + i]))
                        return log1p(exp(-z))  // −log σ(z)
                    }.reduce(0, +) / 3
                    return [loss]
                })
        // With RPO's NLL term on the chosen rows (first three), over 17 chosen tokens.
        checkOp("dpoLoss+nll", inputs: [randomTensor([6], &rng, scale: 4)],
                fast: { t, v in t.dpoLoss(v[0], reference: reference, beta: beta, nllWeight: 0.7, chosenTokens: 17) },
                reference: { x in
                    let p = x[0], r = reference.map(Double.init), b = Double(beta)
                    let dpo = (0..<3).map { i in log1p(exp(-b * ((p[i] - r[i]) - (p[3 + i] - r[3 + i])))) }.reduce(0, +) / 3
                    return [dpo + 0.7 * -(p[0] + p[1] + p[2]) / 17]
                })
    }

    @Test func pairsReadInTRLsLayoutsWithClearErrors() throws {
        let dir = temporaryDirectory("pairs")
        let good = dir + "/good.jsonl"
        try """
            {"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello!"}], "rejected": [{"role": "assistant", "content": "Go away."}]}
            {"prompt": "2+2?", "chosen": "4", "rejected": "5"}
            {"chosen": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "B"}]}
            """.write(toFile: good, atomically: true, encoding: .utf8)
        let pairs = try PreferencePairs.read([good])
        #expect(pairs.map(\.prompt.count) == [1, 1, 1] && pairs.map(\.chosen.content) == ["Hello!", "4", "A"] && pairs[2].rejected.content == "B")
        let bad: [(String, String)] = [
            (#"{"prompt": "x", "chosen": "y"}"#, "'rejected' is neither"),
            (#"{"prompt": "x", "chosen": "", "rejected": "z"}"#, "an empty reply"),
            (#"{"prompt": [{"role": "assistant", "content": "x"}], "chosen": "y", "rejected": "z"}"#, "must end with a user message"),
            (#"{"prompt": "x", "chosen": [{"role": "user", "content": "y"}], "rejected": "z"}"#, "one assistant reply"),
        ]
        for (i, (line, problem)) in bad.enumerated() {
            let p = dir + "/bad\(i).jsonl"
            try line.write(toFile: p, atomically: true, encoding: .utf8)
            let e = #expect(throws: ForgeError.self) { try PreferencePairs.read([p]) }
            #expect(e?.description.contains(p + ":1") == true && e?.description.contains(problem) == true, "\(e?.description ?? "")")
        }
    }

    @Test func repliesAreTheTokensAfterTheRenderedPrompt() throws {
        let file = try GGUFFile(path: smolLM2Path)
        let tokenizer = try GGUFVocab.load(file)
        let encoder = ChatEncoder(template: try #require(try ChatTemplate.fromGGUF(file)), tokenizer: tokenizer)
        let e = try encoder.encode(PreferencePair(prompt: [ChatMessage(role: "user", content: "Hi")], chosen: ChatMessage(role: "assistant", content: "Hello!"),
                                                  rejected: ChatMessage(role: "assistant", content: "Go away."), origin: "t"))
        #expect(tokenizer.decode(e.prompt).hasSuffix("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"))
        #expect(tokenizer.decode(e.chosen) == "Hello!<|im_end|>\n" && tokenizer.decode(e.rejected) == "Go away.<|im_end|>\n")
    }

    @Test(arguments: [false, true])
    func aDPORunStartsAtLn2AndMovesTowardTheChosen(lora: Bool) throws {
        let base = try FineTuningRunTests.tinyBase()
        let pairs = temporaryDirectory("dpo") + "/pairs.jsonl"
        let lines = (0..<12).map { i in #"{"prompt": "Say \#(i).", "chosen": "\#(i)", "rejected": "No."}"# }
        try lines.joined(separator: "\n").write(toFile: pairs, atomically: true, encoding: .utf8)
        var options = FineTuning.defaultOptions
        options.batch = 3; options.seq = 64; options.steps = 6; options.learningRate = 3e-3; options.evalEvery = 0; options.checkpointEvery = 0
        var data = PreferenceData(paths: [pairs])
        data.validationFraction = 0
        let run = temporaryDirectory("dpo-run")
        let trainer = try DPO.trainer(base: try BaseModel.load(base), data: data, beta: 0.5, options: options, runDir: run, resume: false,
                                      lora: lora ? try LoRAConfig(rank: 4, alpha: 8, targets: ["q", "v", "up"]) : nil)
        trainer.progress = nil
        _ = try trainer.run()
        let steps = trainer.metrics.records.filter { $0.kind == "train" }
        #expect(abs(steps[0].values["loss"]! - log(2)) < 1e-6)
        #expect(steps[0].values["rewards/margins"]! == 0 && steps.last!.values["rewards/margins"]! > 0)
        #expect(steps.last!.values["loss"]! < log(2))
        #expect(FileManager.default.fileExists(atPath: run + (lora ? "/adapter/adapter_model.safetensors" : "/model/model.safetensors")))
    }
}

@Suite struct RewardModelTests {
    @Test func aRewardModelLearnsToRankAndSavesHuggingFacesLayout() throws {
        let base = try FineTuningRunTests.tinyBase()
        let pairs = temporaryDirectory("rm") + "/pairs.jsonl"
        // Chosen replies are polite, rejected ones rude: learnable from the last tokens.
        let lines = (0..<60).map { i in #"{"prompt": "Question \#(i)?", "chosen": "Thank you, the answer is \#(i).", "rejected": "Go away \#(i)!"}"# }
        try lines.joined(separator: "\n").write(toFile: pairs, atomically: true, encoding: .utf8)
        var options = FineTuning.defaultOptions
        options.batch = 4; options.seq = 64; options.steps = 30; options.learningRate = 3e-3; options.evalEvery = 0; options.checkpointEvery = 0
        var data = PreferenceData(paths: [pairs])
        data.validationFraction = 0.25
        let run = temporaryDirectory("rm-run")
        let (trainer, heldOut) = try RewardModel.trainer(base: try BaseModel.load(base), data: data, options: options, runDir: run, resume: false)
        trainer.progress = nil
        #expect(!heldOut.isEmpty)
        // The first batch's gradients, taken without a step or moving the data (`forge rm --dump-gradients`), are the
        // ones the first step then applies: its logged gradient norm is theirs.
        let first = trainer.firstGradients()
        #expect(first.contains { $0.0 == "score.weight" })
        let norm = first.reduce(0.0) { $0 + $1.1.array.reduce(0.0) { $0 + Double($1) * Double($1) } }.squareRoot()
        _ = try trainer.run()
        let logged = try #require(trainer.metrics.records.first { $0.kind == "train" }?.values["grad_norm"])
        #expect(abs(logged - norm) <= 1e-5 * norm, "first-step gradient norm \(logged), dumped \(norm)")
        let accuracy = RewardModel.accuracy(trainer.model, heldOut)
        #expect(accuracy >= 0.9, "held-out accuracy \(accuracy)")
        #expect(trainer.metrics.records.last { $0.kind == "train" }?.values["accuracy"] != nil)
        // The model dir is a sequence classifier with its head, and reads back with it.
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/model/config.json"))) as! [String: Any]
        #expect(config["architectures"] as? [String] == ["LlamaForSequenceClassification"] && config["num_labels"] as? Int == 1)
        let back = try ModelDir.loadModel(from: run + "/model")
        #expect(back.heads["score.weight"]?.value.array == trainer.model.heads["score.weight"]!.value.array)
        #expect(RewardModel.accuracy(back, heldOut) == accuracy)
    }
}

@Suite struct PairBuilderTests {
    @Test func refusalsAreRecognised() {
        #expect(RefusalDetector.isRefusal("I'm sorry, but I can't help with that."))
        #expect(RefusalDetector.isRefusal("As an AI language model, I won’t do this."))
        #expect(!RefusalDetector.isRefusal("Sure! Here is a recipe for pancakes."))
    }

    @Test func helpfulPairsAreTheDatasetsReplyOverTheModelsOwnAndHeldOutApart() async throws {
        let base = try FineTuningRunTests.tinyBase()
        let loaded = try LoadedModel.open(base)
        let conversations = (0..<10).map { i in
            Conversation(messages: [ChatMessage(role: "user", content: "Question \(i)?"), ChatMessage(role: "assistant", content: "Answer \(i).")], origin: "c\(i)")
        }
        var settings = GenerationSettings()
        settings.maxTokens = 6
        settings.sampling.temperature = 1
        let dir = temporaryDirectory("helpful")
        let summary = try await PairBuilder.helpful(loaded, conversations: conversations, settings: settings, heldOutFraction: 0.3, outputDir: dir)
        let train = try PreferencePairs.read([dir + "/train.jsonl"]), held = (try? PreferencePairs.read([dir + "/heldout.jsonl"])) ?? []
        #expect(summary.prompts == 10 && train.count == summary.pairs && held.count == summary.heldOutPairs && train.count + held.count > 0)
        #expect(Set(train.map(\.prompt[0].content)).isDisjoint(with: held.map(\.prompt[0].content)))
        for p in train + held {
            let i = p.prompt[0].content.dropFirst("Question ".count).dropLast()
            #expect(p.chosen.content == "Answer \(i).")
        }
    }
}
