"""Issue 13 and 16 acceptance tests for `minifast_train_text` (minifast.text_cli): a run is written as a unit, so a second
run into the same --out that is interrupted (SIGINT, SIGTERM, SIGKILL at a chosen moment: during the language model's
training, as the classifier starts, during the classifier's) or diverges (NaN loss) leaves the first run complete and
loadable; the run after a SIGKILL removes the killed run's temporary folder; every file of a run carries its id and the
loader refuses a mix; what can be checked is checked before any training (a missing spaCy, a damaged --lm folder, the
output folder); --predict on an image run names the image command; the language model trained here shows its bars and a
results table with the perplexity, and says where it is saved. Runs are tiny (40 CSV rows, models of width 8, one
worker), so that the file stays quick on 2 cores; the console script runs as a subprocess where a signal or an exit
status is what is tested, and in this process otherwise."""
import contextlib, io, json, os, re, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
from minifast.core import torch_threads
from minifast.cli import check_run, load_classifier, RunMismatchError
from minifast.text_cli import main, TEXT_RUN_FILES, SavedTextClassifier
from _cli import run_main as _run_main, run_until as _run_until, snapshot, temp_folders
import minifast.cli


def write_csv(path, n=20):
    "A CSV of `n` texts per class (pos, neg), split at random by the command (no is_valid column)."
    rows = [f'"this film is {w} {w} really {w} number {i}",{lab}' for i in range(n)
            for w, lab in (('great', 'pos'), ('awful', 'neg'))]
    path.write_text('text,label\n' + '\n'.join(rows) + '\n', encoding='utf8')
    return path


SMALL = ['--emb-sz', '8', '--n-hid', '8', '--n-layers', '1', '--min-freq', '1', '--bs', '8', '--workers', '0',
         '--bars', 'off']
LM = ['--lm', 'train', '--lm-epochs', '1', '--lm-bs', '4', '--bptt', '10']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp('data') / 'reviews.csv')


@pytest.fixture(autouse=True)
def quiet_env(tmp_path, monkeypatch):
    "One torch thread (the CPUs are shared), and an empty minifast home: no language model found there by --lm auto."
    monkeypatch.setenv('MINIFAST_HOME', str(tmp_path / 'home'))
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    with torch_threads(1): yield


def run_main(argv): return _run_main(main, argv)


def run_until(argv, when, sig, timeout=300, env=None):
    "Start minifast_train_text; send `sig` once `when(lines so far)` is true. Returns (status, stdout, stderr)."
    return _run_until('minifast.text_cli', argv, when, sig, timeout, env)


def first_row_after(marker):
    "A `when` for `run_until`: the first row of the results table printed after a line that starts with `marker`."
    def when(lines):
        i = next((i for i, l in enumerate(lines) if l.startswith(marker)), None)
        return i is not None and any(re.match(r'0\s+\d', l) for l in lines[i + 1:])
    return when


@pytest.fixture(scope='module')
def template_run(tmp_path_factory, data):
    "A complete run with a language model trained here, made once for the module."
    out = tmp_path_factory.mktemp('template') / 'run'
    with torch_threads(1): code, so, se = run_main([data, *SMALL, *LM, '--epochs', '1', '--out', out])
    assert code == 0, se
    return out


@pytest.fixture
def first_run(tmp_path, template_run):
    "A complete first run in tmp_path/run (a copy of the module's): (its folder, its run id, its files' bytes)."
    out = tmp_path / 'run'
    shutil.copytree(template_run, out)
    return out, check_run(out, files=TEXT_RUN_FILES), snapshot(out)


def assert_intact(out, run_id, files):
    "The first run is exactly as it was, loadable, and nothing is left beside it."
    assert snapshot(out) == files
    assert check_run(out, files=TEXT_RUN_FILES) == run_id
    clf = load_classifier(out)
    assert isinstance(clf, SavedTextClassifier) and clf.run_id == run_id
    assert clf.predict('a great film')[0] in ('pos', 'neg')
    assert not (out.parent / (out.name + '.prev')).exists()
    assert temp_folders(out) == []


def one_line(se, prog='minifast_train_text'):
    lines = se.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'{prog}: ') and 'Traceback' not in se, se
    return lines[0]


