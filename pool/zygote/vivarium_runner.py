# SPDX-License-Identifier: LGPL-2.1-or-later
"""vivarium_runner: the Python half of a vivarium worker.

What it is
    The module that the C program ``vivarium-zygote`` imports by name (with
    pkgdatadir put on ``sys.path`` for that import) into its embedded CPython 3.11.  The C side
    owns sockets, fork, the lockdown and the reply encoding; this module owns
    everything that is Python semantics:

    ``preload(modules, if_installed)``  once, in the zygote, before any fork
    ``warm()``            in each worker right after fork, before a request
    ``reseed()``          in the worker after the lockdown, before ``run``
    ``run(code, ...)``    in the worker: run one request, return a result dict

Trust zone
    Inside the jail.  ``preload`` runs in the zygote (no request data exists
    yet); ``warm`` runs in a fresh worker before it has seen a request;
    ``reseed`` and ``run`` run in the worker after the lockdown (own uid, no
    capabilities, no_new_privs, strict seccomp).  Nothing from a request is
    handed to Python before the lockdown; ``run`` is the only function that
    ever receives request data.

    The request's code runs in the *same interpreter* as this module.  It can
    reach and tamper with the runner (``sys.modules['vivarium_runner']``,
    ``sys._getframe``, monkeypatched builtins, replaced ``sys.stdout`` ...).
    That is unavoidable and accepted: a worker is single-use (or pinned to one
    session), so tampering can only falsify that request's own result, and the
    dispatcher treats every reply as hostile input and validates it.  The
    runner therefore aims at being correct for honest code and *robust* (never
    raising, never printing) for hostile code, not at being tamper-proof.

Invariants
    * Only the standard library is imported at module level; numpy and
      matplotlib are optional and only touched if the zygote preloaded them
      or the request imported them.
    * ``preload`` sets MPLBACKEND=Agg and the BLAS/OpenMP thread limits before
      it imports anything, so the zygote stays single-threaded at fork; its
      warm-ups (a first pyplot figure, pandas' formatting) leave no figure
      open and rcParams as they were.
    * ``warm`` leaves no state a request can see: nothing in ``__main__``, no
      output, no ``linecache`` entry, no pyplot figure, no event loop policy
      change.
    * ``run`` executes in the real ``__main__`` namespace (pickle and
      multiprocessing find functions the code defines) and adds no names of
      its own to it besides ``__name__``/``__builtins__``.
    * ``run`` never prints and never raises for anything the code does: every
      ``BaseException`` (SystemExit, KeyboardInterrupt, MemoryError, ...) is
      turned into the result dict.  Image capture never fails a run.
    * Tracebacks show the user's frames only: the runner's own frames (and the
      asyncio machinery between the runner and the user's top-level frame)
      are stripped.
    * Top-level ``await`` runs on a new event loop per run (asyncio.run):
      the worker's seccomp filter must allow epoll and socketpair for it.
    * The source is registered in ``linecache`` as "<input>"; a later run in
      the same (session) worker replaces it, so tracebacks through functions
      defined by an earlier run show the newer source's lines.  Where
      ``linecache`` is not imported yet (a one-shot worker), importing it
      would cost ``tokenize`` and ``re`` before every run: the source waits,
      and a finder on ``sys.meta_path`` registers it the moment anything
      (traceback, warnings, inspect) imports ``linecache``, then leaves.
    * Every string in the result is valid UTF-8 (lone surrogates are
      backslash-escaped) and at most about 1 MiB when encoded.
    * The ``hash()`` seed (PYTHONHASHSEED) is fixed when the zygote's
      interpreter starts and is knowingly shared by all its workers;
      everything else random is reseeded per worker by ``reseed``.
"""

import __future__
import _ast
import builtins
import errno
import importlib
import io
import os
import sys
import warnings

