// Tensor: a shape over a contiguous, row-major, 64-byte-aligned Float32 buffer.
//
// Elements have reference semantics: copies of a `Tensor` share storage, and `reshaped` is free.
// Buffers come from and return to `BufferPool`, so a training step that allocates the same
// shapes every iteration touches no fresh pages after the first one.

/// Owns one aligned Float32 buffer and returns it to the pool when the last tensor lets go.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        self.pointer = BufferPool.shared.take(capacity)
    }

    deinit { BufferPool.shared.give(pointer, capacity: capacity) }
}

/// A dense row-major Float32 tensor; copies share elements.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let storage: TensorStorage

    /// A tensor of `shape`, zero-filled unless `zeroed` is false (then its contents are arbitrary).
    public init(shape: [Int], zeroed: Bool = true) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        let n = shape.reduce(1, *)
        self.storage = TensorStorage(capacity: n)
        if zeroed { storage.pointer.initialize(repeating: 0, count: n) }
    }

    /// A tensor holding `values` (row-major) with the given shape.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(shape: shape, zeroed: false)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    private init(shape: [Int], storage: TensorStorage) {
        self.shape = shape
        self.storage = storage
    }

    /// Number of elements.
    @inlinable public var count: Int { shape.reduce(1, *) }
    /// Pointer to the first element.
    @inlinable public var data: UnsafeMutablePointer<Float> { storage.pointer }
    /// Elements as an array (a copy).
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
    /// Size of the last dimension (1 for a scalar).
    public var lastDim: Int { shape.last ?? 1 }
    /// Product of all dimensions but the last.
    public var rows: Int { shape.isEmpty ? 1 : shape.dropLast().reduce(1, *) }

    /// The same elements viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: newShape, storage: storage)
    }

    /// A new tensor with a copy of these elements.
    public func copy() -> Tensor {
        let t = Tensor(shape: shape, zeroed: false)
        t.data.update(from: data, count: count)
        return t
    }

    /// Element at a flat row-major index.
    public subscript(flat i: Int) -> Float {
        get { data[i] }
        nonmutating set { data[i] = newValue }
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    public var description: String { "Tensor\(shape)" }
}
