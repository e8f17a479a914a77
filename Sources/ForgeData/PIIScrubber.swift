// PIIScrubber: replaces e-mail addresses, phone numbers, IP addresses and credit-card numbers
// (Luhn-checked) with typed placeholders, by hand-written scanning (no regex backtracking).
import Foundation

/// Which kinds to scrub (pipeline file section "pii").
public struct PIIOptions: Codable, Sendable, Equatable {
    public var enabled = true
    public var email = true
    public var phone = true
    public var ip = true
    public var creditCard = true
    public init() {}
    enum CodingKeys: String, CodingKey { case enabled, email, phone, ip, creditCard = "credit_card" }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        email = try c.decodeIfPresent(Bool.self, forKey: .email) ?? true
        phone = try c.decodeIfPresent(Bool.self, forKey: .phone) ?? true
        ip = try c.decodeIfPresent(Bool.self, forKey: .ip) ?? true
        creditCard = try c.decodeIfPresent(Bool.self, forKey: .creditCard) ?? true
    }
}

public enum PIIScrubber {
    public static let emailTag = "<EMAIL>", phoneTag = "<PHONE>", ipTag = "<IP_ADDRESS>", cardTag = "<CREDIT_CARD>"

    /// The scrubbed text and how many of each kind were replaced.
    public static func scrub(_ text: String, _ o: PIIOptions = PIIOptions()) -> (text: String, counts: [String: Int]) {
        guard o.enabled else { return (text, [:]) }
        // Nothing to find without an @ or a digit.
        guard text.utf8.contains(where: { $0 == 64 || ($0 >= 48 && $0 <= 57) }) else { return (text, [:]) }
        let s = Array(text.unicodeScalars)
        var spans: [(Range<Int>, String)] = []
        if o.email { spans += emails(s) }
        if o.ip { spans += ipv6(s).filter { r in !spans.contains { $0.0.overlaps(r.0) } } }
        spans += numbers(s, o).filter { r in !spans.contains { $0.0.overlaps(r.0) } }
        guard !spans.isEmpty else { return (text, [:]) }
        spans.sort { $0.0.lowerBound < $1.0.lowerBound }
        var out = String.UnicodeScalarView()
        var counts: [String: Int] = [:]
        var i = 0
        for (r, tag) in spans where r.lowerBound >= i {
            out.append(contentsOf: s[i..<r.lowerBound])
            out.append(contentsOf: tag.unicodeScalars)
            counts[tag, default: 0] += 1
            i = r.upperBound
        }
        out.append(contentsOf: s[i...])
        return (String(out), counts)
    }

    static func isDigit(_ u: Unicode.Scalar) -> Bool { u.value >= 48 && u.value <= 57 }
    static func isAlnum(_ u: Unicode.Scalar) -> Bool { TextScan.isAlnum(u) }
    static func isHex(_ u: Unicode.Scalar) -> Bool { isDigit(u) || (u.value >= 65 && u.value <= 70) || (u.value >= 97 && u.value <= 102) }

    static func emails(_ s: [Unicode.Scalar]) -> [(Range<Int>, String)] {
        func localChar(_ u: Unicode.Scalar) -> Bool { u.isASCII && (isAlnum(u) || "._%+-".unicodeScalars.contains(u)) }
        func domainChar(_ u: Unicode.Scalar) -> Bool { u.isASCII && (isAlnum(u) || u == "-" || u == ".") }
        var out: [(Range<Int>, String)] = []
        var i = 0
        while i < s.count {
            guard s[i] == "@" else { i += 1; continue }
            var l = i
            while l > 0, localChar(s[l - 1]) { l -= 1 }
            while l < i, s[l] == "." { l += 1 }
            var r = i + 1
            while r < s.count, domainChar(s[r]) { r += 1 }
            while r > i + 1, s[r - 1] == "." || s[r - 1] == "-" { r -= 1 }
            let domain = String(String.UnicodeScalarView(s[(i + 1)..<r]))
            let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
            if l < i, labels.count >= 2, labels.allSatisfy({ !$0.isEmpty && !$0.hasPrefix("-") }),
               let tld = labels.last, tld.count >= 2, tld.allSatisfy({ $0.isLetter }) {
                out.append((l..<r, emailTag))
                i = r
            } else {
                i += 1
            }
        }
        return out
    }

