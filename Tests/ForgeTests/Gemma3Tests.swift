// Gemma 3 270M (Q4_K_M GGUF, from PyPI): llama.cpp's numbers, and its batched decoding.
import ForgeCore
import ForgeInference
import ForgeModels
import Foundation
import Testing

@Suite(.enabled(if: gemma3Path != nil, gemma3Missing)) struct Gemma3Tests {
    /// Teacher-forced on llama.cpp's greedy continuations of 10 prompts × 64 tokens (bench/parity_llama_cpp.py
    /// --model): the same top-1 everywhere and the same probabilities (the fixture was made where Forge's logits
    /// equal llama.cpp's exactly: local and global layers, QK norm, GeGLU through ggml's f16 GELU table, Q5_0, Q8_0,
    /// Q4_K and Q6_K matrices).
    @Test func agreesWithLlamaCpp() throws {
        try ForgeTests.agreesWithLlamaCpp(gemma3Path!, fixture: "gemma_3_270m_q4_k_m_llama_cpp_greedy.json")
    }

    /// llama-perplexity gives 44.5159 at -c 512 on 25 KiB each of Hamlet and Macbeth (`python3 bench/perplexity.py
    /// --model GGUF --kib 25`); Forge must be within 0.5% (it measured −0.16%: prompts of 512 tokens sum in another
    /// float order than llama.cpp's, see docs/BENCHMARKS.md).
    @Test func perplexityMatchesLlamaPerplexity() throws {
        let r = try perplexityOfHamletAndMacbeth(gemma3Path!, kib: 25)
        #expect(r.windows == 28 && r.scoredTokens == 28 * 255)
        #expect(abs(r.perplexity - 44.5159) / 44.5159 < 0.005, "perplexity \(r.perplexity)")
    }

    /// The file's shape as llama.cpp reads it: every 6th layer global (5, 11, 17) with base 10⁶, the others sliding
    /// over 512 positions with base 10⁴, queries scaled by 1/16, tied output.
    @Test func configFromTheGGUF() throws {
        let c = try GGUFModel.config(GGUFFile(path: gemma3Path!))
        #expect(c.architecture == .gemma3 && c.layers == 18 && c.width == 640 && c.heads == 4 && c.kvHeads == 1 && c.headDim == 256)
        #expect((0..<18).filter { !c.isSliding($0) } == [5, 11, 17] && c.slidingWindow == 512)
        #expect(c.ropeBase(0) == 10000 && c.ropeBase(5) == 1_000_000 && c.scoreScale == 1.0 / 16 && c.tiedEmbeddings)
        #expect(c.vocabSize == 262_144 && c.bosTokenId == 2 && c.eosTokenId == 1)
    }

    /// Eight sequences decoded together get, bit for bit, the logits each gets alone: the K-quant kernels choose
    /// their float order per sequence (as llama.cpp chooses it per batch), not per step.
    @Test func batchedEqualsAloneBitForBit() throws {
        let model = try ModelLoader.load(gemma3Path!)
        let plans = batchPlans(vocab: 32000, seed: 31)
        let alone = try logitsAlone(model, plans)
        let together = try logitsTogether(try InferenceEngine(model: model), plans)
        for i in plans.indices {
            for (j, (a, b)) in zip(alone[i], together[i]).enumerated() {
                #expect(a == b, "sequence \(i) step \(j): largest difference \(zip(a, b).map { abs($0 - $1) }.max()!)")
            }
        }
    }
}
