"""Issue 13 acceptance tests for `minifast_train_text`'s data (minifast.text_cli on minifast.text's builders): crafted
CSV files and folders as people save them (a UTF-8 byte-order mark, latin-1 text, rows with missing fields, a 1 MB
review, a dataset too small for a language-model batch) either train or stop with one line that names the file and the
option to change, before any training. Runs are tiny (models of width 8, a random encoder unless the language model is
what is tested) and run in this process; what they leave in --out is checked."""
import codecs, contextlib, io, json
from pathlib import Path
import pytest
from minifast.core import torch_threads
from minifast.cli import check_run
from minifast.text_cli import main, TEXT_RUN_FILES
from _cli import run_main as _run_main

SMALL = ['--lm', 'none', '--emb-sz', '8', '--n-hid', '8', '--n-layers', '1', '--min-freq', '1', '--bs', '8',
         '--workers', '0', '--bars', 'off', '--epochs', '1']


@pytest.fixture(autouse=True)
def quiet_env(tmp_path, monkeypatch):
    "One torch thread (the CPUs are shared), and an empty minifast home: no language model found there by --lm auto."
    monkeypatch.setenv('MINIFAST_HOME', str(tmp_path / 'home'))
    with torch_threads(1): yield


def run_main(argv): return _run_main(main, argv)


def error_line(code, so, se):
    "The one line of a refused run (exit status 1, nothing printed on stdout: no training started)."
    lines = se.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith('minifast_train_text: error: '), (code, se)
    assert so == '', so
    return lines[0]


def rows(n=20):
    return [f'"review {i}: a {w} film, {w} acting",{w}' for i in range(n) for w in ('good', 'bad')]


def body(lines): return 'text,label\n' + '\n'.join(lines) + '\n'


def vocab_of(out): return json.loads((out / 'vocab.json').read_text())['vocab']


def test_utf8_bom(tmp_path):
    "A CSV that starts with a UTF-8 byte-order mark (as spreadsheets save it) trains; its first column is still 'text'."
    fn = tmp_path / 'bom.csv'
    fn.write_bytes(codecs.BOM_UTF8 + body(rows()).encode('utf8'))
    code, so, se = run_main([fn, *SMALL, '--out', tmp_path / 'o'])
    assert code == 0, se
    res = json.loads((tmp_path / 'o' / 'results.json').read_text())
    assert res['classes'] == ['bad', 'good'] and res['n_train'] + res['n_valid'] == 40
    assert not any('\ufeff' in t for t in vocab_of(tmp_path / 'o'))


def test_latin1_csv(tmp_path):
    "latin-1 text: refused as UTF-8 in one line naming the file and --encoding; read right with --encoding latin-1."
    fn = tmp_path / 'latin1.csv'
    lines = [f'{r},{i >= 30}' for i, r in enumerate(['"un café très réussi",good', *rows()])]   # 30 to train
    fn.write_bytes(('text,label,is_valid\n' + '\n'.join(lines) + '\n').encode('latin-1'))
    line = error_line(*run_main([fn, *SMALL, '--out', tmp_path / 'o']))
    assert f"{fn} is not utf-8 text: byte 0xe9 on line 2 cannot be decoded" in line and '--encoding latin-1' in line
    assert not (tmp_path / 'o').exists()
    code, so, se = run_main([fn, *SMALL, '--encoding', 'latin-1', '--out', tmp_path / 'o'])
    assert code == 0, se
    assert {'café', 'très', 'réussi'} <= set(vocab_of(tmp_path / 'o'))   # decoded, not mojibake


def test_latin1_folder(tmp_path):
    "The same for a folder in the aclImdb layout: the file named is the one that is not UTF-8."
    root = tmp_path / 'reviews'
    for split, n in (('train', 12), ('valid', 4)):
        for label, text in (('pos', 'Un très bon film, numéro {}.'), ('neg', 'Un film ennuyeux, numéro {}.')):
            (root / split / label).mkdir(parents=True, exist_ok=True)
            for i in range(n): (root / split / label / f'{i}.txt').write_bytes(text.format(i).encode('latin-1'))
    line = error_line(*run_main([root, *SMALL, '--out', tmp_path / 'o']))
    assert f"{root / 'train' / 'neg' / '0.txt'} is not utf-8 text" in line and '--encoding latin-1' in line, line
    code, so, se = run_main([root, *SMALL, '--encoding', 'latin-1', '--out', tmp_path / 'o'])
    assert code == 0, se
    assert 'très' in vocab_of(tmp_path / 'o')


def test_unknown_encoding(tmp_path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        main([str(tmp_path / 'x.csv'), '--encoding', 'klingon'])
    assert e.value.code == 2
    assert "argument --encoding: expected a text encoding Python knows, such as utf-8, latin-1 or cp1252, got " \
           "'klingon'" in err.getvalue()


def test_missing_fields(tmp_path):
    "A row without all its fields (here after a text that spans two lines): one line naming the line of the file."
    fn = tmp_path / 'short.csv'
    fn.write_text(body(['"a good\nfilm",good', *rows()[:10], '"a bad film"', *rows()[10:]]))
    line = error_line(*run_main([fn, *SMALL, '--out', tmp_path / 'o']))
    assert f"1 row(s) of {fn} do not have the 2 fields its header names (text,label), e.g. the row on line 14 has 1" \
           in line, line
    assert not (tmp_path / 'o').exists()


def test_one_megabyte_review(tmp_path):
    "A review of 1.1 MB, eight times Python's csv field limit, trains like the others."
    # distinct neighbours and no character three times in a row: every word stays a word (no xxrep, no xxwrep)
    big = ' '.join(f'w{i % 97}v{i % 89}' for i in range(220_000))
    assert len(big) > 2**20
    fn = tmp_path / 'long.csv'
    fn.write_text('text,label,is_valid\n' + f'"{big}",good,False\n' + '\n'.join(f'{r},{i >= 32}' for i, r in
                                                                                enumerate(rows())) + '\n')
    code, so, se = run_main([fn, *SMALL, '--bs', '11', '--out', tmp_path / 'o'])
    assert code == 0, se
    res = json.loads((tmp_path / 'o' / 'results.json').read_text())
    assert (res['n_train'], res['n_valid']) == (33, 8)
    assert {'w0v0', 'w1v1'} <= set(vocab_of(tmp_path / 'o'))   # the review's first words (the vocabulary is capped)


def test_tiny_data_for_the_language_model(tmp_path):
    "Too little text for a language-model batch: one line with the --lm-bs that fits, which then trains."
    fn = tmp_path / 'tiny.csv'
    fn.write_text(body(rows(5)))
    line = error_line(*run_main([fn, *SMALL[2:], '--lm', 'train', '--lm-epochs', '1', '--out', tmp_path / 'o']))
    assert "the language model's validation text (1 document(s)," in line and "cannot fill a batch of 32 rows" in line
    bs = int(line.split('use a batch of at most ')[1].split()[0])
    assert f"at most {bs} rows (bs=, or --lm-bs in minifast_train_text)" in line
    assert not (tmp_path / 'o').exists()
    code, so, se = run_main([fn, *SMALL[2:], '--bs', '4', '--lm', 'train', '--lm-epochs', '1', '--lm-bs', bs,
                             '--bptt', '5', '--out', tmp_path / 'o'])
    assert code == 0, se
    assert check_run(tmp_path / 'o', files=TEXT_RUN_FILES) == json.loads(
        (tmp_path / 'o' / 'lm' / 'lm_config.json').read_text())['run_id']