    static func ipv6(_ s: [Unicode.Scalar]) -> [(Range<Int>, String)] {
        var out: [(Range<Int>, String)] = []
        var i = 0
        while i < s.count {
            guard isHex(s[i]) || s[i] == ":", i == 0 || !(isAlnum(s[i - 1]) || s[i - 1] == ":") else { i += 1; continue }
            var j = i
            while j < s.count, isHex(s[j]) || s[j] == ":" { j += 1 }
            let token = String(String.UnicodeScalarView(s[i..<j]))
            let groups = token.split(separator: ":", omittingEmptySubsequences: false)
            let colons = groups.count - 1
            let valid = (colons >= 3 || (colons >= 2 && token.contains("::"))) && colons <= 7
                && groups.allSatisfy { $0.count <= 4 } && groups.filter { !$0.isEmpty }.count >= 2
                && token.filter { $0 == ":" }.count == colons && !(j < s.count && isAlnum(s[j]))
                && token.components(separatedBy: "::").count <= 2
            if valid { out.append((i..<j, ipTag)); i = j } else { i = max(j, i + 1) }
        }
        return out
    }

    /// Digit runs with separators: IPv4 addresses, card numbers, phone numbers.
    static func numbers(_ s: [Unicode.Scalar], _ o: PIIOptions) -> [(Range<Int>, String)] {
        var out: [(Range<Int>, String)] = []
        var i = 0
        while i < s.count {
            let startsHere = isDigit(s[i]) || ((s[i] == "+" || s[i] == "(") && i + 1 < s.count && isDigit(s[i + 1]))
            guard startsHere, i == 0 || !(isAlnum(s[i - 1]) || s[i - 1] == "." || s[i - 1] == "-" || s[i - 1] == "+") else { i += 1; continue }
            // Extend over digits and single separators that are followed by more digits.
            var j = i
            if s[j] == "+" || s[j] == "(" { j += 1 }
            var end = j
            while j < s.count {
                if isDigit(s[j]) { j += 1; end = j; continue }
                if " -.()/".unicodeScalars.contains(s[j]) {
                    var k = j
                    while k < s.count, k - j < 2, " -.()".unicodeScalars.contains(s[k]) { k += 1 }
                    if k < s.count, isDigit(s[k]) { j = k; continue }
                }
                break
            }
            if end < s.count, isAlnum(s[end]) { i = end + 1; continue }  // part of a longer token
            let span = i..<end
            let chars = Array(s[span])
            let digits = chars.filter(isDigit).map { Int($0.value - 48) }
            let seps = Set(chars.filter { !isDigit($0) })
            var tag: String?
            if o.ip, seps == ["."], chars.split(separator: ".").count == 4, !(end + 1 < s.count && s[end] == "." && isDigit(s[end + 1])) {
                let parts = chars.split(separator: ".").map { Int(String(String.UnicodeScalarView($0))) ?? 999 }
                if parts.allSatisfy({ $0 <= 255 }) && chars.split(separator: ".").allSatisfy({ $0.count <= 3 }) { tag = ipTag }
            }
            if tag == nil, o.creditCard, (13...19).contains(digits.count), seps.isSubset(of: [" ", "-"]), luhn(digits) { tag = cardTag }
            if tag == nil, o.phone, (10...15).contains(digits.count) || (s[i] == "+" && digits.count >= 8 && digits.count <= 15),
               !seps.isEmpty || s[i] == "+", !seps.contains("/"), !(seps == ["."] && digits.count < 10) {
                tag = phoneTag
            }
            if let tag { out.append((span, tag)) }
            i = max(end, i + 1)
        }
        return out
    }

    /// The Luhn checksum (credit-card numbers).
    public static func luhn(_ digits: [Int]) -> Bool {
        var sum = 0
        for (k, d) in digits.reversed().enumerated() {
            if k % 2 == 1 { let x = d * 2; sum += x > 9 ? x - 9 : x } else { sum += d }
        }
        return sum % 10 == 0
    }
}
