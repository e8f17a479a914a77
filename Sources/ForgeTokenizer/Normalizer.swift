// Normalizer: text rewrites before pre-tokenization (Hugging Face normalizers used by BPE models).
import ForgeCore
import Foundation

public indirect enum Normalizer: Sendable, Equatable {
    case nfc, nfkc, nfd, nfkd, lowercase
    case prepend(String)
    case replace(pattern: String, content: String)
    case sequence([Normalizer])

    public func apply(_ s: String) -> String {
        switch self {
        case .nfc: return s.precomposedStringWithCanonicalMapping
        case .nfkc: return s.precomposedStringWithCompatibilityMapping
        case .nfd: return s.decomposedStringWithCanonicalMapping
        case .nfkd: return s.decomposedStringWithCompatibilityMapping
        case .lowercase: return s.lowercased()
        case .prepend(let p): return s.isEmpty ? s : p + s
        case .replace(let pattern, let content): return Self.replace(pattern, with: content, in: s)
        case .sequence(let list): return list.reduce(s) { $1.apply($0) }
        }
    }

    /// Every occurrence of `pattern` as code points, as Hugging Face matches (Foundation matches whole
    /// characters, and would miss the space in a space + combining mark).
    static func replace(_ pattern: String, with content: String, in s: String) -> String {
        let p = Array(pattern.utf8), c = Array(content.utf8), b = Array(s.utf8)
        guard let first = p.first else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(b.count + b.count / 4)
        var i = 0
        while i < b.count {
            if b[i] == first && i + p.count <= b.count && b[i..<(i + p.count)].elementsEqual(p) { out += c; i += p.count }
            else { out.append(b[i]); i += 1 }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The Hugging Face JSON form.
    var json: [String: Any] {
        switch self {
        case .nfc: return ["type": "NFC"]
        case .nfkc: return ["type": "NFKC"]
        case .nfd: return ["type": "NFD"]
        case .nfkd: return ["type": "NFKD"]
        case .lowercase: return ["type": "Lowercase"]
        case .prepend(let p): return ["type": "Prepend", "prepend": p]
        case .replace(let pattern, let content): return ["type": "Replace", "pattern": ["String": pattern], "content": content]
        case .sequence(let list): return ["type": "Sequence", "normalizers": list.map(\.json)]
        }
    }

    /// Parses the Hugging Face JSON form; unsupported normalizers are errors naming them.
    static func parse(_ j: [String: Any]) throws -> Normalizer {
        let type = j["type"] as? String ?? "?"
        switch type {
        case "NFC": return .nfc
        case "NFKC": return .nfkc
        case "NFD": return .nfd
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Prepend": return .prepend(j["prepend"] as? String ?? "")
        case "Replace":
            guard let p = (j["pattern"] as? [String: Any])?["String"] as? String, let c = j["content"] as? String else {
                throw ForgeError("Replace normalizer with a regex pattern is not supported")
            }
            return .replace(pattern: p, content: c)
        case "Sequence":
            return .sequence(try (j["normalizers"] as? [[String: Any]] ?? []).map(parse))
        default:
            throw ForgeError("normalizer type '\(type)' is not supported")
        }
    }
}
