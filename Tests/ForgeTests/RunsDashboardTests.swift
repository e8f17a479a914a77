// The runs dashboard: RunCatalog on synthetic run dirs and on a real tiny run, the overlaid SVG (one path per curve,
// well-formed, nothing external), `forge runs list|compare`, the admin-only /v1/runs routes over loopback, and
// headless Chromium on /runs (key prompt, both runs with curves, the overlay, live update from metrics.jsonl).
import ForgeCore
@testable import ForgeTrain
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// A folder with three runs: `a` (finished: model/config.json, an eval, a model card, train and val curves), `b`
/// (running: a train curve with a corrupt line and a half-written last line) and, with `trained`, `tiny`: a real
/// 10-step `forge pretrain` run. Also a folder that is no run and a hidden one, which are not listed.
func writeRuns(_ dir: String, trained: Bool) throws -> String {
    let folder = dir + "/runs", fm = FileManager.default
    for d in ["a/model", "a/eval", "b", "notes", ".hidden"] { try fm.createDirectory(atPath: "\(folder)/\(d)", withIntermediateDirectories: true) }
    var a = (0...4).map { MetricRecord(kind: "val", step: $0 * 5, values: ["val_loss": 5 - 0.1 * Double($0 * 5)]).jsonLine }
    a += (1...20).map { MetricRecord(kind: "train", step: $0, values: ["loss": 5.5 - 0.12 * Double($0), "tokens": Double(64 * $0)]).jsonLine }
    try (a.joined(separator: "\n") + "\n").write(toFile: folder + "/a/metrics.jsonl", atomically: true, encoding: .utf8)
    try #"{"architectures": ["GPT2LMHeadModel"], "n_layer": 2, "n_embd": 32, "tie_word_embeddings": true}"#
        .write(toFile: folder + "/a/model/config.json", atomically: true, encoding: .utf8)
    try #"{"task": "nextline", "n": 40, "metrics": {"acc": {"value": 0.4, "stderr": 0.07}}}"#
        .write(toFile: folder + "/a/eval/nextline.json", atomically: true, encoding: .utf8)
    try "# a\n\nA tiny model.\n".write(toFile: folder + "/a/model/README.md", atomically: true, encoding: .utf8)
    // The last record's token count is null (not finite).
    var b = (1...10).map { MetricRecord(kind: "train", step: $0, values: ["loss": 5.5 - 0.2 * Double($0), "tokens": $0 < 10 ? Double(64 * $0) : .nan]).jsonLine }
    b.insert("{\"kind\": \"train\", \"step\": 3, \"loss\": oops}", at: 3)
    try (b.joined(separator: "\n") + "\n{\"kind\":\"tra").write(toFile: folder + "/b/metrics.jsonl", atomically: true, encoding: .utf8)
    try "x".write(toFile: folder + "/notes/readme.txt", atomically: true, encoding: .utf8)
    try "".write(toFile: folder + "/.hidden/metrics.jsonl", atomically: true, encoding: .utf8)
    if trained {
        let (train, val) = try writeToyShards(dir)
        let r = try runForge(["pretrain", "--train", train, "--val", val, "--run", folder + "/tiny", "--steps", "10"] + tinyTrainArgs)
        guard r.status == 0 else { throw ForgeError("forge pretrain failed: \(r.stderr)") }
    }
    return folder
}

/// The elements of an XML document by name, with their attributes; nil when it does not parse.
func xmlElements(_ text: String) -> [(String, [String: String])]? {
    final class Collector: NSObject, XMLParserDelegate {
        var elements: [(String, [String: String])] = []
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String]) {
            elements.append((name, attributes))
        }
    }
    let parser = XMLParser(data: Data(text.utf8)), collector = Collector()
    parser.delegate = collector
    return parser.parse() ? collector.elements : nil
}

@Suite(.serialized) struct RunsDashboardTests {
    @Test func catalogReadsRuns() throws {
        let dir = temporaryDirectory("runs-catalog")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let folder = try writeRuns(dir, trained: true)
        let catalog = RunCatalog(folder: folder)
        #expect(try catalog.names() == ["a", "b", "tiny"])

        let a = try catalog.run("a")
        #expect(a.status == .finished && a.steps == 20 && a.skippedLines == 0 && a.tokens == 1280)
        #expect(abs((a.lastTrainLoss ?? 0) - 3.1) < 1e-9 && a.bestValLoss == 3)
        #expect(a.evals == [EvalScore(task: "nextline", metric: "acc", value: 0.4, stderr: 0.07, n: 40)])
        #expect(a.modelCard?.contains("A tiny model.") == true)
        #expect(a.settings["model.n_layer"] == "2" && a.settings["model.architectures"] == "GPT2LMHeadModel"
                && a.settings["model.tie_word_embeddings"] == "true")

