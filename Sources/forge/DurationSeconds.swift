// Durations as seconds, for the commands' rates and timers.

extension Duration {
    /// This duration in seconds.
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
