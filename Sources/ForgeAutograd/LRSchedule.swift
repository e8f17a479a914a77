// LRSchedule: linear warmup, then cosine or linear decay to a floor, or constant.
import Foundation

/// Learning rate as a function of the step (0-based).
public struct LRSchedule: Codable, Equatable, Sendable {
    public enum Decay: String, Codable, Sendable, CaseIterable { case cosine, linear, constant }

    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var decay: Decay
    /// The final learning rate as a fraction of the peak.
    public var minFraction: Double

    public init(peak: Double, warmupSteps: Int, totalSteps: Int, decay: Decay = .cosine, minFraction: Double = 0.1) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.decay = decay
        self.minFraction = minFraction
    }

    /// The rate for `step`: rises linearly over the warmup, then decays to `peak · minFraction`.
    public func rate(at step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step + 1) / Double(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps)
        let progress = min(1, Double(step - warmupSteps) / Double(span))
        let floor = peak * minFraction
        switch decay {
        case .constant: return peak
        case .linear: return floor + (peak - floor) * (1 - progress)
        case .cosine: return floor + (peak - floor) * 0.5 * (1 + cos(Double.pi * progress))
        }
    }
}
