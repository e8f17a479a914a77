// EmbeddingService: POST /v1/embeddings as OpenAI defines it, on a sentence encoder. `input` is a string, an array of
// strings, an array of token ids or an array of such arrays; `encoding_format` "float" (default) or "base64"
// (little-endian Float32, what the official client asks for); `dimensions` only as the model's own width.
import ForgeCore
import ForgeModels
import Foundation
import Synchronization

/// The embeddings endpoint, independent of HTTP.
public final class EmbeddingService: Sendable {
    let encoder: SentenceEncoder
    /// The model's name for clients.
    public let modelName: String
    /// Most texts per request, and tokens per text (longer texts are cut to the model's limit, as sentence-transformers does).
    public let maxInputs: Int
    let running = Mutex<Void>(())
    /// The vector width.
    public var dimension: Int { encoder.dimension }

    public init(encoder: SentenceEncoder, modelName: String, maxInputs: Int = 2048) {
        (self.encoder, self.modelName, self.maxInputs) = (encoder, modelName, maxInputs)
    }

    /// The response body for a request body, or the error to answer with.
    public func respond(_ body: Data) throws(APIError) -> [String: Any] {
        guard let json = try? JSONSerialization.jsonObject(with: body), let request = json as? [String: Any] else {
            throw APIError.invalid("The request body is not a JSON object.")
        }
        if let model = request["model"], !(model is String) { throw APIError.invalid("'model' must be a string.", param: "model") }
        let format = request["encoding_format"] as? String ?? "float"
        guard format == "float" || format == "base64" else {
            throw APIError.invalid("'encoding_format' must be 'float' or 'base64', got '\(format)'.", param: "encoding_format")
        }
        if let d = request["dimensions"] {
            guard let n = d as? Int, n == encoder.dimension else {
                throw APIError.invalid("'dimensions' can only be this model's width, \(encoder.dimension).", param: "dimensions")
            }
        }
        let ids = try inputs(request["input"])
        let vectors = running.withLock { _ in encoder.embed(tokenIds: ids) }
        let tokens = ids.reduce(0) { $0 + $1.count }
        let data: [[String: Any]] = vectors.enumerated().map { i, v in
            let embedding: Any = format == "base64" ? Self.base64(v) : v.map(Double.init)
            return ["object": "embedding", "index": i, "embedding": embedding]
        }
        return ["object": "list", "data": data, "model": modelName, "usage": ["prompt_tokens": tokens, "total_tokens": tokens]]
    }

    /// The token ids of each input, the template added, cut to the model's length.
    func inputs(_ value: Any?) throws(APIError) -> [[Int32]] {
        func tokenIds(_ array: [Any]) throws(APIError) -> [Int32] {
            var out: [Int32] = []
            for x in array {
                guard let n = x as? Int, n >= 0, n < encoder.model.config.vocabSize else {
                    throw APIError.invalid("'input' token ids must be integers in 0..<\(encoder.model.config.vocabSize).", param: "input")
                }
                out.append(Int32(n))
            }
            let t = encoder.tokenizer
            let room = encoder.maxLength - t.templatePrefix.count - t.templateSuffix.count
            return t.templatePrefix + out.prefix(room) + t.templateSuffix
        }
        let list: [[Int32]]
        switch value {
        case let s as String: list = [encoder.tokens(s)]
        case let a as [String]: list = encoder.tokenizer.encodeBatchForModel(a, maxLength: encoder.maxLength)
        case let a as [[Any]]: list = try a.map { (x: [Any]) throws(APIError) in try tokenIds(x) }
        case let a as [Any] where a.allSatisfy({ $0 is Int }) && !a.isEmpty: list = [try tokenIds(a)]
        default: throw APIError.invalid("'input' must be a string, an array of strings, or token ids.", param: "input")
        }
        guard !list.isEmpty else { throw APIError.invalid("'input' must not be empty.", param: "input") }
        guard list.count <= maxInputs else { throw APIError.invalid("'input' has \(list.count) items; this server takes at most \(maxInputs).", param: "input") }
        return list
    }

    static func base64(_ v: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(v.count * 4)
        for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
        return Data(bytes).base64EncodedString()
    }
}
