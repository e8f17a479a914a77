// The data pipeline: each stage on crafted inputs (including the edges of each rule), near-duplicate
// recall and precision on the two editions of Shakespeare's plays, accounting of every document, and
// bad input recorded in the manifest while the run goes on.
import ForgeCore
import ForgeData
import ForgeTrain
import Foundation
import Testing

func manifestLines(_ dir: String) throws -> [[String: Any]] {
    let data = try #require(FileManager.default.contents(atPath: dir + "/manifest.jsonl"))
    return data.split(separator: 10).map { try! JSONSerialization.jsonObject(with: Data($0)) as! [String: Any] }
}

/// Varied prose that passes the Gopher rules, distinct per seed.
func prose(_ seed: Int, sentences: Int = 12) -> String {
    let words = ["river", "garden", "lantern", "meadow", "harbor", "orchard", "village", "mountain", "library", "kitchen", "bridge",
                 "forest", "watched", "followed", "painted", "crossed", "described", "remembered", "visited", "measured", "quiet",
                 "golden", "ancient", "narrow", "bright", "heavy", "gentle", "distant", "morning", "evening", "winter", "summer",
                 "letter", "window", "traveler", "teacher", "stranger", "captain", "neighbor", "market", "island", "valley",
                 "carried", "opened", "gathered", "answered", "wandered", "promised", "slowly", "often", "almost", "together"]
    let glue = ["the", "and", "of", "to", "with", "that", "in", "a", "was", "for", "on", "by", "from", "as"]
    var rng = RNG(seed: UInt64(seed) &* 7919 &+ 17)
    return (0..<sentences).map { _ in
        let n = 8 + rng.below(8)
        var ws: [String] = []
        for i in 0..<n { ws.append(i % 2 == 1 ? glue[rng.below(glue.count)] : words[rng.below(words.count)]) }
        return ws.joined(separator: " ").capitalized(first: true) + "."
    }.joined(separator: " ")
}

extension String {
    func capitalized(first: Bool) -> String { prefix(1).uppercased() + dropFirst() }
}

@Suite struct DataStageTests {
    @Test func cleaning() {
        let html = "<html><head><title>T</title><style>p{x}</style></head><body><p>Caf&eacute; &amp; more&#33;</p><script>var a=1;</script><!-- c --><div>Two&nbsp;&nbsp;words</div></body></html>"
        #expect(TextCleaner.clean(html, isHTML: true, options: CleanOptions()) == "Café & more!\n\nTwo words")
        #expect(TextCleaner.removeControlCharacters("a\u{0}b\r\nc\rd\u{7}e\u{FEFF}") == "ab\nc\nde")
        #expect(TextCleaner.normalizeWhitespace("  a   b  \n\n\n\n\nc\t \t d  \n\n") == "  a b\n\n\nc d")
        let nfd = "e\u{0301}"
        #expect(TextCleaner.clean(nfd, isHTML: false, options: CleanOptions()).unicodeScalars.count == 1)
        let gutenberg = "Header text\n*** START OF THE PROJECT GUTENBERG EBOOK HAMLET ***\nBody line.\n*** END OF THE PROJECT GUTENBERG EBOOK HAMLET ***\nLicence."
        #expect(TextCleaner.clean(gutenberg, isHTML: false, options: CleanOptions()) == "Body line.")
        #expect(TextCleaner.stripGutenberg("No markers here.") == "No markers here.")
    }

