// ActivationScratch: one cached buffer for the 8-bit activations of a product, so the ~120 products of a
// decoded token do not each allocate and free one. A caller takes the cached buffer (or allocates when another
// caller holds it) and gives it back after; larger requests allocate as before.
import Synchronization

enum ActivationScratch {
    /// Bytes of the cached buffer: one token's rounding of up to ~16k columns, or a few tokens of a smaller model.
    static let capacity = 1 << 16
    /// The cached buffer's address (0: none; another caller holds it).
    private static let cached = Atomic<Int>(0)

    /// Runs `body` with at least `bytes` bytes of 64-byte-aligned scratch.
    static func with<R>(bytes: Int, _ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        guard bytes <= capacity else {
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
            defer { p.deallocate() }
            return try body(p)
        }
        let p = UnsafeMutableRawPointer(bitPattern: cached.exchange(0, ordering: .acquiring))
            ?? .allocate(byteCount: capacity, alignment: 64)
        defer { UnsafeMutableRawPointer(bitPattern: cached.exchange(Int(bitPattern: p), ordering: .acquiringAndReleasing))?.deallocate() }
        return try body(p)
    }
}
