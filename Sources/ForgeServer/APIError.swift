// APIError: failures as the OpenAI API reports them: an HTTP status and {"error": {message, type, param, code}}.
import Foundation

/// An error the server answers with, in OpenAI's shape.
public struct APIError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Seconds after which a client may retry (429, 503).
    public var retryAfter: Int?

    public init(status: Int, _ message: String, type: String = "invalid_request_error", param: String? = nil, code: String? = nil,
                retryAfter: Int? = nil) {
        (self.status, self.message, self.type, self.param, self.code, self.retryAfter) = (status, message, type, param, code, retryAfter)
    }

    /// 400: the request cannot be served as written.
    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message, param: param, code: code)
    }

    /// The JSON body: {"error": {...}}.
    public var json: [String: Any] {
        ["error": ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()] as [String: Any]]
    }
}
