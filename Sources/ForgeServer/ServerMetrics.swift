// ServerMetrics: what GET /metrics reports, in Prometheus's text format (swift-prometheus): requests by route and
// status, prompt and generated tokens, queue depth, running sequences, key/value cache blocks, and latency
// histograms (time to first token, time per generated token, request duration).
import ForgeInference
import Prometheus

public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let promptTokens, generatedTokens, cachedTokens: Counter
    let queueDepth, activeSequences, cacheBlocks, cacheBytes: Gauge
    let firstToken, perToken, duration: ValueHistogram

    public init() {
        promptTokens = registry.makeCounter(name: "forge_prompt_tokens_total", help: "Prompt tokens received")
        cachedTokens = registry.makeCounter(name: "forge_prompt_tokens_cached_total", help: "Prompt tokens reused from the prefix cache")
        generatedTokens = registry.makeCounter(name: "forge_generated_tokens_total", help: "Tokens generated")
        queueDepth = registry.makeGauge(name: "forge_queue_depth", help: "Requests waiting for a place in the batch")
        activeSequences = registry.makeGauge(name: "forge_active_sequences", help: "Sequences decoding")
        cacheBlocks = registry.makeGauge(name: "forge_kv_cache_blocks", help: "Key/value cache blocks in use")
        cacheBytes = registry.makeGauge(name: "forge_kv_cache_bytes", help: "Key/value cache bytes in use")
        let latency: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
        firstToken = registry.makeValueHistogram(name: "forge_time_to_first_token_seconds", buckets: latency,
                                                 help: "Seconds from a request's arrival to its first generated text")
        perToken = registry.makeValueHistogram(name: "forge_time_per_output_token_seconds", buckets: latency,
                                               help: "Seconds between successive generated tokens of a stream")
        duration = registry.makeValueHistogram(name: "forge_request_duration_seconds", buckets: latency + [60, 120, 300],
                                               help: "Seconds from a request's arrival to its last byte")
    }

    /// One answered HTTP request.
    func request(route: String, status: Int, seconds: Double) {
        registry.makeCounter(name: "forge_http_requests_total", labels: [("route", route), ("status", String(status))],
                             help: "HTTP requests by route and status").increment()
        duration.record(seconds)
    }

    /// One finished completion.
    func completion(_ r: CompletionRecord) {
        promptTokens.increment(by: Int64(r.promptTokens))
        cachedTokens.increment(by: Int64(r.cachedTokens))
        generatedTokens.increment(by: Int64(r.completionTokens))
        if let t = r.firstTokenSeconds { firstToken.record(t) }
        for t in r.tokenIntervals { perToken.record(t) }
    }

    /// The exposition text, with the scheduler's live numbers.
    func render(_ stats: SchedulerStats) -> String {
        queueDepth.set(to: Double(stats.queued))
        activeSequences.set(to: Double(stats.activeSequences))
        cacheBlocks.set(to: Double(stats.kvBlocks))
        cacheBytes.set(to: Double(stats.kvBytes))
        return registry.emitToString()
    }
}
