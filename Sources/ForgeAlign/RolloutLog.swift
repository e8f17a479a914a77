// RolloutLog: GRPO's rollouts as they are sampled, one JSON line per prompt, so a run can be read back (what the
// model wrote and how it was scored) and replayed by another trainer on the same tokens (bench/grpo_parity.py).
import ForgeCore
import Foundation

/// Appends each prompt's rollouts to a JSONL file: its position in the problem stream, the problem, the prompt and
/// completion token ids, the completions' texts, rewards and advantages.
public final class RolloutLog: @unchecked Sendable {
    /// One prompt's group of completions.
    public struct Record {
        public var position: Int
        public var problem: Problem
        public var prompt: [Int32]
        public var completions: [[Int32]]
        public var texts: [String]
        public var rewards: [Double]
        public var advantages: [Float]
    }

    let handle: FileHandle
    let lock = NSLock()

    /// Opens `path` for appending (a resumed run adds to it; positions tell repeated rollouts apart).
    public init(path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw ForgeError("cannot create \(path)") }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw ForgeError("cannot open \(path) for writing") }
        handle = h
        handle.seekToEndOfFile()
    }

    deinit { try? handle.close() }

    /// Writes `records`, one line each, in one write.
    public func append(_ records: [Record]) throws {
        guard !records.isEmpty else { return }
        var text = ""
        for r in records {
            let o: [String: Any] = ["position": r.position, "origin": r.problem.origin, "question": r.problem.question,
                                    "answer": r.problem.answer, "prompt_ids": r.prompt.map(Int.init),
                                    "completion_ids": r.completions.map { $0.map(Int.init) }, "completions": r.texts,
                                    "rewards": r.rewards, "advantages": r.advantages.map(Double.init)]
            text += String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self) + "\n"
        }
        lock.lock()
        defer { lock.unlock() }
        try handle.write(contentsOf: Data(text.utf8))
    }
}
