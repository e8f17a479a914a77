// The forge executable end to end: bad input gives one clear line naming the file and a non-zero
// exit without touching good files; Ctrl-C checkpoints and --resume continues exactly; sample works.
import ForgeCore
import ForgeTrain
import Foundation
import Testing

/// Path of the built `forge` next to the test bundle.
let forgeBinary: String = {
    let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for dir in [bundleDir, bundleDir.deletingLastPathComponent()] {
        let p = dir.appendingPathComponent("forge").path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/forge").path
}()

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs forge with arguments; `interruptWhen` sends SIGINT once stderr contains that text.
func runForge(_ args: [String], cwd: String? = nil, interruptWhen: String? = nil, stdin: String? = nil) throws -> RunResult {
    let p = Process()
    let input = Pipe()
    if stdin != nil { p.standardInput = input }
    p.executableURL = URL(fileURLWithPath: forgeBinary)
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    var env = ProcessInfo.processInfo.environment
    env["FORGE_THREADS"] = "2"
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let errData = UncheckedBox(Data()), outData = UncheckedBox(Data())
    let lock = NSLock()
    err.fileHandleForReading.readabilityHandler = { h in
        let d = h.availableData
        lock.lock(); errData.value.append(d); lock.unlock()
    }
    out.fileHandleForReading.readabilityHandler = { h in
        let d = h.availableData
        lock.lock(); outData.value.append(d); lock.unlock()
    }
    try p.run()
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
    }
    var sent = false
    while p.isRunning {
        if let marker = interruptWhen, !sent {
            lock.lock(); let text = String(decoding: errData.value, as: UTF8.self); lock.unlock()
            if text.contains(marker) { p.interrupt(); sent = true }
        }
        usleep(2000)
    }
    p.waitUntilExit()
    err.fileHandleForReading.readabilityHandler = nil
    out.fileHandleForReading.readabilityHandler = nil
    let rest = err.fileHandleForReading.readDataToEndOfFile(), restOut = out.fileHandleForReading.readDataToEndOfFile()
    lock.lock()
    errData.value.append(rest); outData.value.append(restOut)
    let e = errData.value, o = outData.value
    lock.unlock()
    return RunResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { value = v }
}

let tinyTrainArgs = ["--layers", "1", "--width", "32", "--heads", "2", "--seq", "16", "--batch", "4", "--eval-every", "5",
                     "--eval-batches", "2", "--warmup", "2", "--threads", "2"]

