// bf16 mixed precision: rounding against an exhaustive-by-construction reference, products with bf16 operands
// against Float64, and a model's gradients against the Float32 path within bf16's tolerance.
import ForgeAutograd
import ForgeCore
import ForgeKernels
import ForgeModels
import ForgeTrain
import Testing

/// Nearest bf16 by comparing the two neighbours in Float64 (ties to the even significand).
private func referenceBF16(_ x: Float) -> Float {
    if x.isNaN || x.isInfinite { return x }
    let down = Float(bitPattern: x.bitPattern & 0xFFFF_0000)
    let up = Float(bitPattern: (x.bitPattern & 0xFFFF_0000) &+ 0x10000)
    // Past the largest bf16 the upper neighbour is infinity, at 2^128 for the distance (IEEE overflow rounding).
    let upValue = up.isInfinite ? (x < 0 ? -0x1p128 : 0x1p128) : Double(up)
    let dd = abs(Double(x) - Double(down)), du = abs(Double(x) - upValue)
    if dd < du { return down }
    if du < dd { return up }
    return (down.bitPattern >> 16) & 1 == 0 ? down : up
}

struct MixedPrecisionTests {
    @Test func roundingIsToNearestEven() {
        var rng = RNG(seed: 11)
        var values: [Float] = [0, -0, 1, -1, 1.00390625, 1.01171875, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                               .leastNonzeroMagnitude, .leastNormalMagnitude, 3.3895314e38, Float(bitPattern: 0x3F80_8000),
                               Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F80_8001), Float(bitPattern: 0x3F80_7FFF)]
        for _ in 0..<20_000 { values.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        for x in values where !x.isNaN {
            #expect(BFloat16.round(x).bitPattern == referenceBF16(x).bitPattern, "\(x) (0x\(String(x.bitPattern, radix: 16)))")
        }
        #expect(BFloat16.round(.nan).isNaN && BFloat16.round(.infinity) == .infinity)
    }

    /// With bf16 operands a product equals the Float64 product of the rounded operands (up to Float32 accumulation),
    /// and differs from the Float32 product by about bf16's precision.
    @Test func productsUseRoundedOperandsAndFloat32Accumulation() {
        let (m, k, n) = (9, 70, 13)
        var rng = RNG(seed: 4)
        let a = Tensor(shape: [m, k], values: (0..<(m * k)).map { _ in Float(rng.uniform() * 2 - 1) })
        let b = Tensor(shape: [k, n], values: (0..<(k * n)).map { _ in Float(rng.uniform() * 2 - 1) })
        let bf16 = BFloat16.$matrixOperands.withValue(true) { Tape(recording: false).matmul(Variable(a), Variable(b)).value.array }
        let fp32 = Tape(recording: false).matmul(Variable(a), Variable(b)).value.array
        var worstRef = 0.0, worstFP32 = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var ref = 0.0, exact = 0.0
                for t in 0..<k {
                    ref += Double(BFloat16.round(a.data[i * k + t])) * Double(BFloat16.round(b.data[t * n + j]))
                    exact += Double(a.data[i * k + t]) * Double(b.data[t * n + j])
                }
                worstRef = max(worstRef, abs(Double(bf16[i * n + j]) - ref))
                worstFP32 = max(worstFP32, abs(Double(bf16[i * n + j]) - exact))
                #expect(abs(Double(fp32[i * n + j]) - exact) < 1e-4)
            }
        }
        #expect(worstRef < 1e-5, "bf16-operand product vs Float64 of rounded operands: \(worstRef)")
        #expect(worstFP32 > 1e-3 && worstFP32 < 0.1, "bf16 vs exact: \(worstFP32)")
    }

    /// A whole model's gradients with bf16 products stay within bf16's tolerance of the Float32 gradients.
    @Test func modelGradientsStayWithinBF16Tolerance() throws {
        let model = try Transformer(config: tinyLlama, seed: 3)
        var rng = RNG(seed: 8)
        let tokens = (0..<32).map { _ in Int32(rng.below(256)) }, targets = (0..<32).map { _ in Int32(rng.below(256)) }
        func gradients(bf16: Bool) -> [[Float]] {
            BFloat16.$matrixOperands.withValue(bf16) {
                for p in model.parameters { p.zeroGrad() }
                let tape = Tape()
                tape.backward(model.loss(tape, tokens: tokens, targets: targets, batch: 2, seq: 16))
                defer { for p in model.parameters { p.zeroGrad() } }
                return model.parameters.map { $0.grad?.array ?? [] }
            }
        }
        let g32 = gradients(bf16: false), g16 = gradients(bf16: true)
        for (i, p) in model.parameters.enumerated() where !g32[i].isEmpty {
            let diff = zip(g32[i], g16[i]).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot()
            let norm = g32[i].reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
            #expect(diff <= 0.05 * norm + 1e-7, "\(p.name): relative gradient difference \(diff / max(norm, 1e-12))")
        }
        #expect(g32 != g16, "bf16 products should change the gradients a little")
    }

    @Test func withoutHardwareTheRunFallsBackToFloat32WithAMessage() {
        let plan = MixedPrecision.plan(.bf16)
        #expect(plan.message != nil)
        if !BFloat16.hardwareSupport && !plan.bf16Operands { #expect(plan.message!.contains("training in Float32")) }
        #expect(MixedPrecision.plan(.fp32).message == nil && MixedPrecision.plan(nil).bf16Operands == false)
    }
}