# Imported where they are used, so that a one-shot worker (which starts its
# own interpreter for one run, like `python3 -c`) does not pay for them
# before the code runs: ``ast`` (its C core ``_ast`` has everything run()
# needs), ``traceback`` (only for a run that raises) and ``random`` (only to
# reseed what a fork copied). preload() imports them in a zygote, so that
# forked workers inherit them.
_ZYGOTE_MODULES = ("asyncio", "tempfile", "traceback", "random")

__all__ = ["preload", "warm", "reseed", "run"]

# Filename of the request's code in code objects, tracebacks and linecache.
_FILENAME = "<input>"

# Caps on strings returned to the dispatcher (UTF-8 bytes, before marker).
_TEXT_MAX = 1 << 20
_TRUNCATED = " ...[truncated]"

# Largest raster (pixels, at dpi 100) we let matplotlib allocate for one
# figure: 16 Mpx is 64 MiB of RGBA.  A bigger figure is counted as omitted
# rather than risking the worker's memory limit after the code succeeded.
_MAX_FIGURE_PIXELS = 16 << 20
_FIGURE_DPI = 100

# inspect.CO_COROUTINE, without importing inspect at module import.
_CO_COROUTINE = 0x0080

_AST_FLAGS = _ast.PyCF_ONLY_AST | _ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_COMPILE_FLAGS = _ast.PyCF_ALLOW_TOP_LEVEL_AWAIT

# co_flags bits that carry `from __future__ import ...` (as codeop does it).
_FUTURE_MASK = 0
for _name in __future__.all_feature_names:
    _FUTURE_MASK |= getattr(__future__, _name).compiler_flag
del _name

_THREAD_VARS = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


# --------------------------------------------------------------------------
# zygote: preload
# --------------------------------------------------------------------------

def preload(modules, if_installed=False):
    """Import ``modules`` in the zygote, before the first fork; return the
    names imported, in order.

    Environment first: MPLBACKEND=Agg and the BLAS/OpenMP thread variables
    are set before any module of the list is imported, so numpy's BLAS starts
    no thread pool (the zygote must have exactly one thread at fork).  Raises
    ImportError naming the module if one fails to import -- unless
    ``if_installed`` (the built-in default list): then a module that is not
    installed, or whose import fails, is left out and the others still load.

    With pyplot imported, matplotlib's one-time costs are paid here too
    (_warm_matplotlib), and pandas' first-use imports (_warm_pandas), so that
    every worker inherits them instead of paying them per request.
    """
    os.environ["MPLBACKEND"] = "Agg"
    for var in _THREAD_VARS:
        os.environ[var] = "1"

    # What run() needs, so every worker inherits it instead of importing it
    # per request: asyncio for top-level await (it pulls in inspect,
    # selectors, ...), tempfile, which requests use often, and what the
    # runner imports lazily (see _ZYGOTE_MODULES).
    for name in _ZYGOTE_MODULES:
        importlib.import_module(name)

    done = []
    for name in modules:
        if not isinstance(name, str):
            raise TypeError("preload: module names must be str, got %r"
                            % (type(name).__name__,))
        try:
            _import_quietly(name)
        except Exception as e:
            if if_installed:
                continue
            raise ImportError("preload: cannot import %r: %s: %s"
                              % (name, type(e).__name__, e),
                              name=name) from e
        done.append(name)

    if any(n == "matplotlib" or n.startswith("matplotlib.") for n in done):
        try:
            matplotlib = importlib.import_module("matplotlib")
            # use() also clears backend_fallback: a run must find the
            # rcParams that a plain import gives (with MPLBACKEND=Agg).
            rc = dict(matplotlib.rcParams)
            matplotlib.use("Agg")
            _restore_rc(matplotlib, rc)
        except Exception as e:
            raise ImportError("preload: cannot select matplotlib's Agg "
                              "backend: %s: %s" % (type(e).__name__, e),
                              name="matplotlib") from e
    # The warm-ups are an optimisation: one that fails costs the requests
    # time, never the zygote its start.
    for warm_up, module in ((_warm_matplotlib, "matplotlib.pyplot"),
                            (_warm_pandas, "pandas")):
        if module in sys.modules:
            try:
                warm_up(sys.modules[module])
            except Exception:
                pass
    return done


