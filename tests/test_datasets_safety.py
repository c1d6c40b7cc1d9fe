"""Issue 13 acceptance tests for minifast.datasets: extraction that cannot write outside its destination, whatever
the archive holds and whether or not this Python's tarfile has extraction filters; a cache that is never poisoned by a
bad archive; checksums recorded on first download; downloads with an overall deadline; a clear error for an unusable
cache folder. Every archive is crafted here and every server is a loopback one in a thread: no network is needed."""
import hashlib, http.server, io, os, stat, sys, tarfile, threading, time, zipfile
from pathlib import Path
import pytest
import minifast.datasets as ds
from minifast.datasets import DatasetError, download_url, extract_archive, untar_data, RemoteFile


# ---------- crafted archives ----------

def make_tar(path, members):
    "A .tgz from (name, spec) pairs; spec: bytes (a file), 'dir', ('sym'|'hard', target), 'chr', 'blk' or 'fifo'."
    with tarfile.open(path, 'w:gz') as tar:
        for name, spec in members:
            ti = tarfile.TarInfo(name)
            if isinstance(spec, bytes):
                ti.size = len(spec); tar.addfile(ti, io.BytesIO(spec)); continue
            if spec == 'dir': ti.type = tarfile.DIRTYPE
            elif isinstance(spec, tuple):
                ti.type, ti.linkname = {'sym': tarfile.SYMTYPE, 'hard': tarfile.LNKTYPE}[spec[0]], spec[1]
            else: ti.type = {'chr': tarfile.CHRTYPE, 'blk': tarfile.BLKTYPE, 'fifo': tarfile.FIFOTYPE}[spec]
            tar.addfile(ti)
    return Path(path)

def make_zip(path, members):
    "A .zip from (name, bytes) pairs; ('sym', target) makes a Unix symbolic-link entry as Info-ZIP writes it."
    with zipfile.ZipFile(path, 'w') as z:
        for name, data in members:
            if isinstance(data, tuple):
                zi = zipfile.ZipInfo(name); zi.create_system = 3; zi.external_attr = (stat.S_IFLNK | 0o777) << 16
                z.writestr(zi, data[1])
            else:
                zi = zipfile.ZipInfo(name); zi.external_attr = (stat.S_IFREG | 0o644) << 16
                z.writestr(zi, data)
    return Path(path)

