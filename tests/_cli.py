"""Helpers shared by the command-line tests: run a CLI's `main` in this process, or its console script in a
subprocess interrupted at a chosen moment, and look at run folders."""
import contextlib, io, os, subprocess, sys, time
from pathlib import Path


def run_main(main, argv):
    "Run `main(argv)` in this process; returns (exit status, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
            if not isinstance(e.code, int) and e.code is not None: err.write(str(e.code) + '\n')
    return code, out.getvalue(), err.getvalue()


def run_until(module, argv, when, sig, timeout=300, env=None):
    "Start `python -m module argv`; send `sig` once `when(lines so far)` is true. Returns (status, stdout, stderr)."
    p = subprocess.Popen([sys.executable, '-m', module, *map(str, argv)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env or dict(os.environ))
    lines, sent, t0 = [], False, time.time()
    try:
        for line in p.stdout:   # the CLIs flush every line of their output as it is printed
            lines.append(line)
            if when(lines): p.send_signal(sig); sent = True; break
            if time.time() - t0 > timeout: break
        rest, err = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None: p.kill(); p.wait()
    assert sent, f"the moment to send {sig!r} never came:\n{''.join(lines)}\n{err}"
    return p.returncode, ''.join(lines) + rest, err


def snapshot(out):
    "Every file under the run folder `out` with its bytes."
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(Path(out).rglob('*')) if p.is_file()}


def temp_folders(out):
    "The temporary folders of runs into `out` left beside it."
    return sorted(p.name for p in Path(out).parent.iterdir() if p.name.startswith(f'.{Path(out).name}.'))