def _import_quietly(name):
    """Import ``name`` with matplotlib's font-cache notice kept off stderr
    (the zygote builds the cache at every start; nobody waits on it)."""
    import logging
    fm_log = logging.getLogger("matplotlib.font_manager")
    level = fm_log.level
    fm_log.setLevel(logging.ERROR)
    try:
        importlib.import_module(name)
    finally:
        fm_log.setLevel(level)


def _warm_matplotlib(plt):
    """Draw and save one figure through the path _render takes, then close it.

    What a worker would otherwise pay on its first plot: the font list
    (font_manager.fontManager, built here and kept in memory: the cache file
    under MPLCONFIGDIR lives in the zygote's /tmp, which no worker sees),
    findfont's cached lookups and the FT2Font objects of the default font,
    the text layout, path and Agg code paths, the lazily imported parts
    (PIL's PNG encoder, the mathtext parser, tick locators and formatters,
    legends, collections and patches).  Leaves no figure open and
    rcParams as they were.
    """
    import matplotlib
    rc = dict(matplotlib.rcParams)
    try:
        fig, ax = plt.subplots()
        ax.plot([0, 1, 2], [0, 1, 4], label="line")
        ax.scatter([0, 1], [1, 0], label="points")
        ax.bar([0.5, 1.5], [1, 2], label="bars")
        ax.set_title("$x^2$")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend()
        _render(plt, fig.number, 1 << 30)
    finally:
        plt.close("all")
        _restore_rc(matplotlib, rc)


def _restore_rc(matplotlib, rc):
    """Put back the rcParams that changed since ``rc`` was taken, but the
    backend, which stays the one selected."""
    changed = {k: v for k, v in rc.items()
               if k != "backend" and matplotlib.rcParams.get(k) != v}
    if changed:
        matplotlib.rcParams.update(changed)


def _warm_pandas(pd):
    """The imports pandas defers to first use: formatting (repr, to_string),
    describe() and groupby."""
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "c": ["x", "y", "x"]})
    repr(df)
    repr(df.describe())
    repr(df.groupby("c").sum())
    repr(df["a"])


# --------------------------------------------------------------------------
# worker: warm, reseed
# --------------------------------------------------------------------------

# One statement and one expression, through exactly the path a request takes
# (parse, compile, exec, eval, repr). Measured in a forked worker: this costs
# about 0.5 ms and saves about 0.35 ms of copy-on-write faults on the request;
# also warming exception formatting and a SyntaxError cost 2 ms more for
# 0.4 ms saved on requests that raise. The pool forks a worker per request,
# so warm-up CPU competes with requests on a small machine: keep it minimal.
_WARM_SNIPPETS = ("x = [1]\nx[0] + 1\n",)


def warm():
    """Pay the copy-on-write faults a typical request would pay.

    Runs in a throwaway namespace; leaves nothing visible to the request (no
    names in ``__main__``, no output, no linecache entry).
    """
    import random

    saved = _source_entry()
    ns = {"__name__": "__vivarium_warm__", "__builtins__": builtins}
    try:
        for src in _WARM_SNIPPETS:
            _result_for(src, ns, 8, 1 << 20, images=False)
        io.StringIO().write(repr((1, 2.0, "three", [None], {4: b"5"})))
        random.random()
        random.getrandbits(64)
    except BaseException:
        pass
    finally:
        ns.clear()
        _restore_source_entry(saved)
    return None


