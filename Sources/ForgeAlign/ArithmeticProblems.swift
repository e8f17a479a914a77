// ArithmeticProblems: arithmetic and word problems generated with known answers and worked steps, for RL with
// verifiable rewards (and the SFT that teaches the answer format first). Problem i of a seed is always the same;
// a problem is held out by a hash of its question, so the training and held-out sets never share a question.
// AnswerChecker reads a reply's final answer ("The answer is N", else the last number, as GSM8K's flexible
// extraction) and compares it with the known one.
import ForgeCore
import Foundation

/// A question, the steps that solve it, and its answer (an integer).
public struct Problem: Sendable, Equatable {
    public var question: String
    public var steps: String
    public var answer: String
    public var origin: String
    public init(question: String, steps: String, answer: String, origin: String) {
        (self.question, self.steps, self.answer, self.origin) = (question, steps, answer, origin)
    }
    /// The worked solution an assistant gives: the steps, then "The answer is N."
    public var solution: String { (steps.isEmpty ? "" : steps + " ") + "The answer is \(answer)." }
}

public enum ArithmeticProblems {
    static let names = ["Ava", "Ben", "Chloe", "Dan", "Emma", "Finn", "Grace", "Hugo", "Isla", "Jack", "Lena", "Max", "Nora", "Omar", "Priya", "Sam"]
    static let things = ["apples", "marbles", "stickers", "books", "coins", "pencils", "cards", "shells", "stamps", "cookies"]
    static let containers = ["bags", "boxes", "packs", "jars", "crates"]

    /// Problem `index` of the stream `seed` (one of seven kinds, from one-step sums to two-step word problems).
    public static func problem(_ index: Int, seed: UInt64 = 0) -> Problem {
        var rng = RNG(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &+ 1)
        func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(rng.next() % UInt64(r.count)) }
        func pick<T>(_ a: [T]) -> T { a[int(0...(a.count - 1))] }
        let who = pick(names), thing = pick(things)
        let (q, steps, answer): (String, String, Int)
        switch index % 7 {
        case 0:
            let (a, b) = (int(10...999), int(10...999))
            (q, steps, answer) = ("What is \(a) + \(b)?", "\(a) + \(b) = \(a + b).", a + b)
        case 1:
            let (a, b) = (int(50...999), int(10...49))
            (q, steps, answer) = ("What is \(a) - \(b)?", "\(a) - \(b) = \(a - b).", a - b)
        case 2:
            let (a, b) = (int(11...99), int(2...12))
            (q, steps, answer) = ("What is \(a) × \(b)?", "\(a) × \(b) = \(a * b).", a * b)
        case 3:
            let (n, q0) = (int(2...9), int(3...25))
            (q, steps, answer) = ("\(n * q0) \(thing) are shared equally among \(n) friends. How many \(thing) does each friend get?",
                                  "\(n * q0) ÷ \(n) = \(q0).", q0)
        case 4:
            let (a, b, c) = (int(5...60), int(2...9), int(3...12))
            let box = pick(containers)
            (q, steps, answer) = ("\(who) has \(a) \(thing). \(who) buys \(b) \(box) with \(c) \(thing) in each. How many \(thing) does \(who) have now?",
                                  "\(b) × \(c) = \(b * c). \(a) + \(b * c) = \(a + b * c).", a + b * c)
        case 5:
            let a = int(30...200), b = int(5...(a - 10)), c = int(5...80)
            (q, steps, answer) = ("A shop had \(a) \(thing). It sold \(b) and then received \(c) more. How many \(thing) does the shop have now?",
                                  "\(a) - \(b) = \(a - b). \(a - b) + \(c) = \(a - b + c).", a - b + c)
        default:
            let (a, b, k) = (int(3...40), int(3...40), int(2...5))
            (q, steps, answer) = ("\(who) reads \(a) pages on Monday and \(b) pages on Tuesday, and does the same for \(k) weeks. How many pages is that?",
                                  "\(a) + \(b) = \(a + b). \(a + b) × \(k) = \((a + b) * k).", (a + b) * k)
        }
        return Problem(question: q, steps: steps, answer: String(answer), origin: "arithmetic#\(seed)/\(index)")
    }

    /// The first `count` problems of `seed` on one side of the split (`heldOut`: the share `fraction` of questions).
    public static func problems(count: Int, heldOut: Bool, fraction: Double = 0.1, seed: UInt64 = 0) -> [Problem] {
        var out: [Problem] = [], seen = Set<String>(), i = 0
        while out.count < count && i < 100 * count + 1000 {
            let p = problem(i, seed: seed)
            i += 1
            guard FineTuning.heldOut(p.question, fraction: fraction) == heldOut, seen.insert(p.question).inserted else { continue }
            out.append(p)
        }
        return out
    }

    /// Reads problems from JSONL: {"prompt" | "question": text, "answer": number or a GSM8K solution ending "#### N"}.
    public static func read(_ path: String) throws -> [Problem] {
        var out: [Problem] = []
        try forEachJSONLine(path) { o, origin in
            guard let q = (o["prompt"] ?? o["question"]) as? String, !q.isEmpty else { throw ForgeError("\(origin): needs a \"prompt\" or \"question\" (text)") }
            let raw: String
            if let s = o["answer"] as? String { raw = s } else if let n = o["answer"] as? NSNumber { raw = n.stringValue } else {
                throw ForgeError("\(origin): needs an \"answer\" (a number, or a solution ending \"#### N\")")
            }
            let parts = raw.components(separatedBy: "####")
            let answer = AnswerChecker.normalize(parts.last!.trimmingCharacters(in: .whitespacesAndNewlines))
            guard AnswerChecker.lastNumber(answer) != nil else { throw ForgeError("\(origin): answer '\(raw.suffix(40))' is not a number") }
            let steps = parts.count > 1 ? parts.dropLast().joined(separator: "####").trimmingCharacters(in: .whitespacesAndNewlines) : ""
            out.append(Problem(question: q, steps: steps, answer: answer, origin: origin))
        }
        guard !out.isEmpty else { throw ForgeError.file(path, "holds no problems") }
        return out
    }
}

