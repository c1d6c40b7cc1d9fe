"""Repetition cases for minifast's text rules and fastai's, shared by tests/test_conformance_text.py (which needs no
fastai) and bench/text_rules_vs_fastai.py (which checks every expected output below against fastai itself).

Not a test file itself (pytest collects only test_*.py).
"""
TK_REP, TK_WREP = 'xxrep', 'xxwrep'

# fastai's documentation of the rules (fastai nbs/30_text.core.ipynb, "It starts replacing at 3 repetitions of the
# same character or more" / "... of the same word or more"), as (rule name, input, documented output).
DOCUMENTED = [
    ('replace_rep', 'aa', 'aa'),
    ('replace_rep', 'aaaa', f' {TK_REP} 4 a '),
    ('replace_wrep', 'ah ah', 'ah ah'),
    ('replace_wrep', 'ah ah ah', f' {TK_WREP} 3 ah '),
    ('replace_wrep', 'ah ah   ah  ah', f' {TK_WREP} 4 ah '),
    ('replace_wrep', 'ah ah ah ah ', f' {TK_WREP} 4 ah  '),
    ('replace_wrep', 'ah ah ah ah.', f' {TK_WREP} 4 ah .'),
    ('replace_wrep', 'ah ah ahi', 'ah ah ahi'),
]

# A grid around them: repeats at the start, in the middle and at the end of the text, followed by punctuation,
# separated by punctuation (no word repetition then), by runs of spaces, tabs and newlines, words that only begin like
# the repeated one, other scripts and digits. (input, replace_rep's output, replace_wrep's output), as fastai 2.8.12
# computes them.
CASES = [
    ('aa', 'aa', 'aa'),
    ('aaa', ' xxrep 3 a ', 'aaa'),
    ('aaaa', ' xxrep 4 a ', 'aaaa'),
    ('wow!!!!!!', 'wow xxrep 6 ! ', 'wow!!!!!!'),
    ('nooooo way', 'n xxrep 5 o  way', 'nooooo way'),
    ('a---b', 'a xxrep 3 - b', 'a---b'),
    ('!!!', ' xxrep 3 ! ', '!!!'),
    ('hmm?!?!?!', 'hmm?!?!?!', 'hmm?!?!?!'),
    ('Sooo good', 'S xxrep 3 o  good', 'Sooo good'),
    ('zzz zzz', ' xxrep 3 z   xxrep 3 z ', 'zzz zzz'),
    ('1000000', '1 xxrep 6 0 ', '1000000'),
    ('ah ah', 'ah ah', 'ah ah'),
    ('ah ah ah', 'ah ah ah', ' xxwrep 3 ah '),
    ('ah ah   ah  ah', 'ah ah   ah  ah', ' xxwrep 4 ah '),
    ('ah ah ah ah ', 'ah ah ah ah ', ' xxwrep 4 ah  '),
    ('ah ah ah ah.', 'ah ah ah ah.', ' xxwrep 4 ah .'),
    ('ah ah ahi', 'ah ah ahi', 'ah ah ahi'),
    ('no, no, no, no', 'no, no, no, no', 'no, no, no, no'),
    ('no. no. no.', 'no. no. no.', 'no. no. no.'),
    ('no! no! no!', 'no! no! no!', 'no! no! no!'),
    ('ha ha ha hah', 'ha ha ha hah', ' xxwrep 3 ha  hah'),
    ('so so so good', 'so so so good', ' xxwrep 3 so  good'),
    ('it is so so so so good', 'it is so so so so good', 'it is xxwrep 4 so  good'),
    ('very\tvery\nvery good', 'very\tvery\nvery good', ' xxwrep 3 very  good'),
    ('The the the', 'The the the', 'The the the'),
    ('very very very', 'very very very', ' xxwrep 3 very '),
    ('bla bla bla, bla bla bla', 'bla bla bla, bla bla bla', ' xxwrep 3 bla , xxwrep 3 bla '),
    ('ah ah ah!', 'ah ah ah!', ' xxwrep 3 ah !'),
    ('(ah ah ah)', '(ah ah ah)', '(ah ah ah)'),
    ('"ah ah ah"', '"ah ah ah"', '"ah ah ah"'),
    ('ahah ah ah ah', 'ahah ah ah ah', 'ahah xxwrep 3 ah '),
    ('x ah ah ah', 'x ah ah ah', 'x xxwrep 3 ah '),
    ('ah ah ah-ah', 'ah ah ah-ah', ' xxwrep 3 ah -ah'),
    ('é é é', 'é é é', ' xxwrep 3 é '),
    ('1 1 1 1', '1 1 1 1', ' xxwrep 4 1 '),
    ("don't don't don't", "don't don't don't", "don't don't don't"),
    ('go go go go go go go go go go', 'go go go go go go go go go go', ' xxwrep 10 go '),
    ('a  a  a', 'a  a  a', ' xxwrep 3 a '),
    ('ah\n\nah\n\nah', 'ah\n\nah\n\nah', ' xxwrep 3 ah '),
    ('really really really really!!!!', 'really really really really xxrep 4 ! ', ' xxwrep 4 really !!!!'),
    ('the end end end', 'the end end end', 'the xxwrep 3 end '),
    ('end end end', 'end end end', ' xxwrep 3 end '),
    ('I I I', 'I I I', ' xxwrep 3 I '),
    ('um, um um um, ok', 'um, um um um, ok', 'um, xxwrep 3 um , ok'),
]

# Where minifast differs on purpose: (rule name, input, fastai's output, minifast's output, why).
DIFFERENCES = [
    ('replace_wrep', 'a a a b b b', f' {TK_WREP} 3 a  b b b', f' {TK_WREP} 3 a  {TK_WREP} 3 b ',
     "fastai's pattern consumes the white space after a repetition, so a second repetition right after it is missed"),
]
