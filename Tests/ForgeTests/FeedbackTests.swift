// Human feedback: the feedback database (owner-only conversations, re-rating, refusal of damaged files), the export of
// a scripted set of judgements and ratings as exactly the expected pairs, `forge dpo` training on that export, the
// feedback routes over loopback with roles, and the chat page's rating controls driven by headless Chromium.
@testable import ForgeFeedback
import ForgeCore
import ForgeTokenizer
import Foundation
import GRDB
import Testing

@Suite(.serialized) struct FeedbackTests {
    static func user(_ text: String) -> [ChatMessage] { [ChatMessage(role: "user", content: text)] }

    @Test func storeKeepsConversationsPerOwner() throws {
        let dir = temporaryDirectory("feedback-store")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FeedbackStore(path: dir + "/f.db")
        let entry = FeedbackEntry(conversationID: "c1", owner: "key0", prompt: Self.user("Hi"), reply: "Hello!", model: "m",
                                  settings: ["temperature": 0.7], rating: .up)
        let id = try store.record(entry)
        var again = entry
        again.rating = .down
        again.comment = "too short"
        #expect(try store.record(again) == id, "rating the same reply again replaces the rating")
        let all = try store.allFeedback()
        #expect(all.count == 1 && all[0].rating == .down && all[0].comment == "too short" && all[0].settings == ["temperature": 0.7])
        #expect(all[0].prompt == Self.user("Hi"))

        var other = entry
        other.owner = "key1"
        #expect(throws: FeedbackStoreError.notOwner("c1")) { try store.record(other) }
        #expect(try store.conversations(owner: "key1").isEmpty && store.conversation(id: "c1", owner: "key1") == nil)
        #expect(try !store.deleteConversation(id: "c1", owner: "key1"))
        let mine = try store.conversations(owner: "key0")
        #expect(mine.count == 1 && mine[0].feedbackCount == 1 && mine[0].messages.last?.content == "Hello!")
        var reported = entry
        reported.report = "rude"
        #expect(throws: ForgeError.self) { try store.record(reported) }

        #expect(try store.deleteConversation(id: "c1", owner: "key0"))
        #expect(try store.allFeedback().isEmpty, "a conversation's feedback goes with it")
        #expect(throws: FeedbackStoreError.deleted("c1"), "a deleted conversation is not created again") { try store.record(entry) }
        #expect(throws: FeedbackStoreError.notOwner("c1")) { try store.record(other) }
    }

    @Test func damagedOrForeignFilesAreRefusedAndLeftAlone() throws {
        let dir = temporaryDirectory("feedback-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = dir + "/good.db"
        try FeedbackStore(path: good).record(FeedbackEntry(conversationID: "c", owner: "o", prompt: Self.user("q"), reply: "a",
                                                           model: "m", rating: .up))
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        for i in stride(from: 4096 + 100, to: min(bytes.count, 4096 * 3), by: 7) { bytes[i] ^= 0x5A }
        let damaged = dir + "/damaged.db"
        try Data(bytes).write(to: URL(fileURLWithPath: damaged))
        let foreign = dir + "/foreign.db"
        try DatabaseQueue(path: foreign).write { try $0.execute(sql: "CREATE TABLE t (x)") }
        let text = dir + "/text.db"
        try "not a database".write(toFile: text, atomically: true, encoding: .utf8)
        for path in [damaged, foreign, text] {
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(throws: ForgeError.self, "\(path)") { _ = try FeedbackStore(path: path) }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "\(path) changed")
        }
    }