    @Test func qualityRulesAtTheirEdges() {
        var o = QualityOptions()
        #expect(QualityFilter.check(prose(1), o) == nil)
        // Word count: 49 words fails, 50 passes.
        let w49 = Array(repeating: "the cat", count: 25).joined(separator: " ").split(separator: " ").prefix(49).joined(separator: " ")
        o.maxTopNGramCharFraction = [:]; o.maxDuplicateNGramCharFraction = [:]
        #expect(QualityFilter.check(w49, o)?.hasPrefix("gopher: 49 words < 50") == true)
        #expect(QualityFilter.check(w49 + " cat", o)?.contains("words <") != true)
        // Mean word length.
        let long = Array(repeating: "extraordinarily the", count: 30).joined(separator: " ")
        #expect(QualityFilter.check(long, o) == nil)
        let tooLong = Array(repeating: "incomprehensibilities", count: 60).joined(separator: " ") + " the and"
        #expect(QualityFilter.check(tooLong, o)?.contains("mean word length") == true)
        // Stop words: needs two.
        var so = QualityOptions(); so.minWords = 1; so.maxTopNGramCharFraction = [:]; so.maxDuplicateNGramCharFraction = [:]
        #expect(QualityFilter.check("alpha beta gamma delta the", so)?.contains("1 stop words < 2") == true)
        #expect(QualityFilter.check("alpha beta gamma delta the and", so) == nil)
        // Symbols, bullets, ellipses, alphabetic words, duplicate lines.
        #expect(QualityFilter.check(prose(2) + String(repeating: " #tag", count: 30), QualityOptions())?.contains("symbol-to-word") == true)
        let bullets = (0..<20).map { "• remember garden number \($0) with the lanterns and valleys" }.joined(separator: "\n")
        let bulletReason = QualityFilter.check(bullets, so)
        #expect(bulletReason?.contains("bullet line fraction") == true, "\(bulletReason ?? "passed")")
        let ellipses = (0..<10).map { "The traveler \(["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"][$0]) remembered gardens and valleys ..." }.joined(separator: "\n")
        var noSymbols = so; noSymbols.maxSymbolWordRatio = nil
        let ellipsisReason = QualityFilter.check(ellipses, noSymbols)
        #expect(ellipsisReason?.contains("ellipsis line fraction") == true, "\(ellipsisReason ?? "passed")")
        #expect(QualityFilter.check("the and " + Array(repeating: "1234", count: 20).joined(separator: " "), so)?.contains("alphabetic word fraction") == true)
        let dup = (prose(3, sentences: 3) + "\n") + Array(repeating: "Same line again.", count: 5).joined(separator: "\n")
        #expect(QualityFilter.check(dup, so)?.contains("duplicate line") == true)
        let loremReason = QualityFilter.check(prose(4) + " lorem ipsum dolor", QualityOptions())
        #expect(loremReason?.contains("lorem ipsum") == true, "\(loremReason ?? "passed")")
        // Disabled rules do not fire.
        var off = QualityOptions(); off.enabled = false
        #expect(QualityFilter.check("x", off) == nil)
    }

    @Test func repetitionRules() {
        var o = QualityOptions(); o.minWords = 1
        let repeated = Array(repeating: "alpha beta gamma delta epsilon zeta eta theta", count: 10).joined(separator: " ") + " the and"
        #expect(QualityFilter.check(repeated, o)?.contains("gram") == true)
    }

