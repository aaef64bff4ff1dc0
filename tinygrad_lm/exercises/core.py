"""The exercise machinery: registration, stubs and solutions from one template, loading, checking, reporting.

A chapter is two modules with the same name, ``templates/chNN_<name>.py`` (the student's file, with the
reference solutions between nbgrader-style markers) and ``checks/chNN_<name>.py`` (the hidden checks)::

    ### BEGIN SOLUTION (3.2) hint: the gradient of a tie goes to the first maximum only
    ...reference code...
    ### END SOLUTION

``render(text, solution=False)`` turns each block into ``raise NotImplementedError("exercise 3.2: <hint>")``
at the block's indentation (a stub); ``solution=True`` just drops the marker lines.

A check is registered with ``@exercise`` and receives the student's objects named in ``entry``, in order::

    @exercise("3.2", "max-pool backward with ties", ids=("D3.F2",), kind="op", file="ch03_cnn",
              entry=("maxpool2d_backward",))
    def _(maxpool2d_backward):
        ...   # raise CheckFailure(check=..., detail=..., hint=..., erratum=...) when wrong

Helpers for the checks (all deterministic; hypothesis is a test-only dependency, so checks draw their
cases from seeded NumPy generators):

- ``rng(seed=0)``: a seeded ``numpy.random.Generator``.
- ``cases(n, seed=0)``: ``n`` independent seeded generators, one per drawn case.
- ``to_numpy(x)``: a Tensor, array, list or number as a float64 (or its own dtype) NumPy array.
- ``assert_close(actual, expected, check, rtol=1e-6, atol=1e-8, hint=None, erratum=None)``: shape, then
  finiteness, then values; on failure a CheckFailure naming the worst element, both values and its
  relative error ``|a - e| / |e|``.
- ``close(actual, expected, rtol, atol)``: the same test as a bool (to recognise a known wrong answer,
  e.g. the source's, before the generic comparison, so the failure can name the erratum).
- ``assert_grad(fn, inputs, check, hint=None)``: ``tinygrad_lm.gradcheck`` on float64 copies of
  ``inputs`` (arrays or tensors; all require grad) under a random upstream gradient, as a CheckFailure.
- ``tensor64(array, requires_grad=True)``: a float64 Tensor, for running the student's Function or the
  library's op.
- ``expect_equal(actual, expected, check, hint=None, erratum=None)``: exact equality (ints, lists, shapes).
- ``run_function(cls, arrays, upstream, **options)``: a student's ``Function`` subclass run by hand,
  forward then backward with ``upstream`` (no engine): ``(out, grads)``, grads always a tuple.
- ``reference_grads(fn, arrays, upstream)``: the library's answer: ``fn(*float64 tensors)`` and the
  gradients of ``<upstream, fn(...)>`` by the engine: ``(out, grads)`` as NumPy arrays.

``check_ids`` / ``check_objects`` run checks and return ``Result``s; an unfinished stub
(NotImplementedError) is "not attempted", any other exception in the student's code is reported with the
student's file and line (checks do not catch exceptions themselves).
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import pkgutil
import re
import sys
import time
import traceback
from pathlib import Path

import numpy as np

KINDS = ("op", "derive", "build", "technique", "erratum")
TEMPLATES = Path(__file__).parent / "templates"


class CheckFailure(AssertionError):
    """A check's verdict: which check failed, what was seen, a hint, and the erratum when the answer is the source's."""

    def __init__(self, check: str, detail: str = "", hint: str | None = None, erratum: str | None = None):
        self.check, self.detail, self.hint, self.erratum = check, detail, hint, erratum
        super().__init__(self.reason())

    def reason(self) -> str:
        text = f"[{self.check}] {self.detail}".rstrip()
        if self.erratum:
            text += f"; this is the source's mistake, erratum {self.erratum}"
        if self.hint:
            text += f"; hint: {self.hint}"
        return text


class NotAttempted(Exception):
    """The student's function still raises the stub's NotImplementedError."""


@dataclasses.dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    ids: tuple
    kind: str
    file: str
    entry: tuple
    check: object = dataclasses.field(repr=False, compare=False)

    @property
    def key(self):
        return tuple(int(p) for p in self.id.split("."))


@dataclasses.dataclass
class Result:
    id: str
    title: str
    passed: bool
    reason: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        head = f"{'PASS' if self.passed else 'FAIL'} {self.id} {self.title}"
        return head if self.passed else f"{head}: {self.reason}"


_REGISTRY: dict = {}


def exercise(id: str, title: str, ids=(), kind: str = "op", file: str = "", entry=()):  # noqa: A002 - the spec's name
    """Register the decorated function as the check of exercise ``id`` ("C.N")."""
    if not re.fullmatch(r"[1-9]\d*\.[1-9]\d*", id):
        raise ValueError(f"exercise id {id!r}: expected 'C.N', chapter and number without leading zeros")
    if kind not in KINDS:
        raise ValueError(f"exercise {id}: kind {kind!r} is not one of {KINDS}")
    if not file or not entry:
        raise ValueError(f"exercise {id}: name the student's file and entry function(s)")

    def register(fn):
        old = _REGISTRY.get(id)
        if old is not None and old.check.__module__ != fn.__module__:
            raise ValueError(f"exercise {id} registered twice: in {old.check.__module__} and {fn.__module__}")
        _REGISTRY[id] = Exercise(id, title, tuple(ids), kind, file, tuple(entry), fn)
        return fn

    return register


def discover() -> dict:
    """Import every module of ``checks`` (so chapters appear as their files are added); id -> Exercise, in order."""
    from . import checks

    for info in pkgutil.iter_modules(checks.__path__):
        importlib.import_module(f"{checks.__name__}.{info.name}")
    return dict(sorted(_REGISTRY.items(), key=lambda kv: kv[1].key))


def get(exercise_id: str) -> Exercise:
    exercises = discover()
    if exercise_id not in exercises:
        raise KeyError(f"no exercise {exercise_id!r}; `tinygrad-lm exercises list` shows them all")
    return exercises[exercise_id]


# ---- stubs and solutions -------------------------------------------------------------------------------

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?:\s*\((?P<id>[^)]*)\))?(?:\s*hint:\s*(?P<hint>.*?))?\s*$")
_END = re.compile(r"^[ \t]*### END SOLUTION\s*$")


def render(text: str, solution: bool, name: str = "template") -> str:
    """The student's stub (``solution=False``) or the reference solution of a template's text."""
    out, begin = [], None
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        m = _BEGIN.match(line)
        if m:
            if begin is not None:
                raise ValueError(f"{name}:{number}: BEGIN SOLUTION inside the block opened on line {begin[0]}")
            begin = (number, m)
            continue
        if _END.match(line):
            if begin is None:
                raise ValueError(f"{name}:{number}: END SOLUTION without BEGIN SOLUTION")
            if not solution:
                m = begin[1]
                message = f"exercise {m['id'] or '?'}: {m['hint'] or 'write this part'}"
                out.append(f"{m['indent']}raise NotImplementedError({message!r})\n")
            begin = None
            continue
        if solution or begin is None:
            out.append(line)
    if begin is not None:
        raise ValueError(f"{name}:{begin[0]}: BEGIN SOLUTION never closed")
    return "".join(out)


def templates() -> dict:
    """Module name -> template text, for every template file."""
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(TEMPLATES.glob("ch[0-9]*.py"))}


_MANIFEST = ".tinygrad_lm_exercises.json"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_files(directory, solution: bool, force: bool = False) -> list:
    """Write every chapter's stub (or solution) into ``directory``; returns the paths written.

    A file is overwritten only if it is missing, equal to what would be written, equal to what was last
    written there (recorded in a manifest), or ``force`` is set; otherwise nothing is written and
    FileExistsError names the files the student changed.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest_path = directory / _MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    rendered = {f"{name}.py": render(text, solution, f"{name}.py") for name, text in templates().items()}
    changed = []
    for fname, text in rendered.items():
        path = directory / fname
        if path.exists() and not force:
            current = path.read_text(encoding="utf-8")
            if current != text and _digest(current) != manifest.get(fname):
                changed.append(str(path))
    if changed:
        raise FileExistsError("refusing to overwrite files changed since they were written (your work?): "
                              + ", ".join(changed) + "; pass --force to overwrite them")
    for fname, text in rendered.items():
        (directory / fname).write_text(text, encoding="utf-8")
        manifest[fname] = _digest(text)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return [directory / f for f in rendered]


