# SPDX-License-Identifier: LGPL-2.1-or-later
"""Unit tests for pool/zygote/vivarium_runner.py.

Run from the top of the source tree with Debian's interpreter (the one the
zygote embeds):

    /usr/bin/python3 -m unittest tests/unit/test_runner.py

Every test starts a fresh /usr/bin/python3 (whatever interpreter runs the
tests themselves), so each request sees a fresh __main__.  The child runs a
small driver exec'd in its own dict -- the -c line binds no name in
__main__ -- which imports the runner from pool/zygote, execs the test's
script with the runner as `R`, and pickles the script's `out` to a file.
The child's stdout and stderr are therefore exactly what the runner and the
request's code wrote.
"""

import os
import pickle
import shutil
import subprocess
import tempfile
import textwrap
import unittest

PYTHON = "/usr/bin/python3"
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKGDIR = os.path.join(TOP, "pool", "zygote")
RUNNER = os.path.join(PKGDIR, "vivarium_runner.py")

DRIVER = r"""
import os, sys, pickle
_pkgdir, _script, _out = sys.argv[1:4]
sys.path.insert(0, _pkgdir)
import vivarium_runner as R
out = None
exec(compile(_script, "<test-script>", "exec"), globals())
with open(_out, "wb") as _f:
    pickle.dump(out, _f)
"""

_mplconfig = None


def setUpModule():
    global _mplconfig
    # One matplotlib config/cache dir for the whole run: the font cache is
    # built once, and nothing is written into the user's home.
    _mplconfig = tempfile.mkdtemp(prefix="vivarium-test-mpl-")


def tearDownModule():
    if _mplconfig:
        shutil.rmtree(_mplconfig, ignore_errors=True)


