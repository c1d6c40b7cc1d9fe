"""Tokens per second through minifast's TokenizeProcessor (rules + spaCy + post-rules) vs a plain spaCy loop.

minifast: `TokenizeProcessor(max_workers=1)` (serial) and `max_workers=2` (two processes over chunks), on the texts
of the 2,000 aclImdb-sample reviews (already read into memory, so both sides skip file reading).
Reference: `spacy.blank('en').tokenizer.pipe(texts)` collecting `[t.text for t in doc]`, no rules, no special tokens.
Runs alternate (order swapped every repeat) after a warm-up; we report medians, tokens/s counted on the
reference's tokens (so every side is credited with the same work), and ratios (> 1: faster than the reference).
The pipeline does more work than the reference (6 regex pre-rules, 3 post-rules), so a ratio below 1 for the
serial path is expected; the 2-worker path pays process start-up and pickling of the results.

(Not named tokenize.py: that would shadow the standard library module of the same name.)

Run: MINIFAST_DATA=/work/shared/data .venv/bin/python bench/text_tokenize.py [repeats] [chunksize]
"""
import sys, time, statistics
import spacy
from minifast.datasets import untar_data
from minifast.datablock import get_files
from minifast.text import TokenizeProcessor

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
CHUNK = int(sys.argv[2]) if len(sys.argv) > 2 else 250

path = untar_data('imdb-sample')
texts = [fn.read_text(encoding='utf8') for fn in get_files(path/'aclImdb', '.txt', recurse=True, include=['train', 'test'])]
nlp_tok = spacy.blank('en').tokenizer

def reference(): return [[t.text for t in doc] for doc in nlp_tok.pipe(texts)]
serial = TokenizeProcessor(max_workers=1, chunksize=CHUNK, progress=False)
par2 = TokenizeProcessor(max_workers=2, chunksize=CHUNK, progress=False)
runs = {'reference': reference, 'minifast 1 worker': lambda: serial(texts), 'minifast 2 workers': lambda: par2(texts)}

n_tok = sum(map(len, reference()))
for f in runs.values(): f()   # warm-up
times = {k: [] for k in runs}
for r in range(REPEATS):
    for k in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
        t0 = time.perf_counter(); runs[k](); times[k].append(time.perf_counter() - t0)

print(f"{len(texts)} reviews, {n_tok} spaCy tokens, chunksize {CHUNK}, {REPEATS} repeats (medians)")
ref = statistics.median(times['reference'])
for k, ts in times.items():
    m = statistics.median(ts)
    print(f"{k:20s} {m:6.3f}s  {n_tok / m:12,.0f} tokens/s  ratio vs reference {ref / m:5.2f}")
