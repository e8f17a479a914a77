// FewShot: the context an item is scored or answered in, built as lm-evaluation-harness builds it: the description,
// then each shot as its prompt, the target delimiter, its answer and the few-shot delimiter, then the item's prompt.
// Shots come from the item's own group (an MMLU subject), the item itself and rows equal to it excluded. In chat mode
// the description is the system message and the rest one user message (or one turn per shot), rendered with the
// model's chat template and its generation prompt.
import ForgeCore
import ForgeTokenizer

/// How prompts are laid out.
public struct PromptMode: Sendable {
    public var shots: Int
    /// Render through the model's chat template.
    public var chat = false
    /// With chat: each shot as its own user/assistant turns.
    public var multiturn = false
    public init(shots: Int, chat: Bool = false, multiturn: Bool = false) { (self.shots, self.chat, self.multiturn) = (shots, chat, multiturn) }
}

/// Builds contexts for the items of one task.
public struct FewShot {
    let spec: TaskSpec
    let mode: PromptMode
    /// The few-shot pool of each group, in file order.
    let pools: [String: [EvalItem]]

    public init(spec: TaskSpec, items: [EvalItem], mode: PromptMode) throws {
        (self.spec, self.mode) = (spec, mode)
        pools = Dictionary(grouping: items, by: \.group)
        if mode.shots > 0, let small = pools.first(where: { $0.value.count <= mode.shots }) {
            throw ForgeError("task \(spec.name): \(mode.shots) shots need more than \(mode.shots) rows in each group; "
                             + "'\(small.key)' has \(small.value.count)")
        }
    }

    /// The shots of an item: the first n of its pool, or n drawn with the task's seed (a different draw per item).
    public func shots(for item: EvalItem) -> [EvalItem] {
        guard mode.shots > 0 else { return [] }
        let pool = pools[item.group] ?? []
        switch spec.fewshotSampler {
        case "random":
            var rng = SplitMix64(seed: spec.fewshotSeed &+ UInt64(item.index) &* 0x9E37_79B9_7F4A_7C15)
            var candidates = pool.filter { $0.identity != item.identity }
            var picked: [EvalItem] = []
            while picked.count < mode.shots && !candidates.isEmpty {
                picked.append(candidates.remove(at: Int(rng.next() % UInt64(candidates.count))))
            }
            return picked
        default:
            return Array(pool.lazy.filter { $0.identity != item.identity }.prefix(mode.shots))
        }
    }

    /// The answer text a shot shows: its gold choice, or its target.
    func answer(of shot: EvalItem) -> String {
        if let g = shot.gold { return shot.choices[g] }
        return shot.target ?? ""
    }

    /// The item's context, and the delimiter its continuations start with.
    public func context(for item: EvalItem, template: ((_ messages: [ChatMessage]) throws -> String)?) throws -> (text: String, delimiter: String) {
        let shots = shots(for: item)
        if mode.chat, let template {
            var messages: [ChatMessage] = []
            if !item.description.isEmpty { messages.append(ChatMessage(role: "system", content: item.description)) }
            if mode.multiturn {
                for s in shots {
                    messages.append(ChatMessage(role: "user", content: s.prompt))
                    messages.append(ChatMessage(role: "assistant", content: answer(of: s)))
                }
                messages.append(ChatMessage(role: "user", content: item.prompt))
            } else {
                let text = shots.map { $0.prompt + spec.targetDelimiter + answer(of: $0) + spec.fewshotDelimiter }.joined() + item.prompt
                messages.append(ChatMessage(role: "user", content: text))
            }
            return (try template(messages), "")
        }
        let text = item.description + shots.map { $0.prompt + spec.targetDelimiter + answer(of: $0) + spec.fewshotDelimiter }.joined() + item.prompt
        return (text, spec.targetDelimiter)
    }
}

/// A small seeded generator (SplitMix64) for shot draws and stratified samples.
public struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
