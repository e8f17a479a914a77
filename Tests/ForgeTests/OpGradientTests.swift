// Every op's forward against the Float64 reference and its backward against central finite
// differences in Float64, on random (non-zero) inputs, including shapes that hit SIMD tails
// and attention's query blocking.
import ForgeAutograd
import ForgeCore
import ForgeKernels
import ForgeReference
import Testing

@Suite struct OpGradientTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmul(transA: Bool, transB: Bool) {
        var rng = RNG(seed: 11)
        let (batches, m, k, n) = (2, 5, 7, 19)
        let a = randomTensor(transA ? [batches, k, m] : [batches, m, k], &rng)
        let b = randomTensor(transB ? [batches, n, k] : [batches, k, n], &rng)
        checkOp("matmul tA=\(transA) tB=\(transB)", inputs: [a, b],
                fast: { t, v in t.matmul(v[0], v[1], transA: transA, transB: transB) },
                reference: { r in Ref.matmul(r[0], r[1], batches: batches, m: m, k: k, n: n, transA: transA, transB: transB) })
    }

    @Test func matmulSharedRightOperand() {
        var rng = RNG(seed: 12)
        let a = randomTensor([3, 4, 6], &rng), b = randomTensor([6, 17], &rng)
        checkOp("matmul shared B", inputs: [a, b],
                fast: { t, v in t.matmul(v[0], v[1]) },
                reference: { r in Ref.matmul(r[0], r[1], batches: 3, m: 4, k: 6, n: 17, transA: false, transB: false, sharedB: true) })
    }

    @Test(arguments: [true, false])
    func linear(bias: Bool) {
        var rng = RNG(seed: 13)
        let x = randomTensor([9, 20], &rng), w = randomTensor([18, 20], &rng, scale: 0.3), b = randomTensor([18], &rng)
        checkOp("linear", inputs: bias ? [x, w, b] : [x, w],
                fast: { t, v in t.linear(v[0], v[1], bias ? v[2] : nil) },
                reference: { r in Ref.linear(r[0], rows: 9, inF: 20, weight: r[1], bias: bias ? r[2] : nil, outF: 18) })
    }

    @Test func linearLargeParallel() {
        // Big enough that BLAS.parallelSgemm splits the work across workers.
        var rng = RNG(seed: 14)
        let x = randomTensor([130, 96], &rng), w = randomTensor([200, 96], &rng, scale: 0.1)
        checkOp("linear parallel", inputs: [x, w], gradientInputs: [0],
                fast: { t, v in t.linear(v[0], v[1]) },
                reference: { r in Ref.linear(r[0], rows: 130, inF: 96, weight: r[1], bias: nil, outF: 200) })
    }

    @Test func gatherAndScatterRows() {
        var rng = RNG(seed: 31)
        let x = randomTensor([6, 9], &rng), v = randomTensor([3], &rng)
        let picked = [4, 0, 4, 2]  // a repeated row adds its gradients
        checkOp("gatherRows", inputs: [x], fast: { t, v in t.gatherRows(v[0], rows: picked) },
                reference: { r in picked.flatMap { Array(r[0][($0 * 9)..<($0 * 9 + 9)]) } })
        let places = [5, 1, 3]
        checkOp("scatterRows", inputs: [v], fast: { t, v in t.scatterRows(v[0], rows: places, count: 7) },
                reference: { r in (0..<7).map { i in places.firstIndex(of: i).map { r[0][$0] } ?? 0 } })
    }

    @Test func elementwise() {
        var rng = RNG(seed: 15)
        let a = randomTensor([7, 37], &rng), b = randomTensor([7, 37], &rng)
        checkOp("add", inputs: [a, b], fast: { t, v in t.add(v[0], v[1]) }, reference: { r in zip(r[0], r[1]).map(+) })
        checkOp("mul", inputs: [a, b], fast: { t, v in t.mul(v[0], v[1]) }, reference: { r in zip(r[0], r[1]).map(*) })
        checkOp("scale", inputs: [a], fast: { t, v in t.scale(v[0], -1.7) }, reference: { r in r[0].map { $0 * Double(Float(-1.7)) } })
        checkOp("add to itself", inputs: [a], fast: { t, v in t.add(v[0], v[0]) }, reference: { r in r[0].map { 2 * $0 } })
    }

    @Test func split() {
        var rng = RNG(seed: 16)
        let x = randomTensor([5, 12], &rng)
        checkOp("split", inputs: [x],
                fast: { t, v in
                    let parts = t.split(v[0], [3, 4, 5])
                    // Use the pieces unevenly so each gradient slice differs.
                    return t.add(t.scale(parts[0], 2), t.split(t.mul(parts[2], parts[2]), [3, 2])[0])
                },
                reference: { r in
                    var out: [Double] = []
                    for row in 0..<5 {
                        for c in 0..<3 {
                            let a: Double = r[0][row * 12 + c], b: Double = r[0][row * 12 + 7 + c]
                            out.append(2 * a + b * b)
                        }
                    }
                    return out
                })
    }

    @Test(arguments: [16, 21, 64])
    func layerNorm(cols: Int) {
        var rng = RNG(seed: 17)
        let x = randomTensor([6, cols], &rng, scale: 2), w = randomTensor([cols], &rng), b = randomTensor([cols], &rng)
        checkOp("layerNorm \(cols)", inputs: [x, w, b],
                fast: { t, v in t.layerNorm(v[0], weight: v[1], bias: v[2], eps: 1e-5) },
                reference: { r in Ref.layerNorm(r[0], rows: 6, cols: cols, weight: r[1], bias: r[2], eps: 1e-5) })
    }

    @Test func layerNormManyRows() {
        // More than 64 rows: the parameter gradients are reduced over several row blocks.
        var rng = RNG(seed: 18)
        let x = randomTensor([150, 8], &rng), w = randomTensor([8], &rng), b = randomTensor([8], &rng)
        checkOp("layerNorm 150 rows", inputs: [x, w, b], gradientInputs: [1, 2],
                fast: { t, v in t.layerNorm(v[0], weight: v[1], bias: v[2], eps: 1e-5) },
                reference: { r in Ref.layerNorm(r[0], rows: 150, cols: 8, weight: r[1], bias: r[2], eps: 1e-5) })
    }

    @Test(arguments: [16, 21])
    func rmsNorm(cols: Int) {
        var rng = RNG(seed: 19)
        let x = randomTensor([6, cols], &rng, scale: 2), w = randomTensor([cols], &rng)
        checkOp("rmsNorm \(cols)", inputs: [x, w],
                fast: { t, v in t.rmsNorm(v[0], weight: v[1], eps: 1e-5) },
                reference: { r in Ref.rmsNorm(r[0], rows: 6, cols: cols, weight: r[1], eps: 1e-5) })
    }

    @Test func activations() {
        var rng = RNG(seed: 20)
        let x = randomTensor([5, 23], &rng, scale: 2.5), y = randomTensor([5, 23], &rng)
        checkOp("gelu", inputs: [x], fast: { t, v in t.gelu(v[0]) }, reference: { r in Ref.gelu(r[0]) })
        checkOp("silu", inputs: [x], fast: { t, v in t.silu(v[0]) }, reference: { r in Ref.silu(r[0]) })
        checkOp("swiglu", inputs: [x, y], fast: { t, v in t.swiglu(gate: v[0], up: v[1]) },
                reference: { r in Ref.swiglu(gate: r[0], up: r[1]) })
    }

    @Test func softmax() {
        var rng = RNG(seed: 21)
        let x = randomTensor([4, 29], &rng, scale: 3)
        checkOp("softmax", inputs: [x], fast: { t, v in t.softmax(v[0]) }, reference: { r in Ref.softmax(r[0], rows: 4, cols: 29) })
    }

    @Test func embedding() {
        var rng = RNG(seed: 22)
        let table = randomTensor([10, 19], &rng)
        let ids: [Int32] = [3, 0, 9, 3, 3, 7, 1]
        checkOp("embedding", inputs: [table],
                fast: { t, v in t.embedding(v[0], ids: ids) },
                reference: { r in Ref.embedding(r[0], cols: 19, ids: ids.map(Int.init)) })
    }

    @Test func rope() {
        var rng = RNG(seed: 23)
        let (batch, seq, heads, dim) = (2, 5, 3, 8)
        let table = RoPETable(headDim: dim, positions: 16, theta: 10000)
        let x = randomTensor([batch * seq, heads * dim], &rng)
        checkOp("rope", inputs: [x],
                fast: { t, v in t.rope(v[0], seq: seq, heads: heads, table: table, offset: 3) },
                reference: { r in Ref.rope(r[0], rows: batch * seq, seq: seq, heads: heads, headDim: dim, theta: 10000, offset: 3) })
    }

    @Test(arguments: [
        (1, 7, 2, 2, 4, true), (2, 5, 4, 2, 8, true), (1, 80, 2, 1, 4, true), (1, 6, 2, 2, 16, false), (1, 70, 2, 2, 4, false),
    ])
    func attention(batch: Int, seq: Int, heads: Int, kvHeads: Int, dim: Int, causal: Bool) {
        var rng = RNG(seed: 24)
        let n = batch * seq
        let q = randomTensor([n, heads * dim], &rng), k = randomTensor([n, kvHeads * dim], &rng), v = randomTensor([n, kvHeads * dim], &rng)
        let shape = AttentionShape(batch: batch, seq: seq, heads: heads, kvHeads: kvHeads, headDim: dim, causal: causal)
        checkOp("attention \(shape)", inputs: [q, k, v],
                fast: { t, x in t.attention(q: x[0], k: x[1], v: x[2], shape: shape) },
                reference: { r in Ref.attention(q: r[0], k: r[1], v: r[2], batch: batch, seq: seq, heads: heads,
                                                 kvHeads: kvHeads, headDim: dim, causal: causal) })
    }

    @Test func crossEntropyWithIgnoredTargets() {
        var rng = RNG(seed: 25)
        let logits = randomTensor([6, 37], &rng, scale: 2)
        let targets: [Int32] = [4, -1, 36, 0, -1, 17]
        checkOp("crossEntropy", inputs: [logits],
                fast: { t, v in t.crossEntropy(v[0], targets: targets) },
                reference: { r in [Ref.crossEntropy(r[0], rows: 6, vocab: 37, targets: targets.map(Int.init))] })
    }

    @Test func crossEntropyAllIgnoredIsZero() {
        let tape = Tape()
        let logits = Variable(Tensor(shape: [2, 5], values: (0..<10).map(Float.init)), requiresGrad: true)
        let loss = tape.crossEntropy(logits, targets: [-1, -1])
        tape.backward(loss)
        #expect(loss.value.data[0] == 0)
        #expect(logits.grad!.array.allSatisfy { $0 == 0 })
    }
}