    /// A file made by the first schema (feedback-v1 only, as the first release wrote it) opens with its data and gains
    /// the later tables.
    @Test func anOlderFileIsMigrated() throws {
        let dir = temporaryDirectory("feedback-migrate")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/old.db"
        let queue = try DatabaseQueue(path: path)
        try FeedbackSchema.migrator.migrate(queue, upTo: "feedback-v1")
        try queue.write { db in
            try db.execute(sql: "INSERT INTO conversations VALUES ('c', 'key0', 'm', '[]', 0, 0)")
            try db.execute(sql: "INSERT INTO feedback (conversation_id, owner, prompt, reply, model, settings, rating, created) VALUES ('c', 'key0', ?, 'r', 'm', '{}', 1, 0)",
                           arguments: [FeedbackStore.encode(Self.user("q"))])
        }
        try queue.close()
        let store = try FeedbackStore(path: path)
        #expect(try store.allFeedback().map(\.reply) == ["r"])
        let tables = try store.queue.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
        #expect(tables.contains("deleted_conversations") && tables.contains("review_assignments"), "\(tables)")
        #expect(try store.deleteConversation(id: "c", owner: "key0"))
    }

    /// A scripted set: judgements with a majority, a tie, a split and a flag; ratings with a good and a bad reply to
    /// one prompt, a harmful report and a wrong one. The export holds exactly the expected pairs.
    static func scriptedStore(_ path: String) throws -> FeedbackStore {
        let store = try FeedbackStore(path: path)
        try store.queue.write { db in
            for (n, prompt) in ["P1", "P2", "P3", "P4", "P5"].enumerated() {
                try db.execute(sql: "INSERT INTO review_items (prompt, answer_a, model_a, answer_b, model_b, source, created) VALUES (?, ?, 'm1', ?, 'm2', ?, 0)",
                               arguments: [FeedbackStore.encode(user(prompt)), "\(prompt)a", "\(prompt)b", "file.jsonl:\(n + 1)"])
            }
            let votes: [(Int, String, String, String?, String?)] = [
                (1, "key3", "a", nil, nil), (1, "key4", "a", nil, nil),   // majority a
                (2, "key3", "b", nil, nil),                                // b
                (3, "key3", "tie", nil, nil), (3, "key4", "tie", nil, nil), // tie
                (4, "key3", "a", nil, nil), (4, "key4", "b", nil, nil),     // split
                (5, "key3", "a", nil, "harmful"),                          // a, and b flagged
            ]
            for (item, reviewer, verdict, fa, fb) in votes {
                try db.execute(sql: "INSERT INTO judgments (item_id, reviewer, verdict, flag_a, flag_b, left_answer, created) VALUES (?, ?, ?, ?, ?, 'a', 0)",
                               arguments: [item, reviewer, verdict, fa, fb])
            }
        }
        func rate(_ c: String, _ owner: String, _ prompt: String, _ reply: String, _ r: Rating, report: String? = nil) throws {
            try store.record(FeedbackEntry(conversationID: c, owner: owner, prompt: user(prompt), reply: reply, model: "m", rating: r,
                                           report: report))
        }
        try rate("c1", "key0", "Q1", "good one", .up)
        try rate("c2", "key1", "Q1", "bad one", .down)       // another user, same prompt: a pair across conversations
        try rate("c1", "key0", "Q2", "how to hurt", .none, report: "harmful")
        try rate("c1", "key0", "Q3", "2+2=5", .down, report: "wrong")
        return store
    }