def test_template_run_is_a_unit(first_run):
    "The run's files, each with the run id; the language model's too; the previous-run policy on a second run."
    out, run_id, files = first_run
    assert sorted(files) == ['lm/lm_config.json', 'lm/lm_encoder.pth', 'lm/lm_vocab.json', 'model.pth',
                             'results.json', 'run.json', 'training.png', 'vocab.json']
    run = json.loads(files['run.json'])
    assert run['status'] == 'complete' and run['kind'] == 'text'
    assert json.loads(files['vocab.json'])['run_id'] == run_id
    assert json.loads(files['lm/lm_config.json'])['run_id'] == run_id
    assert torch.load(out / 'model.pth', weights_only=True)['run_id'] == run_id
    res = json.loads(files['results.json'])
    assert res['run_id'] == run_id and Path(res['pretrained_lm']).parts[-2:] == ('run', 'lm')   # (the template's)
    assert res['language_model']['perplexity'] == pytest.approx(torch.tensor(res['language_model']['valid_loss']).exp().item())


def test_sigint_during_language_model(first_run, data):
    "Ctrl-C while the language model trains: exit 130, one line, the first run untouched."
    out, run_id, files = first_run
    rc, so, se = run_until([data, *SMALL, *LM[:2], '--lm-epochs', '500', *LM[4:], '--out', out],
                           first_row_after('training a language model'), signal.SIGINT)
    assert rc == 130, (rc, se)
    assert one_line(se) == (f"minifast_train_text: interrupted (SIGINT): nothing was saved; {out} is as it was and no "
                            "temporary folder is left")
    assert 'stage 1/' not in so   # it was stopped in the language model's training
    assert_intact(out, run_id, files)


def test_sigterm_during_classifier(first_run, data):
    out, run_id, files = first_run
    rc, so, se = run_until([data, *SMALL, '--lm', 'none', '--epochs', '500', '--out', out],
                           first_row_after('stage 1/1'), signal.SIGTERM)
    assert rc == 128 + signal.SIGTERM, (rc, se)
    assert 'interrupted (SIGTERM): nothing was saved' in one_line(se)
    assert_intact(out, run_id, files)


def test_sigint_as_classifier_starts(first_run, data):
    "Ctrl-C as the classifier's first stage begins (its data ready, no batch trained) is handled the same way."
    out, run_id, files = first_run
    rc, so, se = run_until([data, *SMALL, '--lm', 'none', '--epochs', '500', '--out', out],
                           lambda lines: lines[-1].startswith('stage 1/1'), signal.SIGINT)
    assert rc == 130 and 'interrupted (SIGINT)' in one_line(se), (rc, se)
    assert_intact(out, run_id, files)


