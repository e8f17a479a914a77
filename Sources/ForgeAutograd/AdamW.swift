// AdamW: Adam with decoupled weight decay over parameter groups, plus global-norm clipping.
import ForgeCore
import ForgeKernels

/// Parameters that share optimizer settings (e.g. "decay" for matrices, "no_decay" for the rest).
public struct ParameterGroup {
    public var name: String
    public var parameters: [Variable]
    public var weightDecay: Float
    public init(name: String, parameters: [Variable], weightDecay: Float) {
        self.name = name
        self.parameters = parameters
        self.weightDecay = weightDecay
    }
}

/// AdamW as in PyTorch (`torch.optim.AdamW`), with per-group weight decay and saved moments.
public final class AdamW {
    public var groups: [ParameterGroup]
    public var beta1: Float, beta2: Float, eps: Float
    /// Steps taken (the t in the bias corrections).
    public private(set) var step = 0
    /// First and second moments, by parameter name.
    public private(set) var moments: [String: (m: Tensor, v: Tensor)] = [:]

    public init(groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8) {
        self.groups = groups
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        for p in groups.flatMap(\.parameters) {
            precondition(!p.name.isEmpty && moments[p.name] == nil, "parameters need unique names")
            moments[p.name] = (Tensor(shape: p.shape), Tensor(shape: p.shape))
        }
    }

    /// All parameters in group order.
    public var parameters: [Variable] { groups.flatMap(\.parameters) }

    /// Global L2 norm of all gradients (missing gradients count as zero), summed in a fixed order.
    public func gradientNorm() -> Double {
        var total = 0.0
        for p in parameters { if let g = p.grad { total += sumOfSquares(g.data, g.count) } }
        return total.squareRoot()
    }

    /// One update with learning rate `lr`; gradients are first scaled so their global norm is at most
    /// `clipNorm` (when given). Returns the norm before clipping. Gradients are then dropped.
    @discardableResult
    public func update(lr: Float, clipNorm: Float?) -> Double {
        let norm = gradientNorm()
        var scale: Float = 1
        if let clipNorm, norm > Double(clipNorm) { scale = Float(Double(clipNorm) / (norm + 1e-6)) }
        step += 1
        let bc1 = 1 - Float(pow(Double(beta1), Double(step)))
        let bc2 = 1 - Float(pow(Double(beta2), Double(step)))
        for group in groups {
            for p in group.parameters {
                guard let g = p.grad else { continue }
                let (m, v) = moments[p.name]!
                AdamWKernel.step(p: p.value.data, g: g.data, m: m.data, v: v.data, count: g.count, lr: lr,
                                 beta1: beta1, beta2: beta2, eps: eps, weightDecay: group.weightDecay,
                                 biasCorrection1: bc1, biasCorrection2: bc2, gradScale: scale)
            }
        }
        for p in parameters { p.zeroGrad() }
        return norm
    }

    /// Restores the step count and moments (from a checkpoint).
    public func restore(step: Int, moments newMoments: [String: (m: Tensor, v: Tensor)]) throws {
        for p in parameters {
            guard let mv = newMoments[p.name] else { throw ForgeError("optimizer state lacks moments for '\(p.name)'") }
            guard mv.m.shape == p.shape, mv.v.shape == p.shape else {
                throw ForgeError("optimizer state for '\(p.name)' has shape \(mv.m.shape), parameter has \(p.shape)")
            }
        }
        self.step = step
        self.moments = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, newMoments[$0.name]!) })
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
