// LossPlot: a self-contained SVG of training and validation loss against steps.
import Foundation

/// Renders loss curves as SVG.
public enum LossPlot {
    /// Train loss (thin, raw; thick, smoothed) and validation loss (points) from metric records.
    public static func svg(_ records: [MetricRecord], title: String, width: Int = 720, height: Int = 400) -> String {
        let train = records.filter { $0.kind == "train" }.compactMap { r in r.values["loss"].map { (Double(r.step), $0) } }
        let val = records.filter { $0.kind == "val" }.compactMap { r in r.values["val_loss"].map { (Double(r.step), $0) } }
        var smooth: [(Double, Double)] = []
        var ema: Double?
        for (s, l) in train {
            ema = ema.map { 0.9 * $0 + 0.1 * l } ?? l
            smooth.append((s, ema!))
        }
        let all = (train + val).filter { $0.1.isFinite }
        let (left, right, top, bottom) = (60.0, 20.0, 36.0, 44.0)
        let pw = Double(width) - left - right, ph = Double(height) - top - bottom
        let maxStep = max(1, all.map(\.0).max() ?? 1)
        // Log-scaled y axis: the first steps fall fast, and the later, slower progress is what matters.
        var lo = max(1e-3, all.map(\.1).min() ?? 1), hi = max(lo * 1.01, all.map(\.1).max() ?? 2)
        lo /= 1.03
        hi *= 1.03
        let (logLo, logHi) = (Foundation.log(lo), Foundation.log(hi))
        func x(_ s: Double) -> Double { left + s / maxStep * pw }
        func y(_ l: Double) -> Double { top + (1 - (Foundation.log(max(l, lo)) - logLo) / (logHi - logLo)) * ph }
        func path(_ pts: [(Double, Double)]) -> String {
            pts.enumerated().map { i, p in String(format: "%@%.1f,%.1f", i == 0 ? "M" : "L", x(p.0), y(p.1)) }.joined(separator: " ")
        }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(Int(left))\" y=\"22\" font-size=\"15\">\(escape(title))</text>\n"
        for i in 0...5 {
            let l = Foundation.exp(logLo + (logHi - logLo) * Double(i) / 5)
            s += String(format: "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, left + pw, y(l), y(l))
            s += String(format: "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", left - 6, y(l) + 4, l)
            let st = maxStep * Double(i) / 5
            s += String(format: "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", x(st), top + ph + 18, st)
        }
        s += String(format: "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">step</text>\n", left + pw / 2, height - 6)
        s += String(format: "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", left, top, pw, ph)
        if !train.isEmpty {
            s += "<path d=\"\(path(train))\" fill=\"none\" stroke=\"#9ecae1\" stroke-width=\"1\"/>\n"
            s += "<path d=\"\(path(smooth))\" fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\"/>\n"
        }
        for p in val {
            s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#d94801\"/>\n", x(p.0), y(p.1))
        }
        if val.count > 1 { s += "<path d=\"\(path(val))\" fill=\"none\" stroke=\"#d94801\" stroke-width=\"1.5\"/>\n" }
        s += String(format: "<text x=\"%.0f\" y=\"%.0f\" fill=\"#08519c\">train loss</text>", left + pw - 150, top + 16)
        s += String(format: "<text x=\"%.0f\" y=\"%.0f\" fill=\"#d94801\">val loss</text>\n", left + pw - 70, top + 16)
        s += "</svg>\n"
        return s
    }

    static func escape(_ t: String) -> String {
        t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