def reseed():
    """Reseed everything random whose state the fork copied from the zygote.

    Called after the lockdown (os.urandom -> getrandom(2) must be allowed).
    Raises if a reseed fails: better no request than a shared stream.
    """
    # random: the module's global Random.  (random also registers an
    # os.register_at_fork hook that reseeds it in the child, and
    # PyOS_AfterFork_Child runs those hooks, but do it again here, after the
    # lockdown, without relying on that.) Not imported at all in a one-shot
    # worker, which was not forked: it seeds itself when the code imports it.
    random = sys.modules.get("random")
    if random is not None:
        random.seed(os.urandom(32))

    # numpy's legacy global RandomState (np.random.random(), np.random.seed).
    # Only if it is already imported (preloaded): never import numpy here.
    # Seed with 256 bits through init_by_array rather than one 32-bit int,
    # so two workers do not collide after ~2**16 forks.  Generators made by
    # np.random.default_rng() draw fresh OS entropy and need nothing.
    nprandom = sys.modules.get("numpy.random")
    if nprandom is not None:
        seed = os.urandom(32)
        nprandom.seed([int.from_bytes(seed[i:i + 4], "little")
                       for i in range(0, 32, 4)])

    # tempfile's name sequence has its own Random.  It re-creates it when
    # os.getpid() changes, which it does after fork, but drop it anyway; and
    # forget the temp directory chosen in the zygote (the worker's TMPDIR
    # and mounts may differ), so gettempdir() decides again in the worker.
    tmp = sys.modules.get("tempfile")
    if tmp is not None:
        tmp._name_sequence = None
        tmp.tempdir = None

    # multiprocessing's authkey is os.urandom(32) taken when the module was
    # imported: if the zygote imported it, every worker would share the key
    # that authenticates Manager/Listener connections (pickles!) and a
    # concurrent worker could talk to another's manager.  Give each its own.
    mpp = sys.modules.get("multiprocessing.process")
    if mpp is not None:
        mpp.current_process().authkey = os.urandom(32)

    # Nothing else to do:
    # * uuid.uuid4() is UUID(bytes=os.urandom(16)) (checked on 3.11), no
    #   state.  uuid.uuid1() uses libuuid's uuid_generate_time_safe (its
    #   own clock sequence) when available, else a clock_seq drawn from
    #   the `random` module reseeded above; its node is the host's anyway.
    # * os.urandom is the kernel's getrandom(2), never copied.
    # * secrets and random.SystemRandom read os.urandom on every call.
    # * OpenSSL (ssl, hashlib) detects the fork and reseeds its DRBG.
    # * hash() randomisation is fixed at interpreter start: shared, by design.
    # * Private random.Random() instances created by preloaded libraries are
    #   copies too; we cannot enumerate them.
    return None


# --------------------------------------------------------------------------
# worker: run
# --------------------------------------------------------------------------

def run(code, max_images=8, max_image_bytes=4 << 20):
    """Run ``code`` with REPL semantics in ``__main__``; return a result dict.

    Keys: status ("ok" | "exception" | "memory"), value (repr of the last
    expression statement's value, or None), exception (None or {type,
    message, traceback}), images (PNG bytes of open pyplot figures),
    images_omitted (figures not returned).

    status is "memory" when a memory error escaped the code (see
    _memory_error), "exception" for any other BaseException
    (KeyboardInterrupt included) and for a repr() of the value that raises;
    SystemExit with code None/0 counts as "ok".  "memory" only says what
    the code saw: the C caller, which watches the allocations against the
    memory limit, turns it into "exception" unless the limit was the cause.
    memory_request is the size the failed allocation asked for when the
    exception says it (numpy's does), else None.
    exception["type"] is spelled as the traceback's last line spells it:
    bare for builtins and for classes the code defined itself, module-
    qualified otherwise.  Strings are capped at 1 MiB of UTF-8 (value and
    message: cut, " ...[truncated]" appended; traceback: head and tail
    kept).  Raises TypeError only if called with arguments of wrong types.
    """
    if not isinstance(code, str):
        raise TypeError("run: code must be str, got %s" % type(code).__name__)
    try:
        max_images = max(0, int(max_images))
        max_image_bytes = max(0, int(max_image_bytes))
    except Exception:
        raise TypeError("run: max_images and max_image_bytes must be int")

    main = sys.modules.get("__main__")
    if main is None:
        main = type(sys)("__main__")
        sys.modules["__main__"] = main
    ns = main.__dict__
    ns["__name__"] = "__main__"
    if "__builtins__" not in ns:
        ns["__builtins__"] = builtins
    try:
        return _result_for(code, ns, max_images, max_image_bytes, images=True)
    except BaseException as e:
        # Only reachable if the runner's own machinery failed (e.g. memory
        # exhausted while formatting, or the code tampered with us).
        return _fallback_result(e)