@Suite(.serialized) struct CommandLineTests {
    @Test func unknownOptionFails() throws {
        let r = try runForge(["pretrain", "--train", "x.bin", "--run", "r", "--no-such-option", "3"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--no-such-option"))
    }

    @Test func missingShardNamesTheFile() throws {
        let dir = temporaryDirectory("cli-missing")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runForge(["pretrain", "--train", dir + "/nope.bin", "--run", dir + "/run"] + tinyTrainArgs)
        #expect(r.status != 0)
        #expect(r.stderr.contains(dir + "/nope.bin") && r.stderr.contains("no such token shard"), "stderr: \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count <= 2, "expected a one-line error, got: \(r.stderr)")
    }

    @Test func truncatedShardNamesTheProblem() throws {
        let dir = temporaryDirectory("cli-trunc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, _) = try writeToyShards(dir)
        let data = FileManager.default.contents(atPath: train)!
        try data.prefix(data.count - 7).write(to: URL(fileURLWithPath: train))
        let r = try runForge(["pretrain", "--train", train, "--run", dir + "/run"] + tinyTrainArgs)
        #expect(r.status != 0)
        #expect(r.stderr.contains(train) && r.stderr.contains("truncated"), "stderr: \(r.stderr)")
        let short = dir + "/short.bin"
        try Data("FORGE".utf8).write(to: URL(fileURLWithPath: short))
        let r2 = try runForge(["pretrain", "--train", short, "--run", dir + "/run"] + tinyTrainArgs)
        #expect(r2.status != 0 && r2.stderr.contains("truncated"), "stderr: \(r2.stderr)")
    }

    @Test func tokenOutsideVocabularyIsRefused() throws {
        let dir = temporaryDirectory("cli-vocab")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TokenShard.write([1, 2, 300, 4] + Array(repeating: 1, count: 100), vocabSize: 512, to: dir + "/t.bin")
        let r = try runForge(["pretrain", "--train", dir + "/t.bin", "--run", dir + "/run", "--vocab", "256"] + tinyTrainArgs)
        #expect(r.status != 0 && r.stderr.contains("vocabulary"), "stderr: \(r.stderr)")
    }

    @Test func interruptCheckpointsAndResumeMatchesAStraightRun() throws {
        let dir = temporaryDirectory("cli-resume")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, val) = try writeToyShards(dir)
        let common = ["--train", train, "--val", val, "--steps", "3000", "--checkpoint-every", "0"] + tinyTrainArgs
        let straight = try runForge(["pretrain", "--run", dir + "/a"] + common)
        #expect(straight.status == 0, "stderr: \(straight.stderr)")

        let stopped = try runForge(["pretrain", "--run", dir + "/b"] + common, interruptWhen: "val loss")
        #expect(stopped.status == 130, "stderr: \(stopped.stderr)")
        #expect(stopped.stderr.contains("interrupted"))
        let ckpt = try Checkpoint.load(from: dir + "/b/checkpoint.safetensors")
        #expect(ckpt.state.step < 3000, "the run finished before the interrupt arrived")

        let resumed = try runForge(["pretrain", "--run", dir + "/b", "--resume"] + common)
        #expect(resumed.status == 0, "stderr: \(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming at step \(ckpt.state.step)"))
        let a = try String(contentsOfFile: dir + "/a/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap { MetricRecord(jsonLine: String($0)) }
        let b = try String(contentsOfFile: dir + "/b/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap { MetricRecord(jsonLine: String($0)) }
        #expect(a.count == b.count)
        for (x, y) in zip(a, b) {
            #expect(x.step == y.step && x.kind == y.kind)
            #expect(x.values["loss"] == y.values["loss"] && x.values["val_loss"] == y.values["val_loss"], "step \(x.step)")
        }
        let wa = FileManager.default.contents(atPath: dir + "/a/model/model.safetensors")
        let wb = FileManager.default.contents(atPath: dir + "/b/model/model.safetensors")
        #expect(wa != nil && wa == wb, "final weights differ")

        // A fresh run may not overwrite an existing checkpoint.
        let again = try runForge(["pretrain", "--run", dir + "/b"] + common)
        #expect(again.status != 0 && again.stderr.contains("already exists"), "stderr: \(again.stderr)")

        // Sampling from the finished model works and is reproducible with a seed.
        let s1 = try runForge(["generate", "--model", dir + "/a/model", "--prompt", "ab", "-n", "20", "--seed", "3"])
        let s2 = try runForge(["generate", "--model", dir + "/a/model", "--prompt", "ab", "-n", "20", "--seed", "3"])
        #expect(s1.status == 0, "stderr: \(s1.stderr)")
        #expect(s1.stdout == s2.stdout && s1.stdout.hasPrefix("ab") && s1.stdout.utf8.count >= 22)
    }

    @Test func corruptCheckpointIsRefusedAndKept() throws {
        let dir = temporaryDirectory("cli-corrupt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, val) = try writeToyShards(dir)
        let common = ["--train", train, "--val", val, "--run", dir + "/r"] + tinyTrainArgs
        let r = try runForge(["pretrain", "--steps", "6"] + common)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let path = dir + "/r/checkpoint.safetensors"
        var bytes = FileManager.default.contents(atPath: path)!
        bytes[bytes.count - 100] ^= 0x40  // flip one bit in the data
        try bytes.write(to: URL(fileURLWithPath: path))
        let resumed = try runForge(["pretrain", "--steps", "12", "--resume"] + common)
        #expect(resumed.status != 0)
        #expect(resumed.stderr.contains(path) && resumed.stderr.contains("checksum"), "stderr: \(resumed.stderr)")
        #expect(FileManager.default.contents(atPath: path) == bytes, "the damaged checkpoint was overwritten")
        // Truncated: header intact, data short.
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        let truncated = try runForge(["pretrain", "--steps", "12", "--resume"] + common)
        #expect(truncated.status != 0 && truncated.stderr.contains("truncated"), "stderr: \(truncated.stderr)")
    }

    @Test func configThatDoesNotFitTheWeights() throws {
        let dir = temporaryDirectory("cli-config")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, _) = try writeToyShards(dir)
        let r = try runForge(["pretrain", "--train", train, "--run", dir + "/r", "--steps", "2"] + tinyTrainArgs)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let configPath = dir + "/r/model/config.json"
        let text = try String(contentsOfFile: configPath, encoding: .utf8).replacingOccurrences(of: "\"n_embd\" : 32", with: "\"n_embd\" : 48")
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
        let s = try runForge(["generate", "--model", dir + "/r/model", "--prompt", "a", "-n", "5"])
        #expect(s.status != 0)
        #expect(s.stderr.contains("model.safetensors does not fit config.json"), "stderr: \(s.stderr)")
        try "{\"model_type\": \"gpt2\"".write(toFile: configPath, atomically: true, encoding: .utf8)
        let s2 = try runForge(["generate", "--model", dir + "/r/model", "--prompt", "a", "-n", "5"])
        #expect(s2.status != 0 && s2.stderr.contains(configPath), "stderr: \(s2.stderr)")
    }
}
