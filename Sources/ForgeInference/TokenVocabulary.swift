// TokenVocabulary: every token's bytes as one byte trie, flattened in depth-first order, so that all tokens can be
// checked against an automaton state in one pass: a node whose byte the automaton refuses skips its whole subtree
// (every token that starts with that prefix). Built once per tokenizer and shared by every constraint.
import ForgeCore

/// A vocabulary's token bytes as a flattened byte trie.
public final class TokenVocabulary: Sendable {
    /// Token ids run 0..<size (the model's logits; ids without bytes are never allowed by a grammar).
    public let size: Int
    /// Per trie node, in depth-first order: its byte, its depth (1 for a first byte), the index after its subtree.
    let byte: [UInt8]
    let depth: [Int32]
    let skip: [Int32]
    /// The tokens ending at node i are `tokenIds[tokensUpTo[i]..<tokensUpTo[i + 1]]`.
    let tokensUpTo: [Int32]
    let tokenIds: [Int32]
    let maxDepth: Int
    let tokenBytes: [[UInt8]]

    /// The trie of tokens 0..<size; `bytesOf` gives a token's text bytes (empty: a control token, never allowed).
    public init(size: Int, bytesOf: (Int32) -> [UInt8]) {
        self.size = size
        let all = (0..<size).map { bytesOf(Int32($0)) }
        tokenBytes = all
        let order = all.indices.filter { !all[$0].isEmpty }.sorted {
            all[$0].lexicographicallyPrecedes(all[$1]) || all[$0] == all[$1] && $0 < $1
        }
        var byte: [UInt8] = [], depth: [Int32] = [], skip: [Int32] = [], upTo: [Int32] = [], ids: [Int32] = []
        var path: [Int] = []  // node indices of the current prefix
        var previous: [UInt8] = []
        for id in order {
            let b = all[id]
            var common = 0
            while common < min(b.count, previous.count, path.count) && b[common] == previous[common] { common += 1 }
            while path.count > common { skip[path.removeLast()] = Int32(byte.count) }
            for k in common..<b.count {
                path.append(byte.count)
                byte.append(b[k]); depth.append(Int32(k + 1)); skip.append(0); upTo.append(Int32(ids.count))
            }
            ids.append(Int32(id))
            previous = b
        }
        while let n = path.popLast() { skip[n] = Int32(byte.count) }
        upTo.append(Int32(ids.count))
        (self.byte, self.depth, self.skip, tokensUpTo, tokenIds) = (byte, depth, skip, upTo, ids)
        maxDepth = Int(depth.max() ?? 0)
    }

    /// The vocabulary of a loaded model: its logits' ids, each token's text bytes.
    public convenience init(_ loaded: LoadedModel) {
        self.init(size: loaded.model.config.vocabSize) { id in
            Int(id) < loaded.tokenizer.vocabSize ? loaded.bytes(of: id) : []
        }
    }

    /// Trie nodes (for figures).
    public var nodeCount: Int { byte.count }
}
