// Sandbox: generated code runs in its own process tree with limits on CPU time, memory, file size and processes,
// in a temporary directory, as an unprivileged user, without network. Where the kernel allows namespaces
// (`unshare`), the program also gets its own network (loopback only, down), process and mount namespaces: the
// directory is the only place it can write (/tmp, /var/tmp and /dev/shm are empty read-only mounts), and killing the
// sandbox kills every process it started. A wall-clock deadline stops what the CPU limit does not (sleeping, waiting).
import ForgeCore
import Foundation

/// How one program ended.
public struct SandboxOutcome: Sendable {
    public var passed: Bool
    /// passed, failed (exit N: last line of stderr), timed out, killed by signal N.
    public var status: String
    public var seconds: Double
}

public final class Sandbox: @unchecked Sendable, CustomStringConvertible {
    /// Limits: CPU seconds beyond the wall-clock timeout, address space, largest file, processes of the sandbox user.
    public var memoryBytes = 1 << 30
    public var fileBytes = 16 << 20
    public var processes = 64
    /// Namespaces are available here.
    public let isolated: Bool
    /// Running as root: the program runs as nobody (65534) so that the process limit and file permissions apply.
    let dropToNobody: Bool
    let python: String

    /// `python`: the interpreter (default: the system's /usr/bin/python3, which the unprivileged user can run).
    public init(python: String? = nil) {
        self.python = python ?? (FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3")
        dropToNobody = getuid() == 0
        isolated = Sandbox.probe()
    }

    public var description: String {
        (isolated ? "namespaces (net, pid, mount), " : "no namespaces (refused here), ")
            + (dropToNobody ? "user nobody, " : "") + "rlimits: memory \(memoryBytes >> 20) MiB, file \(fileBytes >> 20) MiB, \(processes) processes"
    }

    static func probe() -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "true"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    /// The script that runs inside the namespaces: the work dir bound at a fixed place, writable places hidden.
    static let inside = #"""
    set -e
    work="$1"; shift
    mount --make-rprivate /
    for m in /mnt /srv /media; do [ -d "$m" ] && target="$m" && break; done
    mount --bind "$work" "$target"
    for d in /tmp /var/tmp /dev/shm /run/lock; do [ -d "$d" ] && mount -t tmpfs -o ro,size=4k,mode=0755 tmpfs "$d" || true; done
    cd "$target"
    exec "$@"
    """#

    /// Ends a sandbox: the namespace's first process (unshare's child) and with it every process of the namespace, then
    /// unshare itself. (unshare's --kill-child cannot do it: the parent-death signal is cleared when setpriv changes the user.)
    func killAll(_ pid: pid_t) {
        if isolated, let children = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) {
            for c in children.split(separator: " ") { if let child = pid_t(c) { kill(child, SIGKILL) } }
        }
        kill(pid, SIGKILL)
    }

    /// Runs a Python program; it passes when it exits 0 within `timeout` seconds.
    public func run(python program: String, timeout: Double) -> SandboxOutcome {
        let start = Date()
        let fm = FileManager.default
        let dir = NSTemporaryDirectory() + "forge-sandbox-" + UUID().uuidString
        defer { try? fm.removeItem(atPath: dir) }
        do {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try program.write(toFile: dir + "/program.py", atomically: false, encoding: .utf8)
            if dropToNobody {
                for p in [dir, dir + "/program.py"] { try fm.setAttributes([.ownerAccountID: 65534, .groupOwnerAccountID: 65534], ofItemAtPath: p) }
            }
        } catch {
            return SandboxOutcome(passed: false, status: "failed: sandbox setup: \(error)", seconds: 0)
        }
        let cpu = Int(timeout.rounded(.up)) + 1
        var command = ["prlimit", "--cpu=\(cpu)", "--as=\(memoryBytes)", "--fsize=\(fileBytes)", "--nproc=\(processes)", "--core=0", "--"]
        if dropToNobody { command += ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs", "--"] }
        command += [python, "-I", "-B", "program.py"]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        if isolated {
            p.arguments = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--", "/bin/sh", "-c", Sandbox.inside, "sandbox", dir] + command
        } else {
            p.arguments = command
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
        }
        p.environment = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8",
                         "PYTHONHASHSEED": "0"]
        let errFile = dir + "/.stderr"
        fm.createFile(atPath: errFile, contents: nil)
        let err = FileHandle(forWritingAtPath: errFile)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { return SandboxOutcome(passed: false, status: "failed: cannot start: \(error)", seconds: 0) }
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while p.isRunning {
            if Date() > deadline {
                timedOut = true
                killAll(p.processIdentifier)
                break
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        p.waitUntilExit()
        try? err?.close()
        let seconds = Date().timeIntervalSince(start)
        if timedOut { return SandboxOutcome(passed: false, status: "timed out", seconds: seconds) }
        if p.terminationReason == .uncaughtSignal {
            return SandboxOutcome(passed: false, status: "killed by signal \(p.terminationStatus)", seconds: seconds)
        }
        if p.terminationStatus == 0 { return SandboxOutcome(passed: true, status: "passed", seconds: seconds) }
        let stderr = (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""
        let last = stderr.split(separator: "\n").last.map(String.init) ?? ""
        return SandboxOutcome(passed: false, status: "failed (exit \(p.terminationStatus))" + (last.isEmpty ? "" : ": " + String(last.prefix(200))),
                              seconds: seconds)
    }
}
