// QuantizationPlan: which type each tensor of a model gets for a llama.cpp file type ("Q4_K_M", "Q8_0", ...),
// by llama.cpp's rules (llama-quant.cpp): which tensors may be quantized at all, the output / tied embedding
// tensor raised to Q6_K, the mixes' extra bits for some attention-V and FFN-down layers, and the fallbacks for
// rows that are not a whole number of blocks (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, then F16). Tensors are
// visited in llama.cpp's order (non-layer tensors first, then by layer, by name within each), which the
// layer counters of the mixes depend on, and which the quantized file keeps.
import ForgeCore

/// A llama.cpp file type: the base tensor type and the per-tensor mix rules.
public enum QuantizationFileType: String, CaseIterable, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"
    case q8_0 = "Q8_0", q4_0 = "Q4_0", q4_1 = "Q4_1", q5_0 = "Q5_0", q5_1 = "Q5_1"
    case q4_K_S = "Q4_K_S", q4_K_M = "Q4_K_M", q5_K_S = "Q5_K_S", q5_K_M = "Q5_K_M", q6_K = "Q6_K"

    /// Parses a name as llama-quantize does ("Q4_K" and "Q5_K" mean the _M mixes), case-insensitive.
    public init(name: String) throws {
        let upper = name.uppercased()
        let aliases = ["Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"]
        guard let t = QuantizationFileType(rawValue: aliases[upper] ?? upper) else {
            throw ForgeError("unknown quantization type '\(name)' (Forge writes \(QuantizationFileType.allCases.map(\.rawValue).joined(separator: ", ")); Q4_K and Q5_K mean the _M mixes)")
        }
        self = t
    }

    /// llama.cpp's `llama_ftype` number (general.file_type).
    public var llamaFileType: UInt32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q8_0: return 7
        case .q5_0: return 8
        case .q5_1: return 9
        case .q4_K_S: return 14
        case .q4_K_M: return 15
        case .q5_K_S: return 16
        case .q5_K_M: return 17
        case .q6_K: return 18
        case .bf16: return 32
        }
    }

    /// The type of most tensors.
    public var baseType: GGMLType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q5_0: return .q5_0
        case .q5_1: return .q5_1
        case .q4_K_S, .q4_K_M: return .q4_K
        case .q5_K_S, .q5_K_M: return .q5_K
        case .q6_K: return .q6_K
        }
    }
}

/// The type chosen for each tensor of one model.
public struct QuantizationPlan {
    /// One tensor as the plan sees it: name, GGUF dims (fastest first) and current type.
    public struct Entry: Sendable {
        public let name: String
        public let dims: [Int]
        public let type: GGMLType
        public init(name: String, dims: [Int], type: GGMLType) { self.name = name; self.dims = dims; self.type = type }
    }

    /// The tensors in llama.cpp's order, each with its target type.
    public let targets: [(entry: Entry, type: GGMLType)]
    /// Tensors that fell back to another type because their rows are not whole blocks of the chosen one.
    public let fallbacks: [(name: String, from: GGMLType, to: GGMLType)]

    /// llama.cpp's tensor order: non-layer tensors first, then layer by layer, by name within each group.
    public static func llamaOrder(_ tensors: [Entry]) -> [Entry] {
        func layer(_ n: String) -> Int {
            guard n.hasPrefix("blk.") else { return -1 }
            return Int(n.dropFirst(4).prefix { $0.isNumber }) ?? -1
        }
        return tensors.sorted { a, b in
            let la = layer(a.name), lb = layer(b.name)
            return la != lb ? la < lb : Array(a.name.utf8).lexicographicallyPrecedes(Array(b.name.utf8))
        }
    }

    /// Plans `tensors` of a model with `layers` blocks for `fileType`; `pure` gives every quantizable tensor the
    /// base type (llama-quantize --pure); `hasImportance`: an importance matrix is used (it changes one rule).
    public init(tensors: [Entry], layers: Int, fileType: QuantizationFileType, pure: Bool = false, hasImportance: Bool = false) {
        let ordered = Self.llamaOrder(tensors)
        let base = fileType.baseType
        let isQuantized = ![.f32, .f16, .bf16].contains(base)
        let attnVCount = ordered.filter { Self.isAttentionV($0.name) }.count
        let tied = !ordered.contains { $0.name == "output.weight" }
        var iAttnV = 0, iFFNDown = 0
        var out: [(Entry, GGMLType)] = [], falls: [(String, GGMLType, GGMLType)] = []
        func moreBits(_ i: Int, _ n: Int) -> Bool { i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2 }
        for t in ordered {
            guard Self.allowsQuantization(t) else { out.append((t, t.type)); continue }
            var type = base
            if isQuantized {
                let name = t.name
                if !pure {
                    if name == "output.weight" || (tied && name == "token_embd.weight") {
                        if t.dims[0] % base.block.elements != 0 { type = .q8_0 } else if type != .q8_0 { type = .q6_K }
                    } else if Self.isAttentionV(name) {
                        if (fileType == .q4_K_M || fileType == .q5_K_M) && moreBits(iAttnV, attnVCount) { type = .q6_K }
                        else if fileType == .q4_K_S && iAttnV < 4 { type = .q5_K }
                        iAttnV += 1
                    } else if name.contains("ffn_down") {
                        let i = iFFNDown
                        if fileType == .q4_K_M || fileType == .q5_K_M { if moreBits(i, layers) { type = .q6_K } }
                        else if fileType == .q4_K_S && i < layers / 8 { type = .q5_K }
                        // With an importance matrix, llama.cpp guards the first eighth of FFN-down layers of Q4_0/Q5_0.
                        else if hasImportance && (fileType == .q4_0 || fileType == .q5_0) && i < layers / 8 {
                            type = fileType == .q4_0 ? .q4_1 : .q5_1
                        }
                        iFFNDown += 1
                    }
                }
                let fallen = Self.fallback(type, columns: t.dims[0])
                if fallen != type { falls.append((t.name, type, fallen)); type = fallen }
            }
            out.append((t, type))
        }
        targets = out
        fallbacks = falls
    }

    /// Attention-V-like tensors (llama.cpp's category: attn_v, fused attn_qkv, attn_kv_b).
    static func isAttentionV(_ name: String) -> Bool {
        name.contains("attn_v.weight") || name.contains("attn_qkv.weight") || name.contains("attn_kv_b.weight")
    }

    /// llama.cpp's `tensor_allows_quantization` for the families Forge writes: 2-D+ weights, not norms, not
    /// position or token-type embeddings.
    static func allowsQuantization(_ t: Entry) -> Bool {
        guard t.dims.count >= 2, t.name.hasSuffix("weight") else { return false }
        if t.name.contains("_norm.weight") || t.name == "position_embd.weight" || t.name == "token_types.weight" { return false }
        if t.name.contains("ffn_gate_inp.weight") { return false }
        return true
    }

    /// llama.cpp's `tensor_type_fallback`: a type whose block divides the row, else F16.
    static func fallback(_ type: GGMLType, columns: Int) -> GGMLType {
        guard columns % type.block.elements != 0 else { return type }
        let next: GGMLType
        switch type {
        case .q4_K: next = .q5_0
        case .q5_K: next = .q5_1
        case .q6_K: next = .q8_0
        case .q2_K, .q3_K: next = .q4_0
        default: next = type
        }
        return columns % next.block.elements == 0 ? next : .f16
    }
}