def _result_for(code, ns, max_images, max_image_bytes, images):
    lines = _register_source(code)

    status, value, error, request = "ok", None, None, None
    try:
        result = _execute(code, ns)
        if result is not None:
            value = repr(result)
        del result
    except BaseException as e:
        error = e
    _flush()

    exc_info = None
    if error is not None:
        if isinstance(error, SystemExit) and _is_success_code(error.code):
            pass
        else:
            oom = _memory_error(error)
            status = "exception" if oom is None else "memory"
            request = _memory_request(oom)
            exc_info = _describe(error, lines)
            oom = None
        error = None

    if value is not None:
        value = _text(value)

    shots, omitted = ([], 0)
    if images:
        shots, omitted = _capture_images(max_images, max_image_bytes)

    return {
        "status": status,
        "value": value,
        "exception": exc_info,
        "images": shots,
        "images_omitted": omitted,
        "memory_request": request,
    }


def _memory_error(exc):
    """The memory error that ``exc`` is or shows in its traceback, or None.

    A memory error is a MemoryError (numpy's _ArrayMemoryError included) or
    an OSError with errno ENOMEM, which is how mmap.mmap reports a mapping
    the kernel refused.  The chain is followed as the traceback prints it:
    __cause__ ("raise ... from"), __context__ unless suppressed ("from
    None"), and the members of an exception group.  So a library that
    turns a MemoryError into its own error still counts, and so does an
    error raised while handling one; the caller decides whether the memory
    limit was the cause.
    """
    seen = set()
    todo = [exc]
    try:
        while todo and len(seen) < 100:
            e = todo.pop()
            if e is None or id(e) in seen:
                continue
            seen.add(id(e))
            if isinstance(e, MemoryError):
                return e
            if isinstance(e, OSError) and e.errno == errno.ENOMEM:
                return e
            if not isinstance(e, BaseException):
                continue
            todo.append(e.__cause__)
            if not e.__suppress_context__:
                todo.append(e.__context__)
            if isinstance(e, BaseExceptionGroup):
                todo.extend(e.exceptions)
    except BaseException:
        pass
    return None


def _memory_request(exc):
    """Bytes the failed allocation asked for, if ``exc`` says; else None."""
    try:
        # numpy's _ArrayMemoryError(shape, dtype).
        n = getattr(exc, "_total_size", None) if isinstance(exc, MemoryError) else None
        return int(n) if type(n) is int and n > 0 else None
    except BaseException:
        return None


def _register_source(code):
    """Put the source in linecache (tracebacks, inspect.getsource).

    Split the way the tokenizer counts lines (\\n, \\r\\n, \\r) -- not with
    str.splitlines(), which also breaks at \\f, \\v, \\x1c-\\x1e, \\x85,
    \\u2028 and \\u2029 and would shift every later line number.  mtime None
    makes linecache.checkcache() leave the entry alone.
    """
    lines = io.StringIO(code, newline=None).readlines()
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    entry = (len(code), None, lines, _FILENAME)
    linecache = sys.modules.get("linecache")
    if linecache is not None:
        linecache.cache[_FILENAME] = entry
    else:
        _LinecacheHook.pending = entry
        if _LinecacheHook not in sys.meta_path:
            sys.meta_path.insert(0, _LinecacheHook)
    return lines


