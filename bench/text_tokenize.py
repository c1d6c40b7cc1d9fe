"""Tokenisation throughput on IMDB reviews: minifast's TokenizeProcessor vs fastai's tokenizer vs a plain spaCy loop.

Workload: the texts of the 2,000 aclImdb-sample reviews (train + test), already read into memory so no side reads files.
Sides, each with 1 worker (in the calling process) and with 2 worker processes, splitting the texts into one chunk
per worker on every side:
- minifast: `TokenizeProcessor(max_workers=w, chunksize=ceil(n/w))` with its default rules (6 string rules before
  spaCy, 3 token-list rules after: caps, capitalised words, xxbos/xxeos) and special tokens;
- fastai, same rules: fastai.text.core's `parallel_tokenize` (what `tokenize_texts` and `Tokenizer` run) with
  `SpacyTokenizer` given minifast's special tokens, minifast's string rules as `rules`, and minifast's token-list
  rules applied to each token list (fastai's own `post_rules` act on single tokens); its output must equal
  minifast's, which the script checks; `n_workers=0` is fastai's in-process path, `n_workers=2` two processes;
- fastai, own rules (1 worker only, for context): the same with fastai's default rules and special tokens
  (`defaults.text_proc_rules`);
- plain spaCy (1 worker only): `spacy.blank('en').tokenizer.pipe(texts)` collecting `[t.text for t in doc]` (no rules,
  no special tokens): the floor, since it does less work than the others.
All sides run in one process, alternating (order rotated every repeat) after a warm-up; we report median wall
times, tokens/s counted on the plain spaCy tokens (so every side is credited with the same work) and ratios.
Target: minifast at least as fast as fastai with the same rules, at each worker count.

(Not named tokenize.py: that would shadow the standard library module of the same name.)

    MINIFAST_DATA=/work/shared/data python bench/text_tokenize.py [repeats]
"""
import math, sys, statistics
import _common as C
import spacy
from minifast.core import compose
from minifast.datasets import untar_data
from minifast.datablock import get_files
from minifast.text import TokenizeProcessor, default_pre_rules, default_post_rules, default_spec_tok

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
WORKERS = (1, 2)

path = untar_data('imdb-sample', show_progress=False)
texts = [fn.read_text(encoding='utf8') for fn in get_files(path/'aclImdb', '.txt', recurse=True, include=['train', 'test'])]


def _strip_spaces(t):
    # minifast strips the spaces its rules pad special tokens with before calling spaCy; same here
    return t.strip(' ')


class ListPostRules:
    "A fastai tokenizer that applies token-list rules (minifast's post-rules) to each tokenized text."
    def __init__(self, tok, post_rules): self.tok, self.post_rules = tok, post_rules
    def __call__(self, items): return (compose(list(toks), self.post_rules) for toks in self.tok(items))


def main():
    nlp = spacy.blank('en')
    sides = {}
    sides['plain spaCy, 1'] = lambda: [[t.text for t in doc] for doc in nlp.tokenizer.pipe(texts)]
    for w in WORKERS:
        tp = TokenizeProcessor(max_workers=w, chunksize=math.ceil(len(texts) / w), progress=False)
        sides[f'minifast, {w}'] = lambda tp=tp: tp(texts)
    fa_version = C.fastai_or_none()
    if fa_version:
        from fastai.text.core import parallel_tokenize, SpacyTokenizer
        from fastcore.foundation import L
        same_tok = ListPostRules(SpacyTokenizer('en', special_toks=default_spec_tok), default_post_rules)
        own_tok = SpacyTokenizer('en')
        def fastai_tok(tok, rules, post_rules, w):
            # what fastai's tokenize_texts does, with post_rules passed through; fastai's in-process path is n_workers=0
            return L(parallel_tokenize(texts, tok=tok, rules=rules, post_rules=post_rules, n_workers=0 if w == 1 else w)
                     ).sorted().itemgot(1)
        for w in WORKERS:
            sides[f'fastai same rules, {w}'] = lambda w=w: fastai_tok(same_tok, default_pre_rules + [_strip_spaces], [], w)
        sides['fastai own rules, 1'] = lambda: fastai_tok(own_tok, None, None, 1)
    else:
        print("fastai is not importable here: run through `make bench`, which makes its venv; minifast vs spaCy only")

    # one call of each side is the warm-up; it also checks that the sides with minifast's rules agree
    n_tok = sum(map(len, sides['plain spaCy, 1']()))
    ref = sides['minifast, 1']()
    for k in sides:
        out = [list(t) for t in sides[k]()]
        if k.startswith('minifast') or k.startswith('fastai same'): assert out == ref, f"{k} does not give minifast's tokens"
    times = C.alternate(sides, REPEATS, warmup=0)
    wall = {k: C.med(v, 1) for k, v in times.items()}
    print(f"{len(texts)} reviews, {n_tok} spaCy tokens, {REPEATS} repeats (median wall times); spaCy {spacy.__version__}, fastai {fa_version}")
    for k in sides: print(f"  {k:24s} {wall[k]:6.3f} s  {n_tok / wall[k]:10,.0f} tokens/s")
    for w in WORKERS:
        mf = wall[f'minifast, {w}']
        refs, ratios, passed = {}, {}, None
        if fa_version:
            refs['fastai same rules'] = f"{n_tok / wall[f'fastai same rules, {w}']:,.0f} tok/s"
            ratios['minifast/fastai same rules (speed)'] = wall[f'fastai same rules, {w}'] / mf
            passed = ratios['minifast/fastai same rules (speed)'] >= 1
        for k, name in [(f'fastai own rules, {w}', 'fastai own rules'), (f'plain spaCy, {w}', 'plain spaCy')]:
            if k in wall:
                refs[name] = f"{n_tok / wall[k]:,.0f} tok/s"
                ratios[f'minifast/{name} (speed)'] = wall[k] / mf
        for k, v in ratios.items(): print(f"  {w} worker(s): {k} {v:.3f}")
        C.record(f'Tokenisation, {w} worker{"s" if w > 1 else ""}',
                 'minifast TokenizeProcessor vs fastai parallel_tokenize+SpacyTokenizer (same rules; own rules) vs plain spaCy tokenizer.pipe' if w == 1
                 else 'minifast TokenizeProcessor vs fastai parallel_tokenize+SpacyTokenizer (same rules)',
                 f"{len(texts)} IMDB-sample reviews in memory, {n_tok:,} spaCy tokens, {w} worker(s)",
                 f"{n_tok / mf:,.0f} tok/s", refs, ratios, 'speed >= fastai same rules (ratio >= 1)', passed,
                 note=f"speed ratios (> 1: minifast faster), median wall time of {REPEATS} alternating repeats"
                      + ("; plain spaCy applies no rules, so it does less work" if w == 1 else
                         "; 2 workers include starting the processes and sending the tokens back"))


if __name__ == '__main__': main()
