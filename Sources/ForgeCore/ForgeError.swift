// ForgeError: every failure a user can cause, as one line naming the thing and the problem.

/// A user-facing error: `description` is the one line the CLI prints.
public struct ForgeError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ message: String) { description = message }

    /// An error about a file: "PATH: problem".
    public static func file(_ path: String, _ problem: String) -> ForgeError {
        ForgeError("\(path): \(problem)")
    }
}
