"""Agreement of minifast's text rules and tokens with fastai's, on real IMDB reviews (not a timing).

Workload: the 3,000 reviews of imdb-sample (the 1,000 of fastai's IMDB_SAMPLE texts.csv and the 2,000 aclImdb-layout
files), read into memory.

1. Repetition rules. For each review, after fastai's `fix_html`, minifast's `replace_rep` then `replace_wrep` against
   fastai's, compared as strings (white space runs counted as one space, since spaCy ignores them). Also every case
   of tests/_text_cases.py (fastai's documented examples and the grid the conformance test pins) against fastai
   itself, so the pinned expectations are checked at the source. Target: every review and every case agrees, except
   the pinned, deliberate differences.
2. Tokens. minifast's `TokenizeProcessor` with its default rules against fastai's tokenizer with its own defaults
   (`TokenizeWithRules(SpacyTokenizer())`: `defaults.text_proc_rules`, then spaCy, then `replace_space`). Agreement is
   difflib's matching of the two token lists of each review, summed over the reviews: 2 * matched / (tokens of both).
   Each difference is put in a category, so the reasons can be listed (they are in nbs/12_text.ipynb); no target,
   this is a measurement.

    MINIFAST_DATA=/work/shared/data python bench/text_rules_vs_fastai.py
"""
import csv, difflib, re, sys
from collections import Counter, defaultdict
import _common as C
sys.path.insert(0, str(C.REPO / 'tests'))
from _text_cases import DOCUMENTED, CASES, DIFFERENCES
from minifast import text as T
from minifast.datasets import untar_data
from minifast.datablock import get_files

path = untar_data('imdb-sample', show_progress=False)
with open(path/'texts.csv', newline='', encoding='utf8') as f: texts = [r['text'] for r in csv.DictReader(f)]
texts += [fn.read_text(encoding='utf8')
          for fn in get_files(path/'aclImdb', '.txt', recurse=True, include=['train', 'test'])]


def squeeze(s): return ' '.join(s.split())


def category(a, b):
    "Why the token runs `a` (minifast) and `b` (fastai) differ, as a short label."
    if T.EOS in a and T.EOS not in b: return "minifast's xxeos at the end of each text"
    if any(t in (T.TK_REP, T.TK_WREP) for t in a + b): return 'repetitions (xxrep/xxwrep)'
    if any('▁' in t for t in b): return "fastai's replace_space: spaces inside a token written as ▁"
    marks = (T.TK_MAJ, T.TK_UP)
    plain_a, plain_b = [t for t in a if t not in marks], [t for t in b if t not in marks]
    if plain_a == plain_b:
        return 'xxmaj/xxup: case rules on spaCy tokens (minifast) or on white-space words before spaCy (fastai)'
    if ''.join(plain_a).lower() == ''.join(plain_b).lower():
        return 'same characters, split otherwise: fastai lower-cases before spaCy (Mr. / mr ., time.I / time.i)'
    return 'other'