def test_sigkill_then_next_run_cleans_up(first_run, data):
    out, run_id, files = first_run
    rc, so, se = run_until([data, *SMALL, '--lm', 'none', '--epochs', '500', '--out', out],
                           first_row_after('stage 1/1'), signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert snapshot(out) == files and check_run(out, files=TEXT_RUN_FILES) == run_id
    left = temp_folders(out)   # a killed process cannot clean up: its temporary folder stays, with its run.json
    assert len(left) == 1 and left[0].startswith('.run.tmp-'), left
    killed = json.loads((out.parent / left[0] / 'run.json').read_text())
    assert killed['status'] == 'running' and killed['kind'] == 'text' and killed['run_id'] != run_id
    # the next run into the same folder removes it, then replaces the first run, which becomes run.prev
    code, so, se = run_main([data, *SMALL, '--lm', 'none', '--epochs', '1', '--out', out])
    assert code == 0, se
    assert f"minifast_train_text: removed {out.parent / left[0]}, left by a run that was killed" in se
    assert temp_folders(out) == []
    assert check_run(out, files=TEXT_RUN_FILES) not in (run_id, killed['run_id'])
    prev = out.parent / 'run.prev'
    assert snapshot(prev) == files and check_run(prev, files=TEXT_RUN_FILES) == run_id
    assert f"saved the run to {out} (run.json, model.pth, vocab.json, results.json, training.png); the previous run " \
           f"is now {out}.prev" in so


def test_nan_loss_exits_nonzero_and_saves_nothing(first_run, data):
    "A learning rate that makes the classifier's loss NaN: exit status 1, one line, the first run untouched."
    out, run_id, files = first_run
    r = subprocess.run([sys.executable, '-m', 'minifast.text_cli', str(data), *SMALL, '--lm', 'none', '--epochs', '3',
                        '--lr', '1e38', '--out', str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    line = one_line(r.stderr)
    assert re.match(r'minifast_train_text: error: training diverged: the training loss became (nan|-?inf) in stage 1 '
                    r'of 1, epoch 0, batch \d+; nothing was saved\. Try a lower --lr \(it was 1e\+38\)$', line), line
    assert_intact(out, run_id, files)


def test_nan_in_language_model(first_run, data):
    out, run_id, files = first_run
    code, so, se = run_main([data, *SMALL, *LM, '--lm-lr', '1e38', '--lm-epochs', '3', '--out', out])
    assert code == 1
    assert re.match(r'minifast_train_text: error: language-model training diverged: the training loss is (nan|-?inf) '
                    r'at epoch 0, batch \d+; nothing was saved', one_line(se)), se
    assert 'Try a lower --lm-lr (it was 1e+38)' in se and 'stage 1/' not in so
    assert_intact(out, run_id, files)


def test_files_of_two_runs_are_not_mixed(first_run, tmp_path, data):
    "Each file of another run, copied into a run folder, is refused by the loader and by --predict, whichever it is."
    out, run_id, files = first_run
    other = tmp_path / 'other'
    assert run_main([data, *SMALL, *LM, '--epochs', '1', '--seed', '1', '--out', other])[0] == 0
    other_id = check_run(other, files=TEXT_RUN_FILES)
    for name in TEXT_RUN_FILES:
        mixed = tmp_path / f"mixed_{name.replace('/', '_')}"
        shutil.copytree(out, mixed)
        shutil.copy(other / name, mixed / name)
        with pytest.raises(RunMismatchError, match='come from different runs') as e: load_classifier(mixed)
        assert f"{name}: {other_id}" in str(e.value) and f": {run_id}" in str(e.value)
        code, so, se = run_main(['--out', mixed, '--predict', 'a great film'])
        assert code == 1 and 'come from different runs' in one_line(se) and so == '', se
    unfinished = tmp_path / 'unfinished'
    shutil.copytree(out, unfinished)
    run = json.loads((unfinished / 'run.json').read_text())
    (unfinished / 'run.json').write_text(json.dumps({**run, 'status': 'running'}))
    with pytest.raises(RunMismatchError, match='not complete'): load_classifier(unfinished)
    (unfinished / 'run.json').write_text(json.dumps(run)); (unfinished / 'vocab.json').unlink()
    code, so, se = run_main(['--out', unfinished, '--predict', 'x'])
    assert code == 1 and one_line(se).startswith(f'minifast_train_text: error: no vocab.json in {unfinished}'), se


def damage(lm, how):
    "Damage the language-model folder `lm` in one way; the message the command must then give."
    if how == 'missing':
        (lm / 'lm_encoder.pth').unlink()
        return f"--lm {lm} is not a complete language model: it has no lm_encoder.pth"
    if how == 'truncated':
        p = lm / 'lm_encoder.pth'; p.write_bytes(p.read_bytes()[:200])
        return f"{lm / 'lm_encoder.pth'} is not a readable encoder file"
    if how == 'json':
        (lm / 'lm_config.json').write_text('{"emb_sz": 8,')
        return f"--lm {lm}: cannot read lm_config.json"
    if how == 'vocab':
        v = json.loads((lm / 'lm_vocab.json').read_text()); (lm / 'lm_vocab.json').write_text(json.dumps(v[:-1]))
        return "lm_vocab.json holds"
    if how == 'sizes':   # a config that says another width than the encoder has
        c = json.loads((lm / 'lm_config.json').read_text()); c['emb_sz'] = 16
        (lm / 'lm_config.json').write_text(json.dumps(c))
        return "does not fit this model"
    raise ValueError(how)


@pytest.mark.parametrize('how', ['missing', 'truncated', 'json', 'vocab', 'sizes'])
def test_damaged_lm_folder(template_run, tmp_path, data, how):
    "A damaged --lm folder: one line naming it, before any data is read, and nothing created."
    lm = tmp_path / 'lm'
    shutil.copytree(template_run / 'lm', lm)
    msg = damage(lm, how)
    code, so, se = run_main([data, *SMALL, '--lm', lm, '--out', tmp_path / 'out'])
    assert code == 1 and msg in one_line(se), se
    assert so == '' and not (tmp_path / 'out').exists() and temp_folders(tmp_path / 'out') == []


def test_lm_folder_is_used(template_run, tmp_path, data):
    "The language model of an earlier run (OUT/lm) starts a new run: its vocabulary and its weights."
    code, so, se = run_main([data, *SMALL, '--lm', template_run / 'lm', '--epochs', '1', '--out', tmp_path / 'o'])
    assert code == 0, se
    res = json.loads((tmp_path / 'o' / 'results.json').read_text())
    assert res['pretrained_lm'] == str(template_run / 'lm') and res['language_model'] is None
    saved = json.loads((tmp_path / 'o' / 'vocab.json').read_text())['vocab']
    assert saved == json.loads((template_run / 'lm' / 'lm_vocab.json').read_text())
    assert not (tmp_path / 'o' / 'lm').exists()


def test_lm_inside_out_is_refused(first_run, data):
    out, run_id, files = first_run
    code, so, se = run_main([data, *SMALL, '--lm', out / 'lm', '--out', out])
    assert code == 1 and f"--lm {out / 'lm'} is inside {out}, which this run replaces" in one_line(se), se
    assert_intact(out, run_id, files)


def test_lm_training_shows_bars_table_and_where_it_is_saved(tmp_path, data):
    "Issue 16: the language model trained here shows its progress bars and a results table with the perplexity."
    out = tmp_path / 'o'
    r = subprocess.run([sys.executable, '-m', 'minifast.text_cli', str(data), *SMALL[:-2], '--bars', 'on', *LM,
                        '--lm-epochs', '2', '--epochs', '1', '--out', str(out)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    so = r.stdout
    start, end = so.index('training a language model'), so.index('language model: validation perplexity')
    lm_part = so[start:end]
    assert f"it is saved with the run, in {out / 'lm'}" in lm_part.splitlines()[0]
    assert '100.00% [' in lm_part   # a bar over the batches reached its end
    header = next(l for l in lm_part.splitlines() if 'valid_perplexity' in l)
    assert header.split()[-8:] == ['epoch', 'train_loss', 'train_accuracy_flat', 'train_perplexity', 'valid_loss',
                                   'valid_accuracy_flat', 'valid_perplexity', 'time'][-8:]
    rows = [l.split('\r')[-1] for l in lm_part.splitlines() if re.match(r'\s*[01]\s+\d', l.split('\r')[-1])]
    assert [r.split()[0] for r in rows] == ['0', '1']
    for row in rows:   # the perplexity columns are exp of the loss columns beside them
        v = [float(x) for x in row.split()[1:7]]
        assert v[2] == pytest.approx(torch.tensor(v[0]).double().exp().item(), rel=1e-4)
        assert v[5] == pytest.approx(torch.tensor(v[3]).double().exp().item(), rel=1e-4)
    assert f"saved with the run, in {out / 'lm'}" in so[end:].splitlines()[0]
    assert (out / 'lm' / 'lm_encoder.pth').is_file()


def test_spacy_missing(tmp_path, data):
    "Without spaCy: one line with the command that installs it, before any work; nothing created."
    shim = tmp_path / 'shim' / 'spacy'
    shim.mkdir(parents=True)
    (shim / '__init__.py').write_text("raise ImportError('No module named spacy')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shim.parent), os.environ.get('PYTHONPATH', '')]))
    for argv in ([str(data), *SMALL, '--out', str(tmp_path / 'o')], ['--out', str(tmp_path / 'o'), '--predict', 'x']):
        r = subprocess.run([sys.executable, '-m', 'minifast.text_cli', *argv], capture_output=True, text=True, env=env,
                           timeout=300)
        assert r.returncode == 1, r.stderr
        assert "spaCy, which cannot be imported" in one_line(r.stderr)
        assert "pip install 'minifast[text]'" in r.stderr
        assert not (tmp_path / 'o').exists()


def test_predict_on_an_image_run(tmp_path):
    "An image run's folder given to --predict: one line naming the command that labels images; and the other way."
    img = tmp_path / 'img'
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        minifast.cli.main(['mnist', '--n-train', '100', '--n-valid', '50', '--bs', '50', '--epochs', '1', '--bars',
                           'off', '--out', str(img)])
    code, so, se = run_main(['--out', img, '--predict', 'a great film'])
    assert code == 1 and one_line(se) == (f"minifast_train_text: error: {img} holds an image classifier, saved by "
                                          f"minifast_train: label images with minifast_train --out {img} --predict "
                                          "IMAGE"), se
    assert so == ''


def test_version_and_help(capsys):
    code, so, se = run_main(['--version'])
    assert code == 0 and so.strip() == f"minifast {minifast.__version__}"
    code, so, se = run_main(['--help'])
    text = ' '.join(so.split())
    assert code == 0
    for s in ['(default: --epochs 1,1,3)', '--lr 0.02,0.01,0.005,0.0025 for --epochs 1,1,1,2',
              '(default: --lm-bs 32)', '(default: --bptt 35)', '(default: --encoding utf-8)', '--out.prev']:
        assert s in text, s
