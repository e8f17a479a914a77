// Access: who may use the server and how much. API keys (Bearer) from a file or an environment variable, compared
// in constant time; per-key limits on requests and tokens per minute (token buckets).
import Foundation
import Synchronization

/// The server's API keys (none: no key needed).
public struct APIKeys: Sendable {
    let keys: [[UInt8]]

    public init(_ keys: [String]) { self.keys = keys.filter { !$0.isEmpty }.map { Array($0.utf8) } }

    /// Keys from a file (one per line; `#` comments) and/or a comma-separated environment variable.
    public static func load(file: String?, environment variable: String = "FORGE_API_KEYS") throws(APIError) -> APIKeys {
        var keys: [String] = []
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw APIError(status: 500, "\(file): cannot be read") }
            keys += String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        if let env = ProcessInfo.processInfo.environment[variable] {
            keys += env.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        return APIKeys(keys)
    }

    public var required: Bool { !keys.isEmpty }

    /// The index of the key `candidate` matches; every key is compared in full, in constant time.
    public func match(_ candidate: String) -> Int? {
        let c = Array(candidate.utf8)
        var found: Int?
        for (i, k) in keys.enumerated() where Self.equal(k, c) { found = found ?? i }
        return found
    }

    /// Equality whose time depends only on the lengths, not on where the bytes differ.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) { diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0) }
        return diff == 0
    }

    /// The key of an `Authorization: Bearer KEY` header, or a 401 in OpenAI's words.
    public func authorize(_ header: String?) throws(APIError) -> String {
        guard required else { return "anonymous" }
        guard let header, header.lowercased().hasPrefix("bearer ") else {
            throw APIError(status: 401, "You didn't provide an API key. Provide it in an Authorization header: Bearer YOUR_KEY.",
                           code: "invalid_api_key")
        }
        let key = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard let i = match(key) else { throw APIError(status: 401, "Incorrect API key provided.", code: "invalid_api_key") }
        return "key\(i)"
    }
}

/// Per-client requests and tokens per minute, as token buckets refilled continuously.
public final class RateLimiter: Sendable {
    let requestsPerMinute: Double?
    let tokensPerMinute: Double?
    struct Bucket { var requests: Double; var tokens: Double; var at: ContinuousClock.Instant }
    let buckets = Mutex<[String: Bucket]>([:])

    public init(requestsPerMinute: Int?, tokensPerMinute: Int?) {
        self.requestsPerMinute = requestsPerMinute.map(Double.init)
        self.tokensPerMinute = tokensPerMinute.map(Double.init)
    }

    func refilled(_ b: Bucket, now: ContinuousClock.Instant) -> Bucket {
        let d = now - b.at
        let minutes = (Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18) / 60
        return Bucket(requests: min(requestsPerMinute ?? 0, b.requests + minutes * (requestsPerMinute ?? 0)),
                      tokens: min(tokensPerMinute ?? 0, b.tokens + minutes * (tokensPerMinute ?? 0)), at: now)
    }

    /// Takes one request for `client`, or a 429 with the seconds until one is available.
    public func admit(_ client: String) throws(APIError) {
        guard requestsPerMinute != nil || tokensPerMinute != nil else { return }
        let now = ContinuousClock.now
        let refusal: APIError? = buckets.withLock { all in
            var b = all[client].map { refilled($0, now: now) }
                ?? Bucket(requests: requestsPerMinute ?? 0, tokens: tokensPerMinute ?? 0, at: now)
            if let rpm = requestsPerMinute {
                guard b.requests >= 1 else {
                    all[client] = b
                    return APIError(status: 429, "Rate limit reached: \(Int(rpm)) requests per minute.", type: "requests",
                                    code: "rate_limit_exceeded", retryAfter: Int(((1 - b.requests) / rpm * 60).rounded(.up)))
                }
                b.requests -= 1
            }
            if let tpm = tokensPerMinute, b.tokens <= 0 {
                all[client] = b
                return APIError(status: 429, "Rate limit reached: \(Int(tpm)) tokens per minute.", type: "tokens",
                                code: "rate_limit_exceeded", retryAfter: Int((-b.tokens / tpm * 60).rounded(.up)) + 1)
            }
            all[client] = b
            return nil
        }
        if let refusal { throw refusal }
    }

    /// Charges the tokens a request used (prompt and generated) to `client`.
    public func charge(_ client: String, tokens: Int) {
        guard tokensPerMinute != nil else { return }
        let now = ContinuousClock.now
        buckets.withLock { all in
            guard var b = all[client].map({ refilled($0, now: now) }) else { return }
            b.tokens -= Double(tokens)
            all[client] = b
        }
    }
}
