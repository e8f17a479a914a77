// ByteLevel: GPT-2's reversible map between the 256 byte values and printable code points, used by
// byte-level BPE vocabularies ("Ġ" is the space byte 0x20, "Ċ" is 0x0A, ...); and ByteFallback, the
// <0xXX> tokens SentencePiece vocabularies spell bytes with.

public enum ByteLevel {
    /// Code point standing for each byte.
    public static let byteToScalar: [UInt32] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var codes = printable
        var extra = 0
        for b in 0..<256 where !printable.contains(b) {
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
        }
        var table = [UInt32](repeating: 0, count: 256)
        for (b, c) in zip(printable, codes) { table[b] = UInt32(c) }
        return table
    }()

    /// Byte for each mapped code point (index: code point < 512), -1 elsewhere.
    public static let scalarToByte: [Int16] = {
        var t = [Int16](repeating: -1, count: 512)
        for (b, c) in byteToScalar.enumerated() { t[Int(c)] = Int16(b) }
        return t
    }()

    /// The byte-level string of raw bytes.
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(byteToScalar[Int(b)])!) }
        return String(s)
    }

    /// The raw bytes of a byte-level string, or nil if it holds a code point outside the map.
    public static func decode(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            guard u.value < 512, scalarToByte[Int(u.value)] >= 0 else { return nil }
            out.append(UInt8(scalarToByte[Int(u.value)]))
        }
        return out
    }
}

public enum ByteFallback {
    /// The token that stands for byte `b`: "<0x0A>".
    public static func name(_ b: Int) -> String {
        let hex = Array("0123456789ABCDEF")
        return "<0x" + String(hex[b >> 4]) + String(hex[b & 15]) + ">"
    }

    /// The byte a "<0xXX>" token stands for, or nil for any other string.
    public static func byte(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }
}
