// API keys and rate limits, without HTTP: the key file's format, matching, and the token buckets' arithmetic.
@testable import ForgeServer
import Foundation
import Testing

@Suite struct AccessTests {
    @Test func keyFileAndMatching() throws {
        let dir = temporaryDirectory("keys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "# team keys\nalpha\n\nbeta rpm=5 tpm=1000\n  gamma   tpm=7\n".write(toFile: dir + "/k", atomically: true, encoding: .utf8)
        let keys = try APIKeys.load(file: dir + "/k", environment: "FORGE_TEST_NO_SUCH_VARIABLE")
        #expect(keys.required && keys.match("alpha") == 0 && keys.match("beta") == 1 && keys.match("gamma") == 2)
        #expect(keys.match("alph") == nil && keys.match("alphaa") == nil && keys.match("") == nil && keys.match("# team") == nil)
        #expect(try keys.authorize("Bearer beta").limits == APIKeys.Limits(requestsPerMinute: 5, tokensPerMinute: 1000))
        #expect(try keys.authorize("bearer  gamma ").client == "key2")
        for header in [nil, "beta", "Basic YmV0YQ==", "Bearer wrong", "Bearer "] as [String?] {
            #expect(throws: APIError.self) { _ = try keys.authorize(header) }
            do { _ = try keys.authorize(header) } catch { #expect(error.status == 401 && error.code == "invalid_api_key") }
        }
        try "alpha rpm=x\n".write(toFile: dir + "/bad", atomically: true, encoding: .utf8)
        do { _ = try APIKeys.load(file: dir + "/bad"); Issue.record("bad line accepted") } catch {
            #expect(error.message.contains(":1:") && error.message.contains("rpm=x"))
        }
        #expect(!APIKeys([]).required)
        #expect(try APIKeys([]).authorize(nil).client == "anonymous")
    }

    @Test func rolesFromTheKeyFile() throws {
        let dir = temporaryDirectory("roles")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "u1\nr1 role=reviewer rpm=9\na1 role=admin\n".write(toFile: dir + "/k", atomically: true, encoding: .utf8)
        let keys = try APIKeys.load(file: dir + "/k", environment: "FORGE_TEST_NO_SUCH_VARIABLE")
        #expect(try keys.authorize("Bearer u1").role == .user)
        #expect(try keys.authorize("Bearer r1").role == .reviewer && keys.authorize("Bearer r1").limits.requestsPerMinute == 9)
        #expect(try keys.authorize("Bearer a1").role == .admin)
        let reviewer = try keys.authorize("Bearer r1")
        try reviewer.require(.reviewer, .admin, for: "review")
        do { try reviewer.require(.user, .admin, for: "create completions"); Issue.record("a reviewer may chat") } catch {
            #expect(error.status == 403 && error.message.contains("reviewer") && error.message.contains("create completions"))
        }
        // A server without keys is private: its anonymous client may do everything.
        #expect(try APIKeys([]).authorize(nil).role == .admin)
        try "x role=owner\n".write(toFile: dir + "/bad", atomically: true, encoding: .utf8)
        do { _ = try APIKeys.load(file: dir + "/bad"); Issue.record("unknown role accepted") } catch {
            #expect(error.message.contains(":1:") && error.message.contains("owner"))
        }
    }

    @Test func constantTimeEquality() {
        for (a, b, same) in [("abc", "abc", true), ("abc", "abd", false), ("abc", "ab", false), ("", "", true), ("a", "", false)] {
            #expect(APIKeys.equal(Array(a.utf8), Array(b.utf8)) == same, "\(a) vs \(b)")
        }
    }

    @Test func requestAndTokenBuckets() throws {
        let limiter = RateLimiter(requestsPerMinute: 3, tokensPerMinute: nil)
        for _ in 0..<3 { try limiter.admit("a") }
        do { try limiter.admit("a"); Issue.record("4th request admitted") } catch {
            #expect(error.status == 429 && error.retryAfter.map { (1...20).contains($0) } == true, "\(error)")
        }
        try limiter.admit("b")  // each client has its own bucket
        // A key's own limits override the server's; tokens are charged after the fact and refuse the next request.
        let limits = APIKeys.Limits(requestsPerMinute: nil, tokensPerMinute: 600)
        try limiter.admit("c", limits: limits)
        limiter.charge("c", tokens: 900)
        do { try limiter.admit("c", limits: limits); Issue.record("over the token budget admitted") } catch {
            // 300 tokens in debt at 600 per minute: 30 s.
            #expect(error.status == 429 && error.type == "tokens" && error.retryAfter == 30, "\(error)")
        }
        // A refusal for tokens does not use up a request.
        let both = RateLimiter(requestsPerMinute: 2, tokensPerMinute: 6000)  // 100 tokens per second
        try both.admit("d")
        both.charge("d", tokens: 6030)
        for _ in 0..<3 { #expect(throws: APIError.self) { try both.admit("d") } }
        Thread.sleep(forTimeInterval: 0.5)
        try both.admit("d")  // the second of two requests: the refusals did not count
        do { try both.admit("d"); Issue.record("third request admitted") } catch { #expect(error.type == "requests") }
        let refill = RateLimiter(requestsPerMinute: 600, tokensPerMinute: nil)  // one request per 0.1 s
        for _ in 0..<600 { try refill.admit("e") }
        #expect(throws: APIError.self) { try refill.admit("e") }
        Thread.sleep(forTimeInterval: 0.25)
        try refill.admit("e")
    }
}
