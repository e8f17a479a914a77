// swift-tools-version:6.0
// Forge: the whole life of a language model in one Swift program.
import PackageDescription
import Foundation

// Kernels are never built without a target CPU (see docs/ARCHITECTURE.md, "Build").
// FORGE_TARGET_CPU overrides the default, e.g. `haswell` for a portable AVX2 binary.
let targetCPU = ProcessInfo.processInfo.environment["FORGE_TARGET_CPU"] ?? "native"
var fastFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked", "-Xcc", "-fno-math-errno"]),
]
#if arch(x86_64)
fastFlags.append(.unsafeFlags(["-target-cpu", targetCPU]))
#endif

// CBLAS: OpenBLAS on Linux (Debian libopenblas-dev), Accelerate on Apple platforms.
let blasTarget: Target = .systemLibrary(
    name: "CBLAS", path: "Sources/CBLAS", pkgConfig: nil,
    providers: [.apt(["libopenblas-dev"])])

// CSIMD: byte dot-product instructions (VNNI/AVX2) for the integer kernels, header only.
let simdTarget: Target = .systemLibrary(name: "CSIMD", path: "Sources/CSIMD")

let zlibTarget: Target = .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])])
let zstdTarget: Target = .systemLibrary(name: "CZstd", path: "Sources/CZstd", providers: [.apt(["libzstd-dev"])])