        // The corrupt line is skipped and counted; the half-written last one is not counted.
        let b = try catalog.run("b")
        #expect(b.status == .running && b.steps == 10 && b.skippedLines == 1 && b.bestValLoss == nil && b.metrics.count == 10 && b.tokens == 576)
        #expect(RunCatalog.differingSettings([a, b]).map(\.key).contains("model.n_layer"))

        // A real run: its settings come from the checkpoint's training state.
        let tiny = try catalog.run("tiny")
        #expect(tiny.status == .finished && tiny.steps == 10 && tiny.skippedLines == 0)
        #expect(tiny.settings["training.steps"] == "10" && tiny.settings["model.layers"] == "1" && tiny.settings["model.width"] == "32")
        #expect(tiny.bestValLoss != nil && (tiny.tokens ?? 0) > 0 && (tiny.lastTrainLoss ?? .nan).isFinite)

        // A growing metrics.jsonl is read again; an unchanged one is not.
        #expect(try catalog.run("b").version == b.version)
        let handle = FileHandle(forWritingAtPath: folder + "/b/metrics.jsonl")!
        handle.seekToEndOfFile()
        handle.write(Data("in\",\"step\":11,\"loss\":3.1}\n".utf8))
        try handle.close()
        let grown = try catalog.run("b")
        #expect(grown.version != b.version && grown.steps == 11 && grown.skippedLines == 1 && grown.metrics.count == 11)
        // A file replaced by a shorter one (a resumed run rewrites it) is read again from its start.
        let rewritten = (1...3).map { MetricRecord(kind: "train", step: $0, values: ["loss": 4]).jsonLine + "\n" }.joined()
        try AtomicFile.write(folder + "/b/metrics.jsonl", string: rewritten)
        let replaced = try catalog.run("b")
        #expect(replaced.steps == 3 && replaced.metrics.count == 3 && replaced.skippedLines == 0)

