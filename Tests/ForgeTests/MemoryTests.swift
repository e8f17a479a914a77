// Memory: facts kept per user across sessions in SQLite, recalled by similarity, listed and deleted by their owner;
// the server's /v1/memories and recall into chats (seen in the prompt's token count), over loopback.
import Foundation
import Testing
@testable import ForgeCore
@testable import ForgeRetrieval

@Suite struct MemoryTests {
    @Test func factsAreFoundInMessages() {
        #expect(UserMemory.facts(in: "Hi! My name is Ada. I live in Lyon and I prefer tea. What's the weather?")
                == ["My name is Ada", "I live in Lyon and I prefer tea"])
        #expect(UserMemory.facts(in: "Please remember that the meeting is on Friday.") == ["the meeting is on Friday"])
        #expect(UserMemory.facts(in: "Where do I live? Tell me a joke.") == [])
    }

    @Test(.enabled(if: miniLMPath != nil, miniLMMissing))
    func memoriesPersistPerUserAndAreRecalledBySimilarity() throws {
        let dir = temporaryDirectory("memory")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/m.db"
        var memory = try UserMemory(path: path, embedder: miniLMPath!)
        #expect(try memory.capture(user: "ada", message: "My name is Ada. I live in Lyon. My dog is called Pixel.").count == 3)
        try memory.remember(user: "bob", "I work as a baker")
        try memory.remember(user: "ada", "I live in Lyon")  // already kept: not duplicated
        #expect(try memory.store.list(user: "ada").count == 3)
        // A new session: the facts are still there, and only the owner's are recalled.
        memory = try UserMemory(path: path, embedder: miniLMPath!)
        let recalled = try memory.store.recall(user: "ada", query: memory.encoder.embed(["what is my pet's name?"])[0], k: 1, minScore: 0)
        #expect(recalled.first?.text == "My dog is called Pixel")
        #expect(try memory.context(user: "ada", message: "Which city do I live in?")?.contains("I live in Lyon") == true)
        #expect(try memory.context(user: "bob", message: "Which city do I live in?")?.contains("Lyon") != true)
        // Deleting: only one's own.
        let bobs = try memory.store.list(user: "bob")[0].id
        #expect(try !memory.store.forget(user: "ada", id: bobs))
        #expect(try memory.store.forget(user: "bob", id: bobs))
        #expect(try memory.store.list(user: "bob").isEmpty && memory.store.list(user: "ada").count == 3)
        // A damaged file and a foreign SQLite file are refused and left as they were.
        let bad = dir + "/bad.db"
        try Data(repeating: 7, count: 3000).write(to: URL(fileURLWithPath: bad))
        #expect(throws: ForgeError.self) { try MemoryStore(path: bad, dimension: 384) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: bad)) == Data(repeating: 7, count: 3000))
        try FileManager.default.createDirectory(atPath: dir + "/idx", withIntermediateDirectories: true)
        _ = try VectorStore(path: dir + "/idx/i.db", embedder: "x", dimension: 384)
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/idx/i.db"))
        #expect(throws: ForgeError.self) { try MemoryStore(path: dir + "/idx/i.db", dimension: 384) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/idx/i.db")) == before)
        #expect(throws: ForgeError.self) { try MemoryStore(path: path, dimension: 128) }
    }

    /// The server keeps memories per key and `user`: listed and deleted by their owner only (404 for others), and a
    /// relevant one is put in the chat's system message (the prompt grows by its tokens; it shrinks back once deleted).
    @Test(.enabled(if: miniLMPath != nil, miniLMMissing))
    func serverMemoryRoutesAndRecall() async throws {
        let dir = temporaryDirectory("memory-serve")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "key-a\nkey-b\n".write(toFile: dir + "/keys", atomically: true, encoding: .utf8)
        let server = try ServerProcess(["--model", smolLM2Path, "--name", "smollm2", "--embedder", miniLMPath!, "--memory", dir + "/m.db",
                                        "--api-key-file", dir + "/keys", "--context", "1024"])
        func call(_ method: String, _ path: String, key: String, _ body: [String: Any]? = nil) async throws -> (Int, [String: Any]) {
            let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
            let (s, _, d) = try await http(method, server.base + path, body: data,
                                           headers: ["Authorization": "Bearer " + key, "Content-Type": "application/json"])
            return (s, (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] ?? [:])
        }
        func promptTokens(_ key: String, user: String) async throws -> Int {
            let (s, r) = try await call("POST", "/v1/chat/completions", key: key, [
                "model": "smollm2", "max_tokens": 1, "temperature": 0, "user": user,
                "messages": [["role": "system", "content": "You are terse."], ["role": "user", "content": "What is the name of my dog?"]]])
            #expect(s == 200)
            return (r["usage"] as? [String: Any])?["prompt_tokens"] as? Int ?? -1
        }
        let baseline = try await promptTokens("key-a", user: "ada")
        let (s1, added) = try await call("POST", "/v1/memories", key: "key-a", ["text": "My dog is called Pixel", "user": "ada"])
        #expect(s1 == 200)
        let id = try #require(added["id"] as? Int)
        let withMemory = try await promptTokens("key-a", user: "ada")
        #expect(withMemory > baseline + 5, "prompt \(baseline) → \(withMemory) tokens")
        #expect(try await promptTokens("key-b", user: "ada") == baseline, "another key does not see it")
        #expect(try await promptTokens("key-a", user: "bob") == baseline, "another user does not see it")
        let (_, listed) = try await call("GET", "/v1/memories?user=ada", key: "key-a")
        #expect((listed["data"] as? [[String: Any]])?.map { $0["text"] as? String } == ["My dog is called Pixel"])
        let (sOther, _) = try await call("DELETE", "/v1/memories/\(id)", key: "key-b")
        #expect(sOther == 404)
        let (sDel, _) = try await call("DELETE", "/v1/memories/\(id)?user=ada", key: "key-a")
        #expect(sDel == 200)
        #expect(try await promptTokens("key-a", user: "ada") == baseline)
        let (sBad, _) = try await call("POST", "/v1/memories", key: "key-a", ["text": ""])
        #expect(sBad == 400)
        let (sNoKey, _) = try await call("GET", "/v1/memories", key: "wrong")
        #expect(sNoKey == 401)
        #expect(server.stop() == 0)
    }
}