let package = Package(
    name: "Forge",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "forge", targets: ["ForgeCommand"]),
        .library(name: "Forge", targets: ["Forge"]),
        .executable(name: "forge-example", targets: ["ForgeExample"]),
        .library(name: "ForgeCore", targets: ["ForgeCore"]),
        .library(name: "ForgeModels", targets: ["ForgeModels"]),
        .library(name: "ForgeTrain", targets: ["ForgeTrain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
    ],
    targets: [
        blasTarget, simdTarget, zlibTarget, zstdTarget,
        .target(name: "ForgeCore", dependencies: ["CBLAS"], swiftSettings: fastFlags,
                linkerSettings: [
                                 .linkedFramework("Accelerate", .when(platforms: [.macOS, .iOS]))]),
        .target(name: "ForgeKernels", dependencies: ["ForgeCore", "CBLAS", "CSIMD"], swiftSettings: fastFlags),
        .target(name: "ForgeAutograd", dependencies: ["ForgeCore", "ForgeKernels"], swiftSettings: fastFlags),
        .target(name: "ForgeTokenizer", dependencies: ["ForgeCore"], swiftSettings: fastFlags),
        .target(name: "ForgeModels", dependencies: ["ForgeCore", "ForgeKernels", "ForgeAutograd", "ForgeTokenizer"],
                swiftSettings: fastFlags),
        // Distributed jobs: Open MPI (loaded at run time) and sums that do not depend on the rank count.
        .target(name: "ForgeDistributed", dependencies: ["ForgeCore"], swiftSettings: fastFlags),
        .target(name: "ForgeTrain", dependencies: ["ForgeCore", "ForgeDistributed", "ForgeKernels", "ForgeAutograd", "ForgeModels", "ForgeTokenizer", "ForgeData",
                                             "ForgeInference", "ForgeEval"],
                swiftSettings: fastFlags),
        .target(name: "ForgeData", dependencies: ["ForgeCore", "ForgeDistributed", "ForgeTokenizer", "CZlib", "CZstd"], swiftSettings: fastFlags),
        .target(name: "ForgeInference", dependencies: ["ForgeCore", "ForgeKernels", "ForgeModels", "ForgeTokenizer"],
                swiftSettings: fastFlags),
        .target(name: "ForgeReference", dependencies: [], swiftSettings: fastFlags),
        // Tool calling: tool definitions, each family's call format, prompts with tools (or the fallback), reply parsing.
        .target(name: "ForgeTools", dependencies: ["ForgeCore", "ForgeTokenizer", "ForgeInference"], swiftSettings: fastFlags),
        // The agent loop, its built-in tools and MCP servers over stdio (the official Swift SDK's client).
        .target(name: "ForgeAgent", dependencies: ["ForgeCore", "ForgeTokenizer", "ForgeInference", "ForgeTools", "ForgeRetrieval", "Forge",
                                                   .product(name: "MCP", package: "swift-sdk")],
                swiftSettings: fastFlags),
        // The OpenAI-compatible server: Hummingbird 2, swift-log, swift-prometheus.
        .target(name: "ForgeServer",
                dependencies: ["ForgeCore", "ForgeModels", "ForgeTokenizer", "ForgeInference", "ForgeTools", "ForgeFeedback", "ForgeTrain",
                               .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
                               .product(name: "Prometheus", package: "swift-prometheus"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
                swiftSettings: fastFlags),
        // Benchmarks as data, scored as lm-evaluation-harness scores them; the code sandbox; swift-crypto for model hashes.
        .target(name: "ForgeEval",
                dependencies: ["ForgeCore", "ForgeModels", "ForgeTokenizer", "ForgeData", "ForgeInference",
                               .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: fastFlags),
        // Post-training: chat data (Yams for chatterbot's YAML), SFT batches, and the runs built on the Trainer.
        .target(name: "ForgeAlign",
                dependencies: ["ForgeCore", "ForgeAutograd", "ForgeModels", "ForgeTokenizer", "ForgeTrain", "ForgeInference", "ForgeData",
                               .product(name: "Yams", package: "Yams")],
                swiftSettings: fastFlags),
        // Safety: the toxicity classifier and its data (guardrails and red-teaming build on it).
        .target(name: "ForgeSafety",
                dependencies: ["ForgeCore", "ForgeAutograd", "ForgeModels", "ForgeTokenizer", "ForgeTrain", "ForgeData", "ForgeAlign",
                               "ForgeInference", .product(name: "Yams", package: "Yams")],
                swiftSettings: fastFlags),
        // Compression and export: GGUF export, llama.cpp-exact quantization, pruning, distillation.
        .target(name: "ForgeCompress",
                dependencies: ["ForgeCore", "ForgeKernels", "ForgeAutograd", "ForgeModels", "ForgeTokenizer", "ForgeTrain", "ForgeInference"],
                swiftSettings: fastFlags),
        // Retrieval: exact and HNSW vector search, documents/chunks/vectors in SQLite through GRDB, chunking, RAG.
        .target(name: "ForgeRetrieval",
                dependencies: ["ForgeCore", "ForgeData", "ForgeModels", .product(name: "GRDB", package: "GRDB.swift")],
                swiftSettings: fastFlags),
        // The small public API for Swift programs (load, generate, stream, chat); the CLI is written on it.
        .target(name: "ForgeFeedback",
                dependencies: ["ForgeCore", "ForgeTokenizer", .product(name: "GRDB", package: "GRDB.swift")],
                swiftSettings: fastFlags),
        .target(name: "Forge", dependencies: ["ForgeCore", "ForgeModels", "ForgeTokenizer", "ForgeInference"], swiftSettings: fastFlags),
        .executableTarget(
            name: "ForgeCommand",
            dependencies: [
                "Forge", "ForgeCore", "ForgeKernels", "ForgeAutograd", "ForgeModels", "ForgeTokenizer", "ForgeTrain", "ForgeData",
                "ForgeInference", "ForgeServer", "ForgeEval", "ForgeAlign", "ForgeSafety", "ForgeCompress", "ForgeDistributed", "ForgeRetrieval", "ForgeTools", "ForgeAgent", "ForgeFeedback", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/forge",
            swiftSettings: fastFlags),
        // The README's example program: swift run forge-example MODEL "prompt"
        .executableTarget(name: "ForgeExample", dependencies: ["Forge"], path: "Examples/Generate", swiftSettings: fastFlags),
        .testTarget(
            name: "ForgeTests",
            dependencies: ["ForgeCore", "ForgeKernels", "ForgeAutograd", "ForgeModels", "ForgeTokenizer",
                           "ForgeTrain", "ForgeData", "ForgeInference", "ForgeReference", "Forge", "ForgeServer", "ForgeEval", "ForgeAlign", "ForgeSafety", "ForgeCompress", "ForgeDistributed", "ForgeRetrieval", "ForgeTools", "ForgeAgent", "ForgeFeedback", "ForgeCommand",
                           .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["Fixtures"],
            swiftSettings: fastFlags),
    ],
    swiftLanguageModes: [.v6]
)
