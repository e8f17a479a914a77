// Muon: one step against a Float64 transcription of the update (momentum, Nesterov, quintic Newton–Schulz on
// the wide orientation, √max(1, rows/cols) scale), and which parameters it takes.
import ForgeAutograd
import ForgeCore
import ForgeModels
import Testing

/// Muon's step in Float64, written from the algorithm's description (modded-nanogpt / nanochat form).
private func referenceMuon(p: [Double], g: [Double], buf: [Double], rows: Int, cols: Int, lr: Double, mu: Double, steps: Int)
    -> (p: [Double], buf: [Double]) {
    let n = rows * cols
    var b = buf, u = [Double](repeating: 0, count: n)
    for i in 0..<n {
        b[i] = b[i] + (1 - mu) * (g[i] - b[i])
        u[i] = g[i] + mu * (b[i] - g[i])
    }
    let tall = rows > cols
    let r = tall ? cols : rows, c = tall ? rows : cols
    var x = [Double](repeating: 0, count: r * c)
    for i in 0..<rows { for j in 0..<cols { if tall { x[j * rows + i] = u[i * cols + j] } else { x[i * cols + j] = u[i * cols + j] } } }
    let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot() + 1e-7
    x = x.map { $0 / norm }
    let (ca, cb, cc) = (3.4445, -4.7750, 2.0315)
    func mul(_ a: [Double], _ b: [Double], _ m: Int, _ k: Int, _ n: Int, transB: Bool = false) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { var s = 0.0; for t in 0..<k { s += a[i * k + t] * (transB ? b[j * k + t] : b[t * n + j]) }; out[i * n + j] = s } }
        return out
    }
    for _ in 0..<steps {
        let a = mul(x, x, r, c, r, transB: true)
        let aa = mul(a, a, r, r, r)
        let bm = zip(a, aa).map { cb * $0 + cc * $1 }
        let bx = mul(bm, x, r, r, c)
        x = zip(x, bx).map { ca * $0 + $1 }
    }
    var o = [Double](repeating: 0, count: n)
    for i in 0..<rows { for j in 0..<cols { o[i * cols + j] = tall ? x[j * rows + i] : x[i * cols + j] } }
    let scale = lr * max(1, Double(rows) / Double(cols)).squareRoot()
    return (zip(p, o).map { $0 - scale * $1 }, b)
}

struct MuonTests {
    @Test(arguments: [(6, 10), (10, 6), (8, 8)]) func oneStepMatchesTheFloat64Reference(shape: (Int, Int)) throws {
        let (rows, cols) = shape
        var rng = RNG(seed: UInt64(rows * 100 + cols))
        let p0 = (0..<(rows * cols)).map { _ in Float(rng.uniform() - 0.5) }
        let g = (0..<(rows * cols)).map { _ in Float(rng.uniform() - 0.5) * 0.1 }
        let buf0 = (0..<(rows * cols)).map { _ in Float(rng.uniform() - 0.5) * 0.05 }
        let p = Tensor(shape: [rows, cols], values: p0), grad = Tensor(shape: [rows, cols], values: g)
        let buf = Tensor(shape: [rows, cols], values: buf0)
        var settings = MuonSettings()
        settings.momentum = 0.9
        MuonKernel.step(p: p.data, g: grad.data, buf: buf.data, rows: rows, cols: cols, lr: 0.02, settings: settings, gradScale: 1)
        let ref = referenceMuon(p: p0.map(Double.init), g: g.map(Double.init), buf: buf0.map(Double.init), rows: rows, cols: cols,
                                lr: 0.02, mu: 0.9, steps: 5)
        let update = zip(ref.p, p0).map { abs($0 - Double($1)) }.max()!
        #expect(update > 1e-3, "the step should move the weights")
        for i in 0..<(rows * cols) {
            #expect(abs(Double(p.data[i]) - ref.p[i]) <= 1e-4 * update, "weight \(i): \(p.data[i]) vs \(ref.p[i])")
            #expect(abs(Double(buf.data[i]) - ref.buf[i]) <= 1e-7)
        }
    }

    /// Newton–Schulz pushes every singular value towards 1 (the quintic's band is roughly 0.7–1.2).
    @Test func newtonSchulzNearlyOrthogonalizes() {
        var rng = RNG(seed: 3)
        let (r, c) = (16, 40)
        let g = (0..<(r * c)).map { _ in Float(rng.uniform() - 0.5) * Float(1 + rng.below(5)) }
        var o = [Float](repeating: 0, count: r * c)
        g.withUnsafeBufferPointer { gp in o.withUnsafeMutableBufferPointer { NewtonSchulz.orthogonalize(gp.baseAddress!, rows: r, cols: c, steps: 5, out: $0.baseAddress!) } }
        // Diagonal of O·Oᵀ: squared row norms, all near 1 after orthogonalization.
        for i in 0..<r {
            let d = (0..<c).reduce(Float(0)) { $0 + o[i * c + $1] * o[i * c + $1] }
            #expect(d > 0.4 && d < 1.5, "row \(i): \(d)")
        }
    }

    /// Muon takes the hidden matrices; embeddings, norms, biases and an untied head stay on AdamW.
    @Test func muonTakesTheHiddenMatricesOnly() throws {
        var config = tinyLlama
        config.tiedEmbeddings = false
        let model = try Transformer(config: config, seed: 1)
        let groups = model.parameterGroups(weightDecay: 0.1, muon: true)
        let muon = groups.filter(\.muon).flatMap(\.parameters).map(\.name)
        let adam = groups.filter { !$0.muon }.flatMap(\.parameters).map(\.name)
        #expect(!muon.isEmpty && muon.allSatisfy { !$0.contains("embed") && !$0.contains("lm_head") && !$0.contains("norm") })
        #expect(adam.contains { $0.contains("embed") } && adam.contains { $0.contains("lm_head") })
        #expect(Set(muon + adam).count == model.trainableParameters.count)
        let opt = AdamW(groups: groups, muon: MuonSettings())
        #expect(opt.momenta.count == muon.count && opt.moments.count == adam.count)
    }
}
