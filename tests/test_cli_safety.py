"""Issue 13 acceptance tests for `minifast_train` (minifast.cli): a run is written as a unit, so a second run into the
same --out that is interrupted (SIGINT, SIGTERM, SIGKILL at a chosen moment) or diverges (NaN loss) leaves the first run
complete and loadable; the run after a SIGKILL removes the killed run's temporary folder; the files of a run carry its
id and the loaders refuse a mix; the output folder is checked before any work. Runs are tiny (a few hundred MNIST
images, small batches) so that the whole file stays quick on 2 cores; the console script runs as a subprocess where a
signal or an exit status is what is tested, and in this process otherwise."""
import contextlib, io, json, os, re, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
from PIL import Image
from minifast.core import torch_threads
from minifast.cli import main, check_run, load_results, load_model, load_classifier, RunMismatchError, RUN_FILES
from _cli import run_main as _run_main, run_until as _run_until, snapshot, temp_folders

TINY = ['mnist', '--n-train', '300', '--n-valid', '100', '--bs', '50', '--bars', 'off']
# a second run that takes long enough to be interrupted after its first epoch (each epoch is well under a second)
LONG = ['mnist', '--n-train', '600', '--n-valid', '100', '--bs', '50', '--bars', 'off', '--epochs', '200']


def run_main(argv): return _run_main(main, argv)


def run_until(argv, pattern, sig, timeout=300):
    "Start minifast_train; when a stdout line matches `pattern`, send `sig`. Returns (status, stdout, stderr)."
    return _run_until('minifast.cli', argv, lambda lines: re.match(pattern, lines[-1]), sig, timeout,
                      env=dict(os.environ, OMP_NUM_THREADS='1'))


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    "The CPUs running the suite are shared: one torch thread per process (the subprocesses get OMP_NUM_THREADS=1)."
    with torch_threads(1): yield


@pytest.fixture(scope='module')
def template_run(tmp_path_factory):
    "A complete run, trained once for the module."
    out = tmp_path_factory.mktemp('template') / 'run'
    code, so, se = run_main(TINY + ['--epochs', '1', '--out', out])
    assert code == 0, se
    return out


@pytest.fixture
def first_run(tmp_path, template_run):
    "A complete first run in tmp_path/run (a copy of the module's): (its folder, its run id, its files' bytes)."
    out = tmp_path / 'run'
    shutil.copytree(template_run, out)
    return out, check_run(out), snapshot(out)


def assert_intact(out, run_id, files):
    "The first run is exactly as it was, loadable, and nothing temporary is left beside it."
    assert snapshot(out) == files
    assert check_run(out) == run_id and load_results(out)['run_id'] == run_id
    assert load_classifier(out).run_id == run_id
    assert not (out.parent / (out.name + '.prev')).exists()


FIRST_EPOCH = r'0\s+\d'   # the first row of the results table: epoch 0 has ended


def test_sigint_after_first_epoch(first_run):
    out, run_id, files = first_run
    rc, so, se = run_until(LONG + ['--out', out], FIRST_EPOCH, signal.SIGINT)
    assert rc == 130, (rc, se)
    assert se.strip().splitlines() == [f"minifast_train: interrupted (SIGINT): nothing was saved; {out} is as it was and "
                                       "no temporary folder is left"], se
    assert 'Traceback' not in se
    assert_intact(out, run_id, files)
    assert temp_folders(out) == []


def test_sigterm_after_first_epoch(first_run):
    out, run_id, files = first_run
    rc, so, se = run_until(LONG + ['--out', out], FIRST_EPOCH, signal.SIGTERM)
    assert rc == 128 + signal.SIGTERM, (rc, se)
    assert len(se.strip().splitlines()) == 1 and 'interrupted (SIGTERM): nothing was saved' in se, se
    assert_intact(out, run_id, files)
    assert temp_folders(out) == []


def test_sigint_as_training_starts(first_run):
    "Ctrl-C as soon as training starts (the table header is out, no epoch has ended) is handled the same way."
    out, run_id, files = first_run
    rc, so, se = run_until(LONG + ['--out', out], r'epoch\s', signal.SIGINT)   # the header: fit has just begun
    assert rc == 130 and 'Traceback' not in se and len(se.strip().splitlines()) == 1, (rc, se)
    assert_intact(out, run_id, files)
    assert temp_folders(out) == []


