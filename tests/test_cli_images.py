"""Issue 13/16 acceptance tests for `minifast_train` on image folders and for predictions: crafted files that cannot be
images (0 bytes, a truncated JPEG, a text file named .jpg, decompression bombs) stop the command with one line naming
the file and --skip-bad-images, or are skipped and counted with it; 16-bit, palette-with-transparency, RGBA and CMYK
images are converted, not skipped; layout mistakes get messages about folders; --n-train/--n-valid draw seeded subsets
of a folder; --predict and load_classifier give the same labels and probabilities, for folder and MNIST runs and for
every image mode; load_classifier hands a text run to the text loader. Every file is built here, from Fashion-MNIST."""
import contextlib, io, json, os, struct, subprocess, sys, zlib
from pathlib import Path
from unittest import mock
import pytest
import torch
import PIL.Image
from PIL import Image
from minifast.datasets import fashion_mnist
from minifast.core import torch_threads
from minifast.datablock import to_byte_tensor
from minifast.cli import main, load_results, load_classifier, ImageClassifier, ImageInput
from _cli import run_main as _run_main


def run_main(argv): return _run_main(main, argv)


def png_header_only(w, h):
    "A PNG that claims to be `w` x `h` pixels, without the pixel data: a decompression bomb PIL refuses at open."
    def chunk(kind, data): return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'\0' * 100)) + chunk(b'IEND', b''))


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    "The CPUs running the suite are shared: one torch thread per process (the subprocesses get OMP_NUM_THREADS=1)."
    with torch_threads(1): yield


@pytest.fixture(scope='module')
def fm():
    x_tr, y_tr, x_va, y_va, classes = fashion_mnist(flat=False, show_progress=False)
    return x_tr, y_tr, x_va, y_va


def make_folder(root, fm, n_train=30, n_valid=10, names={0: 'tshirt', 1: 'trouser', 7: 'sneaker'}):
    "An ImageNet-layout folder of Fashion-MNIST PNGs."
    x_tr, y_tr, x_va, y_va = fm
    for split, xs, ys, n in [('train', x_tr, y_tr, n_train), ('val', x_va, y_va, n_valid)]:
        for c, name in names.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i, j in enumerate((ys == c).nonzero()[:n, 0].tolist()):
                Image.fromarray((xs[j] * 255).byte().numpy()).save(root / split / name / f'{i}.png')
    return root


def odd_modes(src, dest):
    "The grey image `src` as a 16-bit PNG, a palette PNG whose black is transparent, an RGBA PNG and a CMYK JPEG."
    px = to_byte_tensor(src).flatten().int()
    im16 = Image.new('I;16', src.size); im16.putdata((px * 257).tolist()); im16.save(dest / 'grey16.png')
    pal = Image.new('P', src.size); pal.putpalette([v for i in range(256) for v in (i, i, i)]); pal.putdata(px.tolist())
    pal.save(dest / 'palette.png', transparency=0)
    src.convert('RGBA').save(dest / 'rgba.png')
    src.convert('RGB').convert('CMYK').save(dest / 'cmyk.jpg', quality=95)
    return ['grey16.png', 'palette.png', 'rgba.png', 'cmyk.jpg']


BAD = ['empty.png', 'cut.jpg', 'notes.jpg', 'bomb.png']


