"""The package as users get it: a wheel built from this checkout holds every module and nothing else, declares its
entry points and licence, and installs into a fresh virtual environment where the commands run."""
import configparser, subprocess, sys, tarfile, zipfile, venv
from pathlib import Path
import pytest

root = Path(__file__).resolve().parent.parent
cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(root/'settings.ini')
cfg = cfg['DEFAULT']

@pytest.fixture(scope='module')
def dist(tmp_path_factory):
    "A wheel and an sdist built from this checkout (with this venv's setuptools: no download)."
    out = tmp_path_factory.mktemp('dist')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', str(root), '--no-deps', '--no-build-isolation', '-q',
                    '-w', str(out)], check=True, cwd=root)
    subprocess.run([sys.executable, 'setup.py', '-q', 'sdist', '-d', str(out)], check=True, cwd=root,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out

def test_wheel_contents(dist):
    whl = next(dist.glob('minifast-*.whl'))
    names = zipfile.ZipFile(whl).namelist()
    modules = sorted(n for n in names if n.startswith('minifast/'))
    assert modules == sorted(f'minifast/{p.name}' for p in (root/'minifast').glob('*.py')), modules
    assert not [n for n in names if n.endswith('.ipynb') or n.startswith(('nbs/', 'tests/', 'bench/', 'tools/'))]
    info = f'minifast-{cfg["version"]}.dist-info'
    assert f'{info}/licenses/LICENSE' in names or f'{info}/LICENSE' in names
    z = zipfile.ZipFile(whl)
    eps = z.read(f'{info}/entry_points.txt').decode()
    for script in ('minifast_train = minifast.cli:main', 'minifast_train_text = minifast.text_cli:main'):
        assert script in eps, eps
    meta = z.read(f'{info}/METADATA').decode()
    for line in ['License: Apache-2.0', 'Project-URL: Documentation, ', 'Project-URL: Source, ', 'Project-URL: Issues, ',
                 'Development Status :: 4 - Beta', 'Requires-Python: >=3.9', 'Requires-Dist: torch>=2.1']:
        assert line in meta, line
    assert 'Programming Language :: Python :: 3.12' not in meta   # no claim beyond the versions tested

def test_sdist_has_license(dist):
    sdist = next(dist.glob('minifast-*.tar.gz'))
    names = tarfile.open(sdist).getnames()
    assert any(n.endswith('/LICENSE') for n in names) and any(n.endswith('/settings.ini') for n in names)
    assert not any(n.endswith('.ipynb') for n in names)

def test_fresh_venv(dist, tmp_path):
    "pip install the wheel into a new venv (torch's CPU wheel first, as the README says) and run the commands."
    env_dir = tmp_path/'venv'
    venv.create(env_dir, with_pip=True)
    py, pip = env_dir/'bin'/'python', [str(env_dir/'bin'/'python'), '-m', 'pip', 'install', '-q']
    subprocess.run(pip + ['torch==2.13.0'], check=True)
    subprocess.run(pip + [str(next(dist.glob('minifast-*.whl')))], check=True)
    for cmd in ('minifast_train', 'minifast_train_text'):
        r = subprocess.run([str(env_dir/'bin'/cmd), '--help'], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0 and 'usage:' in r.stdout, r.stderr[-2000:]
    # the installed package is the wheel's, not this checkout's
    r = subprocess.run([str(py), '-c', 'import minifast, sys; print(minifast.__file__)'], capture_output=True,
                       text=True, cwd=tmp_path, check=True)
    assert str(env_dir) in r.stdout
    # train -> predict with the installed commands only: a tiny Fashion-MNIST run, then --predict on a PNG
    out, img = tmp_path/'run', tmp_path/'item.png'
    r = subprocess.run([str(env_dir/'bin'/'minifast_train'), 'fashion_mnist', '--n-train', '300', '--n-valid', '100',
                        '--bs', '50', '--epochs', '1', '--bars', 'off', '--out', str(out)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    subprocess.run([str(py), '-c', f"from PIL import Image; Image.new('L', (40, 30), 128).save({str(img)!r})"], check=True)
    r = subprocess.run([str(env_dir/'bin'/'minifast_train'), '--out', str(out), '--predict', str(img)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    label, prob, fn = r.stdout.strip().split('\t')
    assert label in ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
                     'Ankle boot') and 0 < float(prob) <= 1 and fn == str(img), r.stdout
