// ConfigKeys: the values of a config.json or of GGUF metadata, read with range checks, so that every bad
// value is refused with a one-line error naming its key instead of crashing a loader (a zero head count
// divides by zero; an absurd context length allocates terabytes).
import ForgeCore
import Foundation

/// Named config values read with checks; every error names the key ("num_attention_heads must be ...").
public struct ConfigKeys {
    let values: [String: Any]
    /// Prepended to every key asked for (GGUF: "llama.").
    public let prefix: String

    /// Values of a parsed config.json object.
    public init(json: [String: Any]) {
        values = json
        prefix = ""
    }

    /// GGUF metadata; keys are asked for without the `<arch>.` prefix, which is added.
    public init(gguf metadata: [String: GGUFValue], architecture: String) {
        func plain(_ v: GGUFValue) -> Any {
            switch v {
            case .bool(let b): return b
            case .string(let s): return s
            case .array(let a): return a.map(plain)
            case .float(let d): return d
            case .int(let i): return Int(i)
            case .uint(let u): return u <= UInt64(Int.max) ? Int(u) : Double(u)
            }
        }
        // Only the architecture's own keys (the vocabulary arrays are large and not needed here).
        values = metadata.filter { $0.key.hasPrefix(architecture + ".") }.mapValues(plain)
        prefix = architecture + "."
    }

    func raw(_ key: String) -> Any? {
        guard let v = values[prefix + key] else { return nil }
        return v is NSNull ? nil : v
    }

    /// Whether the key is present (and not null).
    public func has(_ key: String) -> Bool { raw(key) != nil }

    /// An integer in `range`; `fallback` when absent (absent without one is an error).
    public func int(_ key: String, _ range: ClosedRange<Int>, default fallback: Int? = nil) throws -> Int {
        guard let v = try optionalInt(key, range) ?? fallback else { throw ForgeError("missing field '\(prefix + key)'") }
        return v
    }

    /// An integer in `range`, or nil when absent.
    public func optionalInt(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let v = raw(key) else { return nil }
        let i: Int
        if let b = v as? Bool, !(v is Int || v is Double) { throw ForgeError("\(prefix + key) must be an integer, got \(b)") }
        if let n = v as? Int { i = n }
        else if let d = v as? Double, d.isFinite, d == d.rounded(), abs(d) < 9e18 { i = Int(d) }
        else { throw ForgeError("\(prefix + key) must be an integer, got \(v)") }
        guard range.contains(i) else { throw ForgeError("\(prefix + key) must be in \(range.lowerBound)...\(range.upperBound), got \(i)") }
        return i
    }

    /// A finite number in `range`; `fallback` when absent.
    public func double(_ key: String, _ range: ClosedRange<Double>, default fallback: Double? = nil) throws -> Double {
        guard let v = try optionalDouble(key, range) ?? fallback else { throw ForgeError("missing field '\(prefix + key)'") }
        return v
    }

    /// A finite number in `range`, or nil when absent.
    public func optionalDouble(_ key: String, _ range: ClosedRange<Double>) throws -> Double? {
        guard let v = raw(key) else { return nil }
        let d: Double
        if let n = v as? Int { d = Double(n) } else if let x = v as? Double { d = x }
        else { throw ForgeError("\(prefix + key) must be a number, got \(v)") }
        guard d.isFinite, range.contains(d) else { throw ForgeError("\(prefix + key) must be in \(range.lowerBound)...\(range.upperBound), got \(d)") }
        return d
    }

    /// A boolean; `fallback` when absent.
    public func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let v = raw(key) else { return fallback }
        guard let b = v as? Bool else { throw ForgeError("\(prefix + key) must be true or false, got \(v)") }
        return b
    }

    /// A string, or nil when absent.
    public func string(_ key: String) throws -> String? {
        guard let v = raw(key) else { return nil }
        guard let s = v as? String else { throw ForgeError("\(prefix + key) must be a string, got \(v)") }
        return s
    }

    /// A list of strings, or nil when absent.
    public func strings(_ key: String) throws -> [String]? {
        guard let v = raw(key) else { return nil }
        guard let a = v as? [Any], let s = a as? [String] else { throw ForgeError("\(prefix + key) must be a list of strings") }
        return s
    }

    /// A token id: an integer, or the first of a list (Hugging Face allows several end tokens).
    public func tokenId(_ key: String, vocab: Int) throws -> Int? {
        guard var v = raw(key) else { return nil }
        if let a = v as? [Any] {
            guard let first = a.first else { return nil }
            v = first
        }
        let id = try ConfigKeys(json: [key: v]).optionalInt(key, 0...Int.max)
        if let id, id >= vocab { throw ForgeError("\(prefix + key) \(id) is outside the vocabulary (vocab_size \(vocab))") }
        return id
    }

    /// Refuses a key whose value is set and is not one of `allowed`.
    public func require(_ key: String, oneOf allowed: [String]) throws {
        if let s = try string(key), !allowed.contains(s) {
            throw ForgeError("\(prefix + key) '\(s)' is not supported (\(allowed.joined(separator: " or ")))")
        }
    }

    /// Refuses a key that is set to anything but null/false/0.
    public func refuse(_ key: String, _ why: String) throws {
        guard let v = raw(key) else { return }
        if let b = v as? Bool, b == false { return }
        if let n = v as? Int, n == 0 { return }
        throw ForgeError("\(prefix + key) = \(v): \(why)")
    }
}

/// Upper bounds that keep a config from describing something no machine could hold.
public enum ConfigLimits {
    public static let vocab = 1...(1 << 24)
    public static let width = 1...(1 << 16)
    public static let layers = 1...4096
    public static let heads = 1...4096
    public static let headDim = 1...4096
    public static let ffn = 1...(1 << 20)
    /// Positions: nothing is allocated per position up front (the cache is paged), except GPT-2's table.
    public static let context = 1...(1 << 30)
    public static let eps = 1e-12...1.0
    public static let ropeTheta = 1.0...1e12
}