# ---- loading the student's files -------------------------------------------------------------------------

class StudentError(Exception):
    """The student's file could not be loaded or lacks an entry; the message is the whole reason."""


def _student_frame(tb_exc: traceback.TracebackException, path: str | None):
    """The innermost frame in the student's file (or, from a notebook, outside this package and libraries)."""
    here = str(Path(__file__).parent)
    library = str(Path(__file__).parent.parent)
    frames = list(tb_exc.stack)
    if path is not None:
        mine = [f for f in frames if os.path.abspath(f.filename) == os.path.abspath(path)]
    else:
        mine = [f for f in frames if not f.filename.startswith((here, library, sys.prefix, sys.base_prefix))]
    return mine[-1] if mine else None


def describe_error(exc: BaseException, path: str | None = None) -> str:
    """'file, line N: <code>: Type: message' for an exception raised in (or through) the student's code."""
    tb = traceback.TracebackException.from_exception(exc)
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename}, line {exc.lineno}"
        code = (exc.text or "").strip()
        return f"{where}: {code}: SyntaxError: {exc.msg}" if code else f"{where}: SyntaxError: {exc.msg}"
    frame = _student_frame(tb, path)
    message = f"{type(exc).__name__}: {exc}"
    if frame is None:
        return f"error in the check, after your code returned: {message}"
    code = f" {frame.line.strip()}:" if frame.line else ""
    return f"{frame.filename}, line {frame.lineno}, in {frame.name}:{code} {message}"


