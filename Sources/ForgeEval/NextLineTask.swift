// NextLineTask: a multiple-choice task a model trained on plays can be measured on: after four lines of a held-out
// play, which of four lines comes next (the true one and three drawn from elsewhere in the same play)? Chance is 25%.
// Built as data (a JSONL file and a spec beside it), so it runs like any other task.
import ForgeCore
import Foundation

public enum NextLineTask {
    /// Writes `nextline.jsonl` and `nextline.json` into `dir` from `documents`; returns the spec's path.
    public static func write(documents: [String], to dir: String, items: Int = 500, seed: UInt64 = 7) throws -> String {
        var rng = SplitMix64(seed: seed)
        var rows: [[String: Any]] = []
        let plays = documents.map { doc in
            doc.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.count >= 12 && $0.count <= 90 }
        }.filter { $0.count >= 50 }
        guard !plays.isEmpty else { throw ForgeError("no held-out document has 50 lines of verse or prose to build the next-line task from") }
        var attempts = 0
        while rows.count < items && attempts < items * 20 {
            attempts += 1
            let lines = plays[Int(rng.next() % UInt64(plays.count))]
            let i = 4 + Int(rng.next() % UInt64(lines.count - 4))
            var choices = [lines[i]]
            while choices.count < 4 {
                let j = Int(rng.next() % UInt64(lines.count))
                if abs(j - i) > 8, !choices.contains(lines[j]) { choices.append(lines[j]) }
            }
            // The true line's place among the four, drawn.
            let answer = Int(rng.next() % 4)
            choices.swapAt(0, answer)
            rows.append(["context": lines[(i - 4)..<i].joined(separator: "\n"), "choices": choices, "answer": answer])
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var text = ""
        for r in rows { text += String(decoding: try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys]), as: UTF8.self) + "\n" }
        try EvalReport.atomicWrite(Data(text.utf8), to: dir + "/nextline.jsonl")
        let spec: [String: Any] = [
            "name": "nextline", "kind": "multiple_choice", "data": "nextline.jsonl",
            "about": "After four lines of a held-out play, which of four lines comes next (three are from elsewhere in the play)? Chance 0.25.",
            "prompt": "{{ context }}\n", "choices_field": "choices", "answer": "{{ answer }}", "target_delimiter": "",
            "metrics": ["acc", "acc_norm"],
        ]
        let data = try JSONSerialization.data(withJSONObject: spec, options: [.prettyPrinted, .sortedKeys])
        try EvalReport.atomicWrite(data, to: dir + "/nextline.json")
        return dir + "/nextline.json"
    }
}