def long_chain(box):
    """The CVE-2025-4517 pattern: links whose resolved path outgrows PATH_MAX, so os.path.realpath stops resolving and
    tarfile's filter='data' (before Python 3.9.23/3.10.18/3.11.13/3.12.11/3.13.4) lets `escape/...` write outside."""
    steps = 'abcdefghijklmnop'
    # directory names long enough that the 16 resolved levels nearly fill PATH_MAX (4096) below the extraction folder
    comp = 'd' * min(250, (4096 - len(str(box)) - 40) // (len(steps) + 1))
    members, path = [], ''
    for s in steps:
        members += [(os.path.join(path, comp), 'dir'), (os.path.join(path, s), ('sym', comp))]
        path = os.path.join(path, comp)
    linkpath = os.path.join(*steps, 'l' * 254)
    members += [(linkpath, ('sym', '../' * len(steps))),           # resolves to the extraction folder, unnoticed
                ('escape', ('sym', linkpath + '/..')),              # ... so this is its parent
                ('escape/escaped', b'written outside')]
    return members

PNG = b'\x89PNG\r\n\x1a\n' + bytes(range(256)) * 4   # any bytes will do: the content is never interpreted

HOSTILE = {   # name: (members, a member the error must name)
    'absolute': ([('ok/a.png', PNG), ('{outside}/abs_evil', b'x')], '/abs_evil'),
    'dotdot': ([('ok/a.png', PNG), ('ok/../../evil', b'x')], '../evil'),
    'backslash_dotdot': ([('ok\\..\\..\\evil', b'x')], 'evil'),
    'drive': ([('C:/evil', b'x')], 'C:/evil'),
    'symlink_inside': ([('ok/a.png', PNG), ('ok/link.png', ('sym', 'a.png'))], 'ok/link.png'),
    'symlink_outside': ([('link', ('sym', '../../outside'))], 'link'),
    'symlink_absolute': ([('link', ('sym', '/etc'))], 'link'),
    'hardlink_inside': ([('ok/a.png', PNG), ('ok/hard.png', ('hard', 'ok/a.png'))], 'ok/hard.png'),
    'hardlink_outside': ([('hard', ('hard', '../outside_file'))], 'hard'),
    'file_through_symlink': ([('sub', 'dir'), ('d', ('sym', 'sub')), ('d/file', b'x')], "'d'"),
    'link_chain_escape': ([('a', ('sym', '.')), ('a/b', ('sym', '..')), ('b/evil', b'x')], "'a'"),
    'char_device': ([('ok/a.png', PNG), ('ok/tty', 'chr')], 'ok/tty'),
    'block_device': ([('ok/sda', 'blk')], 'ok/sda'),
    'fifo': ([('ok/pipe', 'fifo')], 'ok/pipe'),
    'long_link_chain': (None, "'a'"),
}

def listing(d):
    "Everything under `d` (names relative to it), links included, without following them."
    out = []
    for root, dirs, files in os.walk(d):
        out += [os.path.relpath(os.path.join(root, n), d) for n in dirs + files]
    return sorted(out)

@pytest.fixture(params=['filter', 'no_filter'])
def tarfile_filters(request, monkeypatch):
    "Run once as this Python is, once as a Python without tarfile's extraction filters (before 3.9.17/3.10.12/3.11.4)."
    if request.param == 'no_filter':
        # code that feature-tests hasattr(tarfile, 'data_filter') then extracts as an old Python would (no filter)
        monkeypatch.delattr(tarfile, 'data_filter', raising=False)
    elif not hasattr(tarfile, 'data_filter'): pytest.skip('this Python has no tarfile filters')
    return request.param

@pytest.mark.parametrize('kind', sorted(HOSTILE))
def test_hostile_tar_refused(tmp_path, kind, tarfile_filters):
    box = tmp_path/'box'; box.mkdir()      # the destination's parent: nothing but dest may ever appear here
    outside = tmp_path/'outside'; outside.mkdir()
    members, named = HOSTILE[kind]
    if members is None: members = long_chain(box)
    members = [(n.replace('{outside}', str(outside)), s) for n, s in members]
    arc = make_tar(tmp_path/f'{kind}.tgz', members)
    with pytest.raises(DatasetError) as e: extract_archive(arc, box/'data')
    msg = str(e.value)
    assert 'refusing to extract' in msg and named in msg, msg
    assert listing(box) == [], f'left behind or escaped: {listing(box)}'
    assert listing(outside) == [] and not (tmp_path/'evil').exists()

def test_refusal_says_why(tmp_path):
    why = {'symlink_inside': 'symbolic link', 'hardlink_inside': 'hard link', 'char_device': 'character device',
           'block_device': 'block device', 'fifo': 'fifo', 'dotdot': '..', 'drive': 'absolute'}
    for kind, word in why.items():
        arc = make_tar(tmp_path/f'{kind}.tgz', HOSTILE[kind][0])
        with pytest.raises(DatasetError, match='refusing') as e: extract_archive(arc, tmp_path/'x'/'data')
        assert word in str(e.value), (kind, str(e.value))

def test_good_tar_extracts_files_and_folders(tmp_path, tarfile_filters):
    arc = make_tar(tmp_path/'good.tgz', [('./', 'dir'), ('good/', 'dir'), ('good/a/x.png', PNG), ('good/b.txt', b'hi')])
    out = extract_archive(arc, tmp_path/'data'/'good')
    assert out == tmp_path/'data'/'good'
    assert listing(out) == ['a', 'a/x.png', 'b.txt']
    assert (out/'a'/'x.png').read_bytes() == PNG
    assert listing(tmp_path/'data') == ['good', 'good/a', 'good/a/x.png', 'good/b.txt']

def test_good_zip_extracts(tmp_path):
    arc = make_zip(tmp_path/'zipped.zip', [('zipped/a/x.png', PNG), ('zipped/b.txt', b'hi')])
    out = extract_archive(arc, tmp_path/'data'/'zipped')
    assert listing(out) == ['a', 'a/x.png', 'b.txt'] and (out/'a'/'x.png').read_bytes() == PNG

@pytest.mark.parametrize('name,named', [('../evil.txt', '../evil.txt'), ('ok/../../evil.txt', 'ok/../../evil.txt'),
                                        ('/tmp/minifast_zip_evil.txt', '/tmp/minifast_zip_evil.txt'),
                                        ('C:\\evil.txt', 'evil.txt'), ('link', 'link')])
def test_hostile_zip_refused(tmp_path, name, named):
    box = tmp_path/'box'; box.mkdir()
    arc = make_zip(tmp_path/'bad.zip', [('ok.txt', b'fine'), (name, ('sym', '/etc') if name == 'link' else b'x')])
    with pytest.raises(DatasetError) as e: extract_archive(arc, box/'data')
    assert 'refusing to extract' in str(e.value) and named in str(e.value), str(e.value)
    assert listing(box) == [] and not (tmp_path/'evil.txt').exists() and not Path('/tmp/minifast_zip_evil.txt').exists()

def test_extraction_goes_through_a_temp_folder_beside_dest(tmp_path, monkeypatch):
    arc = make_tar(tmp_path/'good.tgz', [('good/a.png', PNG)])
    seen, replace = [], os.replace
    def spy(src, dst, *a, **k):
        seen.append((Path(src), Path(dst), listing(Path(dst).parent))); return replace(src, dst, *a, **k)
    monkeypatch.setattr(os, 'replace', spy)
    extract_archive(arc, tmp_path/'data'/'good')
    (src, dst, before), = seen
    tmp = src if src.parent == dst.parent else src.parent
    assert tmp.parent == dst.parent and tmp.name.startswith('.tmp-good-'), tmp
    assert 'good' not in before                      # dest appears only with the rename
    assert listing(tmp_path/'data') == ['good', 'good/a.png']

def test_interrupted_extraction_leaves_nothing(tmp_path, monkeypatch):
    "A Ctrl-C while the third file is written: no destination, no temporary folder."
    import shutil
    arc = make_tar(tmp_path/'big.tgz', [(f'big/{i}.png', PNG) for i in range(5)])
    calls = []
    def interrupting(copy):
        def f(*a, **k):
            calls.append(1)
            if len(calls) == 3: raise KeyboardInterrupt
            return copy(*a, **k)
        return f
    monkeypatch.setattr(shutil, 'copyfileobj', interrupting(shutil.copyfileobj))
    monkeypatch.setattr(tarfile, 'copyfileobj', interrupting(tarfile.copyfileobj))   # what extractall uses
    with pytest.raises(KeyboardInterrupt): extract_archive(arc, tmp_path/'data'/'big')
    assert len(calls) == 3 and listing(tmp_path/'data') == []


# ---------- loopback server ----------

class Handler(http.server.BaseHTTPRequestHandler):
    routes = {}   # path: (mode, bytes); mode 'ok', 'trickle' (body), 'trickle_headers' or 'stall'
    def do_GET(self):
        mode, data = self.routes.get(self.path, (None, None))
        if mode is None: return self.send_error(404)
        try:
            if mode == 'trickle_headers':
                for b in b'HTTP/1.1 200 OK\r\nX-Slow: ' + b'z' * 10000:
                    self.wfile.write(bytes([b])); self.wfile.flush(); time.sleep(0.02)
                return
            self.send_response(200); self.send_header('Content-Length', str(len(data))); self.end_headers()
            if mode == 'ok': self.wfile.write(data)
            elif mode == 'trickle':
                for b in data: self.wfile.write(bytes([b])); self.wfile.flush(); time.sleep(0.02)
            elif mode == 'stall': time.sleep(5)
        except (BrokenPipeError, ConnectionResetError): pass
    def log_message(self, *a): pass

@pytest.fixture(scope='module')
def server():
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_address[1]}'
    srv.shutdown(); srv.server_close()