        for bad in ["..", "../a", "a/model", ".hidden", ""] {
            #expect(throws: RunCatalog.LookupError.invalidName(bad)) { try catalog.run(bad) }
        }
        #expect(throws: RunCatalog.LookupError.notFound("notes", folder: folder)) { try catalog.run("notes") }
        #expect(throws: ForgeError.self) { try RunCatalog(folder: dir + "/missing").names() }
    }

    @Test func overlaidCurvesAreOnePathPerCurve() throws {
        let dir = temporaryDirectory("runs-svg")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let catalog = RunCatalog(folder: try writeRuns(dir, trained: false))
        let runs = try catalog.runs()
        let svg = LossPlot.overlay(runs.map { ($0.name, $0.metrics) }, title: "a & b <compared>")
        let elements = try #require(xmlElements(svg), "the overlay is not well-formed XML")
        let paths = elements.filter { $0.0 == "path" }.map { "\($0.1["data-run"] ?? "?") \($0.1["data-series"] ?? "?")" }
        #expect(paths.sorted() == ["a train", "a val", "b train"])
        #expect(elements.first?.0 == "svg" && svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        // Nothing external: no links, images, stylesheets or fonts.
        for e in elements { #expect(!e.1.keys.contains { $0.contains("href") } && !["image", "use", "style", "foreignObject"].contains(e.0)) }
        #expect(!svg.contains("url(") && svg.components(separatedBy: "http").count == 2)
        // A long run's curves are thinned to the plot's resolution.
        let long = (1...20_000).map { MetricRecord(kind: "train", step: $0, values: ["loss": 3 + sin(Double($0))]) }
        #expect(LossPlot.sparkline(long).utf8.count < 4_000 && LossPlot.overlay([("long", long)], title: "").utf8.count < 30_000)
        for r in runs {
            let one = try #require(xmlElements(LossPlot.svg(r.metrics, title: r.name)))
            #expect(one.contains { $0.0 == "path" })
            #expect(xmlElements(LossPlot.sparkline(r.metrics))?.filter { $0.0 == "path" }.count == 1)
        }
    }

    @Test func commandLine() throws {
        let dir = temporaryDirectory("runs-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let folder = try writeRuns(dir, trained: false)
        let list = try runForge(["runs", "list", "--dir", folder])
        #expect(list.status == 0, "\(list.stderr)")
        let lines = list.stdout.split(separator: "\n")
        #expect(lines.count == 5 && lines[2].hasPrefix("a ") && lines[2].contains("finished") && lines[2].contains("nextline acc 0.4000"))
        #expect(lines[3].hasPrefix("b ") && lines[3].contains("running") && lines[4].contains("1 corrupt line"))
        let compare = try runForge(["runs", "compare", "a", "b", "--dir", folder, "--output", dir + "/c.svg"])
        #expect(compare.status == 0 && compare.stdout.contains("Settings that differ") && compare.stdout.contains("model.n_layer"))
        #expect(xmlElements((try? String(contentsOfFile: dir + "/c.svg", encoding: .utf8)) ?? "")?.filter { $0.0 == "path" }.count == 3)
        let missing = try runForge(["runs", "list", "--dir", dir + "/nope"])
        #expect(missing.status != 0 && missing.stderr.contains(dir + "/nope") && missing.stderr.contains("no such directory"))
        let serve = try runForge(["serve", "--model", dir + "/no-model", "--runs", dir + "/nope"])
        #expect(serve.status != 0 && serve.stderr.contains(dir + "/nope: no such directory"), "\(serve.stderr)")
        let outside = try runForge(["runs", "compare", "a", "../runs/a", "--dir", folder, "--output", dir + "/d.svg"])
        #expect(outside.status != 0 && outside.stderr.contains("is not a run name") && !FileManager.default.fileExists(atPath: dir + "/d.svg"))
    }

    /// The JSON routes are an admin's: a user or reviewer gets 403, no key 401; unknown runs 404, names leaving the
    /// folder 400; schemathesis finds them as /openapi.json documents them. Then headless Chromium on /runs; its
    /// screenshot goes to .build/artifacts/runs-page.png.
    @Test func dashboardOverHTTPAndInChromium() async throws {
        let dir = temporaryDirectory("runs-serve")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let folder = try writeRuns(dir, trained: true)
        try "admin-key role=admin\nuser-key\nreview-key role=reviewer\n".write(toFile: dir + "/keys", atomically: true, encoding: .utf8)
        let server = try ServerProcess(["--model", folder + "/tiny/model", "--runs", folder, "--api-key-file", dir + "/keys"])
        let (code, _, body) = try await http("GET", server.base + "/v1/runs", headers: ["Authorization": "Bearer admin-key"])
        let list = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        #expect(code == 200 && (list?["data"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["a", "b", "tiny"])
        let cases: [(String, String?, Int)] = [
            ("/v1/runs", "user-key", 403), ("/v1/runs", "review-key", 403), ("/v1/runs", nil, 401), ("/v1/runs/a", "user-key", 403),
            ("/v1/runs/a", "admin-key", 200), ("/v1/runs/compare?names=a,tiny", "admin-key", 200), ("/runs", nil, 200),
            ("/v1/runs/zz", "admin-key", 404), ("/v1/runs/notes", "admin-key", 404), ("/v1/runs/%2E%2E", "admin-key", 400),
            ("/v1/runs/..%2Fkeys", "admin-key", 400), ("/v1/runs/compare?names=a,..", "admin-key", 400),
        ]
        for (path, key, expected) in cases {
            let got = try await http("GET", server.base + path, headers: key.map { ["Authorization": "Bearer \($0)"] } ?? [:]).0
            #expect(got == expected, "GET \(path) with \(key ?? "no key")")
        }

        // schemathesis on the runs routes /openapi.json documents: no 5xx, documented statuses and shapes, 405s.
        let fuzz = try runPythonJSON("schemathesis_check.py", [server.base, "admin-key", "40", "^/v1/runs"])
        #expect(fuzz["status"] as? Int == 0, "\(fuzz["output"] as? String ?? "")")

        let shot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/artifacts/runs-page.png").path
        let out = try runPython("runs_page.py", [server.base, folder, "a", "tiny", "user-key", "admin-key", shot],
                                hint: "the test command installs Debian's chromium and websocket-client") as? [String: Any] ?? [:]
        let failures = out["failures"] as? [String] ?? ["no output"]
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect((out["checks"] as? [String])?.count == 7)
        #expect(FileManager.default.fileExists(atPath: shot))
        #expect(server.stop() == 0)
    }
}
