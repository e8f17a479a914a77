// ProductOrder: the float order of one token's integer products for packed Q4_1, Q5_0, Q5_1 and Q8_0 rows.
//
// Both orders sum exact integers; they differ only in how many of them are converted and fused into Float32 per block.
// llama.cpp's vec_dot kernels convert 8 lanes of 4 products each; summing the whole 32-value block in integers first
// (as the long-batch tiles, and llama.cpp's own repacked Q4_0 kernels, do) needs one conversion and one fused
// multiply-add per row and block instead of eight, and fewer integer widenings. Q4_0 and Q4_K already use their
// repacked order either way; Q6_K and unpacked rows keep llama.cpp's order.
// The same choice selects decode attention over a Float16 cache: llama.cpp's flash-attention floats (f16 query, f16
// running sum rounded at every key) or Float32 sums with each key and value row widened once per key/value group
// (PagedAttention.fastGroup, within 2e-5 of Float64 in its tests).
import Foundation

public enum ProductOrder: String, Sendable, CaseIterable {
    /// llama.cpp's vec_dot order: its floats, bit for bit, for a token decoded alone.
    case llamaCpp = "llama.cpp"
    /// Whole blocks summed in integers, converted once: the long-batch tiles' floats for every batch size.
    case blockSums = "block"

    /// The process's order: `FORGE_PRODUCT_ORDER=llama.cpp` selects llama.cpp's; anything else, or nothing, block sums.
    public static let standard: ProductOrder = ProcessInfo.processInfo.environment["FORGE_PRODUCT_ORDER"] == "llama.cpp" ? .llamaCpp : .blockSums
}
