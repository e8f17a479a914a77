// forge export: a model dir as a GGUF file llama.cpp loads (F32, F16 or BF16).
import ArgumentParser
import ForgeCompress
import ForgeCore
import ForgeModels
import ForgeTokenizer
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model dir (Forge's or Hugging Face's) as a GGUF file for llama.cpp: F32, F16 or BF16.",
        discussion: """
        The file holds the metadata llama.cpp reads (architecture keys, the tokenizer with its merges, llama.cpp's \
        pre-tokenizer name, special tokens, chat template) and every tensor under its GGUF name in GGUF form \
        (Llama's Q/K rows permuted, Gemma's norms as 1 + w); matrices in the chosen type, vectors in F32. The \
        tokenizer read back from the file is checked against the dir's on a sample text before the command ends.

        Example:
          forge export --model runs/speedrun/model --output speedrun.f32.gguf
          forge quantize --model speedrun.f32.gguf --type Q4_K_M --output speedrun.Q4_K_M.gguf
        """)

    @Option(help: "A model directory (config.json, model.safetensors, tokenizer.json).") var model: String
    @Option(help: "The .gguf file to write.") var output: String
    @Option(help: "Matrix type: F32, F16 or BF16.") var type: String = "F32"
    @Option(help: "general.name (default: the dir's name).") var name: String?
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let t: GGMLType
        switch type.uppercased() {
        case "F32": t = .f32
        case "F16": t = .f16
        case "BF16": t = .bf16
        default: throw ValidationError("--type must be F32, F16 or BF16 (got '\(type)'); `forge quantize` writes the quantized types")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDir), isDir.boolValue else {
            throw ForgeError.file(model, "not a model directory (to change a GGUF file's type, use `forge quantize`)")
        }
        let transformer = try ModelDir.loadModel(from: model)
        let tokenizer = try ModelDir.loadTokenizer(from: model)
        let dirName = URL(fileURLWithPath: model).standardizedFileURL.lastPathComponent
        let source = try GGUFModelSource(model: transformer, tokenizer: tokenizer, chatTemplate: ModelDir.chatTemplateSource(model),
                                         name: name ?? dirName)
        let start = Date()
        try GGUFExport.write(source, type: t, to: output) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        let mismatch = try GGUFExport.tokenizerMismatch(gguf: output, expected: tokenizer)
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        print(String(format: "%@: %@, %d tensors, %.1f MiB in %.1f s; tokenizer read back from the file agrees on the sample text",
                     output, source.description, source.tensors.count, Double(size) / 1048576, Date().timeIntervalSince(start)))
        if let mismatch { throw ForgeError.file(output, "written, but its tokenizer differs from the dir's: \(mismatch)") }
    }
}

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a model dir or an F32/F16/BF16 GGUF file as llama-quantize does (same types, same bytes).",
        discussion: """
        Types: \(QuantizationFileType.allCases.map(\.rawValue).joined(separator: ", ")) (Q4_K and Q5_K mean the _M mixes). \
        Each tensor's type follows llama.cpp's rules: norms and 1-D tensors stay F32, the output (or tied embedding) \
        matrix gets Q6_K, the _M mixes give some attention-V and FFN-down layers Q6_K, and rows that are not whole \
        blocks fall back (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0). --pure gives every matrix the base type. Quantized \
        values follow llama.cpp's reference rounding, so the tensors (and, from a GGUF input, the whole file) are \
        byte-identical to llama-quantize's. A quantized input is decoded first (llama-quantize's --allow-requantize).

        Example:
          forge quantize --model smollm2.f32.gguf --type Q4_K_M --output smollm2.Q4_K_M.gguf
        """)

    @Option(help: "A model directory or a .gguf file.") var model: String
    @Option(help: "The file type (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, F16, BF16, F32).") var type: String
    @Option(help: "The .gguf file to write.") var output: String
    @Flag(help: "Every quantizable tensor in the base type (no mix, no Q6_K output).") var pure = false
    @Option(help: "An importance matrix (llama-imatrix's or `forge imatrix`'s GGUF): weighted rounding for the tensors it covers.") var imatrix: String?
    @Flag(help: "Print nothing per tensor.") var quiet = false
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let fileType = try QuantizationFileType(name: type)
        let source = try GGUFModelSource.load(model)
        let importance = try imatrix.map { try ImportanceMatrix.read($0) }
        let summary = try GGUFQuantizer.quantize(source, fileType: fileType, pure: pure, to: output, importance: importance,
                                                 importancePath: imatrix) { line in
            if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        for f in summary.fallbacks where !quiet { FileHandle.standardError.write(Data("fallback: \(f)\n".utf8)) }
        let types = summary.typeCounts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print(String(format: "%@: %@, %d tensors (%@), %.1f MiB → %.1f MiB in %.2f s with %d threads", output, fileType.rawValue,
                     summary.tensors, types, Double(summary.bytesIn) / 1048576, Double(summary.bytesOut) / 1048576, summary.seconds,
                     Parallel.threads))
    }
}
