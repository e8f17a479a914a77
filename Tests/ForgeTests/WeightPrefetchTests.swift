// WeightPrefetch: the setting's parsing and processor default, and that prefetching changes no float of any product.
import ForgeCore
import ForgeKernels
import Testing

@Suite struct WeightPrefetchTests {
    /// FORGE_WEIGHT_PREFETCH wins; unset or unknown, AMD processors with AVX-512 (Zen 4) go without, the others with.
    @Test func settingFromTheEnvironmentAndTheProcessor() {
        #expect(WeightPrefetch.defaultSetting(environment: nil, vendor: "AuthenticAMD", avx512: true) == false)
        #expect(WeightPrefetch.defaultSetting(environment: nil, vendor: "AuthenticAMD", avx512: false) == true)
        #expect(WeightPrefetch.defaultSetting(environment: nil, vendor: "GenuineIntel", avx512: true) == true)
        #expect(WeightPrefetch.defaultSetting(environment: nil, vendor: "", avx512: true) == true)
        #expect(WeightPrefetch.defaultSetting(environment: "1", vendor: "AuthenticAMD", avx512: true) == true)
        #expect(WeightPrefetch.defaultSetting(environment: "on", vendor: "AuthenticAMD", avx512: true) == true)
        #expect(WeightPrefetch.defaultSetting(environment: "0", vendor: "GenuineIntel", avx512: true) == false)
        #expect(WeightPrefetch.defaultSetting(environment: "off", vendor: "GenuineIntel", avx512: false) == false)
        #expect(WeightPrefetch.defaultSetting(environment: "maybe", vendor: "AuthenticAMD", avx512: true) == false)
    }

    /// Every stored type, stored and packed, 1, 5 and 64 tokens (per-token kernels, short tiles, long tiles) in both
    /// product orders: the same floats with prefetch on and off, bit for bit.
    @Test func prefetchChangesNoFloat() {
        let saved = WeightPrefetch.enabled
        defer { WeightPrefetch.enabled = saved }
        var rng = RNG(seed: 20)
        for type in [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q6_K] {
            let rows = 72, cols = 512
            let bytes = randomBlocks(type, elements: rows * cols, &rng)
            bytes.withUnsafeBytes { raw in
                let stored = WeightMatrix(type: type, rows: rows, cols: cols, base: raw.baseAddress!)
                for m in [stored, stored.packedForDecode()] {
                    for tokens in [1, 5, 64] {
                        let x = (0..<(cols * tokens)).map { _ in Float(rng.normal()) }
                        for order in [ProductOrder.llamaCpp, .blockSums] {
                            var outs: [[Float]] = []
                            for on in [true, false] {
                                WeightPrefetch.enabled = on
                                var y = [Float](repeating: 0, count: tokens * rows)
                                x.withUnsafeBufferPointer { xb in
                                    y.withUnsafeMutableBufferPointer {
                                        WeightMatrix.multiply([(m, $0.baseAddress!)], xb.baseAddress!, tokens: tokens, order: order)
                                    }
                                }
                                outs.append(y)
                            }
                            #expect(outs[0] == outs[1], "\(type), \(tokens) tokens, \(order)")
                        }
                    }
                }
            }
        }
    }
}
