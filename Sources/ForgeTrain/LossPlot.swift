// LossPlot: self-contained SVGs of training and validation loss against steps: one run's curves, several runs'
// curves overlaid (one colour per run), and a small sparkline of a run's train loss. Nothing is fetched.
import Foundation

/// Renders loss curves as SVG.
public enum LossPlot {
    /// Train loss (thin, raw; thick, smoothed) and validation loss (points) from metric records.
    public static func svg(_ records: [MetricRecord], title: String, width: Int = 720, height: Int = 400) -> String {
        let train = trainLoss(records), val = valLoss(records)
        let frame = Frame(points: train + val, width: width, height: height)
        var s = frame.open(title: title)
        if !train.isEmpty {
            s += "<path d=\"\(frame.path(train))\" fill=\"none\" stroke=\"#9ecae1\" stroke-width=\"1\"/>\n"
            s += "<path d=\"\(frame.path(smoothed(train)))\" fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\"/>\n"
        }
        for p in val {
            s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#d94801\"/>\n", frame.x(p.0), frame.y(p.1))
        }
        if val.count > 1 { s += "<path d=\"\(frame.path(val))\" fill=\"none\" stroke=\"#d94801\" stroke-width=\"1.5\"/>\n" }
        s += String(format: "<text x=\"%.0f\" y=\"%.0f\" fill=\"#08519c\">train loss</text>", frame.left + frame.pw - 150, frame.top + 16)
        s += String(format: "<text x=\"%.0f\" y=\"%.0f\" fill=\"#d94801\">val loss</text>\n", frame.left + frame.pw - 70, frame.top + 16)
        return s + "</svg>\n"
    }

    /// Several runs on one set of axes: per run, its smoothed train loss (solid) and its validation loss (dashed, with
    /// points), in the run's colour. Each curve is one `<path>` with `data-run` and `data-series` (train or val).
    public static func overlay(_ runs: [(name: String, records: [MetricRecord])], title: String, width: Int = 720, height: Int = 400) -> String {
        let curves = runs.map { (name: $0.name, train: smoothed(trainLoss($0.records)), val: valLoss($0.records)) }
        let frame = Frame(points: curves.flatMap { $0.train + $0.val }, width: width, height: height)
        var s = frame.open(title: title)
        for (i, c) in curves.enumerated() {
            let colour = palette[i % palette.count], name = escape(c.name)
            if !c.train.isEmpty {
                s += "<path data-run=\"\(name)\" data-series=\"train\" d=\"\(frame.path(c.train))\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
            }
            if !c.val.isEmpty {
                s += "<path data-run=\"\(name)\" data-series=\"val\" d=\"\(frame.path(c.val))\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>\n"
                for p in c.val { s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>\n", frame.x(p.0), frame.y(p.1), colour) }
            }
            s += String(format: "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" fill=\"%@\">%@</text>\n",
                        frame.left + frame.pw - 8, frame.top + 32 + 15 * Double(i), colour, name)
        }
        s += String(format: "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" fill=\"#555\">solid: train (smoothed) · dashed: val</text>\n",
                    frame.left + frame.pw - 8, frame.top + 16)
        return s + "</svg>\n"
    }

    /// A small curve of the smoothed train loss alone (no axes or text), for tables.
    public static func sparkline(_ records: [MetricRecord], width: Int = 120, height: Int = 28) -> String {
        let train = smoothed(trainLoss(records))
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\">"
        if !train.isEmpty {
            let frame = Frame(points: train, width: width, height: height, margins: (2, 2, 2, 2))
            s += "<path d=\"\(frame.path(train))\" fill=\"none\" stroke=\"#08519c\" stroke-width=\"1.5\"/>"
        }
        return s + "</svg>"
    }

    static let palette = ["#08519c", "#d94801", "#238b45", "#6a51a3", "#a50f15", "#525252", "#0c8a8a", "#b8860b"]

    static func trainLoss(_ records: [MetricRecord]) -> [(Double, Double)] {
        records.filter { $0.kind == "train" }.compactMap { r in r.values["loss"].map { (Double(r.step), $0) } }
    }

    static func valLoss(_ records: [MetricRecord]) -> [(Double, Double)] {
        records.filter { $0.kind == "val" }.compactMap { r in r.values["val_loss"].map { (Double(r.step), $0) } }
    }

    /// An exponential moving average (0.9) of the losses.
    static func smoothed(_ points: [(Double, Double)]) -> [(Double, Double)] {
        var ema: Double?
        return points.map { s, l in
            let e = ema.map { 0.9 * $0 + 0.1 * l } ?? l
            ema = e
            return (s, e)
        }
    }

    /// Text for SVG text and attribute values.
    static func escape(_ t: String) -> String {
        t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// The plot area: steps on x (from 0), loss on a log-scaled y (the first steps fall fast; the later, slower progress
    /// is what matters), with the SVG's opening, title, grid, labels and border.
    struct Frame {
        let width: Int, height: Int
        let left: Double, top: Double, pw: Double, ph: Double
        let maxStep: Double, lo: Double, logLo: Double, logHi: Double

        init(points: [(Double, Double)], width: Int, height: Int, margins: (Double, Double, Double, Double) = (60, 20, 36, 44)) {
            let all = points.filter { $0.1.isFinite }
            let (left, right, top, bottom) = margins
            (self.width, self.height, self.left, self.top) = (width, height, left, top)
            pw = Double(width) - left - right
            ph = Double(height) - top - bottom
            maxStep = max(1, all.map(\.0).max() ?? 1)
            var lo = max(1e-3, all.map(\.1).min() ?? 1), hi = max(lo * 1.01, all.map(\.1).max() ?? 2)
            lo /= 1.03
            hi *= 1.03
            self.lo = lo
            (logLo, logHi) = (Foundation.log(lo), Foundation.log(hi))
        }

        func x(_ s: Double) -> Double { left + s / maxStep * pw }
        func y(_ l: Double) -> Double { top + (1 - (Foundation.log(max(l, lo)) - logLo) / (logHi - logLo)) * ph }

        /// The points as a path, thinned to one every half pixel along x (the last one kept), so that a long run's
        /// curve stays a few kilobytes.
        func path(_ pts: [(Double, Double)]) -> String {
            var parts: [String] = [], lastX = -Double.infinity
            for (i, p) in pts.enumerated() where x(p.0) - lastX >= 0.5 || i == pts.count - 1 {
                lastX = x(p.0)
                parts.append(String(format: "%@%.1f,%.1f", parts.isEmpty ? "M" : "L", lastX, y(p.1)))
            }
            return parts.joined(separator: " ")
        }

        func open(title: String) -> String {
            var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
            s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
            s += "<text x=\"\(Int(left))\" y=\"22\" font-size=\"15\">\(LossPlot.escape(title))</text>\n"
            for i in 0...5 {
                let l = Foundation.exp(logLo + (logHi - logLo) * Double(i) / 5)
                s += String(format: "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, left + pw, y(l), y(l))
                s += String(format: "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", left - 6, y(l) + 4, l)
                let st = maxStep * Double(i) / 5
                s += String(format: "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", x(st), top + ph + 18, st)
            }
            s += String(format: "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">step</text>\n", left + pw / 2, height - 6)
            s += String(format: "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", left, top, pw, ph)
            return s
        }
    }
}
