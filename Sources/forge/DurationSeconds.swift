// Durations as seconds, for the commands' rates and timers.

extension Duration {
    /// This duration in seconds.
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// Seconds `body` takes to run.
func secondsTaken(_ body: () throws -> Void) rethrows -> Double {
    let t = ContinuousClock.now
    try body()
    return (ContinuousClock.now - t).inSeconds
}
