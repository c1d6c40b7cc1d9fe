"""Conformance of minifast's repetition rules with fastai's documented behaviour (notebook 12_text links here).

`replace_rep` and `replace_wrep` against fastai's documentation of its own rules and against a grid of outputs of
fastai 2.8.12 (tests/_text_cases.py; bench/text_rules_vs_fastai.py checks them against fastai itself and measures
token agreement with fastai's tokenizer on real IMDB reviews): repeats at the start, middle and end of the text,
followed by punctuation, separated by punctuation, by runs of spaces, tabs and newlines, words that only begin like
the repeated one. Then the rules inside the whole pre-processing on spaCy tokens. The deliberate difference is pinned;
the last test runs the checker on the course's first rules and asserts that it fails.
"""
import re, pytest
from _text_cases import DOCUMENTED, CASES, DIFFERENCES
from _conformance import assert_catches
from minifast import text as T


def check_rule(rule, inp, expected, impl=None):
    f = impl or getattr(T, rule)
    out = f(inp)
    assert out == expected, f"{rule}({inp!r}) = {out!r}, fastai gives {expected!r}"


@pytest.mark.parametrize('rule,inp,expected', DOCUMENTED, ids=repr)
def test_documented(rule, inp, expected): check_rule(rule, inp, expected)


@pytest.mark.parametrize('inp,rep,wrep', CASES, ids=repr)
def test_grid(inp, rep, wrep):
    check_rule('replace_rep', inp, rep)
    check_rule('replace_wrep', inp, wrep)


@pytest.mark.parametrize('rule,inp,fastai,ours,why', DIFFERENCES, ids=repr)
def test_pinned_differences(rule, inp, fastai, ours, why):
    assert fastai != ours
    check_rule(rule, inp, ours)


def test_ellipsis_is_one_token():
    "Three dots are an ellipsis, not a repetition: written as '…' before replace_rep runs, as in fastai's fix_html."
    assert T.fixup_text('Sarah amp; Duck...') == 'Sarah & Duck …'
    assert T.compose('wait... what', T.default_pre_rules) == 'wait … what'


@pytest.mark.parametrize('text,tokens', [
    ('Sooo good!!!', [T.BOS, 's', T.TK_REP, '3', 'o', 'good', T.TK_REP, '3', '!', T.EOS]),
    ('it was so so so good', [T.BOS, 'it', 'was', T.TK_WREP, '3', 'so', 'good', T.EOS]),
    ('bad bad bad.', [T.BOS, T.TK_WREP, '3', 'bad', '.', T.EOS]),
    ('no, no, no', [T.BOS, 'no', ',', 'no', ',', 'no', T.EOS]),
])
def test_through_the_tokenizer(text, tokens):
    "The rules inside the whole pipeline: spaCy keeps the special tokens whole and the counts as tokens."
    pytest.importorskip('spacy')
    assert T.TokenizeProcessor(max_workers=1, progress=False).proc1(text) == tokens


# ---------------------------------------------------------------- the checker catches broken rules
def course_replace_rep(t):
    "The course's first rule: 4 repetitions or more."
    return re.sub(r'(\S)(\1{3,})', lambda m: f' {T.TK_REP} {len(m.group(2)) + 1} {m.group(1)} ', t)


def course_replace_wrep(t):
    "The course's first rule: 4 or more, any non-word separators but identical ones, misses the end of the text."
    return re.sub(r'(\b\w+\W+)(\1{3,})', lambda m: f' {T.TK_WREP} {len(m.group(2).split()) + 1} {m.group(1)} ', t)


def unguarded_replace_wrep(t):
    "Without the check that no word character follows the last copy."
    def _wrep(m): return f' {T.TK_WREP} {len(m.group(2).split()) + 1} {m.group(1)} '
    return re.sub(r'(?:^|\s)(\w+)((?:\s+\1){2,})', _wrep, t)


def test_checker_catches_mutants():
    assert_catches(check_rule, 'replace_rep', 'aaa', ' xxrep 3 a ', impl=course_replace_rep)
    caught = [c for c in DOCUMENTED if c[0] == 'replace_wrep'
              if not _passes(check_rule, *c, impl=course_replace_wrep)]
    assert len(caught) >= 3, caught   # 3 repeats, varied spacing, repeats at the end of the text
    assert_catches(check_rule, 'replace_wrep', 'ah ah ahi', 'ah ah ahi', impl=unguarded_replace_wrep)


def _passes(check, *args, **kwargs):
    try: check(*args, **kwargs)
    except AssertionError: return False
    return True