_counter = [0]


def load_student_file(path) -> dict:
    """Execute the student's file afresh (no import cache, no bytecode cache); its namespace."""
    path = Path(path)
    if not path.exists():
        raise StudentError(f"no file {path}: run `tinygrad-lm exercises start {path.parent}` first")
    source = path.read_text(encoding="utf-8")
    _counter[0] += 1
    name = f"_tinygrad_lm_student_{path.stem}_{_counter[0]}"
    module = type(sys)(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses and pickling look the module up while it runs
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)
    except Exception as exc:
        raise StudentError(f"cannot load your file: {describe_error(exc, str(path))}") from exc
    finally:
        sys.modules.pop(name, None)
    return module.__dict__


# ---- running checks --------------------------------------------------------------------------------------

def run_check(ex: Exercise, objects, path: str | None = None) -> Result:
    """Run ``ex``'s check on the student's ``objects``; never raises for the student's mistakes."""
    start = time.perf_counter()
    try:
        ex.check(*objects)
        passed, reason = True, ""
    except (NotAttempted, NotImplementedError) as exc:
        passed, reason = False, f"not attempted ({exc})" if str(exc) else "not attempted"
    except CheckFailure as exc:
        passed, reason = False, exc.reason()
    except Exception as exc:
        passed, reason = False, describe_error(exc, path)
    return Result(ex.id, ex.title, passed, reason, time.perf_counter() - start)


def check_ids(ids, directory=".") -> list:
    """Check exercises ``ids`` against the student's files in ``directory``, each file loaded afresh once."""
    exercises = discover()
    unknown = [i for i in ids if i not in exercises]
    if unknown:
        raise KeyError(f"no exercise {', '.join(unknown)}; `tinygrad-lm exercises list` shows them all")
    namespaces, results = {}, []
    for i in ids:
        ex = exercises[i]
        path = Path(directory) / f"{ex.file}.py"
        if ex.file not in namespaces:
            try:
                namespaces[ex.file] = load_student_file(path)
            except StudentError as exc:
                namespaces[ex.file] = exc
        ns = namespaces[ex.file]
        if isinstance(ns, StudentError):
            results.append(Result(ex.id, ex.title, False, str(ns)))
            continue
        missing = [e for e in ex.entry if e not in ns]
        if missing:
            results.append(Result(ex.id, ex.title, False, f"{path} defines no {', '.join(missing)} (renamed?)"))
            continue
        results.append(run_check(ex, [ns[e] for e in ex.entry], str(path)))
    return results


def report(results, out=None) -> bool:
    """Print one PASS/FAIL line per result and the summary line; True when all passed."""
    out = out or sys.stdout
    for r in results:
        print(r.line(), file=out)
    passed = sum(r.passed for r in results)
    print(f"exercises: {passed} passed, {len(results) - passed} failed", file=out)
    return passed == len(results)