def main():
    fa_version = C.fastai_or_none()
    if not fa_version:
        print("fastai is not importable here: run through `make bench`, which makes its venv; nothing to compare")
        return
    import fastai.text.core as fa

    # 1. the repetition rules, on the cases and on every review
    cases = (DOCUMENTED + [('replace_rep', i, rep) for i, rep, _ in CASES]
             + [('replace_wrep', i, w) for i, _, w in CASES] + [(r, i, e) for r, i, e, _, _ in DIFFERENCES])
    case_errors = [(r, i, e, getattr(fa, r)(i)) for r, i, e in cases if getattr(fa, r)(i) != e]
    n_cases = len(cases)
    print(f"{n_cases - len(case_errors)}/{n_cases} rule cases of tests/_text_cases.py give fastai {fa_version}'s")
    for r, i, e, got in case_errors: print(f"  {r}({i!r}): expected {e!r}, fastai gives {got!r}")
    rule_diffs = []
    for t in texts:
        x = fa.fix_html(t)
        ours, theirs = T.replace_wrep(T.replace_rep(x)), fa.replace_wrep(fa.replace_rep(x))
        if squeeze(ours) != squeeze(theirs): rule_diffs.append((x, ours, theirs))
    # a difference that is one of the pinned ones: fastai missing a repetition right after another
    pinned = [d for d in rule_diffs if squeeze(T.replace_wrep(d[2])) == squeeze(d[1])]
    other = [d for d in rule_diffs if d not in pinned]
    print(f"repetition rules: {len(texts) - len(rule_diffs)}/{len(texts)} reviews identical; "
          f"{len(pinned)} differ only by a repetition right after another (pinned), {len(other)} otherwise")
    for x, ours, theirs in other[:5]: print(f"  minifast {squeeze(ours)[:120]!r}\n  fastai   {squeeze(theirs)[:120]!r}")
    reps = sum(len(re.findall(rf'\b{T.TK_REP}\b|\b{T.TK_WREP}\b', T.replace_wrep(T.replace_rep(fa.fix_html(t)))))
               for t in texts)

    # 2. the tokens
    ours = T.TokenizeProcessor(max_workers=1, progress=False)(texts)
    theirs = [list(o) for o in fa.TokenizeWithRules(fa.SpacyTokenizer())(texts)]
    matched = total = identical = 0
    cats, examples = Counter(), defaultdict(Counter)
    for a, b in zip(ours, theirs):
        sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
        matched += sum(m.size for m in sm.get_matching_blocks()); total += len(a) + len(b)
        identical += a == b
        for op, i1, i2, j1, j2 in sm.get_opcodes():
            if op == 'equal': continue
            k = category(a[i1:i2], b[j1:j2])
            cats[k] += max(i2 - i1, j2 - j1)
            examples[k][f"{' '.join(a[i1:i2])!r} / {' '.join(b[j1:j2])!r}"] += 1
    agreement = 2 * matched / total
    n_tok = sum(map(len, ours))
    no_eos = [a[:-1] if a and a[-1] == T.EOS else a for a in ours]
    m2 = sum(sum(m.size for m in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
             for a, b in zip(no_eos, theirs))
    agreement_no_eos = 2 * m2 / (sum(map(len, no_eos)) + sum(map(len, theirs)))
    print(f"tokens: {len(texts)} reviews, {n_tok:,} minifast tokens, {sum(map(len, theirs)):,} fastai tokens; "
          f"agreement {agreement:.4f} ({agreement_no_eos:.4f} without minifast's xxeos); {identical} reviews identical")
    print("differing tokens by cause (minifast / fastai, most frequent examples):")
    for k, v in cats.most_common():
        print(f"  {v:6,d}  {k}: " + '; '.join(f"{e} x{c}" for e, c in examples[k].most_common(3)))

    ok = not case_errors and not other
    C.record('Repetition rules vs fastai', "minifast replace_rep + replace_wrep vs fastai's (after fastai's fix_html)",
             f"{len(texts)} IMDB-sample reviews ({reps:,} repetitions replaced), {n_cases} documented or pinned cases",
             f"{len(texts) - len(other)}/{len(texts)} reviews agree", {'fastai': fa_version},
             {'share of reviews that agree': (len(texts) - len(other)) / len(texts),
              'share of cases that agree': (n_cases - len(case_errors)) / n_cases},
             'every review and case agrees (the pinned differences aside)', ok,
             note=f"{len(pinned)} reviews differ only where fastai misses a repetition right after another (pinned in "
                  "tests/test_conformance_text.py); white-space runs are compared as one space")
    C.record('Tokens vs fastai',
             "minifast TokenizeProcessor (default rules) vs fastai TokenizeWithRules(SpacyTokenizer()) (its defaults)",
             f"{len(texts)} IMDB-sample reviews, {n_tok:,} minifast tokens", f"{agreement:.4f} token agreement",
             {'fastai': f"{identical} reviews identical"},
             {'token agreement': agreement, 'token agreement without xxeos': agreement_no_eos},
             'none (a measurement)', None,
             note='agreement = 2*matched/(tokens of both) with difflib per review; differing tokens by cause: '
                  + '; '.join(f"{k}: {v:,}" for k, v in cats.most_common()))


if __name__ == '__main__': main()
