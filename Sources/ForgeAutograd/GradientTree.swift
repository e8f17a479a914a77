// GradientTree: gradient accumulation over micro-batches in a fixed tree order.
//
// Each micro-batch's backward starts from empty gradients; its gradients are then added to the others along
// the binary-counter tree (ForgeDistributed's TreeOrder: balanced for 2^k micro-batches). Floating-point
// addition is not associative, so the order is what makes N data-parallel ranks, each summing a contiguous
// block of micro-batches and then summing across ranks along the same tree, give one process's bits.

import ForgeCore
import ForgeKernels

/// Accumulates the parameters' gradients of successive micro-batches along a balanced tree.
public final class GradientTree {
    public let parameters: [Variable]
    private var stack: [(grads: [Tensor?], leaves: Int)] = []

    public init(parameters: [Variable]) { self.parameters = parameters }

    /// Takes the gradients the last backward left on the parameters (leaving them empty) as the next leaf.
    public func push() {
        stack.append((parameters.map { p in defer { p.grad = nil }; return p.grad }, 1))
        while stack.count >= 2, stack[stack.count - 1].leaves == stack[stack.count - 2].leaves { merge() }
    }

    /// Puts the sum of every leaf pushed back on the parameters.
    public func finish() {
        while stack.count >= 2 { merge() }
        if let top = stack.popLast() { for (p, g) in zip(parameters, top.grads) { p.grad = g } }
    }

    private func merge() {
        let b = stack.removeLast()
        var a = stack.removeLast()
        for i in a.grads.indices {
            guard let gb = b.grads[i] else { continue }
            if let ga = a.grads[i] { Elementwise.copy(gb.data, ga.data, ga.count, accumulate: true) } else { a.grads[i] = gb }
        }
        a.leaves += b.leaves
        stack.append(a)
    }
}

extension Variable {
    /// Replaces the gradient (data-parallel reduction writes the summed gradient back).
    public func setGrad(_ g: Tensor?) { grad = g }
}
