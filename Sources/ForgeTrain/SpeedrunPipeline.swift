// SpeedrunPipeline: the data pipeline file of the speedrun (sources and output are set at run time).
//
// The field's usual near-dup defaults (word 5-grams, Jaccard 0.8) miss the two editions of each play:
// the First Folio spells "vnfold", "selfe", "liue", so whole plays share only ~0.15 of their word
// 5-grams. With early-modern spelling normalized, word 3-grams give 0.37–0.60 for editions of the same
// play and at most 0.02 between different plays; 64 bands of 2 rows find pairs above ~0.13 almost
// surely, and the 0.2 threshold then separates the two groups. Plays are dialogue, so speaker names
// repeat as whole lines: the duplicate-line rule is relaxed from Gopher's 0.3. The whole plays named in
// validation_ids_containing (both editions) are held out.
enum SpeedrunPipeline {
    static let json = """
    {
      "sources": [],
      "validation_ids_containing": ["coriolanus", "john_gut", "much_ado_about_nothing", "taming_of_the_shrew"],
      "quality": {"max_duplicate_line_fraction": 0.5, "max_duplicate_line_char_fraction": 0.3},
      "near_dedup": {"shingle": "word", "shingle_size": 3, "permutations": 128, "bands": 64, "threshold": 0.2,
                     "spelling": "early-modern"},
      "toxicity": {"threshold": 0.01}
    }
    """
}
