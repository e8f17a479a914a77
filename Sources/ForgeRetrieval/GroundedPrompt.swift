// GroundedPrompt: retrieved chunks turned into a prompt that asks for an answer from them alone, with numbered
// citations, and the citations read back out of the answer.
import Foundation

/// A question with its numbered sources.
public struct GroundedPrompt: Sendable {
    /// One numbered source: where it comes from and its text.
    public struct Source: Sendable, Equatable {
        public var number: Int
        public var label: String
        public var text: String
        public init(number: Int, label: String, text: String) { (self.number, self.label, self.text) = (number, label, text) }
    }

    public let question: String
    public let sources: [Source]

    public init(question: String, sources: [Source]) { (self.question, self.sources) = (question, sources) }

    /// The user message: the sources, then the question, with the instruction to cite.
    public var message: String {
        var s = "Answer the question using only the sources below. Cite the sources you use by their numbers, like [1]. "
            + "If the sources do not contain the answer, say so.\n\n"
        for src in sources { s += "[\(src.number)] \(src.label)\n\(src.text)\n\n" }
        return s + "Question: \(question)"
    }

    /// The source numbers an answer cites ([1], [2, 3], [1][4]), in order of first mention, known numbers only.
    public func citations(in answer: String) -> [Int] {
        var out: [Int] = []
        let known = Set(sources.map(\.number))
        let pattern = try! NSRegularExpression(pattern: #"\[(\d+(?:\s*,\s*\d+)*)\]"#)
        for m in pattern.matches(in: answer, range: NSRange(answer.startIndex..., in: answer)) {
            let inner = (answer as NSString).substring(with: m.range(at: 1))
            for part in inner.split(separator: ",") {
                if let n = Int(part.trimmingCharacters(in: .whitespaces)), known.contains(n), !out.contains(n) { out.append(n) }
            }
        }
        return out
    }
}
