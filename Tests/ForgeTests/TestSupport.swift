// Shared helpers: random tensors, Float64 conversions, error measures, and the op checker.
import ForgeAutograd
import ForgeCore
import ForgeReference
import Testing

func randomTensor(_ shape: [Int], _ rng: inout RNG, scale: Double = 1) -> Tensor {
    let t = Tensor(shape: shape, zeroed: false)
    for i in 0..<t.count { t.data[i] = Float(rng.normal() * scale) }
    return t
}

func doubles(_ t: Tensor) -> [Double] { t.array.map(Double.init) }

/// ‖a − b‖ / ‖b‖ (b is the reference).
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    var num = 0.0, den = 0.0
    for i in a.indices { num += (a[i] - b[i]) * (a[i] - b[i]); den += b[i] * b[i] }
    return (num / max(den, 1e-30)).squareRoot()
}

/// Checks one fast op: its Float32 forward against the Float64 reference forward, and the gradient
/// of Σ out ⊙ w (random w) for every input against central differences of the reference in Float64.
func checkOp(
    _ name: String, inputs: [Tensor], seed: UInt64 = 1, tolerance: Double = 1e-4,
    gradientInputs: Set<Int>? = nil,
    fast: (Tape, [Variable]) -> Variable, reference: ([[Double]]) -> [Double],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var rng = RNG(seed: seed)
    let tape = Tape()
    let vars = inputs.map { Variable($0, requiresGrad: true) }
    let out = fast(tape, vars)
    let probe = randomTensor(out.shape, &rng)
    tape.backward(tape.weightedSum(out, probe))
    let refInputs = inputs.map(doubles)
    let refOut = reference(refInputs)
    let forwardError = relativeError(doubles(out.value), refOut)
    #expect(forwardError < tolerance, "\(name): forward relative error \(forwardError)", sourceLocation: sourceLocation)
    let w = doubles(probe)
    for (i, v) in vars.enumerated() where gradientInputs?.contains(i) ?? true {
        // Large inputs: central differences on a random sample of 300 coordinates.
        let n = refInputs[i].count
        let indices = n <= 400 ? Array(0..<n) : (0..<300).map { _ in rng.below(n) }
        let numeric = Ref.numericalGradient(refInputs[i], indices: indices) { xi in
            var all = refInputs
            all[i] = xi
            return zip(reference(all), w).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let expected = indices.map { numeric[$0]! }
        let full = v.grad.map(doubles) ?? [Double](repeating: 0, count: n)
        let got = indices.map { full[$0] }
        let err = relativeError(got, expected)
        #expect(err < tolerance, "\(name): gradient of input \(i) relative error \(err)", sourceLocation: sourceLocation)
    }
}
