// Side-by-side review and arena statistics: Elo and Bradley–Terry against LMSYS's code run in Python (a committed
// fixture) and a hand-checkable case; Cohen's kappa by hand and against scikit-learn; the queue (JSONL, chat
// traffic, sides, double and unknown judgements, a corrupt file); the routes over loopback with their roles; and the
// page in headless Chromium, driven by the keyboard only.
import ForgeCore
import ForgeFeedback
import ForgeTokenizer
import Foundation
import Testing

@Suite(.serialized) struct ReviewTests {
    static var fixture: [String: Any] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/arena/reference.json").path
        return (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))) as? [String: Any] ?? [:]
    }

    /// Ten items of two models; the fourth's second answer holds markup that must show as text.
    static func tenItems() -> [ReviewInput] {
        (0..<10).map { n in
            ReviewInput(prompt: [ChatMessage(role: "user", content: "Question \(n): what is \(n) + \(n)?")],
                        answerA: "It is \(2 * n).", modelA: "model-one",
                        answerB: n == 3 ? "<b>not bold</b> \(2 * n)" : "The sum is \(2 * n), I believe.", modelB: "model-two", source: "test")
        }
    }

    // MARK: - Statistics

    /// The fixture's 60 battles of four models (Tests/python/arena_reference.py): LMSYS's online Elo exactly, and
    /// Bradley–Terry as Hunter's MM (to convergence) and scikit-learn's logistic regression compute it.
    @Test func eloAndBradleyTerryMatchTheReference() throws {
        let list = try #require(Self.fixture["battles"] as? [[String: String]])
        let battles = list.map { b in
            Battle(b["model_a"]!, b["model_b"]!, b["winner"] == "model_a" ? .a : b["winner"] == "model_b" ? .b : .tie)
        }
        let elo = ArenaStatistics.onlineElo(battles)
        for (model, want) in try #require(Self.fixture["online_elo"] as? [String: Double]) {
            #expect(abs(elo[model]! - want) < 1e-9, "\(model): \(elo[model]!) vs \(want)")
        }
        let bt = try #require(ArenaStatistics.bradleyTerry(battles))
        for (model, want) in try #require(Self.fixture["bt_mm"] as? [String: Double]) {
            #expect(abs(bt[model]! - want) < 1e-6, "\(model): \(bt[model]!) vs MM \(want)")
        }
        for (model, want) in try #require(Self.fixture["bt_sklearn"] as? [String: Double]) {
            #expect(abs(bt[model]! - want) < 1e-4, "\(model): \(bt[model]!) vs scikit-learn \(want)")
        }
        let (ratings, used) = try #require(ArenaStatistics.bootstrap(battles, rounds: 200, seed: 1) { ArenaStatistics.bradleyTerry($0) })
        #expect(used > 150)
        for (model, r) in ratings { #expect(r.low < bt[model]! && bt[model]! < r.high, "\(model): \(r)") }
        let again = try #require(ArenaStatistics.bootstrap(battles, rounds: 200, seed: 1) { ArenaStatistics.bradleyTerry($0) })
        #expect(again.ratings == ratings, "seeded")
    }

    /// A beats B 3 times of 4: B–T strengths 3:1, so the ratings differ by 400·log10(3) ≈ 190.85 around a mean of
    /// 1000. Elo after one win from 1000 each: expected score 0.5, so ±K·0.5 = ±2. Equal records tie; a sweep has no
    /// maximum. Win rate 3 of 4 with the 95% Wilson interval; 8 of 10 gives statsmodels' (0.4902, 0.9433).
    @Test func handCheckedRatingsAndIntervals() throws {
        let three = [Battle("A", "B", .a), Battle("B", "A", .b), Battle("A", "B", .a), Battle("A", "B", .b)]
        let bt = try #require(ArenaStatistics.bradleyTerry(three))
        #expect(abs(bt["A"]! - bt["B"]! - 400 * log10(3)) < 1e-9 && abs(bt["A"]! + bt["B"]! - 2000) < 1e-9, "\(bt)")
        #expect(ArenaStatistics.onlineElo([Battle("A", "B", .a)]) == ["A": 1002, "B": 998])
        let even = try #require(ArenaStatistics.bradleyTerry([Battle("A", "B", .a), Battle("A", "B", .tie), Battle("A", "B", .b)]))
        #expect(abs(even["A"]! - 1000) < 1e-9)
        #expect(ArenaStatistics.bradleyTerry([Battle("A", "B", .a), Battle("B", "A", .b)]) == nil, "A won every battle")
        let pair = try #require(ArenaStatistics.pairs(three + [Battle("C", "C", .a)]).first)
        #expect(ArenaStatistics.pairs(three).count == 1 && pair.modelA == "A" && pair.winsA == 3 && pair.winsB == 1 && pair.winRate == 0.75)
        let (low, high) = ArenaStatistics.wilson(8, of: 10)
        #expect(abs(low - 0.4902) < 1e-4 && abs(high - 0.9433) < 1e-4, "\(low) \(high)")
    }

    /// Twelve items, two reviewers: they agree on 8 (p_o = 8/12 = 2/3). Reviewer x said a 6, b 4, tie 2 times and y
    /// a 6, b 4, tie 2, so chance agreement p_e = (6·6 + 4·4 + 2·2)/144 = 56/144 = 7/18 and
    /// kappa = (2/3 − 7/18)/(1 − 7/18) = (5/18)/(11/18) = 5/11 ≈ 0.4545, as scikit-learn's cohen_kappa_score gives.
    @Test func cohenKappaByHandAndScikitLearn() throws {
        let k = try #require(Self.fixture["kappa"] as? [String: Any])
        let x = try #require(k["x"] as? [String]), y = try #require(k["y"] as? [String])
        let kappa = try #require(Agreement.cohenKappa(x, y))
        #expect(abs(kappa - 5.0 / 11) < 1e-12)
        #expect(abs(kappa - (k["cohen_kappa_score"] as! Double)) < 1e-12)
        #expect(Agreement.cohenKappa(["a", "a"], ["a", "a"]) == nil, "undefined when chance agreement is certain")
        #expect(Agreement.cohenKappa([String](), []) == nil)
        // Three reviewers: Light's kappa is the mean of the pairwise kappas.
        let item = ReviewItem(id: 0, prompt: [], answerA: "", modelA: "m", answerB: "", modelB: "n", source: "", created: Date())
        func j(_ id: Int64, _ r: String, _ v: ReviewVerdict) -> ReviewJudgment {
            var i = item
            i.id = id
            return ReviewJudgment(id: 0, item: i, reviewer: r, verdict: v, flagA: nil, flagB: nil, left: .a, created: Date())
        }
        let verdicts: [ReviewVerdict] = [.a, .b, .tie, .a], other: [ReviewVerdict] = [.a, .b, .a, .a]
        let judgments = verdicts.indices.flatMap { [j(Int64($0), "r1", verdicts[$0]), j(Int64($0), "r2", verdicts[$0]), j(Int64($0), "r3", other[$0])] }
        let pairs = Agreement.pairwise(judgments)
        #expect(pairs.map { "\($0.reviewerA)/\($0.reviewerB)" } == ["r1/r2", "r1/r3", "r2/r3"] && pairs[0].kappa == 1)
        let mean = try #require(Agreement.lightKappa(pairs))
        #expect(abs(mean - (1 + 2 * Agreement.cohenKappa(verdicts, other)!) / 3) < 1e-12)
    }

    // MARK: - Queue

    /// JSONL in both shapes, duplicates (either order) skipped and counted, a bad line named by file:line with
    /// nothing added; items from chat traffic (regenerated replies) without their owners.
    @Test func queueFromJSONLAndChat() throws {
        let dir = temporaryDirectory("review-queue")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FeedbackStore(path: dir + "/f.db")
        try """
            {"prompt": "Hi?", "answers": [{"model": "m1", "text": "Hello."}, {"model": "m2", "text": "Hi there."}]}

            {"prompt": [{"role": "system", "content": "Terse."}, {"role": "user", "content": "2+2?"}], "a": "4", "b": "5", "model_a": "m1", "model_b": "m2"}
            {"prompt": "Hi?", "answers": [{"model": "m2", "text": "Hi there."}, {"model": "m1", "text": "Hello."}]}
            """.write(toFile: dir + "/q.jsonl", atomically: true, encoding: .utf8)
        #expect(try store.addReviewItems(jsonlFile: dir + "/q.jsonl") == ReviewLoad(added: 2, duplicates: 1))
        let items = try store.reviewItems()
        #expect(items[1].prompt.map(\.role) == ["system", "user"] && items[1].modelB == "m2" && items[0].source == "file:q.jsonl")
        try "{\"prompt\": \"ok\", \"a\": \"x\", \"b\": \"y\"}\n{\"prompt\": \"same\", \"a\": \"x\", \"b\": \"x\"}\n"
            .write(toFile: dir + "/bad.jsonl", atomically: true, encoding: .utf8)
        #expect(throws: ForgeError.file(dir + "/bad.jsonl:2", "the two answers are the same text")) { try store.addReviewItems(jsonlFile: dir + "/bad.jsonl") }
        #expect(try store.reviewItems().count == 2, "a bad file adds nothing")

        // Chat: one prompt rated with two different replies (a regeneration), another with one reply.
        let prompt = [ChatMessage(role: "user", content: "Tell me a joke.")]
        for reply in ["Why did the chicken cross the road?", "A horse walks into a bar."] {
            try store.record(FeedbackEntry(conversationID: "c1", owner: "alice-secret", prompt: prompt, reply: reply, model: "smol", rating: .up))
        }
        try store.record(FeedbackEntry(conversationID: "c2", owner: "bob", prompt: [ChatMessage(role: "user", content: "Hi")], reply: "Hello",
                                       model: "smol", rating: .down))
        #expect(try store.addReviewItemsFromChat() == ReviewLoad(added: 1, duplicates: 0))
        let chat = try #require(try store.reviewItems().last)
        #expect(chat.source == "chat:1,2" && chat.prompt == prompt && chat.modelA == "smol" && chat.modelB == "smol")
        #expect(!"\(chat)".contains("alice"), "no owner in the item")
        #expect(try store.addReviewItemsFromChat() == ReviewLoad(added: 0, duplicates: 1))
    }

    /// A reviewer's next item keeps its sides until judged; screen sides map back to stored answers (verdict and
    /// flags); progress counts; unknown items, double and unserved judgements are refused with their own errors.
    @Test func nextAndSubmitMapSides() throws {
        let dir = temporaryDirectory("review-sides")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FeedbackStore(path: dir + "/f.db")
        #expect(try store.addReviewItems(Self.tenItems()).added == 10)
        let first = try #require(try store.next(for: "r1"))
        #expect(try store.next(for: "r1") == first, "the same item, same sides, until judged")
        #expect(first.leftText == first.item.answer(first.left) && first.rightText == first.item.answer(first.left.other))
        let verdict = try store.submit(itemID: first.item.id, reviewer: "r1", choice: .left, flagRight: "wrong")
        #expect(verdict == (first.left == .a ? .a : .b))
        let stored = try #require(try store.reviewJudgments().first)
        #expect(stored.left == first.left && (first.left == .a ? stored.flagB : stored.flagA) == "wrong"
                && (first.left == .a ? stored.flagA : stored.flagB) == nil)
        #expect(try store.progress(for: "r1") == ReviewProgress(judged: 1, total: 10))
        #expect(throws: ReviewError.alreadyJudged(first.item.id, "r1")) { try store.submit(itemID: first.item.id, reviewer: "r1", choice: .tie) }
        #expect(throws: ReviewError.unknownItem(999)) { try store.submit(itemID: 999, reviewer: "r1", choice: .tie) }
        let second = try #require(try store.next(for: "r1"))
        let unserved = try #require(try store.reviewItems().first { $0.id != first.item.id && $0.id != second.item.id })
        #expect(throws: ReviewError.notServed(unserved.id, "r1")) { try store.submit(itemID: unserved.id, reviewer: "r1", choice: .tie) }
        #expect(throws: ReviewError.unknownFlag("rude")) { try store.submit(itemID: unserved.id, reviewer: "r1", choice: .tie, flagLeft: "rude") }
        var seen: Set<Int64> = [first.item.id]
        while let s = try store.next(for: "r1") {
            #expect(seen.insert(s.item.id).inserted)
            #expect(try store.submit(itemID: s.item.id, reviewer: "r1", choice: .right) == (s.left == .a ? .b : .a))
        }
        #expect(seen.count == 10, "every item once")
        #expect(try store.progress(for: "r1") == ReviewProgress(judged: 10, total: 10))
        // Another reviewer judges the same items in another order; the results see two reviewers.
        let order2 = try (0..<3).map { _ -> Int64 in
            let s = try #require(try store.next(for: "r2"))
            try store.submit(itemID: s.item.id, reviewer: "r2", choice: .left, left: s.left)
            return s.item.id
        }
        #expect(Set(order2).count == 3)
        let results = try store.reviewResults(rounds: 20)
        #expect(results.judgments == 13 && results.pairs.count == 1 && results.pairs[0].games == 13 && results.agreement.count == 1)
        #expect(results.flags == ["wrong": 1] && results.text.contains("model-one vs model-two"))
    }

    /// A damaged feedback database and a foreign SQLite file are refused and left byte for byte as they were.
    @Test func corruptDatabaseRefusedNotOverwritten() throws {
        let dir = temporaryDirectory("review-corrupt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try FeedbackStore(path: dir + "/f.db")
            _ = try store.addReviewItems(Self.tenItems())
        }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/f.db"))
        #expect(bytes.count >= 4 * 4096)
        for i in stride(from: 2 * 4096, to: bytes.count, by: 7) { bytes[i] = 0xA5 }
        try bytes.write(to: URL(fileURLWithPath: dir + "/f.db"))
        #expect(throws: (any Error).self) { try FeedbackStore(path: dir + "/f.db") }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/f.db")) == bytes)
        let r = try runForge(["review", "load", dir + "/f.db", "--from-chat"])
        #expect(r.status != 0 && r.stderr.contains(dir + "/f.db"), "\(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/f.db")) == bytes)
    }

    /// forge review load and results: the counts, the tables (pairs, Elo, Bradley–Terry, kappa) and the same as JSON.
    @Test func reviewCommands() throws {
        let dir = temporaryDirectory("review-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lines = try Self.tenItems().map { i -> String in
            let o: [String: Any] = ["prompt": i.prompt[0].content, "answers": [["model": i.modelA, "text": i.answerA], ["model": i.modelB, "text": i.answerB]]]
            return String(decoding: try JSONSerialization.data(withJSONObject: o), as: UTF8.self)
        }
        try lines.joined(separator: "\n").write(toFile: dir + "/q.jsonl", atomically: true, encoding: .utf8)
        let load = try runForge(["review", "load", dir + "/f.db", dir + "/q.jsonl"])
        #expect(load.status == 0 && load.stdout.contains("10 items added, 0 already queued"), "\(load.stdout) \(load.stderr)")
        do {
            let store = try FeedbackStore(path: dir + "/f.db")
            // Two reviewers, each in their own order: model-one wins 6 of every 10 items, but r2 calls its last two ties.
            for (reviewer, ties) in [("r1", 0), ("r2", 2)] {
                var n = 0
                while let s = try store.next(for: reviewer) {
                    let choice: ReviewChoice = n >= 10 - ties ? .tie : (n % 5 < 3) == (s.left == .a) ? .left : .right
                    try store.submit(itemID: s.item.id, reviewer: reviewer, choice: choice)
                    n += 1
                }
            }
        }
        let text = try runForge(["review", "results", dir + "/f.db", "--rounds", "50"])
        #expect(text.status == 0 && text.stdout.contains("model-one vs model-two") && text.stdout.contains("Cohen's kappa r1 / r2 over 10 items"),
                "\(text.stdout) \(text.stderr)")
        let json = try runForge(["review", "results", dir + "/f.db", "--json", "--rounds", "50"])
        let results = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let pair = try #require((results["pairs"] as? [[String: Any]])?.first)
        #expect(pair["games"] as? Int == 20 && (pair["wins_a"] as? Int ?? 0) + (pair["wins_b"] as? Int ?? 0) + (pair["ties"] as? Int ?? 0) == 20)
        #expect((results["bradley_terry"] as? [String: Any])?.count == 2 && (results["elo"] as? [String: Double])?.count == 2)
    }

    // MARK: - Over HTTP

    /// Keys with roles on a server with a review queue: the admin loads items and sees results; a reviewer gets
    /// items without model names and judges them (404 unknown item, 409 twice, 400 bad body), but gets 403 on the
    /// results, on loading items and on completions; a user key gets 403 on the review routes.
    @Test func reviewRoutesAndRoles() async throws {
        let dir = temporaryDirectory("review-http")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "admin-key role=admin\nreviewer-key role=reviewer\nuser-key\n".write(toFile: dir + "/keys", atomically: true, encoding: .utf8)
        let server = try ServerProcess(["--model", smolLM2Path, "--name", "smollm2", "--context", "512", "--api-key-file", dir + "/keys",
                                        "--feedback", dir + "/f.db"])
        func auth(_ key: String) -> [String: String] { ["Authorization": "Bearer " + key, "Content-Type": "application/json"] }
        func object(_ d: Data) -> [String: Any] { (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] ?? [:] }
        let items = Self.tenItems().prefix(3).map { ["prompt": $0.prompt[0].content, "a": $0.answerA, "b": $0.answerB,
                                                     "model_a": $0.modelA, "model_b": $0.modelB] }
        let list = try JSONSerialization.data(withJSONObject: items)
        let (rl, _, _) = try await http("POST", server.base + "/v1/review/items", body: list, headers: auth("reviewer-key"))
        #expect(rl == 403, "a reviewer may not load items")
        let (ls, _, lb) = try await http("POST", server.base + "/v1/review/items", body: list, headers: auth("admin-key"))
        #expect(ls == 200 && object(lb)["added"] as? Int == 3, "\(String(decoding: lb, as: UTF8.self))")
        let (fs, _, fb) = try await http("POST", server.base + "/v1/review/items?from=chat", headers: auth("admin-key"))
        #expect(fs == 200 && object(fb)["added"] as? Int == 0 && object(fb)["total"] as? Int == 3, "no chat feedback yet")
        let (bs, _, bb) = try await http("POST", server.base + "/v1/review/items", body: Data("{\"prompt\": 1}\n".utf8), headers: auth("admin-key"))
        #expect(bs == 400 && String(decoding: bb, as: UTF8.self).contains("body:1"), "\(String(decoding: bb, as: UTF8.self))")

        let (ns, _, nb) = try await http("GET", server.base + "/v1/review/next", headers: auth("reviewer-key"))
        let next = object(nb), item = next["item"] as? [String: Any] ?? [:]
        #expect(ns == 200 && item["left"] is String && item["right"] is String && (next["progress"] as? [String: Int]) == ["judged": 0, "total": 3])
        #expect(!String(decoding: nb, as: UTF8.self).contains("model-"), "no model names: \(String(decoding: nb, as: UTF8.self))")
        let id = item["id"] as? Int ?? -1
        func judge(_ body: String, key: String = "reviewer-key") async throws -> (Int, String) {
            let (s, _, b) = try await http("POST", server.base + "/v1/review/judgments", body: Data(body.utf8), headers: auth(key))
            return (s, String(decoding: b, as: UTF8.self))
        }
        var (s, b) = try await judge(#"{"item_id": \#(id), "choice": "left", "flag_right": "wrong"}"#)
        #expect(s == 200 && b.contains(#""judged":1"#), "\(b)")
        (s, b) = try await judge(#"{"item_id": \#(id), "choice": "right"}"#)
        #expect(s == 409 && b.contains("already_judged"), "\(b)")
        (s, b) = try await judge(#"{"item_id": 9999, "choice": "left"}"#)
        #expect(s == 404, "\(b)")
        (s, b) = try await judge(#"{"item_id": \#(id), "choice": "sideways"}"#)
        #expect(s == 400 && b.contains("choice"), "\(b)")
        (s, b) = try await judge(#"{"item_id": \#(id), "choice": "left", "flag_left": "rude"}"#)
        #expect(s == 400 && b.contains("flag_left"), "\(b)")
        (s, b) = try await judge("not json")
        #expect(s == 400, "\(b)")
        (s, b) = try await judge(#"{"item_id": \#(id), "choice": "left"}"#, key: "user-key")
        #expect(s == 403, "\(b)")

        let (rs, _, rb) = try await http("GET", server.base + "/v1/review/results", headers: auth("reviewer-key"))
        #expect(rs == 403 && String(decoding: rb, as: UTF8.self).contains("forbidden"))
        let (cs, _, _) = try await http("POST", server.base + "/v1/chat/completions",
                                        body: Data(#"{"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}]}"#.utf8), headers: auth("reviewer-key"))
        #expect(cs == 403, "a reviewer may not chat")
        let (us, _, _) = try await http("GET", server.base + "/v1/review/next", headers: auth("user-key"))
        #expect(us == 403)
        let (ns2, _, _) = try await http("GET", server.base + "/v1/review/next")
        #expect(ns2 == 401)
        let (as_, _, ab) = try await http("GET", server.base + "/v1/review/results?rounds=10", headers: auth("admin-key"))
        let results = object(ab)
        #expect(as_ == 200 && results["judgments"] as? Int == 1 && (results["pairs"] as? [[String: Any]])?.first?["games"] as? Int == 1,
                "\(String(decoding: ab, as: UTF8.self))")
        #expect((results["flags"] as? [String: Int]) == ["wrong": 1])
        let (ps, ph, page) = try await http("GET", server.base + "/review")
        let html = String(decoding: page, as: UTF8.self)
        #expect(ps == 200 && ph["content-type"]?.hasPrefix("text/html") == true && html.contains("/v1/review/next"))
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script src"), "self-contained page")
        #expect(server.stop() == 0)
    }

    /// Headless Chromium on /review: a user key refused, a reviewer key asked for; ten comparisons with the keyboard
    /// only, one answer flagged; the database then holds exactly those ten judgements, sides mapped back.
    /// Screenshot: .build/artifacts/review-page.png.
    @Test func reviewPageInChromium() throws {
        let dir = temporaryDirectory("review-page")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do { _ = try FeedbackStore(path: dir + "/f.db").addReviewItems(Self.tenItems()) }
        try "admin-key role=admin\nreviewer-key role=reviewer\nuser-key\n".write(toFile: dir + "/keys", atomically: true, encoding: .utf8)
        let server = try ServerProcess(["--model", smolLM2Path, "--name", "smollm2", "--context", "512", "--api-key-file", dir + "/keys",
                                        "--feedback", dir + "/f.db"])
        let shot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/artifacts/review-page.png").path
        let out = try runPython("review_page.py", [server.base, "reviewer-key", "user-key", shot, "10", "model-one", "model-two"],
                                hint: "the test command installs Debian's chromium and websocket-client") as? [String: Any] ?? [:]
        #expect(server.stop() == 0)
        let failures = out["failures"] as? [String] ?? ["no output"]
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect((out["checks"] as? [String])?.count == 4)
        #expect(FileManager.default.fileExists(atPath: shot))

        let judged = out["judged"] as? [[String: Any]] ?? []
        let stored = try FeedbackStore(path: dir + "/f.db").reviewJudgments()
        #expect(stored.count == 10 && judged.count == 10 && Set(stored.map(\.item.id)).count == 10)
        #expect(Set(stored.map(\.reviewer)) == ["key1"])
        for j in stored {
            let seen = try #require(judged.first { $0["item_id"] as? Int == Int(j.item.id) })
            let choice = ReviewChoice(rawValue: seen["choice"] as? String ?? "")
            let want: ReviewVerdict = choice == .tie ? .tie : (choice == .left) == (j.left == .a) ? .a : .b
            #expect(j.verdict == want, "item \(j.item.id): \(choice as Any) with \(j.left) on the left")
            let flagRight = seen["flag_right"] as? String
            #expect((j.left == .a ? j.flagB : j.flagA) == flagRight && (j.left == .a ? j.flagA : j.flagB) == nil)
        }
        #expect(stored.compactMap { $0.flagA ?? $0.flagB } == ["wrong"], "exactly one flag")
    }
}