def _source_entry():
    """The registered "<input>" entry, in linecache or still pending."""
    linecache = sys.modules.get("linecache")
    if linecache is not None:
        return linecache.cache.get(_FILENAME)
    return _LinecacheHook.pending


def _restore_source_entry(entry):
    linecache = sys.modules.get("linecache")
    if linecache is None:
        _LinecacheHook.pending = entry
    elif entry is None:
        linecache.cache.pop(_FILENAME, None)
    else:
        linecache.cache[_FILENAME] = entry


class _LinecacheHook:
    """A meta path finder that only watches for ``linecache``: it lets the
    other finders find it, and once the module has run, puts the pending
    source in its cache and removes itself."""

    pending = None

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "linecache":
            return None
        if cls in sys.meta_path:
            sys.meta_path.remove(cls)
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                break
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _LinecacheLoader(spec.loader)
        return spec


class _LinecacheLoader:
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        if _LinecacheHook.pending is not None:
            module.cache[_FILENAME] = _LinecacheHook.pending
            _LinecacheHook.pending = None


def _execute(code, ns):
    """Compile all of ``code``, run it in ``ns``, return the last value."""
    tree = compile(code, _FILENAME, "exec", _AST_FLAGS, dont_inherit=True)
    last = None
    if tree.body and isinstance(tree.body[-1], _ast.Expr):
        last = _ast.Expression(body=tree.body.pop().value)

    body_code = expr_code = None
    future = 0
    if tree.body:
        body_code = compile(tree, _FILENAME, "exec", _COMPILE_FLAGS,
                            dont_inherit=True)
        future = body_code.co_flags & _FUTURE_MASK
    if last is not None:
        expr_code = compile(last, _FILENAME, "eval", _COMPILE_FLAGS | future,
                            dont_inherit=True)
    del tree, last

    if not any(c is not None and c.co_flags & _CO_COROUTINE
               for c in (body_code, expr_code)):
        if body_code is not None:
            eval(body_code, ns)
        return eval(expr_code, ns) if expr_code is not None else None

    # Top-level await/async for/async with: both parts on one new event
    # loop, so objects bound to the loop in the body work in the last
    # expression.
    import asyncio
    return asyncio.run(_execute_async(body_code, expr_code, ns))


async def _execute_async(body_code, expr_code, ns):
    if body_code is not None:
        r = eval(body_code, ns)
        if body_code.co_flags & _CO_COROUTINE:
            await r
        del r
    if expr_code is None:
        return None
    r = eval(expr_code, ns)
    if expr_code.co_flags & _CO_COROUTINE:
        r = await r
    return r


def _is_success_code(code):
    if code is None:
        return True
    return isinstance(code, int) and int.__eq__(code, 0) is True


def _flush():
    seen = []
    for name in ("stdout", "stderr", "__stdout__", "__stderr__"):
        try:
            f = getattr(sys, name, None)
            if f is None or any(f is s for s in seen):
                continue
            seen.append(f)
            f.flush()
        except BaseException:
            pass


def _type_name(t):
    """Name of an exception type as the traceback's last line spells it.

    Builtins bare ("ZeroDivisionError"), others module-qualified
    ("json.decoder.JSONDecodeError"); like traceback, classes defined by the
    request itself (module __main__) are bare too ("MyError").
    """
    qual = getattr(t, "__qualname__", None)
    if not isinstance(qual, str):
        qual = str(getattr(t, "__name__", "?"))
    mod = getattr(t, "__module__", None)
    if not isinstance(mod, str) or mod in ("builtins", "__main__"):
        return str.__str__(qual)
    return "%s.%s" % (str.__str__(mod), str.__str__(qual))


