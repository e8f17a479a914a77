// AdamW: Adam with decoupled weight decay over parameter groups, plus global-norm clipping. Groups marked
// `muon` take Muon's orthogonalized-momentum step instead (Muon.swift). An optimizer may own only some of the
// parameters (ZeRO-1: each data-parallel rank keeps the state of its share and updates only that share).
import ForgeCore
import ForgeKernels

/// Parameters that share optimizer settings (e.g. "decay" for matrices, "no_decay" for the rest).
public struct ParameterGroup {
    public var name: String
    public var parameters: [Variable]
    public var weightDecay: Float
    /// Muon instead of AdamW (hidden weight matrices; Muon applies no weight decay, as in nanochat).
    public var muon: Bool
    public init(name: String, parameters: [Variable], weightDecay: Float, muon: Bool = false) {
        self.name = name
        self.parameters = parameters
        self.weightDecay = weightDecay
        self.muon = muon
    }
}

/// AdamW as in PyTorch (`torch.optim.AdamW`), with per-group weight decay and saved moments.
public final class AdamW {
    public var groups: [ParameterGroup]
    public var beta1: Float, beta2: Float, eps: Float
    /// Steps taken (the t in the bias corrections).
    public private(set) var step = 0
    /// First and second moments of the AdamW parameters this optimizer owns, by name.
    public private(set) var moments: [String: (m: Tensor, v: Tensor)] = [:]
    /// Momentum buffers of the Muon parameters this optimizer owns, by name.
    public private(set) var momenta: [String: Tensor] = [:]
    public var muon: MuonSettings
    /// The parameters whose state this optimizer keeps and which it updates (all unless sharded).
    public let owned: Set<String>

    public init(groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8, muon: MuonSettings = MuonSettings(),
                owns: ((Variable) -> Bool)? = nil) {
        self.groups = groups
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.muon = muon
        var names = Set<String>()
        for p in groups.flatMap(\.parameters) {
            precondition(!p.name.isEmpty && names.insert(p.name).inserted, "parameters need unique names")
        }
        owned = Set(groups.flatMap(\.parameters).filter { owns?($0) ?? true }.map(\.name))
        for group in groups {
            for p in group.parameters where owned.contains(p.name) {
                if group.muon {
                    precondition(p.shape.count == 2, "Muon updates matrices only ('\(p.name)' has shape \(p.shape))")
                    momenta[p.name] = Tensor(shape: p.shape)
                } else {
                    moments[p.name] = (Tensor(shape: p.shape), Tensor(shape: p.shape))
                }
            }
        }
    }

    /// Bytes of optimizer state held here (moments and momenta).
    public var stateBytes: Int {
        4 * (moments.values.reduce(0) { $0 + $1.m.count + $1.v.count } + momenta.values.reduce(0) { $0 + $1.count })
    }

    /// All parameters in group order.
    public var parameters: [Variable] { groups.flatMap(\.parameters) }

    /// Global L2 norm of all gradients (missing gradients count as zero), summed in a fixed order.
    public func gradientNorm() -> Double {
        var total = 0.0
        for p in parameters { if let g = p.grad { total += sumOfSquares(g.data, g.count) } }
        return total.squareRoot()
    }

    /// One update with learning rate `lr` (`muonLR` for Muon groups; default `lr`); gradients are first scaled so
    /// their global norm (`norm`, or computed here) is at most `clipNorm`. Returns the norm before clipping.
    /// Only owned parameters change; every gradient is then dropped.
    @discardableResult
    public func update(lr: Float, clipNorm: Float?, muonLR: Float? = nil, norm givenNorm: Double? = nil) -> Double {
        let norm = givenNorm ?? gradientNorm()
        var scale: Float = 1
        if let clipNorm, norm > Double(clipNorm) { scale = Float(Double(clipNorm) / (norm + 1e-6)) }
        step += 1
        let bc1 = 1 - Float(pow(Double(beta1), Double(step)))
        let bc2 = 1 - Float(pow(Double(beta2), Double(step)))
        for group in groups {
            for p in group.parameters where owned.contains(p.name) {
                guard let g = p.grad else { continue }
                if group.muon {
                    MuonKernel.step(p: p.value.data, g: g.data, buf: momenta[p.name]!.data, rows: p.shape[0], cols: p.shape[1],
                                    lr: muonLR ?? lr, settings: muon, gradScale: scale)
                    continue
                }
                let (m, v) = moments[p.name]!
                AdamWKernel.step(p: p.value.data, g: g.data, m: m.data, v: v.data, count: g.count, lr: lr,
                                 beta1: beta1, beta2: beta2, eps: eps, weightDecay: group.weightDecay,
                                 biasCorrection1: bc1, biasCorrection2: bc2, gradScale: scale)
            }
        }
        for p in parameters { p.zeroGrad() }
        return norm
    }

    /// Restores the step count, moments and momenta (from a checkpoint holding every parameter's; only the owned
    /// ones are kept).
    public func restore(step: Int, moments newMoments: [String: (m: Tensor, v: Tensor)], momenta newMomenta: [String: Tensor] = [:]) throws {
        for p in parameters where moments[p.name] != nil {
            guard let mv = newMoments[p.name] else {
                throw ForgeError(newMomenta[p.name] != nil ? "the checkpoint was trained with Muon for '\(p.name)': pass --optimizer muon"
                                                           : "optimizer state lacks moments for '\(p.name)'")
            }
            guard mv.m.shape == p.shape, mv.v.shape == p.shape else {
                throw ForgeError("optimizer state for '\(p.name)' has shape \(mv.m.shape), parameter has \(p.shape)")
            }
        }
        for p in parameters where momenta[p.name] != nil {
            guard let b = newMomenta[p.name] else {
                throw ForgeError(newMoments[p.name] != nil ? "the checkpoint was trained with AdamW for '\(p.name)': leave out --optimizer muon"
                                                           : "optimizer state lacks Muon momentum for '\(p.name)'")
            }
            guard b.shape == p.shape else { throw ForgeError("Muon momentum for '\(p.name)' has shape \(b.shape), parameter has \(p.shape)") }
        }
        self.step = step
        for name in Array(moments.keys) { moments[name] = newMoments[name]! }
        for name in Array(momenta.keys) { momenta[name] = newMomenta[name]! }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
