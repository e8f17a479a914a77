// Tape: reverse-mode automatic differentiation over coarse ops.
//
// Each op computes its output with a kernel and, when the tape records and an input needs a
// gradient, appends a closure that runs the op's hand-written backward. `backward(loss)` seeds
// dloss = 1 and runs the closures in reverse order of recording (a valid topological order).
// An intermediate's gradient is freed as soon as its producer's backward has consumed it.
import ForgeCore
import ForgeKernels

/// A tensor in a computation: its value, and its gradient once backward has reached it.
public final class Variable: @unchecked Sendable {
    public let value: Tensor
    /// Gradient of the loss with respect to `value` (nil until something writes it).
    public internal(set) var grad: Tensor?
    /// Whether backward computes this variable's gradient (settable on leaves: frozen parameters have false).
    public var requiresGrad: Bool
    /// True for parameters and inputs: their gradients survive `backward`.
    public let isLeaf: Bool
    public var name: String

    /// A leaf (a parameter when `requiresGrad`, else a constant input).
    public init(_ value: Tensor, requiresGrad: Bool = false, name: String = "") {
        self.value = value
        self.requiresGrad = requiresGrad
        self.isLeaf = true
        self.name = name
    }

    init(result value: Tensor, requiresGrad: Bool) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.isLeaf = false
        self.name = ""
    }

    public var shape: [Int] { value.shape }

    /// Lets an op write this variable's gradient: `accumulate` is false when the buffer is fresh
    /// and must be fully overwritten, true when it already holds a gradient to add to.
    public func withGrad(_ body: (_ grad: UnsafeMutablePointer<Float>, _ accumulate: Bool) -> Void) {
        if let g = grad {
            body(g.data, true)
        } else {
            let g = Tensor(shape: value.shape, zeroed: false)
            body(g.data, false)
            grad = g
        }
    }

    /// Adds `g` (same element count) into the gradient, adopting its buffer when none exists yet.
    public func accumulateGrad(_ g: Tensor) {
        if let existing = grad {
            Elementwise.copy(g.data, existing.data, existing.count, accumulate: true)
        } else {
            grad = g.reshaped(value.shape)
        }
    }

    /// Drops the gradient.
    public func zeroGrad() { grad = nil }
}

/// Records ops during a forward pass and replays their backwards.
public final class Tape {
    /// False in evaluation: ops compute values only and keep nothing for backward.
    public let recording: Bool
    private var backwards: [(outputs: [Variable], run: () -> Void)] = []

    public init(recording: Bool = true) { self.recording = recording }

    /// Whether an op with these inputs must record its backward.
    public func needsGrad(_ inputs: Variable?...) -> Bool {
        recording && inputs.contains { $0?.requiresGrad == true }
    }

    /// A new op output.
    public func result(_ value: Tensor, inputs: Variable?...) -> Variable {
        Variable(result: value, requiresGrad: recording && inputs.contains { $0?.requiresGrad == true })
    }

    /// Appends the backward of the op that produced `outputs`; it runs only if one has a gradient.
    public func record(_ outputs: Variable..., run: @escaping () -> Void) {
        record(outputs: outputs, run: run)
    }

    /// Appends a backward shared by several outputs of one op.
    public func record(outputs: [Variable], run: @escaping () -> Void) {
        guard recording, outputs.contains(where: \.requiresGrad) else { return }
        backwards.append((outputs, run))
    }

    /// Backpropagates from a scalar `loss` (seeded with `seed`) and clears the tape.
    public func backward(_ loss: Variable, seed: Float = 1) {
        precondition(loss.value.count == 1, "backward needs a scalar loss, got \(loss.shape)")
        let g = Tensor(shape: loss.shape, zeroed: false)
        g.data[0] = seed
        backward(loss, gradient: g)
    }

    /// Backpropagates the gradient `gradient` of some loss with respect to `output`, and clears the tape.
    public func backward(_ output: Variable, gradient: Tensor) {
        precondition(gradient.count == output.value.count, "backward: gradient \(gradient.shape) for output \(output.shape)")
        output.accumulateGrad(gradient)
        while let (outputs, run) = backwards.popLast() {
            if outputs.contains(where: { $0.grad != nil }) { run() }
            for o in outputs where !o.isLeaf { o.grad = nil }
        }
    }

    /// Forgets recorded ops without running them.
    public func reset() { backwards.removeAll() }

    /// Activation checkpointing: `body(tape, x)` runs without keeping its intermediates, and again on a
    /// recording tape during the backward pass (gradients reach x and every parameter `body` uses).
    /// `body` must compute the same thing both times (no randomness outside a fixed seed).
    public func checkpoint(_ x: Variable, _ body: @escaping (Tape, Variable) -> Variable) -> Variable {
        guard recording else { return body(self, x) }
        let value = body(Tape(recording: false), Variable(x.value)).value
        let y = Variable(result: value, requiresGrad: true)
        record(y) {
            let inner = Tape()
            let input = Variable(x.value, requiresGrad: x.requiresGrad)
            let again = body(inner, input)
            if again.requiresGrad { inner.backward(again, gradient: y.grad!) }
            if x.requiresGrad, let g = input.grad { x.accumulateGrad(g) }
        }
        return y
    }
}

