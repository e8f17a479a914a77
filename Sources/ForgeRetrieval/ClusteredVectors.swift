// ClusteredVectors: seeded synthetic embeddings for tests and `forge bench index`.
//
// Real embeddings bunch around topics and, within a topic, vary along few directions (their intrinsic dimension
// is far below d). So each vector is a random unit centre (one of `clusters`), plus a Gaussian displacement in a
// random `intrinsicDimension`-dimensional subspace of that cluster (length ≈ `spread`), plus isotropic Gaussian
// noise (length ≈ `noise`), L2-normalized. (Isotropic noise alone in 64 dimensions makes every within-cluster
// neighbour about equally far: there HNSW at ef 64 finds ~0.5 of the true top 10, as faiss's HNSW does.)
import ForgeCore

/// Random Gaussian-mixture unit vectors, row-major.
public enum ClusteredVectors {
    /// `count` unit vectors of `dimension` floats around `clusters` random centres (count×dimension floats).
    public static func generate(count: Int, dimension d: Int, clusters: Int = 100, intrinsicDimension r: Int = 16,
                                spread: Double = 0.5, noise: Double = 0.1, seed: UInt64) -> [Float] {
        var rng = RNG(seed: seed)
        let k = max(clusters, 1)
        let unit = 1 / Double(d).squareRoot()
        let centres = (0..<k * d).map { _ in rng.normal() * unit }
        let bases = (0..<k * r * d).map { _ in rng.normal() * unit * spread / Double(r).squareRoot() }
        var out = [Float](repeating: 0, count: count * d)
        var row = [Float](repeating: 0, count: d)
        var z = [Double](repeating: 0, count: r)
        for i in 0..<count {
            let c = rng.below(k)
            for a in 0..<r { z[a] = rng.normal() }
            for j in 0..<d {
                var x = centres[c * d + j] + rng.normal() * unit * noise
                for a in 0..<r { x += z[a] * bases[(c * r + a) * d + j] }
                row[j] = Float(x)
            }
            let v = normalized(row)
            for j in 0..<d { out[i * d + j] = v[j] }
        }
        return out
    }
}
