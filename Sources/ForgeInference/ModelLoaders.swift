// ModelLoaders: an InferenceModel from a GGUF file (mapped, weights used in place) or a model dir (through
// the training model, whose tensors the inference model views).
import ForgeCore
import ForgeModels
import Foundation

public enum ModelLoader {
    /// Opens a `.gguf` file or a model directory (config.json + safetensors).
    public static func load(_ path: String) throws -> InferenceModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ForgeError.file(path, "no such file or directory") }
        if isDir.boolValue { return try fromModelDir(path) }
        return try fromGGUF(GGUFFile(path: path))
    }

    /// A GGUF of a family Forge knows; the file stays mapped, quantized matrices are packed for the decode kernels.
    public static func fromGGUF(_ file: GGUFFile) throws -> InferenceModel { try GGUFModel.inferenceModel(file) }

    /// A model dir (Forge's or Hugging Face's), in Float32.
    public static func fromModelDir(_ dir: String) throws -> InferenceModel {
        try InferenceModel(try ModelDir.loadModel(from: dir), name: dir)
    }
}