def _user_tb(tb):
    """Drop the frames before the request's own top-level frame.

    Those are the runner's (and, for top-level await, asyncio's).  If there
    is no frame of the request at all (a SyntaxError, or a repr() that fails
    inside C), drop everything: what remains is only the exception.
    """
    t = tb
    while t is not None:
        if t.tb_frame.f_code.co_filename == _FILENAME:
            return t
        t = t.tb_next
    return None


def _strip_runner_frames(tb):
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _describe(exc, lines):
    """{type, message, traceback} for ``exc``, traceback without our frames."""
    try:
        name = _type_name(type(exc))
    except BaseException:
        name = "?"
    try:
        if isinstance(exc, SystemExit):
            message = str(exc.code)
        else:
            message = str(exc)
    except BaseException:
        message = "<exception str() failed>"
    try:
        if (isinstance(exc, SyntaxError) and exc.filename == _FILENAME
                and exc.text is None and isinstance(exc.lineno, int)
                and 0 < exc.lineno <= len(lines)):
            # Errors found compiling the AST (e.g. 'return' outside
            # function) carry no source text: the compiler tries to read
            # the file "<input>" from disk.  Give it ours.
            exc.text = lines[exc.lineno - 1]
        import traceback
        te = traceback.TracebackException(type(exc), exc,
                                          _user_tb(exc.__traceback__),
                                          compact=True)
        _strip_chained(te, set())
        text = "".join(te.format())
        del te
    except BaseException:
        text = "%s: %s\n" % (name, message) if message else name + "\n"
    return {
        "type": _text(name),
        "message": _text(message),
        "traceback": _text(text, head_and_tail=True),
    }


def _strip_chained(te, seen):
    """Strip leading runner frames from chained exceptions' stacks too."""
    if id(te) in seen:
        return
    seen.add(id(te))
    for other in (te.__cause__, te.__context__):
        if other is not None:
            while other.stack and other.stack[0].filename == __file__:
                del other.stack[0]
            _strip_chained(other, seen)
    for sub in te.exceptions or ():
        _strip_chained(sub, seen)


def _text(s, head_and_tail=False):
    """Plain str, valid UTF-8, at most _TEXT_MAX bytes plus a marker.

    Lone surrogates are backslash-escaped.  Too long: keep the head and
    append _TRUNCATED, or (head_and_tail) keep both ends around it.
    """
    if type(s) is not str:
        s = str.__str__(s)
    if len(s) <= _TEXT_MAX and s.isascii():
        return s
    # A character is at least one byte: _TEXT_MAX + 1 characters are
    # enough to decide, and bound the work for a huge string.
    b = s[:_TEXT_MAX + 1].encode("utf-8", "backslashreplace")
    if len(s) <= _TEXT_MAX and len(b) <= _TEXT_MAX:
        return b.decode("utf-8")
    if not head_and_tail:
        return b[:_TEXT_MAX].decode("utf-8", "ignore") + _TRUNCATED
    half = _TEXT_MAX // 2
    tail = s[-half:].encode("utf-8", "backslashreplace")[-half:]
    # "ignore" drops the partial characters at the cuts.
    return (b[:half].decode("utf-8", "ignore") + "\n" + _TRUNCATED + "\n"
            + tail.decode("utf-8", "ignore"))


def _capture_images(max_images, max_bytes):
    """PNGs of the open pyplot figures; never raises, never prints."""
    images = []
    omitted = 0
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return images, omitted
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                nums = list(plt.get_fignums())
            except BaseException:
                nums = []
            for num in nums:
                if len(images) >= max_images:
                    omitted += 1
                    continue
                png = None
                try:
                    png = _render(plt, num, max_bytes)
                except BaseException:
                    png = None
                if png is None:
                    omitted += 1
                else:
                    images.append(png)
            try:
                plt.close("all")
            except BaseException:
                pass
    except BaseException:
        pass
    return images, omitted


