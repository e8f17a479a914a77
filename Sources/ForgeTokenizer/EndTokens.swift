// EndTokens: the tokens that end a reply: end-of-sequence and the end-of-turn markers chat formats use.
/// The end-of-turn markers of the common chat formats (ChatML, Llama 3, Gemma, Phi...).
public enum EndTokens {
    public static let markers = ["<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<end_of_turn>", "<|endoftext|>", "<|end|>", "<|eos|>"]

    /// End-of-sequence and every marker the vocabulary has.
    public static func of(_ tokenizer: TextTokenizer) -> Set<Int32> {
        var ends = Set<Int32>()
        if let e = tokenizer.eosId { ends.insert(e) }
        for marker in markers { if let id = tokenizer.id(of: marker) { ends.insert(id) } }
        return ends
    }
}
