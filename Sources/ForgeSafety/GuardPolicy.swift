// GuardPolicy: what the guardrails check and what they do, read from a YAML or JSON file:
//
//   name: default
//   rules:
//     - category: jailbreak          # the reason code's first part
//       detector: jailbreak          # jailbreak | classifier | pii | words | patterns
//       applies_to: [input]          # input, output or both (default)
//       action: block                # block | redact | warn
//     - {category: toxicity, detector: classifier, classifier: runs/tox/classifier, action: block}
//     - {category: pii, detector: pii, applies_to: [output], action: redact}
//     - {category: profanity, detector: words, word_list: better-profanity, action: redact}
//
// Rules run in file order; a block ends the check, redactions apply one after another, warnings are only logged.
import ForgeCore
import Foundation
import Yams

public enum GuardAction: String, Codable, Sendable { case block, redact, warn }
public enum GuardDirection: String, Codable, Sendable, CaseIterable { case input, output }

/// One rule of a policy.
public struct GuardRule: Codable, Sendable, Equatable {
    public var category: String
    public var detector: String
    public var action: GuardAction
    public var appliesTo: [GuardDirection] = GuardDirection.allCases
    /// classifier: its dir, and a threshold in place of its calibrated one.
    public var classifier: String?
    public var threshold: Double?
    /// words: terms, or a list file (or "better-profanity").
    public var words: [String]?
    public var wordList: String?
    /// patterns (and extra jailbreak patterns): regular expressions, case-insensitive.
    public var patterns: [String]?

    enum CodingKeys: String, CodingKey {
        case category, detector, action, appliesTo = "applies_to", classifier, threshold, words, wordList = "word_list", patterns
    }

    public init(category: String, detector: String, action: GuardAction, appliesTo: [GuardDirection] = GuardDirection.allCases) {
        (self.category, self.detector, self.action, self.appliesTo) = (category, detector, action, appliesTo)
    }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        category = try c.decode(String.self, forKey: .category)
        detector = try c.decode(String.self, forKey: .detector)
        action = try c.decode(GuardAction.self, forKey: .action)
        appliesTo = try c.decodeIfPresent([GuardDirection].self, forKey: .appliesTo) ?? GuardDirection.allCases
        classifier = try c.decodeIfPresent(String.self, forKey: .classifier)
        threshold = try c.decodeIfPresent(Double.self, forKey: .threshold)
        words = try c.decodeIfPresent([String].self, forKey: .words)
        wordList = try c.decodeIfPresent(String.self, forKey: .wordList)
        patterns = try c.decodeIfPresent([String].self, forKey: .patterns)
    }
}

public struct GuardPolicy: Codable, Sendable, Equatable {
    public var name = "policy"
    public var rules: [GuardRule] = []
    public static let detectors = ["jailbreak", "classifier", "pii", "words", "patterns"]

    public init(name: String = "policy", rules: [GuardRule]) { (self.name, self.rules) = (name, rules) }

    enum CodingKeys: String, CodingKey { case name, rules }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? "policy"
        rules = try c.decode([GuardRule].self, forKey: .rules)
    }

    /// Reads a policy file (YAML or JSON); every problem is an error naming the file and the rule.
    public static func load(_ path: String) throws -> GuardPolicy {
        guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "cannot be read") }
        let policy: GuardPolicy
        do { policy = try YAMLDecoder().decode(GuardPolicy.self, from: String(decoding: data, as: UTF8.self)) }
        catch let e as DecodingError { throw ForgeError.file(path, "not a guard policy: \(describe(e))") }
        catch { throw ForgeError.file(path, "not YAML or JSON: \(error)") }
        do { try policy.validate() } catch let e as ForgeError { throw ForgeError.file(path, e.description) }
        return policy
    }

    /// Checks every rule's detector and the settings it needs.
    public func validate() throws {
        guard !rules.isEmpty else { throw ForgeError("the policy has no rules") }
        for (i, r) in rules.enumerated() {
            let at = "rule \(i + 1) (\(r.category))"
            guard Self.detectors.contains(r.detector) else {
                throw ForgeError("\(at): unknown detector '\(r.detector)' (known: \(Self.detectors.joined(separator: ", ")))")
            }
            guard !r.appliesTo.isEmpty else { throw ForgeError("\(at): applies_to is empty") }
            switch r.detector {
            case "classifier": guard r.classifier != nil else { throw ForgeError("\(at): a classifier rule needs 'classifier: DIR'") }
            case "words": guard r.words != nil || r.wordList != nil else { throw ForgeError("\(at): a words rule needs 'words' or 'word_list'") }
            case "patterns": guard !(r.patterns ?? []).isEmpty else { throw ForgeError("\(at): a patterns rule needs 'patterns'") }
            default: break
            }
            if r.action == .redact, r.detector == "classifier" || r.detector == "jailbreak" {
                throw ForgeError("\(at): '\(r.detector)' judges a whole text and cannot redact; use block or warn")
            }
            if let t = r.threshold, !(0...1).contains(t) { throw ForgeError("\(at): threshold must be in [0, 1], got \(t)") }
        }
    }

    static func describe(_ e: DecodingError) -> String {
        switch e {
        case .keyNotFound(let k, let c): return "missing '\(k.stringValue)' at \(path(c))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return "\(c.debugDescription) at \(path(c))"
        @unknown default: return "\(e)"
        }
    }

    static func path(_ c: DecodingError.Context) -> String {
        c.codingPath.map { $0.intValue.map { "[\($0 + 1)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
