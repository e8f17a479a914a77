// forge agent: a model using tools in a loop (calculator, read_file, search_index, MCP servers' tools) until it answers.
import ArgumentParser
import Forge
import ForgeAgent
import ForgeCore
import ForgeTokenizer
import ForgeTools
import Foundation

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Let a model call tools in a loop until it answers: calculator, read_file, search_index and MCP servers' tools.",
        discussion: """
            Each step renders the conversation and the tools with the model's chat template (or, for templates without \
            tools, a system block asking for <tool_call>{"name": ..., "arguments": {...}}</tool_call>), runs the calls the \
            reply holds and feeds the results back. It ends at a reply without calls, or after --max-steps steps with \
            calls (then one step without tools asks for the answer). Steps and results go to stderr, the answer to stdout.

            Examples:
              forge agent --model SmolLM2-135M-Instruct.Q4_1.gguf --temperature 0 --tool-choice calculator "What is 17 * 23?"
              forge agent --model m.gguf --files notes/ --rag docs.db --confirm "Summarize notes/todo.md"
              forge agent --model m.gguf --mcp 'python3 weather_server.py' --mcp 'npx some-mcp-server' "Weather in Paris?"
            """)

    @Argument(help: "The task.") var task: String
    @Option(help: "A .gguf file or a model directory.") var model: String
    @Option(help: "A LoRA adapter dir (PEFT layout) applied without merging.") var lora: String?
    @Option(help: "System message.") var system: String?
    @Option(help: "Context window in tokens (default: the model's, at most 8192).") var context: Int?
    @Option(help: "Steps that may call tools.") var maxSteps = 8
    @Option(help: "The first step's tool choice: auto, required, none or a tool's name (later steps: auto).") var toolChoice = "auto"
    @Flag(help: "Ask y/n on stdin before each tool call.") var confirm = false
    @Option(help: "A folder read_file may read (nothing outside it, symlinks included).") var files: String?
    @Option(help: "Most bytes read_file returns of one file.") var maxFileBytes = 64 * 1024
    @Option(help: "A retrieval index (forge rag index) for search_index.") var rag: String?
    @Option(help: "Passages search_index returns by default.") var ragK = 4
    @Option(help: "Encoder dir for --rag (default: the one the index was built with).") var embedder: String?
    @Option(help: "An MCP server to start over stdio, as a command line (repeatable).") var mcp: [String] = []
    @Option(help: "Seconds an MCP request may take.") var mcpTimeout = 60.0
    @Option(help: "Write the conversation (messages with tool calls and results) to this JSON file.") var transcript: String?
    @OptionGroup var sampling: SamplingFlags
    @OptionGroup var threads: ThreadOptions

    func run() async throws {
        try threads.apply()
        guard maxSteps >= 0 else { throw ValidationError("--max-steps must not be negative") }
        let err = FileHandle.standardError
        func note(_ s: String) { err.write(Data((s + "\n").utf8)) }
        let loaded = try LoadedModel.open(self.model, lora: lora)
        let model = try LanguageModel(loaded, contextLength: context ?? min(loaded.model.config.contextLength, 8192))
        let toolset = try await AgentToolset(files: files, maxFileBytes: maxFileBytes, index: rag, embedder: embedder, k: ragK,
                                             mcp: mcp, mcpTimeout: mcpTimeout)
        defer { toolset.close() }
        let agent = try Agent(model: model, tools: toolset.tools, system: system, settings: sampling.settings, maxSteps: maxSteps,
                              toolChoice: ToolChoice(toolChoice))
        note("\(model.summary); tools: \(toolset.tools.map(\.definition.name).joined(separator: ", "))")
        if confirm {
            agent.confirm = { call in
                note("Run \(call.name)(\(call.arguments))? [y/N] ")
                return readLine()?.trimmingCharacters(in: .whitespaces).lowercased().hasPrefix("y") ?? false
            }
        }
        agent.onEvent = { event in
            switch event {
            case .reply(let step, let text): note("[step \(step)] \(text)")
            case .toolCall(let c): note("[call] \(c.name)(\(c.arguments))")
            case .toolResult(_, let result, let isError): note((isError ? "[error] " : "[result] ") + String(result.prefix(2000)))
            case .declined(let c): note("[declined] \(c.name)")
            case .unreadableCalls(let step, let problems): note("[step \(step)] unreadable tool call: \(problems.joined(separator: "; "))")
            case .repaired(let step, let repairs): note("[step \(step)] repaired the call's JSON: \(repairs.joined(separator: ", "))")
            }
        }
        let result = try await agent.run(task)
        if result.hitStepLimit { note("[stopped after \(maxSteps) steps with tool calls]") }
        if let transcript { try Data(agent.transcript(result).utf8).write(to: URL(fileURLWithPath: transcript)) }
        print(result.answer)
    }
}