@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path/'home'
    monkeypatch.setenv('MINIFAST_HOME', str(h))
    monkeypatch.delenv('MINIFAST_DATA', raising=False); monkeypatch.delenv('MINIFAST_MIRROR', raising=False)
    return h

def good_tgz(tmp_path, name='sample'):
    return make_tar(tmp_path/f'{name}.tgz', [(f'{name}/a.png', PNG), (f'{name}/b.png', PNG[::-1])]).read_bytes()

def files_under(d): return sorted(p.relative_to(d).as_posix() for p in Path(d).rglob('*') if p.is_file())

def test_first_download_records_size_and_sha256(server, home, tmp_path):
    data = good_tgz(tmp_path, 'rec1')
    Handler.routes['/rec1.tgz'] = ('ok', data)
    out = untar_data(f'{server}/rec1.tgz', show_progress=False)
    assert sorted(x.name for x in out.iterdir()) == ['a.png', 'b.png']
    import json
    rec = json.loads((home/'checksums.json').read_text())
    assert rec[f'{server}/rec1.tgz']['size'] == len(data)
    assert rec[f'{server}/rec1.tgz']['sha256'] == hashlib.sha256(data).hexdigest()

def test_later_copy_with_other_bytes_is_refused(server, home, tmp_path):
    data = good_tgz(tmp_path, 'rec2'); url = f'{server}/rec2.tgz'
    Handler.routes['/rec2.tgz'] = ('ok', data)
    download_url(url, tmp_path/'first.tgz', show_progress=False, checksums=home/'checksums.json')
    changed = data[:50] + bytes([data[50] ^ 1]) + data[51:]
    Handler.routes['/rec2.tgz'] = ('ok', changed)
    with pytest.raises(DatasetError) as e:
        download_url(url, tmp_path/'d'/'again.tgz', show_progress=False, checksums=home/'checksums.json')
    assert 'checksums.json' in str(e.value) and url in str(e.value) and 'sha256' in str(e.value)
    assert files_under(tmp_path/'d') == []