/// Final answers read from replies and checked against known ones.
public enum AnswerChecker {
    /// The reply's answer: the number after the last "answer is", else its last number (nil when it has none).
    public static func extract(_ reply: String) -> String? {
        if let r = reply.range(of: "answer is", options: [.caseInsensitive, .backwards]), let n = firstNumber(reply[r.upperBound...]) {
            return n
        }
        return lastNumber(reply)
    }

    /// 1 when the reply's answer equals `answer` as a number, else 0.
    public static func reward(_ reply: String, answer: String) -> Double {
        guard let got = extract(reply), let a = Double(normalize(got)), let b = Double(normalize(answer)) else { return 0 }
        return a == b ? 1 : 0
    }

    /// "1,234." → "1234"; "$5" → "5".
    static func normalize(_ s: String) -> String {
        var t = s.replacingOccurrences(of: ",", with: "").replacingOccurrences(of: "$", with: "")
        while t.hasSuffix(".") { t.removeLast() }
        return t
    }

    static func numbers(_ s: Substring) -> [String] {
        var out: [String] = [], current = ""
        for ch in s {
            if ch.isASCII && ch.isNumber || (ch == "-" && current.isEmpty) || ((ch == "," || ch == ".") && !current.isEmpty && current != "-") {
                current.append(ch)
            } else {
                if current.contains(where: \.isNumber) { out.append(normalize(current)) }
                current = ""
                if ch == "-" { current = "-" }
            }
        }
        if current.contains(where: \.isNumber) { out.append(normalize(current)) }
        return out
    }

    static func firstNumber(_ s: Substring) -> String? { numbers(s).first }
    static func lastNumber(_ s: String) -> String? { numbers(s[...]).last }
}
