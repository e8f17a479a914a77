// RunsEndpoints: the runs dashboard's routes (with `forge serve --runs DIR`). GET /runs is the page (public: it holds
// no data); the data comes from admin-only JSON routes: GET /v1/runs (every run's summary and a version that changes
// when its files do, for polling), GET /v1/runs/NAME (settings, loss curves as SVG, evals, model card) and
// GET /v1/runs/compare?names=A,B (the settings that differ and the curves overlaid).
import ForgeTrain
import Foundation
import Hummingbird
import NIOCore

extension OpenAIServer {
    /// Adds /runs and the /v1/runs routes to `router`; without a runs folder they answer 404.
    func addRunsRoutes(to router: Router<BasicRequestContext>) {
        let catalog = options.runsFolder.map { RunCatalog(folder: $0) }
        router.get("/runs") { _, _ in
            guard catalog != nil else { return Self.error(Self.noRuns) }
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: RunsPage.html)))
        }
        router.get("/v1/runs") { request, _ in
            self.runsResponse(request, catalog) { c in ["object": "list", "data": try c.runs().map(RunsJSON.summary)] }
        }
        router.get("/v1/runs/compare") { request, _ in
            let names = (request.uri.queryParameters.get("names") ?? "").split(separator: ",").map(String.init)
            return self.runsResponse(request, catalog) { c in
                guard !names.isEmpty else { throw APIError.invalid("Give the runs to compare: ?names=A,B.", param: "names") }
                return RunsJSON.comparison(try names.map { try c.run($0) })
            }
        }
        router.get("/v1/runs/:name") { request, context in
            let raw = context.parameters.get("name") ?? ""
            let name = raw.removingPercentEncoding ?? raw
            return self.runsResponse(request, catalog) { c in RunsJSON.detail(try c.run(name)) }
        }
    }

    static let noRuns = APIError(status: 404, "This server shows no runs (start it with --runs DIR).", code: "not_found")

    /// Admin only; catalog lookups that fail are 400 (a bad name) or 404 (no such run), a missing folder 500.
    func runsResponse(_ request: Request, _ catalog: RunCatalog?, _ body: (RunCatalog) throws -> [String: Any]) -> Response {
        do {
            guard let catalog else { throw Self.noRuns }
            let access = try options.keys.authorize(request.headers[.authorization])
            try access.require(.admin, for: "see the runs dashboard")
            return Self.json(try body(catalog))
        } catch let e as APIError {
            return Self.error(e)
        } catch let e as RunCatalog.LookupError {
            switch e {
            case .invalidName: return Self.error(APIError.invalid(e.description, param: "name"))
            case .notFound: return Self.error(APIError(status: 404, e.description, code: "run_not_found"))
            }
        } catch {
            return Self.error(APIError(status: 500, "\(error)", type: "server_error"))
        }
    }
}

/// Runs as JSON objects (numbers that are missing or not finite are null).
enum RunsJSON {
    static func summary(_ r: RunRecord) -> [String: Any] {
        [
            "name": r.name, "status": r.status.rawValue, "version": r.version, "steps": r.steps,
            "last_train_loss": number(r.lastTrainLoss), "best_val_loss": number(r.bestValLoss), "tokens": r.tokens ?? NSNull(),
            "skipped_lines": r.skippedLines, "updated": r.updated.map { ISO8601DateFormatter().string(from: $0) } ?? NSNull(),
            "evals": r.evals.map { e in
                ["task": e.task, "metric": e.metric, "value": number(e.value), "stderr": number(e.stderr), "n": e.n ?? NSNull()] as [String: Any]
            },
            "sparkline": LossPlot.sparkline(r.metrics),
        ]
    }

    static func detail(_ r: RunRecord) -> [String: Any] {
        summary(r).merging([
            "settings": r.settings, "model_card": r.modelCard ?? NSNull(),
            "svg": LossPlot.svg(r.metrics, title: "\(r.name): loss (nats per token, log scale)"),
        ]) { a, _ in a }
    }

    static func comparison(_ runs: [RunRecord]) -> [String: Any] {
        [
            "runs": runs.map(summary),
            "settings": RunCatalog.differingSettings(runs).map { ["key": $0.key, "values": $0.values.map { $0 ?? NSNull() as Any }] as [String: Any] },
            "svg": LossPlot.overlay(runs.map { ($0.name, $0.metrics) }, title: "loss (nats per token, log scale)"),
        ]
    }

    static func number(_ d: Double?) -> Any { d.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
}