def test_later_copy_with_other_size_is_refused(server, home, tmp_path):
    data = good_tgz(tmp_path, 'rec3'); url = f'{server}/rec3.tgz'
    Handler.routes['/rec3.tgz'] = ('ok', data)
    untar_data(url, show_progress=False)
    for p in (home/'data', home/'archive'):
        import shutil; shutil.rmtree(p)
    Handler.routes['/rec3.tgz'] = ('ok', data + b'\0' * 10)
    with pytest.raises(DatasetError) as e: untar_data(url, show_progress=False)
    assert 'checksums.json' in str(e.value) and f'{len(data)} bytes' in str(e.value), str(e.value)
    assert files_under(home) == ['checksums.json']

def test_archive_that_fails_to_extract_is_removed_from_cache(server, home, tmp_path):
    data = good_tgz(tmp_path, 'corrupt1'); url = f'{server}/corrupt1.tgz'
    Handler.routes['/corrupt1.tgz'] = ('ok', data[:len(data) // 2])      # no published checksum: nothing to check it by
    with pytest.raises(DatasetError) as e: untar_data(url, show_progress=False)
    assert 'deleted' in str(e.value) and 'corrupt1.tgz' in str(e.value), str(e.value)
    assert [f for f in files_under(home) if f != 'checksums.json'] == []
    Handler.routes['/corrupt1.tgz'] = ('ok', data)                       # the next try downloads a good copy
    out = untar_data(url, show_progress=False)
    assert sorted(x.name for x in out.iterdir()) == ['a.png', 'b.png']

@pytest.mark.parametrize('kind', sorted(HOSTILE))
def test_hostile_download_is_refused_and_removed_from_cache(server, home, tmp_path, kind):
    "Every hostile archive, downloaded by untar_data: refused, nothing written outside, and not kept in the cache."
    outside = tmp_path/'outside'; outside.mkdir()
    members, named = HOSTILE[kind]
    if members is None: members = long_chain(home/'data')
    members = [(n.replace('{outside}', str(outside)), s) for n, s in members]
    Handler.routes[f'/hostile-{kind}.tgz'] = ('ok', make_tar(tmp_path/'h.tgz', members).read_bytes())
    with pytest.raises(DatasetError) as e: untar_data(f'{server}/hostile-{kind}.tgz', show_progress=False)
    assert 'refusing' in str(e.value) and named in str(e.value) and 'deleted' in str(e.value), str(e.value)
    # the folders are empty: nothing kept, nothing escaped
    assert listing(home) == ['archive', 'checksums.json', 'data'], listing(home)
    assert listing(outside) == []

def test_cached_archive_that_fails_its_check_is_removed(server, home, tmp_path, monkeypatch):
    data = good_tgz(tmp_path, 'cached1')
    Handler.routes['/cached1.tgz'] = ('ok', data)
    entry = RemoteFile('https://example.invalid/cached1.tgz', len(data), hashlib.sha256(data).hexdigest())
    monkeypatch.setenv('MINIFAST_MIRROR', server)
    out = untar_data(entry, show_progress=False)
    import shutil; shutil.rmtree(out)
    cached = home/'archive'/'cached1.tgz'
    cached.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))                 # bit rot in the cache
    with pytest.raises(DatasetError) as e: untar_data(entry, show_progress=False)
    assert str(cached) in str(e.value) and 'deleted' in str(e.value), str(e.value)
    assert not cached.exists() and not (home/'data'/'cached1').exists()
    assert untar_data(entry, show_progress=False) == home/'data'/'cached1'

