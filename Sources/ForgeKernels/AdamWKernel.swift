// AdamW update (decoupled weight decay, as PyTorch's torch.optim.AdamW).
import ForgeCore

public enum AdamWKernel {
    /// One step over n parameters: p ← p·(1 − lr·wd); m, v ← moments; p ← p − lr·m̂/(√v̂ + eps).
    /// `gradScale` multiplies g first (global-norm clipping without a pass of its own).
    public static func step(
        p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
        count n: Int, lr: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float,
        biasCorrection1: Float, biasCorrection2: Float, gradScale: Float
    ) {
        Parallel.forEach(n, grain: 1 << 14) { r in
            let b1 = F16x(repeating: beta1), b2 = F16x(repeating: beta2)
            let c1 = F16x(repeating: 1 - beta1), c2 = F16x(repeating: 1 - beta2)
            let decay = F16x(repeating: 1 - lr * weightDecay)
            let stepSize = F16x(repeating: lr / biasCorrection1)
            let invSqrtBC2 = F16x(repeating: 1 / biasCorrection2.squareRoot())
            let e = F16x(repeating: eps), gs = F16x(repeating: gradScale)
            var i = r.lowerBound
            while i + 16 <= r.upperBound {
                let gi = load16(g, i) * gs
                var mi = load16(m, i) * b1; mi.addProduct(c1, gi)
                var vi = load16(v, i) * b2; vi.addProduct(c2, gi * gi)
                let denom = vi.squareRoot() * invSqrtBC2 + e
                let pi = load16(p, i) * decay - stepSize * mi / denom
                store16(mi, m, i); store16(vi, v, i); store16(pi, p, i)
                i += 16
            }
            while i < r.upperBound {
                let gi = g[i] * gradScale
                m[i] = beta1 * m[i] + (1 - beta1) * gi
                v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
                let denom = v[i].squareRoot() / biasCorrection2.squareRoot() + eps
                p[i] = p[i] * (1 - lr * weightDecay) - (lr / biasCorrection1) * m[i] / denom
                i += 1
            }
        }
    }
}