    @Test func piiScrubbing() {
        let (t, counts) = PIIScrubber.scrub("Mail me at jane.doe+x@example.co.uk, call +1 (555) 123-4567 or 555.123.4567. "
            + "Server 192.168.1.20 and 2001:db8::1. Card 4111 1111 1111 1111; not a card 4111 1111 1111 1112. "
            + "Version 1.2.3.4.5, year 2024, time 12:30:45, w048 7tuijk, 300.1.1.1.")
        #expect(t == "Mail me at <EMAIL>, call <PHONE> or <PHONE>. Server <IP_ADDRESS> and <IP_ADDRESS>. Card <CREDIT_CARD>; "
            + "not a card 4111 1111 1111 1112. Version 1.2.3.4.5, year 2024, time 12:30:45, w048 7tuijk, 300.1.1.1.")
        #expect(counts == ["<EMAIL>": 1, "<PHONE>": 2, "<IP_ADDRESS>": 2, "<CREDIT_CARD>": 1])
        #expect(PIIScrubber.luhn([4, 5, 3, 9, 1, 4, 8, 8, 0, 3, 4, 3, 6, 4, 6, 7]))
        #expect(!PIIScrubber.luhn([4, 5, 3, 9, 1, 4, 8, 8, 0, 3, 4, 3, 6, 4, 6, 8]))
        #expect(PIIScrubber.scrub("not@an, a@b, user@@x.com, @example.com").counts.isEmpty)
    }

    @Test func toxicityWordBoundaries() {
        let s = WordListScorer(terms: ["ass", "bad word"])
        #expect(s.score("The class passed the assessment.").matches.isEmpty)
        #expect(s.score("What an ass; a BAD  word!").matches == ["ass", "bad word"])
        #expect(abs(s.score("ass ass clean clean").score - 0.5) < 1e-12)
    }

    @Test func exactAndNearDedup() {
        var exact = ExactDeduplicator()
        #expect(exact.check(id: "a", key: ExactDeduplicator.key("Hello   World\n")) == nil)
        #expect(exact.check(id: "b", key: ExactDeduplicator.key("hello world")) == "a")
        #expect(exact.check(id: "c", key: ExactDeduplicator.key("hello world!")) == nil)

        var o = NearDedupOptions(); o.shingleSize = 3; o.bands = 32; o.threshold = 0.5
        let h = MinHasher(o)
        let base = prose(10, sentences: 40)
        var words = base.split(separator: " ").map(String.init)
        for i in stride(from: 0, to: words.count, by: 25) { words[i] = "changed" }   // ~4% of words edited
        let edited = words.joined(separator: " ")
        let other = prose(11, sentences: 40)
        var near = NearDeduplicator(o)
        #expect(near.add(id: "base", signature: h.signature(base)) == nil)
        #expect(near.add(id: "edited", signature: h.signature(edited))?.0 == "base")
        #expect(near.add(id: "other", signature: h.signature(other)) == nil)
        #expect(near.clusters().count == 1)
        // The signature estimates Jaccard: true value vs estimate.
        let a = Set(h.shingles(base)), b = Set(h.shingles(edited))
        let jaccard = Double(a.intersection(b).count) / Double(a.union(b).count)
        #expect(abs(MinHasher.similarity(h.signature(base), h.signature(edited)) - jaccard) < 0.12)
        #expect(MinHasher.earlyModern("vnfold") == MinHasher.earlyModern("unfold"))
        #expect(MinHasher.earlyModern("selfe") == "self" && MinHasher.earlyModern("liue") == MinHasher.earlyModern("live"))
    }
}

@Suite(.serialized) struct DataPipelineTests {
    /// Folio file stem → modern file stem, for the plays whose names differ.
    static let renamed = ["all_is_well_that_ends_well": "alls_well_that_ends_well", "anthonie_and_cleopatra": "antony_and_cleopatra",
                          "comedy_of_errours": "comedy_of_errors", "loves_labour_lost": "loves_labours_lost",
                          "midsummer_nights_dreame": "midsummer_nights_dream", "titus_andronicus": "tragedy_of_titus_andronicus",
                          "twelfe-night": "twelfth_night"]

    func play(_ id: String) -> String {
        var name = String(id.split(separator: ":").last!)
        for suffix in ["_gut_f.txt", "_gut.txt"] where name.hasSuffix(suffix) { name = String(name.dropLast(suffix.count)); break }
        return Self.renamed[name] ?? name
    }