def _has(module):
    r = subprocess.run([PYTHON, "-I", "-c", "import " + module],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


HAVE_PYTHON = os.access(PYTHON, os.X_OK)
HAVE_NUMPY = HAVE_PYTHON and _has("numpy")
HAVE_MPL = HAVE_PYTHON and _has("matplotlib")


def drive(script, env=None):
    """Run `script` in a fresh interpreter; return (out, stdout, stderr)."""
    with tempfile.TemporaryDirectory(prefix="vivarium-test-") as d:
        outpath = os.path.join(d, "out.pickle")
        e = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        e["MPLCONFIGDIR"] = _mplconfig
        if env:
            e.update(env)
        proc = subprocess.run(
            [PYTHON, "-I", "-c",
             "exec(__import__('sys').argv[4], {'__name__': '_driver'})",
             PKGDIR, textwrap.dedent(script), outpath, DRIVER],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=e, cwd=d, timeout=120)
        if proc.returncode != 0 or not os.path.exists(outpath):
            raise AssertionError("driver failed (rc %d):\nstdout: %r\nstderr: %s"
                                 % (proc.returncode, proc.stdout,
                                    proc.stderr.decode(errors="replace")))
        with open(outpath, "rb") as f:
            out = pickle.load(f)
    return out, proc.stdout, proc.stderr


def run_code(code, **kw):
    """R.run(code, **kw) in a fresh interpreter; return (result, out, err)."""
    script = "out = R.run(%r, **%r)" % (code, kw)
    return drive(script)


@unittest.skipUnless(HAVE_PYTHON, PYTHON + " not found")
class RunTest(unittest.TestCase):

    def ok(self, code, **kw):
        res, out, err = run_code(code, **kw)
        self.assertEqual(res["status"], "ok", res)
        self.assertIsNone(res["exception"])
        return res

    def exc(self, code, status="exception", **kw):
        res, out, err = run_code(code, **kw)
        self.assertEqual(res["status"], status, res)
        self.assertIsNone(res["value"])
        e = res["exception"]
        self.assertEqual(set(e), {"type", "message", "traceback"})
        self.assertNotIn("vivarium_runner", e["traceback"])
        self.assertNotIn(RUNNER, e["traceback"])
        self.assertEqual(out, b"")
        return e

    # -- values --------------------------------------------------------

    def test_expression_value(self):
        res = self.ok("1+1")
        self.assertEqual(res, {"status": "ok", "value": "2", "exception": None,
                               "images": [], "images_omitted": 0,
                               "memory_request": None})

    def test_statement_has_no_value(self):
        self.assertIsNone(self.ok("x = 1")["value"])

    def test_none_has_no_value(self):
        self.assertIsNone(self.ok("None")["value"])
        self.assertIsNone(self.ok("x = 5\nprint\nNone")["value"])

    def test_last_expression_only(self):
        res = self.ok("a = 2\n3\na * 21")
        self.assertEqual(res["value"], "42")

    def test_empty_code(self):
        self.assertIsNone(self.ok("")["value"])
        self.assertIsNone(self.ok("# just a comment\n")["value"])

    def test_walrus_in_last_expression_binds_global(self):
        out, _, _ = drive("""
            r = R.run("(y := 6) * 7")
            out = (r["value"], __import__("__main__").y)
        """)
        self.assertEqual(out, ("42", 6))

    def test_future_import_applies(self):
        res = self.ok("from __future__ import annotations\n"
                      "x: undefined_name = 1\n"
                      "__annotations__['x']")
        self.assertEqual(res["value"], "'undefined_name'")

    def test_huge_repr_truncated(self):
        res = self.ok("'x' * (3 << 20)")
        v = res["value"]
        self.assertTrue(v.endswith(" ...[truncated]"))
        self.assertEqual(len(v), (1 << 20) + len(" ...[truncated]"))
        self.assertTrue(v.startswith("'xxx"))

    def test_repr_at_limit_not_truncated(self):
        res = self.ok("'x' * ((1 << 20) - 2)")
        self.assertEqual(len(res["value"]), 1 << 20)
        self.assertFalse(res["value"].endswith("[truncated]"))

    def test_non_ascii_truncated_to_utf8_bytes(self):
        res = self.ok("'\\u20ac' * (1 << 20)")
        v = res["value"]
        self.assertTrue(v.endswith(" ...[truncated]"))
        self.assertLessEqual(len(v.encode("utf-8")),
                             (1 << 20) + len(" ...[truncated]"))

    def test_lone_surrogate_in_repr_is_escaped(self):
        res = self.ok("class S:\n"
                      "    def __repr__(self):\n"
                      "        return 'a\\ud800b'\n"
                      "S()")
        self.assertEqual(res["value"], "a\\ud800b")
        res["value"].encode("utf-8")

    def test_repr_raising_is_exception(self):
        e = self.exc("class A:\n"
                     "    def __repr__(self):\n"
                     "        raise ValueError('nope')\n"
                     "A()")
        self.assertEqual(e["type"], "ValueError")
        self.assertEqual(e["message"], "nope")
        self.assertIn('File "<input>", line 3, in __repr__', e["traceback"])
        self.assertTrue(e["traceback"].startswith("Traceback (most recent call last):\n"))

    def test_repr_returning_non_str(self):
        e = self.exc("class A:\n"
                     "    def __repr__(self):\n"
                     "        return 5\n"
                     "A()")
        self.assertEqual(e["type"], "TypeError")

    # -- namespace -----------------------------------------------------

    def test_runs_in_real_main(self):
        out, _, _ = drive("""
            import __main__
            before = set(vars(__main__))
            r = R.run("x = 1\\ndef f(): pass\\n(__name__, f.__module__)")
            out = (r["value"], sorted(set(vars(__main__)) - before),
                   __main__.x, "__builtins__" in vars(__main__))
        """)
        value, added, x, has_builtins = out
        self.assertEqual(value, "('__main__', '__main__')")
        self.assertEqual(added, ["f", "x"])  # nothing of the runner's
        self.assertEqual(x, 1)
        self.assertTrue(has_builtins)

    def test_main_name_and_builtins_restored(self):
        out, _, _ = drive("""
            import __main__
            __main__.__dict__["__name__"] = "tampered"
            del __main__.__dict__["__builtins__"]
            out = R.run("(__name__, len(range(3)))")["value"]
        """)
        self.assertEqual(out, "('__main__', 3)")

    def test_runner_names_not_visible(self):
        res = self.ok("sorted(k for k in globals() if not k.startswith('__'))")
        self.assertEqual(res["value"], "[]")

    def test_function_is_picklable(self):
        res = self.ok("import pickle\n"
                      "def f(): pass\n"
                      "len(pickle.dumps(f)) > 0 and pickle.loads(pickle.dumps(f)) is f")
        self.assertEqual(res["value"], "True")

    def test_globals_persist_between_runs(self):
        # What a session worker relies on.
        out, _, _ = drive("""
            R.run("x = 41")
            out = R.run("x + 1")["value"]
        """)
        self.assertEqual(out, "42")

    def test_inspect_getsource_works(self):
        res = self.ok("import inspect\n"
                      "def f():\n"
                      "    return 1\n"
                      "inspect.getsource(f)")
        self.assertEqual(res["value"], repr("def f():\n    return 1\n"))

    # -- output --------------------------------------------------------

    def test_print_goes_to_fd1(self):
        res, out, err = run_code("print('hello')\n"
                                 "import sys\n"
                                 "print('oops', file=sys.stderr)\n"
                                 "sys.stdout.write('no newline')")
        self.assertEqual(res["status"], "ok")
        self.assertEqual(out, b"hello\nno newline")
        self.assertEqual(err, b"oops\n")

    def test_output_flushed_before_return(self):
        out, stdout, _ = drive("""
            import os
            r = R.run("print('buffered', end='')")
            # If run() did not flush, the bytes would still be in sys.stdout's
            # buffer and os._exit would lose them.
            with open(sys.argv[3], "wb") as f:
                pickle.dump(r, f)
            os._exit(0)
        """)
        self.assertEqual(stdout, b"buffered")

    def test_closed_stdout_is_ignored(self):
        res, out, err = run_code("import sys\nprint('x')\nsys.stdout.close()\n7")
        self.assertEqual(res["status"], "ok")
        self.assertEqual(res["value"], "7")

    def test_runner_prints_nothing(self):
        res, out, err = run_code("1/0")
        self.assertEqual((out, err), (b"", b""))
        res, out, err = run_code("def (")
        self.assertEqual((out, err), (b"", b""))

    # -- exceptions ----------------------------------------------------

    def test_zero_division(self):
        e = self.exc("x = 1\n1/0")
        self.assertEqual(e["type"], "ZeroDivisionError")
        self.assertEqual(e["message"], "division by zero")
        self.assertEqual(e["traceback"],
                         "Traceback (most recent call last):\n"
                         '  File "<input>", line 2, in <module>\n'
                         "    1/0\n"
                         "    ~^~\n"
                         "ZeroDivisionError: division by zero\n")

    def test_exception_in_body_statement(self):
        e = self.exc("def f():\n    return {}['k']\nf()\nx = 3")
        self.assertEqual(e["type"], "KeyError")
        self.assertEqual(e["message"], "'k'")
        tb = e["traceback"]
        self.assertIn('  File "<input>", line 3, in <module>\n    f()\n', tb)
        self.assertIn('  File "<input>", line 2, in f\n', tb)
        self.assertTrue(tb.endswith("KeyError: 'k'\n"))

    def test_syntax_error_shape(self):
        e = self.exc("x = 1\n1 +")
        self.assertEqual(e["type"], "SyntaxError")
        self.assertEqual(e["traceback"],
                         '  File "<input>", line 2\n'
                         "    1 +\n"
                         "       ^\n"
                         "SyntaxError: invalid syntax\n")

    def test_compile_stage_syntax_error_has_source(self):
        # Found while compiling the AST, not parsing: CPython gives no text.
        e = self.exc("x = 1\nreturn 5")
        self.assertEqual(e["type"], "SyntaxError")
        self.assertEqual(e["traceback"],
                         '  File "<input>", line 2\n'
                         "    return 5\n"
                         "    ^^^^^^^^\n"
                         "SyntaxError: 'return' outside function\n")

    def test_indentation_error(self):
        e = self.exc("if True:\nx = 1")
        self.assertEqual(e["type"], "IndentationError")
        self.assertTrue(e["traceback"].startswith('  File "<input>", line 2\n'))

    def test_null_byte(self):
        e = self.exc("x = 1\0")
        self.assertIn(e["type"], ("ValueError", "SyntaxError"))  # 3.11 / 3.12

    def test_non_builtin_type_name(self):
        e = self.exc("import json\njson.loads('{')")
        self.assertEqual(e["type"], "json.decoder.JSONDecodeError")
        self.assertTrue(e["traceback"].startswith(
            "Traceback (most recent call last):\n"
            '  File "<input>", line 2, in <module>\n'))
        self.assertIn("json/decoder.py", e["traceback"])

    def test_user_defined_type_name_like_traceback(self):
        e = self.exc("class E(Exception):\n    pass\nraise E('boom')")
        self.assertEqual(e["type"], "E")
        self.assertTrue(e["traceback"].endswith("\nE: boom\n"))

    def test_chained_exceptions_kept(self):
        e = self.exc("try:\n"
                     "    1/0\n"
                     "except ZeroDivisionError as z:\n"
                     "    raise KeyError('k') from z")
        tb = e["traceback"]
        self.assertEqual(e["type"], "KeyError")
        self.assertIn("ZeroDivisionError: division by zero", tb)
        self.assertIn("The above exception was the direct cause", tb)
        self.assertEqual(tb.count("Traceback (most recent call last):"), 2)
        e = self.exc("try:\n    1/0\nexcept Exception:\n    [][0]")
        self.assertIn("During handling of the above exception", e["traceback"])

    def test_exception_group(self):
        e = self.exc("raise ExceptionGroup('g', [ValueError('v'), TypeError('t')])")
        self.assertEqual(e["type"], "ExceptionGroup")
        self.assertIn("| ValueError: v", e["traceback"])
        self.assertIn("| TypeError: t", e["traceback"])

    def test_str_of_exception_raising(self):
        e = self.exc("class E(Exception):\n"
                     "    def __str__(self):\n"
                     "        raise RuntimeError\n"
                     "raise E()")
        self.assertEqual(e["type"], "E")
        self.assertEqual(e["message"], "<exception str() failed>")

    def test_huge_exception_message_capped(self):
        e = self.exc("raise ValueError('m' * (3 << 20))")
        self.assertTrue(e["message"].endswith(" ...[truncated]"))
        tb = e["traceback"]
        self.assertLessEqual(len(tb.encode()), (1 << 20) + 2 + len(" ...[truncated]"))
        self.assertTrue(tb.startswith("Traceback (most recent call last):\n"))
        self.assertIn("\n ...[truncated]\n", tb)
        self.assertTrue(tb.endswith("mmmm\n"))  # the tail is kept
        self.assertEqual(len(e["message"]), (1 << 20) + len(" ...[truncated]"))

    def test_line_numbers_with_unusual_line_breaks(self):
        # str.splitlines() would split at \f and \u2028; the tokenizer does not.
        e = self.exc("s = '\f\u2028'\nt = 2\n1/0")
        self.assertIn('  File "<input>", line 3, in <module>\n    1/0\n',
                      e["traceback"])
        e = self.exc("s = 1\r\nt = 2\r\n1/0")
        self.assertIn('  File "<input>", line 3, in <module>\n    1/0\n',
                      e["traceback"])

    def test_system_exit_zero_is_ok(self):
        for code in ("raise SystemExit(0)", "import sys\nsys.exit()",
                     "raise SystemExit", "import sys\nsys.exit(False)"):
            res = self.ok(code)
            self.assertIsNone(res["value"])

    def test_system_exit_nonzero_is_exception(self):
        e = self.exc("import sys\nsys.exit(3)")
        self.assertEqual(e["type"], "SystemExit")
        self.assertEqual(e["message"], "3")
        self.assertTrue(e["traceback"].endswith("SystemExit: 3\n"))
        e = self.exc("raise SystemExit('bye')")
        self.assertEqual(e["message"], "bye")

    def test_memory_error(self):
        e = self.exc("raise MemoryError", status="memory")
        self.assertEqual(e["type"], "MemoryError")
        self.assertTrue(e["traceback"].startswith("Traceback"))

    def test_real_memory_error(self):
        # An allocation malloc refuses outright (far beyond the address space).
        e = self.exc("b = bytearray(1 << 62)", status="memory")
        self.assertEqual(e["type"], "MemoryError")

    # The runner's "memory" says only that a memory error escaped; the
    # zygote keeps it only if the address-space limit refused an allocation.

    def test_mmap_enomem_is_a_memory_error(self):
        res, out, err = run_code("import errno\nraise OSError(errno.ENOMEM, 'no')")
        self.assertEqual(res["status"], "memory", res)
        self.assertIsNone(res["memory_request"])
        e = self.exc("import errno\nraise OSError(errno.EINVAL, 'no')")
        self.assertEqual(e["type"], "OSError")

    def test_memory_error_in_the_chain(self):
        for code in ("try:\n    raise MemoryError\nexcept MemoryError as e:\n"
                     "    raise ValueError('big') from e",
                     "try:\n    raise MemoryError\nexcept MemoryError:\n    1/0",
                     "raise ExceptionGroup('g', [ValueError(), MemoryError()])"):
            self.exc(code, status="memory")
        # "from None" hides the context from the traceback, and from us.
        e = self.exc("try:\n    raise MemoryError\nexcept MemoryError:\n"
                     "    raise ValueError('big') from None")
        self.assertEqual(e["type"], "ValueError")

    def test_caught_memory_error_is_ok(self):
        self.ok("try:\n    bytearray(1 << 62)\nexcept MemoryError:\n    pass\n1")

    def test_memory_request_from_numpy_style_error(self):
        # numpy's _ArrayMemoryError carries the size it could not allocate.
        res, out, err = run_code("class E(MemoryError):\n    _total_size = 1 << 40\nraise E")
        self.assertEqual(res["status"], "memory", res)
        self.assertEqual(res["memory_request"], 1 << 40)

    def test_keyboard_interrupt_is_an_exception(self):
        e = self.exc("raise KeyboardInterrupt")
        self.assertEqual(e["type"], "KeyboardInterrupt")

    def test_generator_exit_caught(self):
        e = self.exc("raise GeneratorExit('g')")
        self.assertEqual(e["type"], "GeneratorExit")

    # -- top-level await -----------------------------------------------

    def test_top_level_await(self):
        res = self.ok("import asyncio\nawait asyncio.sleep(0)\n5")
        self.assertEqual(res["value"], "5")
        res = self.ok("import asyncio\nawait asyncio.sleep(0, result=6)")
        self.assertEqual(res["value"], "6")

    def test_await_body_and_expression_share_one_loop(self):
        res = self.ok("import asyncio\n"
                      "loop = asyncio.get_running_loop()\n"
                      "f = loop.create_future()\n"
                      "loop.call_soon(f.set_result, 3)\n"
                      "await f")
        self.assertEqual(res["value"], "3")

    def test_async_for_and_with(self):
        res = self.ok("import contextlib\n"
                      "@contextlib.asynccontextmanager\n"
                      "async def cm():\n"
                      "    yield 2\n"
                      "async def gen():\n"
                      "    yield 1\n"
                      "    yield 2\n"
                      "t = 0\n"
                      "async with cm() as c:\n"
                      "    async for i in gen():\n"
                      "        t += i * c\n"
                      "t")
        self.assertEqual(res["value"], "6")

    def test_await_exception_traceback_stripped(self):
        e = self.exc("async def f():\n    1/0\nawait f()")
        self.assertEqual(e["traceback"],
                         "Traceback (most recent call last):\n"
                         '  File "<input>", line 3, in <module>\n'
                         "    await f()\n"
                         '  File "<input>", line 2, in f\n'
                         "    1/0\n"
                         "    ~^~\n"
                         "ZeroDivisionError: division by zero\n")
        self.assertNotIn("asyncio", e["traceback"])

    def test_await_system_exit(self):
        res = self.ok("import asyncio\nawait asyncio.sleep(0)\nraise SystemExit(0)")
        self.assertIsNone(res["value"])
        e = self.exc("import asyncio\nawait asyncio.sleep(0)\nraise SystemExit(2)")
        self.assertEqual((e["type"], e["message"]), ("SystemExit", "2"))

    def test_await_outside_async_function_is_syntax_error(self):
        e = self.exc("def f():\n    await g()")
        self.assertEqual(e["type"], "SyntaxError")
        self.assertIn("    await g()\n", e["traceback"])

    # -- linecache, imported late -------------------------------------

    def test_source_registered_when_linecache_is_imported_later(self):
        # A one-shot worker has not imported linecache when the code runs:
        # the source must reach it when something imports it, here the code.
        out, _, _ = drive("""
            for m in ("linecache", "traceback", "tokenize"):
                sys.modules.pop(m, None)
            r = R.run("import linecache\\nlinecache.getline('<input>', 3)\\n# two")
            out = (r["status"], r["value"], R._LinecacheHook in sys.meta_path)
        """)
        self.assertEqual(out, ("ok", "'# two\\n'", False))

    def test_traceback_shows_lines_when_linecache_is_imported_late(self):
        out, _, _ = drive("""
            for m in ("linecache", "traceback", "tokenize"):
                sys.modules.pop(m, None)
            r = R.run("def f():\\n    return 1 / 0\\nf()")
            out = r["exception"]["traceback"]
        """)
        self.assertIn('  File "<input>", line 2, in f\n    return 1 / 0\n', out)

    def test_late_linecache_gets_the_latest_source(self):
        out, _, _ = drive("""
            for m in ("linecache", "traceback", "tokenize"):
                sys.modules.pop(m, None)
            R.run("x = 'first'")
            r = R.run("import linecache\\nlinecache.getline('<input>', 1)")
            out = r["value"]
        """)
        self.assertEqual(out, "'import linecache\\n'")

    # -- warm ----------------------------------------------------------

    def test_warm_leaves_no_state(self):
        out, stdout, stderr = drive("""
            import __main__, linecache, asyncio, random
            R.preload([])
            before = dict(vars(__main__))
            modules = set(sys.modules)
            R.warm()
            after = dict(vars(__main__))
            out = (before == after, "<input>" in linecache.cache,
                   asyncio.events._event_loop_policy, sys.exc_info(),
                   sorted(set(sys.modules) - modules))
        """)
        self.assertEqual(out, (True, False, None, (None, None, None), []))
        self.assertEqual((stdout, stderr), (b"", b""))

    def test_warm_then_run(self):
        out, _, _ = drive("""
            R.preload([])
            R.warm()
            R.reseed()
            out = R.run("x = 2\\nx * 21")["value"]
        """)
        self.assertEqual(out, "42")

    # -- reseed --------------------------------------------------------

    FORK_SCRIPT = """
        import os, random, tempfile, multiprocessing, uuid
        R.preload(PRELOAD)

        def child(do_reseed):
            # Simulate the worst case: identical copied state, whatever
            # at-fork hooks did.
            random.seed(1234)
            np = sys.modules.get("numpy")
            if np is not None:
                np.random.seed(1234)
            if do_reseed:
                R.warm()
                R.reseed()
            return (random.random(),
                    np.random.random() if np is not None else None,
                    next(tempfile._get_candidate_names()),
                    bytes(multiprocessing.current_process().authkey),
                    uuid.uuid4())

        def fork_two(do_reseed):
            vals = []
            for _ in range(2):
                rfd, wfd = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(rfd)
                    try:
                        os.write(wfd, pickle.dumps(child(do_reseed)))
                    finally:
                        os._exit(0)
                os.close(wfd)
                data = b""
                while True:
                    chunk = os.read(rfd, 65536)
                    if not chunk:
                        break
                    data += chunk
                os.close(rfd)
                os.waitpid(pid, 0)
                vals.append(pickle.loads(data))
            return vals

        out = (fork_two(True), fork_two(False))
    """

    def fork_pair(self, preload):
        script = "PRELOAD = %r\n" % (preload,) + textwrap.dedent(self.FORK_SCRIPT)
        out, _, _ = drive(script)
        return out

    def test_reseed_makes_siblings_differ(self):
        (a, b), (c, d) = self.fork_pair(["multiprocessing", "uuid"])
        self.assertNotEqual(a[0], b[0], "random.random() shared")
        self.assertNotEqual(a[2], b[2], "tempfile names shared")
        self.assertNotEqual(a[3], b[3], "multiprocessing authkey shared")
        self.assertNotEqual(a[4], b[4], "uuid4 shared")
        # Control: without reseed the copied state is visible.
        self.assertEqual(c[0], d[0])
        self.assertEqual(c[3], d[3])

    @unittest.skipUnless(HAVE_NUMPY, "numpy not installed")
    def test_reseed_numpy(self):
        (a, b), (c, d) = self.fork_pair(["numpy", "multiprocessing"])
        self.assertNotEqual(a[1], b[1], "numpy.random shared")
        self.assertEqual(c[1], d[1])  # control

    def test_reseed_does_not_import_numpy(self):
        out, _, _ = drive("""
            R.preload(["json"])
            R.reseed()
            out = "numpy" in sys.modules
        """)
        self.assertFalse(out)

    def test_reseed_changes_random_state(self):
        out, _, _ = drive("""
            import random
            random.seed(7)
            a = random.random()
            random.seed(7)
            R.reseed()
            out = (a, random.random())
        """)
        self.assertNotEqual(out[0], out[1])

    # -- preload -------------------------------------------------------

    @unittest.skipUnless(HAVE_NUMPY, "numpy not installed")
    def test_preload_env_and_single_thread(self):
        out, stdout, stderr = drive("""
            import threading
            R.preload(["json", "numpy"])
            out = ({k: os.environ.get(k) for k in (
                       "MPLBACKEND", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                       "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")},
                   threading.active_count(),
                   len(os.listdir("/proc/self/task")),
                   "numpy" in sys.modules, "json" in sys.modules,
                   "asyncio" in sys.modules)
        """, env={"OPENBLAS_NUM_THREADS": "8", "OMP_NUM_THREADS": "8"})
        env, active, tasks, np, js, aio = out
        self.assertEqual(env, {"MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1",
                               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                               "NUMEXPR_NUM_THREADS": "1"})
        self.assertEqual(active, 1)
        self.assertEqual(tasks, 1)
        self.assertTrue(np and js and aio)
        self.assertEqual((stdout, stderr), (b"", b""))

    def test_preload_returns_what_it_imported(self):
        out, _, _ = drive("out = R.preload(['json', 'os.path'])")
        self.assertEqual(out, ["json", "os.path"])

    def test_preload_if_installed_skips_what_is_missing(self):
        out, stdout, stderr = drive("""
            out = (R.preload(["json", "no_such_module_vivarium", "os.no_such",
                              "csv"], True),
                   "no_such_module_vivarium" in sys.modules)
        """)
        self.assertEqual(out, (["json", "csv"], False))
        self.assertEqual((stdout, stderr), (b"", b""))

    def test_preload_import_error_names_module(self):
        out, _, _ = drive("""
            try:
                R.preload(["json", "no_such_module_vivarium"])
                out = None
            except ImportError as e:
                out = (str(e), e.name)
        """)
        self.assertIsNotNone(out)
        self.assertIn("no_such_module_vivarium", out[0])
        self.assertEqual(out[1], "no_such_module_vivarium")

    @unittest.skipUnless(HAVE_MPL, "matplotlib not installed")
    def test_preload_pyplot_warms_up_and_leaves_nothing_behind(self):
        # What a run sees after the warm-up in the zygote: no figure, the
        # rcParams a plain import gives, one thread, a figure numbered 1,
        # and the font list already in memory.
        probe = """
            import threading
            import matplotlib
            import matplotlib.pyplot as plt
            rc = {k: repr(v) for k, v in matplotlib.rcParams.items()}
            fm = sys.modules.get("matplotlib.font_manager")
            out = (plt.get_fignums(), rc, threading.active_count(),
                   len(os.listdir("/proc/self/task")),
                   plt.figure().number, fm is not None and
                   "fontManager" in vars(fm))
        """
        warm, stdout, stderr = drive("R.preload(['matplotlib.pyplot'])\n"
                                     + textwrap.dedent(probe))
        plain, _, _ = drive("os.environ['MPLBACKEND'] = 'Agg'\n"
                            + textwrap.dedent(probe))
        self.assertEqual(warm[0], [])
        self.assertEqual(warm[1], plain[1])
        self.assertEqual(warm[2:], (1, 1, 1, True))
        self.assertEqual((stdout, stderr), (b"", b""))

    @unittest.skipUnless(HAVE_MPL, "matplotlib not installed")
    def test_preload_pyplot_figure_captured_after_warm_up(self):
        out, _, _ = drive("""
            R.preload(["matplotlib.pyplot"])
            r = R.run("import matplotlib.pyplot as plt\\nplt.plot([1, 3])\\nNone")
            out = (r["status"], len(r["images"]), r["images"][0][:8])
        """)
        self.assertEqual(out, ("ok", 1, b"\x89PNG\r\n\x1a\n"))

    @unittest.skipUnless(HAVE_MPL, "matplotlib not installed")
    def test_preload_matplotlib_selects_agg(self):
        out, _, _ = drive("""
            R.preload(["matplotlib.pyplot"])
            import matplotlib
            out = matplotlib.get_backend()
        """, env={"MPLBACKEND": "TkAgg"})
        self.assertEqual(out.lower(), "agg")

    # -- images --------------------------------------------------------

    @unittest.skipUnless(HAVE_MPL, "matplotlib not installed")
    def test_matplotlib_figure_captured(self):
        res = self.ok("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nNone")
        self.assertIsNone(res["value"])
        self.assertEqual(len(res["images"]), 1)
        self.assertTrue(res["images"][0].startswith(b"\x89PNG\r\n\x1a\n"))
        self.assertEqual(res["images_omitted"], 0)

    @unittest.skipUnless(HAVE_MPL, "matplotlib not installed")
    def test_figures_closed_after_run(self):
        out, _, _ = drive("""
            R.preload(["matplotlib.pyplot"])
            r1 = R.run("import matplotlib.pyplot as plt\\nplt.plot([1])\\nNone")
            import matplotlib.pyplot as plt
            out = (len(r1["images"]), plt.get_fignums(),
                   len(R.run("1")["images"]))
        """)
        self.assertEqual(out, (1, [], 0))

    @unittest.skipUnless(HAVE_MPL, "matplotlib not installed")
    def test_max_images(self):
        code = ("import matplotlib.pyplot as plt\n"
                "for i in range(3):\n"
                "    plt.figure()\n"
                "    plt.plot([i, 1])\n")
        res = self.ok(code, max_images=2)
        self.assertEqual(len(res["images"]), 2)
        self.assertEqual(res["images_omitted"], 1)
        res = self.ok(code, max_images=0)
        self.assertEqual((len(res["images"]), res["images_omitted"]), (0, 3))

    @unittest.skipUnless(HAVE_MPL, "matplotlib not installed")
    def test_max_image_bytes(self):
        res = self.ok("import matplotlib.pyplot as plt\nplt.plot([1, 2])\n",
                      max_image_bytes=100)
        self.assertEqual((res["images"], res["images_omitted"]), ([], 1))

    @unittest.skipUnless(HAVE_MPL, "matplotlib not installed")
    def test_images_on_exception(self):
        res, _, _ = run_code("import matplotlib.pyplot as plt\nplt.plot([1])\n1/0")
        self.assertEqual(res["status"], "exception")
        self.assertEqual(len(res["images"]), 1)

    @unittest.skipUnless(HAVE_MPL, "matplotlib not installed")
    def test_failing_figure_is_omitted(self):
        res = self.ok("import matplotlib.pyplot as plt\n"
                      "f1 = plt.figure(); plt.plot([1])\n"
                      "f2 = plt.figure(); plt.plot([2])\n"
                      "def boom(*a, **k): raise RuntimeError('no')\n"
                      "f1.draw = boom\n"
                      "7")
        self.assertEqual(res["value"], "7")
        self.assertEqual((len(res["images"]), res["images_omitted"]), (1, 1))

    # The figure drawn once and cut out (_render_once) against savefig with
    # bbox_inches="tight", which draws it twice: the same size and the same
    # pixels but along antialiased edges; savefig itself wherever the cut
    # cannot reproduce it.
    _COMPARE = """
        import io
        import numpy as np
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from PIL import Image

        def pixels(png):
            return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).astype(int)

        def both(make):
            make()
            fast, _ = R._render_once(plt.gcf())
            plt.close("all")
            make()
            buf = io.BytesIO()
            plt.gcf().savefig(buf, format="png", dpi=100, bbox_inches="tight")
            plt.close("all")
            make()
            used = R._render(plt, plt.gcf().number, 1 << 30)
            plt.close("all")
            return fast, buf.getvalue(), used
    """

    @unittest.skipUnless(HAVE_MPL and HAVE_NUMPY, "matplotlib not installed")
    def test_render_once_matches_savefig(self):
        out, _, _ = drive(self._COMPARE + """
        def line():
            plt.plot(np.arange(10))
        def titled():
            fig, ax = plt.subplots()
            fig.set_facecolor("#ffeedd")
            ax.plot([0, 1, 2], [0, 1, 4], label="l")
            ax.set_title("$x^2$"); ax.legend(); ax.set_xlabel("x")
        def image():
            plt.imshow(np.random.default_rng(1).random((20, 20))); plt.colorbar()
        out = []
        for make in (line, titled, image):
            fast, slow, used = both(make)
            a, b = pixels(fast), pixels(slow)
            out.append((fast is not None, used == fast, a.shape == b.shape,
                        float((np.abs(a - b).sum(2) > 0).mean()) if a.shape == b.shape else 1.0,
                        tuple(a[0, 0]), tuple(b[0, 0])))
        """)
        for fast, used, same_shape, differ, corner_a, corner_b in out:
            self.assertTrue(fast and used and same_shape)
            self.assertLess(differ, 0.05)
            self.assertEqual(corner_a, corner_b)

    @unittest.skipUnless(HAVE_MPL and HAVE_NUMPY, "matplotlib not installed")
    def test_render_once_leaves_the_rest_to_savefig(self):
        out, _, _ = drive(self._COMPARE + """
        def outside():
            plt.plot([1, 2]); plt.legend(["outside"], bbox_to_anchor=(1.4, 1))
        def other_dpi():
            plt.figure(dpi=72); plt.plot([1, 2])
        def transparent_face():
            plt.figure().patch.set_alpha(0.5); plt.plot([1, 2])
        out = []
        for make in (outside, other_dpi, transparent_face):
            fast, slow, used = both(make)
            out.append((fast, used == slow))
        matplotlib.rcParams["savefig.facecolor"] = "red"
        fast, slow, used = both(lambda: plt.plot([1, 2]))
        out.append((fast, used == slow, tuple(pixels(used)[0, 0])))
        """)
        self.assertEqual(out[:3], [(None, True)] * 3)
        self.assertEqual(out[3], (None, True, (255, 0, 0, 255)))

    @unittest.skipUnless(HAVE_MPL, "matplotlib not installed")
    def test_huge_figure_is_omitted(self):
        res, out, err = run_code("import matplotlib.pyplot as plt\n"
                                 "plt.figure(figsize=(600, 600))\n"
                                 "plt.plot([1])\n")
        self.assertEqual(res["status"], "ok")
        self.assertEqual((res["images"], res["images_omitted"]), ([], 1))

    # -- misc ----------------------------------------------------------

    def test_co_coroutine_constant(self):
        out, _, _ = drive("""
            import inspect
            out = (R._CO_COROUTINE == inspect.CO_COROUTINE)
        """)
        self.assertTrue(out)

    def test_license_header_and_docstring(self):
        with open(RUNNER, encoding="utf-8") as f:
            first = f.readline()
        self.assertEqual(first, "# SPDX-License-Identifier: LGPL-2.1-or-later\n")
        out, _, _ = drive("out = R.__doc__")
        self.assertIn("Trust zone", out)
        self.assertIn("Invariants", out)


if __name__ == "__main__":
    unittest.main()