# ---- helpers for the checks ------------------------------------------------------------------------------

def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def cases(n: int, seed: int = 0):
    """``n`` independent seeded generators (one per drawn case), the same on every run."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def to_numpy(x) -> np.ndarray:
    from ..tensor import Tensor

    if isinstance(x, Tensor):
        return x.numpy()
    return np.asarray(x)


def tensor64(array, requires_grad: bool = True):
    from ..tensor import Tensor

    return Tensor(np.array(to_numpy(array), dtype=np.float64), requires_grad=requires_grad)


def _as_array(x, check: str, what: str) -> np.ndarray:
    try:
        return np.asarray(to_numpy(x), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CheckFailure(check, f"{what} is {type(x).__name__}, not an array of numbers ({exc})") from None


def close(actual, expected, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """Whether ``actual`` has ``expected``'s shape and values (allclose); never raises on bad input."""
    try:
        a, e = np.asarray(to_numpy(actual), dtype=np.float64), np.asarray(to_numpy(expected), dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=rtol, atol=atol))


def assert_close(actual, expected, check: str, rtol: float = 1e-6, atol: float = 1e-8,
                 hint: str | None = None, erratum: str | None = None) -> None:
    """CheckFailure unless |a - e| <= atol + rtol |e| everywhere; names the worst element and its relative error."""
    a = _as_array(actual, check, "your result")
    e = np.asarray(to_numpy(expected), dtype=np.float64)
    if a.shape != e.shape:
        raise CheckFailure(check, f"shape {a.shape}, expected {e.shape}", hint, erratum)
    if not np.all(np.isfinite(a)):
        k = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise CheckFailure(check, f"non-finite value {a[k]} at {list(k)}", hint, erratum)
    excess = np.abs(a - e) - (atol + rtol * np.abs(e))
    if excess.size and excess.max() > 0:
        k = np.unravel_index(int(excess.argmax()), excess.shape)
        rel = abs(a[k] - e[k]) / abs(e[k]) if e[k] != 0 else float("inf")
        where = f"worst element {list(int(i) for i in k)}" if a.ndim else "value"
        raise CheckFailure(check, f"{where}: got {a[k]:.6g}, expected {e[k]:.6g}, rel. error {rel:.3g}",
                           hint, erratum)


def expect_equal(actual, expected, check: str, hint: str | None = None, erratum: str | None = None) -> None:
    """CheckFailure unless ``actual == expected`` exactly (ints, lists, tuples of shapes)."""
    if isinstance(expected, np.ndarray) or isinstance(actual, np.ndarray):
        same = np.shape(actual) == np.shape(expected) and bool(np.all(np.asarray(actual) == expected))
    else:
        same = actual == expected
    if not same:
        raise CheckFailure(check, f"got {actual!r}, expected {expected!r}", hint, erratum)


def assert_grad(fn, inputs, check: str, hint: str | None = None, atol: float = 1e-5, rtol: float = 1e-3) -> None:
    """Finite-difference gradcheck of ``fn(*tensors)`` in float64 under a random upstream gradient."""
    from ..gradcheck import GradcheckError, gradcheck

    tensors = [tensor64(x, requires_grad=True) for x in inputs]
    try:
        gradcheck(fn, tensors, atol=atol, rtol=rtol)
    except GradcheckError as exc:
        raise CheckFailure(check, str(exc), hint) from None


def run_function(cls, arrays, upstream=None, **options):
    """Forward then (with ``upstream``) backward of a Function subclass, called directly on float64 arrays."""
    fn = cls()
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    fn.needs_input_grad = (True,) * len(arrays)
    out = fn.forward(*arrays, **options)
    if upstream is None:
        return out, ()
    grads = fn.backward(np.array(upstream, dtype=np.float64))
    return out, grads if isinstance(grads, (tuple, list)) else (grads,)


def reference_grads(fn, arrays, upstream):
    """``fn`` on float64 tensors and the gradients of ``sum(upstream * fn(...))`` by the engine, as arrays."""
    from ..tensor import Tensor

    tensors = [tensor64(a) for a in arrays]
    out = fn(*tensors)
    (out * Tensor(np.asarray(upstream, dtype=np.float64))).sum().backward()
    return out.numpy(), tuple(np.zeros(t.shape) if t.grad is None else t.grad.numpy() for t in tensors)