    @Test func shakespeareEditionsArePairedAndEveryDocumentAccounted() throws {
        let dir = temporaryDirectory("data-shakespeare")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = try JSONDecoder().decode(PipelineConfig.self, from: Data(#"{"sources": []}"#.utf8))
        c.sources = [SourceConfig(name: "shakespeare", paths: [try ShakespeareCorpus.locate()])]
        c.output = dir
        c.toxicity.enabled = false
        c.quality.maxDuplicateLineFraction = 0.5
        c.quality.maxDuplicateLineCharFraction = 0.3
        c.nearDedup.shingleSize = 3; c.nearDedup.bands = 64; c.nearDedup.threshold = 0.2; c.nearDedup.spelling = .earlyModern
        let s = try DataPipeline(config: c).run()
        let manifest = try manifestLines(dir)
        // Accounting: in = kept + removed, by count and by id.
        let inputs = try DocumentReader.files(c.sources[0].paths).count
        #expect(s.inputDocuments == inputs && manifest.count == inputs)
        #expect(Set(manifest.map { $0["id"] as! String }).count == inputs)
        #expect(s.trainDocuments + s.validationDocuments + s.removedDocuments == inputs)
        let kept = manifest.filter { $0["status"] as? String == "kept" }
        let written = try CleanShards.texts(dir, split: "train").count + CleanShards.texts(dir, split: "val").count
        #expect(kept.count == written)

        // Near duplicates: every Folio edition is paired with its modern edition (recall), and no pair
        // joins two different plays (precision).
        let folio = manifest.filter { ($0["id"] as! String).hasSuffix("_gut_f.txt") }.map { $0["id"] as! String }
        var truePairs = 0, foundPairs = 0, correctPairs = 0
        for f in folio where manifest.contains(where: { ($0["id"] as! String) == "shakespeare:" + play(f) + "_gut.txt" }) { truePairs += 1 }
        for m in manifest where m["stage"] as? String == "near_dedup" {
            foundPairs += 1
            if play(m["id"] as! String) == play(m["duplicate_of"] as! String) { correctPairs += 1 }
        }
        let recall = Double(correctPairs) / Double(truePairs), precision = Double(correctPairs) / Double(max(1, foundPairs))
        print("near-dup on Shakespeare: \(correctPairs) of \(truePairs) edition pairs found (recall \(recall)), precision \(precision)")
        #expect(truePairs >= 35)
        #expect(recall == 1 && precision == 1)

        // The usual web defaults (5-grams, threshold 0.8, no spelling normalization) miss them.
        var web = c
        web.output = dir + "/web"
        web.nearDedup = NearDedupOptions()
        let ws = try DataPipeline(config: web).run()
        #expect(ws.stages.first { $0.stage == "near_dedup" }!.documentsRemoved == 0)
    }

    @Test func badInputIsRecordedAndTheRunGoesOn() throws {
        let dir = temporaryDirectory("data-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let inp = dir + "/in"
        try FileManager.default.createDirectory(atPath: inp, withIntermediateDirectories: true)
        try prose(1).write(toFile: inp + "/good.txt", atomically: true, encoding: .utf8)
        try Data([0x54, 0x68, 0x65, 0x20, 0xC3, 0x28, 0x20, 0x61]).write(to: URL(fileURLWithPath: inp + "/badutf8.txt"))
        try Data([0x7F, 0x45, 0x4C, 0x46, 0x00, 0x01, 0x02, 0x00]).write(to: URL(fileURLWithPath: inp + "/binary.txt"))
        let jsonl = [#"{"text": "\#(prose(2))"}"#, "this is not json", #"{"body": "no text field"}"#, #"{"text": "\#(prose(2))"}"#, #"{"text": "\#(prose(3))"}"#]
        try jsonl.joined(separator: "\n").write(toFile: inp + "/docs.jsonl", atomically: true, encoding: .utf8)
        // A truncated gzip: compress, then cut the end off.
        let gz = inp + "/cut.jsonl.gz"
        try (jsonl[0] + "\n" + #"{"text": "\#(prose(4))"}"# + "\n").write(toFile: dir + "/cut.jsonl", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gzip", "-k", "-c", dir + "/cut.jsonl"]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let full = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try full.prefix(full.count - 12).write(to: URL(fileURLWithPath: gz))
        // A zstd file that is fine.
        let z = Process()
        z.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        z.arguments = ["zstd", "-q", "-f", dir + "/cut.jsonl", "-o", inp + "/ok.jsonl.zst"]
        try z.run(); z.waitUntilExit()

        var c = try JSONDecoder().decode(PipelineConfig.self, from: Data(#"{"sources": []}"#.utf8))
        c.sources = [SourceConfig(name: "t", paths: [inp])]
        c.output = dir + "/out"
        c.toxicity.enabled = false
        c.validationFraction = 0
        let s = try DataPipeline(config: c).run()
        let m = try manifestLines(c.output)
        func reason(_ id: String) -> String? { m.first { $0["id"] as? String == id }?["reason"] as? String }
        #expect(reason("t:badutf8.txt") == "invalid UTF-8 at byte 4")
        #expect(reason("t:binary.txt")?.hasPrefix("binary file") == true)
        #expect(reason("t:docs.jsonl#2") == "line is not a JSON object")
        #expect(reason("t:docs.jsonl#3") == "no string field 'text'")
        // The same text appears first in cut.jsonl.gz (files are read in name order).
        #expect(reason("t:docs.jsonl#4") == "same content as t:cut.jsonl.gz#1")
        #expect(m.contains { ($0["id"] as! String).hasPrefix("t:cut.jsonl.gz#end") && ($0["reason"] as! String).contains("truncated gzip") })
        #expect(m.filter { ($0["id"] as! String).hasPrefix("t:ok.jsonl.zst#") }.allSatisfy { $0["status"] as? String == "kept" || $0["stage"] as? String == "exact_dedup" })
        #expect(s.trainDocuments >= 3)
        #expect(s.inputDocuments == m.count && s.trainDocuments + s.removedDocuments == s.inputDocuments)

        // A missing input path is an error, not a manifest line.
        c.sources = [SourceConfig(name: "t", paths: [dir + "/nope"])]
        #expect(throws: ForgeError.file(dir + "/nope", "no such file or directory")) { try DataPipeline(config: c).run() }
    }

    @Test func pipelineFileErrorsNameTheProblem() throws {
        let dir = temporaryDirectory("data-config")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/p.json"
        try #"{"sources": [{"name": "a", "paths": ["x"]}], "near_dedup": {"treshold": 0.5}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ForgeError.file(path, "unknown setting 'near_dedup.treshold'")) { try PipelineConfig.load(path) }
        try #"{"sources": [{"name": "a", "paths": ["x"]}], "near_dedup": {"permutations": 100, "bands": 16}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ForgeError.self) { try PipelineConfig.load(path) }
        try #"{"sources": [{"name": "a", "paths": ["x"]}], "quality": {"min_words": null}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try PipelineConfig.load(path).quality.minWords == nil)
    }

    @Test func mixingWeights() throws {
        let dir = temporaryDirectory("data-mix")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for src in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(src)", withIntermediateDirectories: true)
            for i in 0..<40 { try prose(i + (src == "a" ? 0 : 100)).write(toFile: "\(dir)/\(src)/\(i).txt", atomically: true, encoding: .utf8) }
        }
        var c = try JSONDecoder().decode(PipelineConfig.self, from: Data(#"{"sources": []}"#.utf8))
        c.sources = [SourceConfig(name: "a", paths: [dir + "/a"], weight: 0.5), SourceConfig(name: "b", paths: [dir + "/b"], weight: 2)]
        c.output = dir + "/out"
        c.toxicity.enabled = false
        c.nearDedup.enabled = false
        let s = try DataPipeline(config: c).run()
        let mixed = s.stages.first { $0.stage == "mixing" }!
        #expect(mixed.documentsRemoved > 8 && mixed.documentsRemoved < 32, "about half of source a sampled out")
        #expect(s.outputWrites == 2 * 40 + (40 - mixed.documentsRemoved))
    }
}