@pytest.mark.parametrize('mode', ['trickle', 'trickle_headers'])
def test_trickling_server_hits_the_deadline(server, tmp_path, mode):
    Handler.routes[f'/{mode}.bin'] = (mode, bytes(1000))     # 1000 bytes at 50 bytes/s: 20 s if allowed to finish
    url = f'{server}/{mode}.bin'
    t0 = time.monotonic()
    with pytest.raises(DatasetError) as e:
        download_url(url, tmp_path/'d'/'x.bin', show_progress=False, timeout=5, deadline=1)
    took = time.monotonic() - t0
    assert took < 3, took
    assert url in str(e.value) and 'deadline' in str(e.value) and 's' in str(e.value)
    assert files_under(tmp_path/'d') == []

def test_stalled_server_hits_the_read_timeout(server, tmp_path):
    Handler.routes['/stall.bin'] = ('stall', bytes(1000))
    t0 = time.monotonic()
    with pytest.raises(DatasetError, match='timed out'):
        download_url(f'{server}/stall.bin', tmp_path/'d'/'x.bin', show_progress=False, timeout=0.5)
    assert time.monotonic() - t0 < 3 and files_under(tmp_path/'d') == []

def test_default_deadline_is_finite_and_scales():
    for size in (None, 0, 10**6, 10**10):
        assert 0 < ds._default_deadline(size) < float('inf')
    assert ds._default_deadline(10**10) > ds._default_deadline(10**6)


# ---------- cache folder ----------

@pytest.mark.parametrize('where', ['file', 'under_file'])
def test_uncreatable_cache_names_minifast_home(tmp_path, monkeypatch, where, server):
    f = tmp_path/'a_file'; f.write_text('not a folder')
    monkeypatch.setenv('MINIFAST_HOME', str(f if where == 'file' else f/'cache'))
    monkeypatch.delenv('MINIFAST_DATA', raising=False); monkeypatch.setenv('MINIFAST_MIRROR', server)
    Handler.routes['/mnist/t10k-labels-idx1-ubyte.gz'] = ('ok', b'whatever')
    for call in (lambda: ds.get_file(ds.URLs.MNIST_TEST_LABELS, 'MNIST', show_progress=False),
                 lambda: untar_data(f'{server}/rec1.tgz', show_progress=False)):
        with pytest.raises(DatasetError) as e: call()
        assert 'MINIFAST_HOME' in str(e.value) and 'cache' in str(e.value), str(e.value)
    assert f.read_text() == 'not a folder'

@pytest.mark.skipif(not hasattr(os, 'geteuid') or os.geteuid() == 0, reason='root can write anywhere')
def test_unwritable_cache_names_minifast_home(tmp_path, monkeypatch):
    h = tmp_path/'ro'; h.mkdir(); h.chmod(0o500)
    monkeypatch.setenv('MINIFAST_HOME', str(h)); monkeypatch.delenv('MINIFAST_DATA', raising=False)
    try:
        with pytest.raises(DatasetError, match='MINIFAST_HOME'):
            untar_data('http://127.0.0.1:9/x.tgz', show_progress=False)
    finally: h.chmod(0o700)
