// SpeedrunChat: `forge speedrun --sft`: the Shakespeare model learns to answer in turns. Conversations come from the
// plays themselves: one character's speech is the user's turn and the next character's reply the assistant's. The
// training plays give the fine-tuning data; the held-out plays give the prompts on which the effect is measured:
// the share of replies that end with the end-of-turn token within the token budget, before and after.
import ForgeCore
import ForgeData
import ForgeInference
import ForgeModels
import ForgeTokenizer
import ForgeTrain
import Foundation

public enum ShakespeareDialogue {
    /// Consecutive speeches of two different characters as (user, assistant) conversations, speeches of at most
    /// `maxCharacters`. A speech is a paragraph opened by a line of capitals ending in "." (the speaker).
    public static func conversations(_ documents: [String], origin: String, maxCharacters: Int = 320) -> [Conversation] {
        var out: [Conversation] = []
        for (d, doc) in documents.enumerated() {
            var speeches: [(speaker: String, text: String)] = []
            for paragraph in doc.components(separatedBy: "\n\n") {
                let lines = paragraph.split(separator: "\n", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
                guard lines.count >= 2, let head = lines.first, head.hasSuffix("."), head.count <= 40,
                      head.dropLast().allSatisfy({ $0.isUppercase || $0 == " " || $0 == "'" || $0 == "-" }) else {
                    speeches.append(("", ""))  // not a speech: breaks the exchange
                    continue
                }
                let text = lines.dropFirst().filter { !$0.hasPrefix("[") }.joined(separator: "\n")
                speeches.append((String(head.dropLast()), text))
            }
            for i in 1..<max(1, speeches.count) {
                let (a, b) = (speeches[i - 1], speeches[i])
                guard !a.speaker.isEmpty, !b.speaker.isEmpty, a.speaker != b.speaker, !a.text.isEmpty, !b.text.isEmpty,
                      a.text.count <= maxCharacters, b.text.count <= maxCharacters else { continue }
                out.append(Conversation(messages: [ChatMessage(role: "user", content: a.text), ChatMessage(role: "assistant", content: b.text)],
                                        origin: "\(origin)#\(d).\(i)"))
            }
        }
        return out
    }
}

public enum SpeedrunChat {
    /// What fine-tuning changed.
    public struct Effect: Sendable {
        public var prompts: Int
        /// Share of held-out replies that ended with an end-of-turn token, before and after.
        public var endedBefore: Double, endedAfter: Double
        public var steps: Int
        public var samples: [(prompt: String, reply: String)]
    }

    /// The share of `prompts` whose sampled reply (at most `maxTokens`) ends with an end token.
    static func endedTurns(_ loaded: LoadedModel, _ prompts: [[Int32]], maxTokens: Int) async throws -> (Double, [String]) {
        var settings = GenerationSettings()
        settings.maxTokens = maxTokens
        settings.sampling.temperature = 0.7
        settings.sampling.topK = 40
        settings.sampling.seed = 7
        let longest = prompts.map(\.count).max() ?? 0
        let replies = try await BatchGeneration.run(loaded, prompts: prompts, settings: settings,
                                                    contextLength: min(loaded.model.config.contextLength, longest + maxTokens + 1))
        let ended = replies.filter { $0.finish == .stop }.count
        return (Double(ended) / Double(max(1, replies.count)), replies.map(\.text))
    }

    /// Fine-tunes the speedrun model in `runDir`/model on the training plays' dialogue into `runDir`/sft, measuring
    /// the effect on up to `heldOutPrompts` prompts from the held-out plays.
    public static func run(runDir: String, steps: Int, heldOutPrompts: Int = 100, maxTokens: Int = 96,
                           progress: ProgressLine = ProgressLine()) async throws -> Effect {
        let base = try BaseModel.load(runDir + "/model")
        let sftDir = runDir + "/sft"
        let train = ShakespeareDialogue.conversations(try CleanShards.texts(runDir + "/data/clean", split: "train"), origin: "train")
        let held = Array(ShakespeareDialogue.conversations(try CleanShards.texts(runDir + "/data/clean", split: "val"), origin: "val")
            .prefix(heldOutPrompts))
        guard !train.isEmpty, !held.isEmpty else { throw ForgeError("no dialogue found in the speedrun's plays") }
        try FileManager.default.createDirectory(atPath: sftDir, withIntermediateDirectories: true)
        let lines = try train.map { c -> String in
            let m = c.messages.map { ["role": $0.role, "content": $0.content] }
            return String(decoding: try JSONSerialization.data(withJSONObject: ["messages": m], options: [.sortedKeys]), as: UTF8.self)
        }
        try AtomicFile.write(sftDir + "/dialogue.jsonl", string: lines.joined(separator: "\n") + "\n")
        let template = try ChatTemplate(try base.templateSource())
        func prompts(_ tok: TextTokenizer) throws -> [[Int32]] {
            try held.map { c in
                // As fine-tuning and serving encode them (BOS only where the tokenizer adds one).
                tok.encode(try template.render([c.messages[0]], addGenerationPrompt: true), allowSpecial: true, addSpecialTokens: true)
            }
        }
        let before = try await endedTurns(LoadedModel(model: try InferenceModel(base.transformer), tokenizer: base.tokenizer, chatTemplate: template),
                                          try prompts(base.tokenizer), maxTokens: maxTokens)
        progress.line(String(format: "chat fine-tuning: %d dialogue turns from the training plays; before it, %.0f%% of %d held-out replies end their turn",
                             train.count, 100 * before.0, held.count))
        var options = FineTuning.defaultOptions
        options.batch = 16; options.seq = 256; options.steps = steps; options.learningRate = 1e-3; options.minLRFraction = 0.1
        options.warmupSteps = min(20, steps / 10); options.decay = .cosine; options.evalEvery = max(1, steps / 4); options.checkpointEvery = 0
        var data = FineTuneData(paths: [sftDir + "/dialogue.jsonl"])
        data.overLong = .skip
        let trainer = try FineTuning.trainer(base: base, data: data, options: options, runDir: sftDir, resume: false, log: { progress.line($0) })
        trainer.progress = progress
        let summary = try trainer.run()
        if summary.interrupted { throw ForgeError("interrupted at step \(summary.steps); checkpoint saved in \(trainer.checkpointPath)") }
        let tuned = LoadedModel(model: try InferenceModel(trainer.model), tokenizer: base.tokenizer, chatTemplate: template)
        let after = try await endedTurns(tuned, try prompts(base.tokenizer), maxTokens: maxTokens)
        progress.line(String(format: "chat fine-tuning: after %d steps, %.0f%% of the held-out replies end their turn (before: %.0f%%); model: %@",
                             steps, 100 * after.0, 100 * before.0, trainer.modelDir))
        let effect = Effect(prompts: held.count, endedBefore: before.0, endedAfter: after.0, steps: steps,
                            samples: Array(zip(held.map { $0.messages[0].content }, after.1).prefix(3)))
        let json: [String: Any] = ["held_out_prompts": held.count, "ended_turn_before": before.0, "ended_turn_after": after.0,
                                   "steps": steps, "max_tokens": maxTokens, "training_conversations": train.count]
        try AtomicFile.write(sftDir + "/effect.json", data: try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]))
        return effect
    }
}