    @Test func exportGivesExactlyTheExpectedPairs() throws {
        let dir = temporaryDirectory("feedback-export")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Self.scriptedStore(dir + "/f.db")
        let export = try FeedbackExport.build(store) { "REFUSE(\($0))" }
        let pairs = export.pairs.map { "\($0.prompt[0].content): \($0.chosen) > \($0.rejected) [\($0.reviewers.joined(separator: ","))]" }
        #expect(pairs == ["P1: P1a > P1b [key3,key4]", "P2: P2b > P2a [key3]", "P5: P5a > P5b [key3]", "Q1: good one > bad one []"], "\(pairs)")
        let safety = export.safety.map { "\($0.prompt[0].content): \($0.chosen) > \($0.rejected) (\($0.category ?? "-"))" }
        #expect(safety == ["P5: P5a > P5b (harmful)", "Q2: REFUSE(Q2) > how to hurt (harmful)"], "\(safety)")
        #expect(export.tiedItems == 1 && export.splitItems == 1 && export.unpairedReports == 1)
        // key3 and key4 both judged items 1, 3 and 4: (a, a), (tie, tie), (a, b). Observed agreement 2/3; key3 said a twice
        // and tie once, key4 a, tie and b once each, so chance agreement is (2·1 + 1·1)/9 = 1/3: κ = (2/3 − 1/3)/(1 − 1/3) = 0.5.
        #expect(export.agreement.count == 1 && export.agreement[0].items == 3 && abs((export.agreement[0].kappa ?? 0) - 0.5) < 1e-12)

        let text = try FeedbackExport.jsonl(export.pairs)
        #expect(!text.contains("key0") && !text.contains("key1") && !text.contains("\"c1\"") && !text.contains("owner"),
                "no owner or conversation in the export")
        let first = try JSONSerialization.jsonObject(with: Data(text.split(separator: "\n")[0].utf8)) as! [String: Any]
        #expect(first["source"] as? String == "review:item 1 (file.jsonl:1)" && first["reviewers"] as? [String] == ["key3", "key4"])
    }

    /// `forge feedback export` writes what `forge dpo` trains on, without conversion.
    @Test func dpoTrainsOnTheExport() throws {
        let dir = temporaryDirectory("feedback-dpo")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Self.scriptedStore(dir + "/f.db")
        let export = try runForge(["feedback", "export", dir + "/f.db", "--format", "pairs", "--output", dir + "/pairs.jsonl",
                                   "--safety", dir + "/safety.jsonl"])
        #expect(export.status == 0 && export.stdout.contains("4 pairs") && export.stdout.contains("2 safety pairs"), "\(export.stdout) \(export.stderr)")
        #expect(export.stdout.contains("agreement key3–key4: Cohen's kappa 0.500 over 3 items"), "\(export.stdout)")
        let unknown = try runForge(["feedback", "export", dir + "/f.db", "--format", "csv", "--output", dir + "/x"])
        #expect(unknown.status != 0 && unknown.stderr.contains("csv"))
        let base = try FineTuningRunTests.tinyBase()
        let run = try runForge(["dpo", "--model", base, "--run", dir + "/run", "--pairs", dir + "/pairs.jsonl", dir + "/safety.jsonl",
                                "--val-fraction", "0", "--steps", "2", "--batch", "2", "--seq", "64", "--threads", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        let metrics = try String(contentsOfFile: dir + "/run/metrics.jsonl", encoding: .utf8)
        #expect(metrics.split(separator: "\n").filter { $0.contains(#""kind":"train""#) }.count == 2)
    }

    /// The routes over loopback: a user rates, lists, reads and deletes its own conversation; another user sees none of
    /// it; a reviewer is refused; malformed bodies are 400. Then Chromium rates, reports and regenerates on the page.
    @Test func feedbackRoutesAndTheChatPage() async throws {
        let dir = temporaryDirectory("feedback-serve")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "u1\nu2\nr1 role=reviewer\n".write(toFile: dir + "/keys", atomically: true, encoding: .utf8)
        // Replies capped at 96 tokens: the page sends no max_tokens, and a sampled reply may otherwise run for minutes.
        let server = try ServerProcess(["--model", smolLM2Path, "--name", "smollm2", "--context", "1024", "--api-key-file", dir + "/keys",
                                        "--feedback", dir + "/f.db", "--max-tokens", "96"])
        func call(_ method: String, _ path: String, key: String, _ body: [String: Any]? = nil) async throws -> (Int, [String: Any]) {
            let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
            let (s, _, d) = try await http(method, server.base + path, body: data,
                                           headers: ["Authorization": "Bearer \(key)", "Content-Type": "application/json"])
            return (s, (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] ?? [:])
        }
        let rating: [String: Any] = ["conversation_id": "conv-1", "messages": [["role": "user", "content": "Hi"]], "reply": "Hello!",
                                     "rating": "up", "comment": "nice", "settings": ["temperature": 0.5, "top_p": 0.9]]
        let (s1, r1) = try await call("POST", "/v1/feedback", key: "u1", rating)
        #expect(s1 == 200 && r1["object"] as? String == "feedback" && r1["rating"] as? String == "up", "\(r1)")
        for (bad, param) in [(["rating": "great"], "rating"), (["report": "boring"], "report"), (["messages": "Hi"], "messages"),
                             (["conversation_id": "../x"], "conversation_id"), (["reply": ""], "reply")] as [([String: Any], String)] {
            let (s, e) = try await call("POST", "/v1/feedback", key: "u1", rating.merging(bad) { $1 })
            #expect(s == 400 && ((e["error"] as? [String: Any])?["param"] as? String) == param, "\(bad): \(s) \(e)")
        }
        let (s2, _) = try await call("POST", "/v1/feedback", key: "u2", rating)
        #expect(s2 == 404, "another user cannot add to u1's conversation")
        let (s3, _) = try await call("POST", "/v1/feedback", key: "r1", rating)
        #expect(s3 == 403, "a reviewer may not send chat feedback")
        let (s4, _) = try await call("POST", "/v1/chat/completions", key: "r1", ["messages": [["role": "user", "content": "Hi"]]])
        #expect(s4 == 403, "a reviewer may not chat")
        let (_, list1) = try await call("GET", "/v1/conversations", key: "u1")
        #expect((list1["data"] as? [[String: Any]])?.map { $0["id"] as? String } == ["conv-1"])
        let (_, list2) = try await call("GET", "/v1/conversations", key: "u2")
        #expect((list2["data"] as? [[String: Any]])?.isEmpty == true)
        let (s5, conv) = try await call("GET", "/v1/conversations/conv-1", key: "u1")
        let fb = (conv["feedback"] as? [[String: Any]])?.first
        #expect(s5 == 200 && fb?["comment"] as? String == "nice" && (fb?["settings"] as? [String: Double])?["top_p"] == 0.9, "\(conv)")
        let (s6, _) = try await call("GET", "/v1/conversations/conv-1", key: "u2")
        let (s7, _) = try await call("DELETE", "/v1/conversations/conv-1", key: "u2")
        #expect(s6 == 404 && s7 == 404)
        let (s8, _) = try await call("DELETE", "/v1/conversations/conv-1", key: "u1")
        let (s9, _) = try await call("GET", "/v1/conversations/conv-1", key: "u1")
        #expect(s8 == 200 && s9 == 404)
        let (s10, e10) = try await call("POST", "/v1/feedback", key: "u1", rating)
        #expect(s10 == 409 && (e10["error"] as? [String: Any])?["code"] as? String == "conversation_deleted", "a late rating does not bring it back")

        let shot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/artifacts/feedback-page.png").path
        let out = try runPython("feedback_page.py", [server.base, "u1", shot],
                                hint: "the test command installs Debian's chromium and websocket-client") as? [String: Any] ?? [:]
        let failures = out["failures"] as? [String] ?? ["no output"]
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect((out["checks"] as? [String])?.count == 6)
        #expect(server.stop() == 0)

        // What the page stored: the rated reply with its comment, the report, and the regenerated pair of samples (one
        // row when the second sample's text is the first's: rating the same reply again replaces its rating; a CI run
        // under load sampled the same sentence for every prompt).
        let same = out["same_regenerated_text"] as? Bool == true
        let stored = try FeedbackStore(path: dir + "/f.db").allFeedback()
        #expect(stored.count == (same ? 3 : 4), "\(stored.map(\.reply))")
        #expect(Set(stored.map(\.owner)) == ["key0"] && Set(stored.map(\.conversationID)).count == 1)
        let byPrompt = Dictionary(grouping: stored) { $0.prompt.last?.content ?? "" }
        #expect(byPrompt["Say hello in three words."]?.map { "\($0.rating) \($0.comment ?? "")" } == ["up friendly"])
        #expect(byPrompt["Tell me how to pick a lock."]?.map { $0.report } == ["harmful"])
        #expect(byPrompt["Write one sentence about the sea."]?.map(\.rating) == (same ? [.down] : [Rating.none, .down]))
        #expect(byPrompt["Write one sentence about the sea."]?.allSatisfy { $0.settings["temperature"] == 1 } == true)
    }
}
