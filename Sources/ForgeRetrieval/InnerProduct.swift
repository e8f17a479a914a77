// InnerProduct: the one kernel of vector search, a Float32 dot product in SIMD16 lanes.
//
// Vectors are L2-normalized embeddings, so the inner product is the cosine similarity: larger is closer.

/// Σ a[i]·b[i] over `dimension` floats: two SIMD16 accumulators, then an 8-lane step and a scalar tail.
@inline(__always)
func innerProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dimension: Int) -> Float {
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
    var i = 0
    while i + 32 <= dimension {
        acc0.addProduct(ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self),
                        rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self))
        acc1.addProduct(ra.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self),
                        rb.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self))
        i += 32
    }
    if i + 16 <= dimension {
        acc0.addProduct(ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self),
                        rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self))
        i += 16
    }
    let acc = acc0 + acc1
    var s8 = acc.lowHalf + acc.highHalf
    if i + 8 <= dimension {
        s8.addProduct(ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self),
                      rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
        i += 8
    }
    let s4 = s8.lowHalf + s8.highHalf
    let s2 = s4.lowHalf + s4.highHalf
    var sum = s2[0] + s2[1]
    while i < dimension {
        sum += a[i] * b[i]
        i += 1
    }
    return sum
}

/// The inner product of two equal-length arrays (the safe door to the kernel).
public func innerProduct(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "inner product of \(a.count) and \(b.count) floats")
    return a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in innerProduct(pa.baseAddress!, pb.baseAddress!, a.count) }
    }
}

/// `vector` scaled to unit L2 norm (a zero vector is returned unchanged).
public func normalized(_ vector: [Float]) -> [Float] {
    let norm = innerProduct(vector, vector).squareRoot()
    return norm > 0 ? vector.map { $0 / norm } : vector
}