def test_sigkill_then_next_run_cleans_up(first_run, capsys):
    out, run_id, files = first_run
    rc, so, se = run_until(LONG + ['--out', out], FIRST_EPOCH, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert_intact(out, run_id, files)
    left = temp_folders(out)   # a killed process cannot clean up: its temporary folder stays, with its run.json
    assert len(left) == 1 and left[0].startswith('.run.tmp-'), left
    killed = json.loads((out.parent / left[0] / 'run.json').read_text())
    assert killed['status'] == 'running' and killed['run_id'] != run_id
    # the next run into the same folder removes it, then replaces the first run, which becomes run.prev
    code, so, se = run_main(TINY + ['--epochs', '1', '--out', out])
    assert code == 0, se
    assert f"minifast_train: removed {out.parent / left[0]}, left by a run that was killed" in se
    assert temp_folders(out) == []
    assert check_run(out) not in (run_id, killed['run_id'])
    prev = out.parent / 'run.prev'
    assert snapshot(prev) == files and check_run(prev) == run_id
    assert f"the previous run is now {out}.prev" in so


def test_temp_folder_of_a_live_process_is_kept(first_run):
    "A temporary folder whose process still runs (another run in progress) is not touched."
    out, run_id, files = first_run
    live = out.parent / '.run.tmp-live'
    live.mkdir()
    (live / 'run.json').write_text(json.dumps(dict(run_id='x', status='running', pid=os.getpid(),
                                                   host=__import__('socket').gethostname())))
    code, so, se = run_main(TINY + ['--epochs', '1', '--out', out])
    assert code == 0 and live.is_dir() and 'removed' not in se


def test_nan_loss_exits_nonzero_and_saves_nothing(first_run):
    "A learning rate that makes the loss NaN: exit status 1, one line, the first run untouched."
    out, run_id, files = first_run
    r = subprocess.run([sys.executable, '-m', 'minifast.cli', *TINY, '--epochs', '2', '--lr', '1e30', '--opt', 'sgd',
                        '--no-one-cycle', '--out', str(out)], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('minifast_train: error: training diverged: the training loss became nan'), r.stderr
    assert 'Try a lower --lr' in lines[0]
    assert_intact(out, run_id, files)
    assert temp_folders(out) == []


def test_files_of_two_runs_are_not_mixed(first_run, tmp_path):
    "Each file of another run, copied into a run folder, is detected, whichever file it is; so is an unfinished run."
    out, run_id, files = first_run
    other = tmp_path / 'other'
    assert run_main(TINY + ['--epochs', '1', '--seed', '1', '--out', other])[0] == 0
    other_id = check_run(other)
    for name in RUN_FILES:
        mixed = tmp_path / f'mixed_{name}'
        shutil.copytree(out, mixed)
        shutil.copy(other / name, mixed / name)
        with pytest.raises(RunMismatchError, match='come from different runs') as e: check_run(mixed)
        assert f"{name}: {other_id}" in str(e.value) and f": {run_id}" in str(e.value)
        for load in (load_results, load_model, load_classifier):
            with pytest.raises(RunMismatchError): load(mixed)
    unfinished = tmp_path / 'unfinished'
    shutil.copytree(out, unfinished)
    run = json.loads((unfinished / 'run.json').read_text())
    (unfinished / 'run.json').write_text(json.dumps({**run, 'status': 'running'}))
    with pytest.raises(RunMismatchError, match="not complete"): load_model(unfinished)
    # a missing plot does not stop a model from loading; a missing model does
    (unfinished / 'run.json').write_text(json.dumps(run)); (unfinished / 'training.png').unlink()
    assert load_classifier(unfinished).run_id == run_id
    (unfinished / 'model.pth').unlink()
    with pytest.raises(FileNotFoundError, match='no model.pth in'): load_model(unfinished)
    code, so, se = run_main(['--out', unfinished, '--predict', 'x.png'])
    assert code == 1 and se.strip().startswith('minifast_train: error: no model.pth in'), se


def test_model_file_runs_no_code(first_run, tmp_path):
    "model.pth is read with weights_only=True: a pickle that would run code is refused, and the code does not run."
    out, run_id, files = first_run
    evil = tmp_path / 'evil'
    shutil.copytree(out, evil)
    marker = tmp_path / 'ran'

    class Payload:
        def __reduce__(self): return (Path.touch, (marker,))
    torch.save(dict(run_id=run_id, state_dict={}, extra=Payload()), evil / 'model.pth')
    with pytest.raises(Exception): load_model(evil)
    assert not marker.exists()
    pipe = json.loads((out / 'pipeline.json').read_text())
    assert set(pipe) >= {'run_id', 'arch', 'c_in', 'c_out', 'classes', 'class_names', 'input', 'normalize'}


@pytest.mark.parametrize('kind', ['file', 'foreign_folder', 'dot', 'prev_is_foreign', 'inside_data', 'parent_is_file'])
def test_output_folder_checked_before_any_work(tmp_path, kind):
    "Output folders that cannot hold a run are refused in one line, before data is loaded, and nothing is created."
    data = tmp_path / 'data'
    for split in ('train', 'val'):
        (data / split / 'a').mkdir(parents=True)
        Image.new('RGB', (8, 8)).save(data / split / 'a' / '0.png')
    argv, msg = TINY, None
    if kind == 'file':
        out = tmp_path / 'model.pth'; out.write_bytes(b'x'); msg = 'is a file, not a folder'
    elif kind == 'foreign_folder':
        out = tmp_path / 'mine'; out.mkdir(); (out / 'thesis.tex').write_text('x'); msg = 'not an earlier run'
    elif kind == 'dot':
        out = Path('.'); msg = 'does not name a folder of its own'
    elif kind == 'prev_is_foreign':
        out = tmp_path / 'r'; (tmp_path / 'r.prev').mkdir(); (tmp_path / 'r.prev' / 'a.txt').write_text('x')
        msg = 'r.prev exists and is not an earlier run'
    elif kind == 'inside_data':
        out = data / 'runs' / 'r'; argv = [str(data), '--bs', '2', '--bars', 'off']; msg = 'overlap: put runs outside the data folder'
    else:
        (tmp_path / 'f').write_text('x'); out = tmp_path / 'f' / 'run'; msg = "cannot create the run's folder"
    before = sorted(p.name for p in tmp_path.rglob('*'))
    t0 = time.time()
    code, so, se = run_main(argv + ['--out', out])
    assert code == 1 and msg in se and len(se.strip().splitlines()) == 1, se
    assert so == ''   # no table: training never started
    assert sorted(p.name for p in tmp_path.rglob('*')) == before
    assert time.time() - t0 < 30