@pytest.fixture(scope='module')
def messy(tmp_path_factory, fm):
    "A folder dataset with 4 unreadable files and 4 images in unusual modes, all in train/tshirt."
    root = make_folder(tmp_path_factory.mktemp('messy') / 'data', fm)
    d = root / 'train' / 'tshirt'
    src = Image.open(d / '0.png')
    buf = io.BytesIO(); src.convert('RGB').save(buf, 'JPEG'); jpg = buf.getvalue()
    for name, b in zip(BAD, [b'', jpg[:len(jpg) // 2], b'buy milk', png_header_only(30000, 30000)]): (d / name).write_bytes(b)
    return root, odd_modes(src, d)


def test_unreadable_images_stop_the_console_script(messy, tmp_path):
    root, _ = messy
    out = tmp_path / 'run'
    r = subprocess.run([sys.executable, '-m', 'minifast.cli', str(root), '--size', '16', '--bs', '8', '--out', str(out)],
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert r.returncode == 1 and r.stdout == '', r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"minifast_train: error: cannot read image file {root / 'train' / 'tshirt'}/")
    assert any(b in lines[0] for b in BAD) and '(and 3 more unreadable image file(s))' in lines[0]
    assert 'pass --skip-bad-images' in lines[0]
    assert not out.exists() and [p for p in tmp_path.iterdir()] == []


def test_skip_bad_images_and_odd_modes(messy, tmp_path):
    root, odd = messy
    out = tmp_path / 'run'
    code, so, se = run_main([root, '--size', '16', '--bs', '8', '--epochs', '1', '--bars', 'off', '--skip-bad-images',
                             '--out', out])
    assert code == 0, se
    assert 'minifast_train: skipped 4 unreadable image file(s) (--skip-bad-images)' in se
    res = load_results(out)
    assert sorted(Path(s['path']).name for s in res['skipped_images']) == sorted(BAD)
    reasons = {Path(s['path']).name: s['reason'].lower() for s in res['skipped_images']}
    for name, part in zip(BAD, ['empty file (0 bytes)', 'truncated', 'not an image', 'decompression bomb']):
        assert part in reasons[name], (name, reasons[name])
    assert res['n_train'] == 90 + len(odd) and res['n_valid'] == 30   # the odd modes were read, not skipped
    # each odd mode predicts as its 8-bit grey original does (the same pixels, up to the CMYK JPEG's rounding)
    clf = load_classifier(out)
    d = root / 'train' / 'tshirt'
    ref = clf.probs(d / '0.png')
    for name in ('grey16.png', 'rgba.png'): assert torch.equal(clf.probs(d / name), ref), name
    assert (clf.probs(d / 'cmyk.jpg') - ref).abs().max() < 0.05
    # predicting an unreadable file: one line naming it
    code, so, se = run_main(['--out', out, '--predict', d / 'cut.jpg'])
    assert code == 1 and se.strip().startswith(f"minifast_train: error: cannot read image file {d / 'cut.jpg'}: "), se


def test_lowered_pixel_limit_makes_a_bomb(fm, tmp_path):
    "A real image above PIL's MAX_IMAGE_PIXELS (lowered here) is an unreadable image like any other."
    root = make_folder(tmp_path / 'data', fm, n_train=10, n_valid=4)
    Image.new('L', (400, 400)).save(root / 'train' / 'trouser' / 'big.png')
    with mock.patch.object(PIL.Image, 'MAX_IMAGE_PIXELS', 400 * 400 // 3):
        code, so, se = run_main([root, '--size', '16', '--bs', '8', '--out', tmp_path / 'run'])
    assert code == 1 and 'big.png' in se and 'decompression bomb' in se and '--skip-bad-images' in se, se


@pytest.mark.parametrize('mistake,part', [
    ('loose', 'directly inside it (e.g. 0.png): put each image in a folder named after its class'),
    ('deep', 'images must sit one folder deep'),
    ('val_only', "have no images in"),
    ('no_val', "has no val/ subfolder"),
])
def test_layout_messages_are_about_folders(fm, tmp_path, mistake, part):
    root = make_folder(tmp_path / 'data', fm, n_train=4, n_valid=2)
    if mistake == 'loose': (root / 'train' / 'tshirt' / '0.png').rename(root / 'train' / '0.png')
    if mistake == 'deep':
        (root / 'val' / 'trouser' / 'x').mkdir(); (root / 'val' / 'trouser' / '0.png').rename(root / 'val' / 'trouser' / 'x' / '0.png')
    if mistake == 'val_only': (root / 'val' / 'trouser').rename(root / 'val' / 'shorts')
    if mistake == 'no_val': (root / 'val').rename(root / 'valid')
    code, so, se = run_main([root, '--size', '16', '--bs', '4', '--out', tmp_path / 'run'])
    assert code == 1 and part in se and len(se.strip().splitlines()) == 1, se
    assert 'Traceback' not in se and 'split_by_func' not in se and 'CategoryProcessor' not in se
    assert not (tmp_path / 'run').exists()


def test_folder_subsets(fm, tmp_path):
    "--n-train/--n-valid on a folder: seeded random subsets, the classes of the whole folder kept."
    root = make_folder(tmp_path / 'data', fm)
    runs = {}
    for name, seed in [('a', 1), ('b', 1), ('c', 2)]:
        code, so, se = run_main([root, '--size', '16', '--bs', '8', '--epochs', '1', '--n-train', '12', '--n-valid', '6',
                                 '--seed', seed, '--bars', 'off', '--out', tmp_path / name])
        assert code == 0, se
        runs[name] = load_results(tmp_path / name)
    a, b, c = runs['a'], runs['b'], runs['c']
    assert (a['n_train'], a['n_valid'], a['classes']) == (12, 6, ['sneaker', 'trouser', 'tshirt'])
    assert a['history'] == b['history'] and a['accuracy'] == b['accuracy']   # the same subset and the same training
    assert a['history'] != c['history']


def test_predict_mnist_run(tmp_path, fm):
    "An MNIST-style run labels any image: grey, resized to 28, transparency black; --predict prints one line per file."
    out = tmp_path / 'run'
    code, so, se = run_main(['fashion_mnist', '--n-train', '500', '--n-valid', '100', '--bs', '50', '--epochs', '1',
                             '--bars', 'off', '--out', out])
    assert code == 0, se
    clf = load_classifier(out)
    assert isinstance(clf, ImageClassifier) and (clf.input.mode, clf.input.size, clf.input.background) == ('L', 28, 0)
    x_va = fm[2]
    small = tmp_path / 'item.png'
    Image.fromarray((x_va[3] * 255).round().byte().numpy()).save(small)
    big = tmp_path / 'big.jpg'
    Image.open(small).convert('RGB').resize((200, 120)).save(big)
    model = clf.model
    expected = torch.softmax(model(x_va[3][None, None]), -1)[0]
    assert torch.equal(clf.probs(small), expected)   # the PNG holds the dataset's pixels exactly
    labels = clf.predict([small, big])
    code, so, se = run_main(['--out', out, '--predict', small, big])
    assert code == 0, se
    assert so.splitlines() == [f"{l}\t{p[l]:.4f}\t{f}" for (l, p), f in zip(labels, [small, big])]
    assert abs(sum(labels[1][1].values()) - 1) < 1e-5


def test_load_classifier_hands_text_runs_to_the_text_loader(tmp_path):
    "A text run folder (vocab.json, no pipeline.json) goes to minifast.text_cli's loader; --predict points to the text CLI."
    text_run = tmp_path / 'text_run'
    text_run.mkdir()
    (text_run / 'vocab.json').write_text('["xxunk"]'); (text_run / 'results.json').write_text('{}')
    import minifast.text_cli as text_cli
    name = '_load_classifier' if hasattr(text_cli, '_load_classifier') else 'load_classifier'
    with mock.patch.object(text_cli, name, return_value='the text classifier') as m:
        assert load_classifier(text_run) == 'the text classifier'
        m.assert_called_once()
    code, so, se = run_main(['--out', text_run, '--predict', 'a.png'])
    assert code == 1 and 'holds a text classifier: label texts with minifast_train_text' in se, se
