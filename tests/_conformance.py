"""Helpers shared by the conformance tests (tests/test_conformance_*.py): compare a minifast piece with its
PyTorch counterpart on values, dtypes, shapes, non-finite positions, precision and errors.

Not a test file itself (pytest collects only test_*.py); the test files import it from their own folder.
"""
import torch

# How far two results of the same computation may be apart, relative and absolute, by dtype: a few units in the
# last place for the short floats, more for float32 and float64 where sums of many terms are added in another order.
TOL = {torch.float64: 1e-10, torch.float32: 1e-5, torch.float16: 4 * 2**-10, torch.bfloat16: 4 * 2**-7,
       torch.complex64: 1e-5, torch.complex128: 1e-10}


def _flat(x):
    if isinstance(x, (tuple, list)): return [t for o in x for t in _flat(o)]
    return [x]


def assert_agrees(ours, ref, exact=None, tol=None, what='result'):
    """Assert `ours` agrees with PyTorch's `ref` (tensors, or nested tuples of them): same shape, same dtype, nan and
    inf in the same places, finite values within `tol` (relative and absolute; by dtype when None). With `exact`
    (the same computation in float64), also assert `ours` is about as precise as `ref`: its largest error is at most
    twice torch's plus four units of the dtype's epsilon (scaled by the largest value); and a value further than
    `tol` from torch's still agrees when it is at least as close to `exact` as torch's (torch is the imprecise one)."""
    ours, ref = _flat(ours), _flat(ref)
    exact = _flat(exact) if exact is not None else [None] * len(ref)
    assert len(ours) == len(ref), f"{what}: {len(ours)} outputs, PyTorch gives {len(ref)}"
    for i, (o, r, e) in enumerate(zip(ours, ref, exact)):
        w = what if len(ref) == 1 else f"{what}[{i}]"
        if not isinstance(r, torch.Tensor):
            assert o == r, f"{w}: {o!r} != PyTorch's {r!r}"
            continue
        assert isinstance(o, torch.Tensor), f"{w}: got a {type(o).__name__}, PyTorch gives a tensor"
        assert o.shape == r.shape, f"{w}: shape {tuple(o.shape)} != PyTorch's {tuple(r.shape)}"
        assert o.dtype == r.dtype, f"{w}: dtype {o.dtype} != PyTorch's {r.dtype}"
        if o.is_complex(): o, r = torch.view_as_real(o), torch.view_as_real(r)
        if not o.is_floating_point():
            assert torch.equal(o, r), f"{w}: {o} != PyTorch's {r}"
            continue
        o64, r64 = o.detach().double(), r.detach().double()
        assert torch.equal(o64.isnan(), r64.isnan()), f"{w}: nan in other places than PyTorch's\n{o}\n{r}"
        inf = r64.isinf()
        same_inf = torch.equal(o64.isinf(), inf) and torch.equal(o64[inf], r64[inf])
        assert same_inf, f"{w}: infinities differ from PyTorch's\n{o}\n{r}"
        fin = r64.isfinite()
        t = TOL[o.dtype] if tol is None else tol
        diff = (o64[fin] - r64[fin]).abs()
        close = diff <= t * (1 + r64[fin].abs())
        if e is not None and o.dtype != torch.float64:
            # where PyTorch itself is off the float64 result, being at least as close to it is agreement too
            e64 = e.detach().double()[fin]
            ok = e64.isfinite()
            err_o, err_r = (o64[fin] - e64).abs(), (r64[fin] - e64).abs()
            eps = torch.finfo(o.dtype).eps
            close |= err_o <= err_r + 2 * eps * (e64.abs() + 1)
            if ok.any():
                worst_o, worst_r = float(err_o[ok].max()), float(err_r[ok].max())
                if worst_o > 2 * worst_r + 4 * eps * (float(e64[ok].abs().max()) + 1):
                    raise AssertionError(f"{w}: less precise than PyTorch: largest error against float64 "
                                         f"{worst_o:.3g}, PyTorch's {worst_r:.3g}")
        if not close.all():
            j = int((~close).nonzero()[0])
            raise AssertionError(f"{w}: differs from PyTorch by up to {float(diff.max()):.3g} (tolerance {t:g}, "
                                 f"relative and absolute); e.g. {float(o64[fin][j])!r} vs {float(r64[fin][j])!r}")


def call(f, *args, **kwargs):
    "`f(*args, **kwargs)`, with an exception turned into an assertion failure: PyTorch gives a result here."
    try: return f(*args, **kwargs)
    except Exception as e:
        raise AssertionError(f"raised {type(e).__name__} ({e}) where PyTorch gives a result") from e


def error_of(f):
    "The exception `f()` raises, or None."
    try: f()
    except Exception as e: return e
    return None


def assert_raises_like(ours, ref, match=None):
    """Assert `ours()` raises the same kind of exception as PyTorch's `ref()` (which must raise), and that its message
    contains each string in `match`; return our exception."""
    e_ref = error_of(ref)
    assert e_ref is not None, "PyTorch accepts this input: it is not an invalid case"
    e = error_of(ours)
    assert e is not None, f"no error, where PyTorch raises {type(e_ref).__name__}: {e_ref}"
    assert type(e) is type(e_ref), f"raised {type(e).__name__} ({e}), PyTorch raises {type(e_ref).__name__} ({e_ref})"
    for m in ([match] if isinstance(match, str) else match or []):
        assert m in str(e), f"the message {str(e)!r} does not mention {m!r}"
    return e


def input_grads(f, inputs, seed=0, w_dtype=None):
    """Gradients of `(f(*inputs) * w).sum()` with respect to the floating-point `inputs`, for a fixed random `w`
    (rounded to `w_dtype`, by default the output's dtype)."""
    xs = [x.detach().clone().requires_grad_() if x.is_floating_point() else x for x in inputs]
    out = f(*xs)
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(out.shape, generator=g, dtype=torch.float64).to(w_dtype or out.dtype).to(out.dtype)
    torch.autograd.backward(out, w)
    return tuple(x.grad for x in xs if x.is_floating_point())


def assert_grads_agree(ours, ref, inputs, what='gradient'):
    """Assert the gradients of `ours` agree with those of PyTorch's `ref` (see `input_grads`), and are about as
    precise, taking `ref` on the inputs in float64 as the exact gradients."""
    dt = next(x.dtype for x in inputs if x.is_floating_point())
    exact = input_grads(ref, [x.double() if x.is_floating_point() else x for x in inputs], w_dtype=dt)
    assert_agrees(input_grads(ours, inputs), input_grads(ref, inputs), exact=exact, what=what)


def assert_catches(check, *args, **kwargs):
    "Assert that `check(*args, **kwargs)` fails: the conformance check catches a deliberately broken implementation."
    try: check(*args, **kwargs)
    except AssertionError as e: return str(e)
    raise AssertionError(f"{getattr(check, '__name__', check)} did not catch the broken implementation")
