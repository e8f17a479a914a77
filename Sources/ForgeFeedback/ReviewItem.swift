// ReviewItem: the values of side-by-side review. An item is a prompt with two stored answers (a and b); a reviewer
// sees them as left and right, picks one or a tie, and may flag either; the judgement is stored in terms of a and b.
// ReviewInput is an item before it is stored, read from a JSON object of a queue file.
import ForgeCore
import ForgeTokenizer
import Foundation

/// One of an item's two stored answers.
public enum ReviewSide: String, Sendable, CaseIterable {
    case a, b
    /// The other answer.
    public var other: ReviewSide { self == .a ? .b : .a }
}

/// A judgement in terms of the stored answers.
public enum ReviewVerdict: String, Sendable, CaseIterable {
    case a, b, tie
}

/// What a reviewer picked, in screen sides.
public enum ReviewChoice: String, Sendable, CaseIterable {
    case left, right, tie
}

/// A stored item: a prompt and two answers with the models that wrote them.
public struct ReviewItem: Sendable, Equatable {
    public var id: Int64
    public var prompt: [ChatMessage]
    public var answerA: String
    public var modelA: String
    public var answerB: String
    public var modelB: String
    /// Where it came from: "file:NAME" or "chat:ID,ID" (feedback ids, never owners).
    public var source: String
    public var created: Date

    public init(id: Int64, prompt: [ChatMessage], answerA: String, modelA: String, answerB: String, modelB: String, source: String, created: Date) {
        (self.id, self.prompt, self.answerA, self.modelA, self.answerB, self.modelB) = (id, prompt, answerA, modelA, answerB, modelB)
        (self.source, self.created) = (source, created)
    }

    /// The text of one answer.
    public func answer(_ side: ReviewSide) -> String { side == .a ? answerA : answerB }
    /// The model of one answer.
    public func model(_ side: ReviewSide) -> String { side == .a ? modelA : modelB }
}

/// An item as served to one reviewer, with the stored answer shown on the left.
public struct ServedItem: Sendable, Equatable {
    public var item: ReviewItem
    public var left: ReviewSide
    public var leftText: String { item.answer(left) }
    public var rightText: String { item.answer(left.other) }
}

/// How far a reviewer is: items judged and items in the queue.
public struct ReviewProgress: Sendable, Equatable {
    public var judged: Int
    public var total: Int
    public init(judged: Int, total: Int) { (self.judged, self.total) = (judged, total) }
}

/// A stored judgement with its item.
public struct ReviewJudgment: Sendable, Equatable {
    public var id: Int64
    public var item: ReviewItem
    public var reviewer: String
    public var verdict: ReviewVerdict
    /// Report categories given to answer a and answer b.
    public var flagA: String?
    public var flagB: String?
    /// The stored answer that was shown on the left.
    public var left: ReviewSide
    public var created: Date

    public init(id: Int64, item: ReviewItem, reviewer: String, verdict: ReviewVerdict, flagA: String?, flagB: String?, left: ReviewSide, created: Date) {
        (self.id, self.item, self.reviewer, self.verdict, self.flagA, self.flagB) = (id, item, reviewer, verdict, flagA, flagB)
        (self.left, self.created) = (left, created)
    }
}

/// What loading a queue did.
public struct ReviewLoad: Sendable, Equatable {
    public var added = 0
    /// Items already in the queue (same prompt and answers, in either order), skipped.
    public var duplicates = 0
    public init(added: Int = 0, duplicates: Int = 0) { (self.added, self.duplicates) = (added, duplicates) }
}

/// An item to be added.
public struct ReviewInput: Sendable, Equatable {
    public var prompt: [ChatMessage]
    public var answerA: String
    public var modelA: String
    public var answerB: String
    public var modelB: String
    public var source: String

    public init(prompt: [ChatMessage], answerA: String, modelA: String, answerB: String, modelB: String, source: String) {
        (self.prompt, self.answerA, self.modelA, self.answerB, self.modelB, self.source) = (prompt, answerA, modelA, answerB, modelB, source)
    }

    /// Reads {"prompt": text or [messages], "answers": [{"model", "text"}, {"model", "text"}]} or
    /// {"prompt", "a", "b", "model_a", "model_b"}; a missing model is "unknown".
    init(json o: [String: Any], source: String) throws {
        if let text = o["prompt"] as? String, !text.isEmpty {
            prompt = [ChatMessage(role: "user", content: text)]
        } else if let list = o["prompt"] as? [[String: Any]], !list.isEmpty {
            prompt = try list.map { m in
                guard let role = m["role"] as? String, let content = m["content"] as? String else {
                    throw ForgeError("each prompt message needs a \"role\" and a \"content\" string")
                }
                return ChatMessage(role: role, content: content)
            }
        } else {
            throw ForgeError("\"prompt\" must be a non-empty string or a list of {\"role\", \"content\"} messages")
        }
        if let answers = o["answers"] {
            guard let list = answers as? [[String: Any]], list.count == 2 else {
                throw ForgeError("\"answers\" must be a list of two {\"model\", \"text\"} objects")
            }
            guard let a = list[0]["text"] as? String, let b = list[1]["text"] as? String else {
                throw ForgeError("each answer needs a \"text\" string")
            }
            (answerA, answerB) = (a, b)
            (modelA, modelB) = (list[0]["model"] as? String ?? "unknown", list[1]["model"] as? String ?? "unknown")
        } else {
            guard let a = o["a"] as? String, let b = o["b"] as? String else {
                throw ForgeError("needs \"answers\" (two {\"model\", \"text\"} objects) or \"a\" and \"b\" strings")
            }
            (answerA, answerB) = (a, b)
            (modelA, modelB) = (o["model_a"] as? String ?? "unknown", o["model_b"] as? String ?? "unknown")
        }
        guard !answerA.isEmpty, !answerB.isEmpty else { throw ForgeError("an answer is empty") }
        guard answerA != answerB else { throw ForgeError("the two answers are the same text") }
        self.source = source
    }
}

/// What a review request gets wrong.
public enum ReviewError: Error, CustomStringConvertible, Equatable {
    case unknownItem(Int64)
    case alreadyJudged(Int64, String)
    case notServed(Int64, String)
    case sideMismatch(Int64)
    case unknownFlag(String)

    public var description: String {
        switch self {
        case .unknownItem(let id): "review item \(id) does not exist"
        case .alreadyJudged(let id, let r): "review item \(id) was already judged by \(r)"
        case .notServed(let id, let r): "review item \(id) was not served to \(r); ask for the next item first"
        case .sideMismatch(let id): "review item \(id) was shown with the other answer on the left"
        case .unknownFlag(let f): "flag '\(f)' is not one of \(FeedbackSchema.reportCategories.joined(separator: ", "))"
        }
    }
}