def _render(plt, num, max_bytes):
    fig = plt.figure(num)
    w, h = fig.get_size_inches()
    pixels = float(w) * _FIGURE_DPI * float(h) * _FIGURE_DPI
    if not 0 < pixels <= _MAX_FIGURE_PIXELS:
        return None
    png, box = None, "tight"
    try:
        png, box = _render_once(fig)
    except Exception:
        png, box = None, "tight"
    if png is None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=_FIGURE_DPI, bbox_inches=box)
        png = buf.getvalue()
    if len(png) > max_bytes or not png.startswith(b"\x89PNG"):
        return None
    return png


def _render_once(fig):
    """The PNG that ``savefig(dpi=100, bbox_inches="tight")`` gives, from one
    draw instead of two, and the box; or None and what savefig should take
    as ``bbox_inches`` where the cut cannot be had.

    savefig with a tight box draws the figure once with rendering disabled to
    measure it, then again for real: about 40 % of a small plot's time in a
    fresh worker (docs/PERFORMANCE.md).  Here the figure is drawn for real at
    its own size, measured on that renderer (the text extents are cached by
    the draw) and cut out.  The pixels differ from savefig's only by where
    the cut falls within a pixel.  Anything this cannot reproduce exactly --
    another dpi, non-default savefig settings, a box reaching outside the
    canvas, a backend other than Agg -- is left to savefig, given the box
    when it has been measured so that it draws only once more.
    """
    import matplotlib
    from matplotlib import colors, image
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    rc = matplotlib.rcParams
    face = colors.to_rgba(fig.get_facecolor())
    if (type(fig.canvas) is not FigureCanvasAgg or fig.dpi != _FIGURE_DPI
            or face[3] != 1.0
            or rc["savefig.transparent"]
            or rc["savefig.facecolor"] != "auto"
            or rc["savefig.edgecolor"] != "auto"
            or not fig.patch.get_visible()):
        return None, "tight"
    pad = float(rc["savefig.pad_inches"])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.get_tightbbox(renderer)
    width, height = fig.canvas.get_width_height()
    dpi = fig.dpi
    # The box in pixels, origin at the bottom left as matplotlib has it.
    x0, y0, x1, y1 = (box.x0 * dpi, box.y0 * dpi, box.x1 * dpi, box.y1 * dpi)
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        return None, box.padded(pad)
    # savefig's canvas is the box padded by pad_inches, truncated to whole
    # pixels, and everything outside the figure is its face colour.
    px0, py0 = x0 - pad * dpi, y0 - pad * dpi
    out_w = int((x1 - x0) + 2 * pad * dpi)
    out_h = int((y1 - y0) + 2 * pad * dpi)
    left = int(round(px0))
    top = int(round(height - (py0 + out_h)))
    import numpy as np
    rgba = np.asarray(renderer.buffer_rgba())
    out = np.empty((out_h, out_w, 4), dtype=np.uint8)
    out[...] = np.array([round(c * 255) for c in face], dtype=np.uint8)
    sx0, sy0 = max(left, 0), max(top, 0)
    sx1, sy1 = min(left + out_w, width), min(top + out_h, height)
    if sx0 < sx1 and sy0 < sy1:
        out[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = rgba[sy0:sy1, sx0:sx1]
    buf = io.BytesIO()
    # What savefig's print_png does with the buffer: same encoder, metadata
    # and resolution chunk.
    image.imsave(buf, out, format="png", origin="upper", dpi=dpi)
    return buf.getvalue(), None


def _fallback_result(e):
    memory = _memory_error(e) is not None
    try:
        name = _type_name(type(e))
    except BaseException:
        name = "MemoryError" if memory else "?"
    return {
        "status": "memory" if memory else "exception",
        "value": None,
        "exception": {"type": name, "message": "",
                      "traceback": name + "\n"},
        "images": [],
        "images_omitted": 0,
    }
