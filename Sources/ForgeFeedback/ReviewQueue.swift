// ReviewQueue: the review queue in the feedback database. Items are loaded from JSONL (errors name file:line,
// duplicates are skipped and counted) or made from chat traffic (a prompt answered with two or more different
// replies, e.g. regenerated). Each reviewer gets the items they have not judged in an order of their own; the side
// each stored answer is shown on is drawn at random and remembered (review_assignments), so a judgement given in
// screen sides is stored in terms of the answers without trusting the client to say which was where.
import ForgeCore
import ForgeTokenizer
import Foundation
import GRDB

extension FeedbackStore {
    /// Adds the items of a JSONL file (one item per line, blank lines skipped).
    public func addReviewItems(jsonlFile path: String) throws -> ReviewLoad {
        guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "cannot be read") }
        return try addReviewItems(jsonl: String(decoding: data, as: UTF8.self), name: path)
    }

    /// Adds the items of JSONL text; an error names `name`:line and nothing is added.
    public func addReviewItems(jsonl text: String, name: String) throws -> ReviewLoad {
        var inputs: [ReviewInput] = []
        let source = "file:" + (name as NSString).lastPathComponent
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any] else {
                throw ForgeError.file("\(name):\(n + 1)", "not a JSON object")
            }
            do { inputs.append(try ReviewInput(json: object, source: source)) } catch {
                throw ForgeError.file("\(name):\(n + 1)", "\(error)")
            }
        }
        return try addReviewItems(inputs)
    }

    /// Adds items from a parsed JSON list; an error names the item's index (0-based) and nothing is added.
    public func addReviewItems(jsonList list: [Any], name: String) throws -> ReviewLoad {
        let inputs = try list.enumerated().map { n, element in
            guard let object = element as? [String: Any] else { throw ForgeError("\(name)[\(n)]: not a JSON object") }
            do { return try ReviewInput(json: object, source: "file:" + name) } catch { throw ForgeError("\(name)[\(n)]: \(error)") }
        }
        return try addReviewItems(inputs)
    }

    /// Adds items in one transaction, skipping those already queued (same prompt and answers, in either order).
    public func addReviewItems(_ inputs: [ReviewInput]) throws -> ReviewLoad {
        let now = Date().timeIntervalSince1970
        return try queue.write { db in
            var load = ReviewLoad()
            for input in inputs {
                let prompt = Self.encode(input.prompt)
                let known = try Bool.fetchOne(db, sql: """
                    SELECT 1 FROM review_items WHERE prompt = ? AND ((answer_a = ? AND answer_b = ?) OR (answer_a = ? AND answer_b = ?))
                    """, arguments: [prompt, input.answerA, input.answerB, input.answerB, input.answerA]) ?? false
                if known { load.duplicates += 1; continue }
                try db.execute(sql: """
                    INSERT INTO review_items (prompt, answer_a, model_a, answer_b, model_b, source, created) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [prompt, input.answerA, input.modelA, input.answerB, input.modelB, input.source, now])
                load.added += 1
            }
            return load
        }
    }

    /// Items from chat feedback: each prompt rated with two or more different replies gives one item per consecutive
    /// pair of them (oldest first). The source names the feedback ids, never the owners.
    public func addReviewItemsFromChat() throws -> ReviewLoad {
        let rows = try queue.read { db in try Row.fetchAll(db, sql: "SELECT id, prompt, reply, model FROM feedback ORDER BY id") }
        var order: [String] = [], replies: [String: [(id: Int64, reply: String, model: String)]] = [:]
        for r in rows {
            let prompt: String = r["prompt"], reply: String = r["reply"]
            if replies[prompt] == nil { order.append(prompt) }
            if replies[prompt, default: []].contains(where: { $0.reply == reply }) { continue }
            replies[prompt, default: []].append((r["id"], reply, r["model"]))
        }
        var inputs: [ReviewInput] = []
        for prompt in order {
            let list = replies[prompt] ?? []
            guard list.count >= 2 else { continue }
            let messages = try Self.decode(prompt)
            for (x, y) in zip(list, list.dropFirst()) {
                inputs.append(ReviewInput(prompt: messages, answerA: x.reply, modelA: x.model, answerB: y.reply, modelB: y.model,
                                          source: "chat:\(x.id),\(y.id)"))
            }
        }
        return try addReviewItems(inputs)
    }

    /// The next item `reviewer` has not judged, or nil when none is left. An item served before and not yet judged
    /// comes back with the same sides; otherwise the reviewer's own order picks one and a coin picks its left answer.
    public func next(for reviewer: String) throws -> ServedItem? {
        try queue.write { db in
            if let row = try Row.fetchOne(db, sql: """
                SELECT i.*, s.left_answer FROM review_assignments s JOIN review_items i ON i.id = s.item_id
                WHERE s.reviewer = ? AND NOT EXISTS (SELECT 1 FROM judgments j WHERE j.item_id = s.item_id AND j.reviewer = s.reviewer)
                ORDER BY s.created, s.item_id LIMIT 1
                """, arguments: [reviewer]) {
                return ServedItem(item: try Self.reviewItem(row), left: ReviewSide(rawValue: row["left_answer"]) ?? .a)
            }
            let open = try Int64.fetchAll(db, sql: "SELECT id FROM review_items WHERE id NOT IN (SELECT item_id FROM judgments WHERE reviewer = ?)",
                                          arguments: [reviewer])
            guard let id = open.min(by: { Self.rank(reviewer, $0) < Self.rank(reviewer, $1) }),
                  let row = try Row.fetchOne(db, sql: "SELECT * FROM review_items WHERE id = ?", arguments: [id]) else { return nil }
            let left: ReviewSide = Bool.random() ? .a : .b
            try db.execute(sql: "INSERT OR REPLACE INTO review_assignments (item_id, reviewer, left_answer, created) VALUES (?, ?, ?, ?)",
                           arguments: [id, reviewer, left.rawValue, Date().timeIntervalSince1970])
            return ServedItem(item: try Self.reviewItem(row), left: left)
        }
    }

    /// Records `reviewer`'s choice on an item. The left answer is the one the item was served with; `left` is for
    /// judgements made elsewhere (it must agree with the served side, if any). Returns the verdict as stored.
    @discardableResult
    public func submit(itemID: Int64, reviewer: String, choice: ReviewChoice, flagLeft: String? = nil, flagRight: String? = nil,
                       left: ReviewSide? = nil) throws -> ReviewVerdict {
        for flag in [flagLeft, flagRight].compactMap({ $0 }) where !FeedbackSchema.reportCategories.contains(flag) {
            throw ReviewError.unknownFlag(flag)
        }
        return try queue.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM review_items WHERE id = ?", arguments: [itemID]) != nil else {
                throw ReviewError.unknownItem(itemID)
            }
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM judgments WHERE item_id = ? AND reviewer = ?", arguments: [itemID, reviewer]) == nil else {
                throw ReviewError.alreadyJudged(itemID, reviewer)
            }
            let served = try String.fetchOne(db, sql: "SELECT left_answer FROM review_assignments WHERE item_id = ? AND reviewer = ?",
                                             arguments: [itemID, reviewer]).flatMap(ReviewSide.init(rawValue:))
            let shownLeft: ReviewSide
            switch (served, left) {
            case let (s?, given?) where s != given: throw ReviewError.sideMismatch(itemID)
            case let (s?, _): shownLeft = s
            case let (nil, given?): shownLeft = given
            case (nil, nil): throw ReviewError.notServed(itemID, reviewer)
            }
            let verdict: ReviewVerdict = switch choice {
            case .tie: .tie
            case .left: shownLeft == .a ? .a : .b
            case .right: shownLeft == .a ? .b : .a
            }
            let (flagA, flagB) = shownLeft == .a ? (flagLeft, flagRight) : (flagRight, flagLeft)
            try db.execute(sql: """
                INSERT INTO judgments (item_id, reviewer, verdict, flag_a, flag_b, left_answer, created) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [itemID, reviewer, verdict.rawValue, flagA, flagB, shownLeft.rawValue, Date().timeIntervalSince1970])
            return verdict
        }
    }

    /// Items `reviewer` has judged, of all the items in the queue.
    public func progress(for reviewer: String) throws -> ReviewProgress {
        try queue.read { db in
            ReviewProgress(judged: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM judgments WHERE reviewer = ?", arguments: [reviewer]) ?? 0,
                           total: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM review_items") ?? 0)
        }
    }

    /// Every review item, oldest first.
    public func reviewItems() throws -> [ReviewItem] {
        try queue.read { db in try Row.fetchAll(db, sql: "SELECT * FROM review_items ORDER BY id").map(Self.reviewItem) }
    }

    /// Every judgement with its item, in the order they were made (for results and exports).
    public func reviewJudgments() throws -> [ReviewJudgment] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT j.id AS j_id, j.reviewer, j.verdict, j.flag_a, j.flag_b, j.left_answer, j.created AS j_created, i.*
                FROM judgments j JOIN review_items i ON i.id = j.item_id ORDER BY j.id
                """).map { r in
                ReviewJudgment(id: r["j_id"], item: try Self.reviewItem(r), reviewer: r["reviewer"],
                               verdict: ReviewVerdict(rawValue: r["verdict"]) ?? .tie, flagA: r["flag_a"], flagB: r["flag_b"],
                               left: ReviewSide(rawValue: r["left_answer"]) ?? .a, created: Date(timeIntervalSince1970: r["j_created"]))
            }
        }
    }

    static func reviewItem(_ r: Row) throws -> ReviewItem {
        ReviewItem(id: r["id"], prompt: try decode(r["prompt"]), answerA: r["answer_a"], modelA: r["model_a"], answerB: r["answer_b"],
                   modelB: r["model_b"], source: r["source"], created: Date(timeIntervalSince1970: r["created"]))
    }

    /// A reviewer's place for an item in their own order (FNV-1a of the two, mixed): stable, different per reviewer.
    static func rank(_ reviewer: String, _ id: Int64) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in Array(reviewer.utf8) + withUnsafeBytes(of: id.littleEndian, Array.init) {
            h = (h ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }
}
