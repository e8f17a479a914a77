// The version Forge reports in results and `forge --version`.

public enum ForgeVersion {
    /// Semantic version of this tree.
    public static let string = "0.13.0-dev"
}
