// Access: who may use the server and how much. API keys (Bearer) from a file or an environment variable, compared
// in constant time; per-key roles (user, reviewer, admin) and limits on requests and tokens per minute (token buckets).
import Foundation
import Synchronization

/// What a key may do. `user`: the OpenAI routes, the chat page and its own feedback; `reviewer`: only the review
/// page and its items; `admin`: everything, including the review results, exports and the runs dashboard.
public enum Role: String, Sendable, CaseIterable {
    case user, reviewer, admin
}

/// Who called: the client's name (key0, key1 ... or anonymous), its limits and its role.
public struct Access: Sendable {
    public var client: String
    public var limits: APIKeys.Limits
    public var role: Role

    /// Throws 403 unless the role is one of `roles`.
    public func require(_ roles: Role..., for what: String) throws(APIError) {
        guard roles.contains(role) else {
            throw APIError(status: 403, "This key's role (\(role.rawValue)) may not \(what); it needs \(roles.map(\.rawValue).joined(separator: " or ")).",
                           type: "permission_error", code: "forbidden")
        }
    }
}

/// The server's API keys (none: no key needed), each with optional limits and a role of its own.
public struct APIKeys: Sendable {
    public struct Limits: Sendable, Equatable {
        public var requestsPerMinute: Int?
        public var tokensPerMinute: Int?
        public init(requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil) {
            (self.requestsPerMinute, self.tokensPerMinute) = (requestsPerMinute, tokensPerMinute)
        }
    }
    let keys: [[UInt8]]
    let limits: [Limits]
    let roles: [Role]

    /// Keys with their limits and roles (user when not given).
    public init(_ keys: [String], limits: [Limits]? = nil, roles: [Role]? = nil) {
        let kept = keys.indices.filter { !keys[$0].isEmpty }
        self.keys = kept.map { Array(keys[$0].utf8) }
        self.limits = kept.map { limits?[$0] ?? Limits() }
        self.roles = kept.map { roles?[$0] ?? .user }
    }

    /// Keys from a file and/or a comma-separated environment variable. A file line is
    /// `KEY [rpm=N] [tpm=N] [role=user|reviewer|admin]`; `#` starts a comment. Environment keys are users.
    public static func load(file: String?, environment variable: String = "FORGE_API_KEYS") throws(APIError) -> APIKeys {
        var keys: [String] = [], limits: [Limits] = [], roles: [Role] = []
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw APIError(status: 500, "\(file): cannot be read") }
            for (n, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let fields = raw.split(separator: " ").map(String.init).filter { !$0.isEmpty }
                guard let key = fields.first, !key.hasPrefix("#") else { continue }
                var l = Limits(), role = Role.user
                for f in fields.dropFirst() {
                    let parts = f.split(separator: "=").map(String.init)
                    if parts.count == 2, parts[0] == "role" {
                        guard let r = Role(rawValue: parts[1]) else {
                            throw APIError(status: 500, "\(file):\(n + 1): role '\(parts[1])' is not user, reviewer or admin")
                        }
                        role = r
                        continue
                    }
                    guard parts.count == 2, let v = Int(parts[1]), v > 0, parts[0] == "rpm" || parts[0] == "tpm" else {
                        throw APIError(status: 500, "\(file):\(n + 1): '\(f)' is not rpm=N, tpm=N or role=ROLE")
                    }
                    if parts[0] == "rpm" { l.requestsPerMinute = v } else { l.tokensPerMinute = v }
                }
                keys.append(key)
                limits.append(l)
                roles.append(role)
            }
        }
        if let env = ProcessInfo.processInfo.environment[variable] {
            for k in env.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !k.isEmpty {
                keys.append(k)
                limits.append(Limits())
                roles.append(.user)
            }
        }
        return APIKeys(keys, limits: limits, roles: roles)
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

    /// The client of an `Authorization: Bearer KEY` header with that key's limits and role, or a 401 in OpenAI's
    /// words. A server without keys is a private one: its one anonymous client is an admin.
    public func authorize(_ header: String?) throws(APIError) -> Access {
        guard required else { return Access(client: "anonymous", limits: Limits(), role: .admin) }
        guard let header, header.lowercased().hasPrefix("bearer ") else {
            throw APIError(status: 401, "You didn't provide an API key. Provide it in an Authorization header: Bearer YOUR_KEY.",
                           code: "invalid_api_key")
        }
        let key = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard let i = match(key) else { throw APIError(status: 401, "Incorrect API key provided.", code: "invalid_api_key") }
        return Access(client: "key\(i)", limits: limits[i], role: roles[i])
    }
}

/// Per-client requests and tokens per minute, as token buckets refilled continuously. A key's own limits override
/// the server's.
public final class RateLimiter: Sendable {
    let defaults: APIKeys.Limits
    struct Bucket { var requests: Double; var tokens: Double; var at: ContinuousClock.Instant }
    let buckets = Mutex<[String: Bucket]>([:])

    public init(requestsPerMinute: Int?, tokensPerMinute: Int?) {
        defaults = APIKeys.Limits(requestsPerMinute: requestsPerMinute, tokensPerMinute: tokensPerMinute)
    }

    func refilled(_ b: Bucket, _ rpm: Double, _ tpm: Double, now: ContinuousClock.Instant) -> Bucket {
        let d = now - b.at
        let minutes = (Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18) / 60
        return Bucket(requests: min(rpm, b.requests + minutes * rpm), tokens: min(tpm, b.tokens + minutes * tpm), at: now)
    }

    /// Takes one request for `client`, or a 429 with the seconds until one is available.
    public func admit(_ client: String, limits: APIKeys.Limits = APIKeys.Limits()) throws(APIError) {
        let rpm = (limits.requestsPerMinute ?? defaults.requestsPerMinute).map(Double.init)
        let tpm = (limits.tokensPerMinute ?? defaults.tokensPerMinute).map(Double.init)
        guard rpm != nil || tpm != nil else { return }
        let now = ContinuousClock.now
        let refusal: APIError? = buckets.withLock { all in
            var b = all[client].map { refilled($0, rpm ?? 0, tpm ?? 0, now: now) } ?? Bucket(requests: rpm ?? 0, tokens: tpm ?? 0, at: now)
            defer { all[client] = b }
            if let rpm, b.requests < 1 {
                return APIError(status: 429, "Rate limit reached: \(Int(rpm)) requests per minute.", type: "requests",
                                code: "rate_limit_exceeded", retryAfter: max(1, Int(((1 - b.requests) / rpm * 60).rounded(.up))))
            }
            if let tpm, b.tokens <= 0 {
                return APIError(status: 429, "Rate limit reached: \(Int(tpm)) tokens per minute.", type: "tokens",
                                code: "rate_limit_exceeded", retryAfter: max(1, Int((-b.tokens / tpm * 60).rounded(.up))))
            }
            if rpm != nil { b.requests -= 1 }
            return nil
        }
        if let refusal { throw refusal }
    }

    /// Charges the tokens a request used (prompt and generated) to `client`.
    public func charge(_ client: String, tokens: Int) {
        buckets.withLock { all in all[client]?.tokens -= Double(tokens) }
    }
}
