/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The embedded CPython. Runs inside the jail: in the zygote (initialise,
 * preload, freeze) and in a worker after its lockdown (reseed, run, pack the
 * result). The result is converted to msgpack here, in C, so no Python
 * msgpack module is needed in the jail; strings are encoded as UTF-8 with
 * replacement because the pool rejects invalid UTF-8.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

#include "macro.h"
#include "memlimit.h"
#include "msg.h"
#include "parse-util.h"
#include "python.h"

static PyObject *runner;

static char *
fetch_error(const char *what)
{
        PyObject *type = NULL, *exc = NULL, *tb = NULL, *s;

        PyErr_Fetch(&type, &exc, &tb);
        PyErr_NormalizeException(&type, &exc, &tb);
        s = exc ? PyObject_Str(exc) : NULL;
        const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
        char *out = NULL;

        /* what is NULL when the exception's own message already says it all. */
        if (asprintf(&out, "%s%s%s", what ? what : "", what ? ": " : "", msg ? msg : "unknown error") < 0)
                out = NULL;
        Py_XDECREF(s);
        Py_XDECREF(type);
        Py_XDECREF(exc);
        Py_XDECREF(tb);
        PyErr_Clear();
        return out;
}

static int
init_interpreter(char **ret_error)
{
        PyPreConfig pre;
        PyConfig config;
        PyStatus st;

        /* UTF-8 mode: the jail has no locales, and text on stdin, stdout and in
         * file names must be UTF-8 as in any modern Python set-up. */
        PyPreConfig_InitIsolatedConfig(&pre);
        pre.utf8_mode = 1;
        st = Py_PreInitialize(&pre);
        if (PyStatus_Exception(st)) {
                if (asprintf(ret_error, "pre-initialising Python: %s", st.err_msg ? st.err_msg : "failed") <
                    0)
                        *ret_error = NULL;
                return -EIO;
        }

        /* Isolated: no PYTHON* variables, no user site, no cwd on sys.path. */
        PyConfig_InitIsolatedConfig(&config);
        config.buffered_stdio = 0; /* output reaches the pipes as it is produced */
        config.write_bytecode = 0;
        config.site_import = 1;
        /* The zygote is PID 1: without handlers every signal a worker could send
         * it is ignored. Workers install Python's SIGINT handler themselves. */
        config.install_signal_handlers = 0;
        st = PyConfig_SetBytesString(&config, &config.program_name, VIV_PYTHON_EXE);
        if (!PyStatus_Exception(st))
                st = PyConfig_SetBytesString(&config, &config.executable, VIV_PYTHON_EXE);
        if (!PyStatus_Exception(st))
                st = Py_InitializeFromConfig(&config);
        PyConfig_Clear(&config);
        if (PyStatus_Exception(st)) {
                if (asprintf(ret_error, "initialising Python: %s", st.err_msg ? st.err_msg : "failed") < 0)
                        *ret_error = NULL;
                return -EIO;
        }
        return 0;
}

static int
import_runner(const char *datadir, char **ret_error)
{
        PyObject *path = PySys_GetObject("path"); /* borrowed */
        PyObject *dir = PyUnicode_FromString(datadir);

        /* The runner's directory is on sys.path only while importing it. */
        if (!path || !dir || PyList_Insert(path, 0, dir) < 0) {
                Py_XDECREF(dir);
                *ret_error = fetch_error("preparing sys.path");
                return -EIO;
        }
        runner = PyImport_ImportModule("vivarium_runner");
        (void) PySequence_DelItem(path, 0);
        Py_DECREF(dir);
        if (!runner) {
                *ret_error = fetch_error("importing vivarium_runner");
                return -EIO;
        }
        return 0;
}

/* The names in a list of str, as a NULL-terminated array. */
static int
strv_from_list(PyObject *o, char ***ret)
{
        Py_ssize_t n = o && PyList_Check(o) ? PyList_GET_SIZE(o) : -1;
        char **l;

        if (n < 0)
                return -EINVAL;
        l = calloc((size_t) n + 1, sizeof(char *));
        for (Py_ssize_t i = 0; l && i < n; i++) {
                const char *s = PyUnicode_Check(PyList_GET_ITEM(o, i))
                                        ? PyUnicode_AsUTF8(PyList_GET_ITEM(o, i))
                                        : NULL;
                if (!s || !(l[i] = strdup(s))) {
                        PyErr_Clear();
                        l = strv_free(l);
                }
        }
        if (!l)
                return -ENOMEM;
        *ret = l;
        return 0;
}

static int
call_preload(char *const *preload, bool if_installed, char ***ret_preloaded, char **ret_error)
{
        PyObject *list = PyList_New(0), *res = NULL;
        int r;

        for (size_t i = 0; list && preload && preload[i]; i++) {
                PyObject *s = PyUnicode_FromString(preload[i]);
                if (!s || PyList_Append(list, s) < 0)
                        Py_CLEAR(list);
                Py_XDECREF(s);
        }
        if (list)
                res = PyObject_CallMethod(runner, "preload", "OO", list, if_installed ? Py_True : Py_False);
        Py_XDECREF(list);
        if (!res) {
                *ret_error = fetch_error(NULL);
                return -EIO;
        }
        r = strv_from_list(res, ret_preloaded);
        Py_DECREF(res);
        if (r < 0)
                *ret_error = strdup("preload: the runner did not say what it imported");
        return r;
}

int
zygote_python_init(const char *datadir, char *const *preload, bool if_installed, char ***ret_preloaded,
                   char **ret_error)
{
        _cleanup_(strv_freep) char **preloaded = NULL;
        PyObject *gc, *res;
        int r = init_interpreter(ret_error);

        if (r >= 0)
                r = import_runner(datadir, ret_error);
        if (r >= 0)
                r = call_preload(preload, if_installed, &preloaded, ret_error);
        if (r < 0)
                return r;
        /* Everything allocated so far is shared with every worker: keep the
         * collector from touching (and so copying) those pages after fork. */
        gc = PyImport_ImportModule("gc");
        res = gc ? PyObject_CallMethod(gc, "collect", NULL) : NULL;
        Py_XDECREF(res);
        res = gc ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;
        Py_XDECREF(res);
        Py_XDECREF(gc);
        if (!res) {
                *ret_error = fetch_error("freezing the garbage collector");
                return -EIO;
        }
        *ret_preloaded = TAKE_PTR(preloaded);
        return 0;
}

int
zygote_python_init_oneshot(const char *datadir, char *const *preload, char **ret_error)
{
        _cleanup_(strv_freep) char **preloaded = NULL;
        int r = init_interpreter(ret_error);

        if (r >= 0)
                r = import_runner(datadir, ret_error);
        if (r >= 0 && preload && preload[0])
                r = call_preload(preload, false, &preloaded, ret_error);
        return r;
}

const char *
zygote_python_version(void)
{
        /* A string compiled into libpython: valid before Py_Initialize(). */
        return Py_GetVersion();
}

void
zygote_python_sigint(void)
{
        /* _signal, the C module: `signal` would import enum first, which a
         * one-shot worker pays before every run and `python -c` does not. */
        PyObject *signal = PyImport_ImportModule("_signal");
        PyObject *handler = signal ? PyObject_GetAttrString(signal, "default_int_handler") : NULL;
        PyObject *res = NULL;

        /* What `python -c` has: Ctrl-C semantics (KeyboardInterrupt). */
        if (handler)
                res = PyObject_CallMethod(signal, "signal", "iO", SIGINT, handler);
        Py_XDECREF(res);
        Py_XDECREF(handler);
        Py_XDECREF(signal);
        PyErr_Clear();
}

void
zygote_python_warm(void)
{
        PyObject *res;

        zygote_python_sigint();
        res = PyObject_CallMethod(runner, "warm", NULL);
        if (!res)
                PyErr_Clear();
        Py_XDECREF(res);
}

static int
pack_pystr(msgpack_packer *pk, PyObject *o)
{
        PyObject *b;
        int r;

        if (!o || o == Py_None)
                return msgpack_pack_nil(pk);
        if (!PyUnicode_Check(o))
                return proto_pack_str(pk, "<non-string>");
        b = PyUnicode_AsEncodedString(o, "utf-8", "replace");
        if (!b) {
                PyErr_Clear();
                return proto_pack_str(pk, "<unencodable>");
        }
        r = proto_pack_strn(pk, PyBytes_AS_STRING(b), (size_t) PyBytes_GET_SIZE(b));
        Py_DECREF(b);
        return r;
}

static int
pack_exception(msgpack_packer *pk, PyObject *exc)
{
        static const char *const keys[] = {"type", "message", "traceback"};

        if (!exc || !PyDict_Check(exc))
                return msgpack_pack_nil(pk);
        msgpack_pack_map(pk, ELEMENTSOF(keys));
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                proto_pack_str(pk, keys[i]);
                pack_pystr(pk, PyDict_GetItemString(exc, keys[i]));
        }
        return 0;
}

static int
pack_images(msgpack_packer *pk, PyObject *images)
{
        Py_ssize_t n = images && PyList_Check(images) ? PyList_GET_SIZE(images) : 0, k = 0;

        for (Py_ssize_t i = 0; i < n; i++)
                k += PyBytes_Check(PyList_GET_ITEM(images, i));
        msgpack_pack_array(pk, (size_t) k);
        for (Py_ssize_t i = 0; i < n; i++) {
                PyObject *b = PyList_GET_ITEM(images, i);
                if (PyBytes_Check(b))
                        proto_pack_bin(pk, PyBytes_AS_STRING(b), (size_t) PyBytes_GET_SIZE(b));
        }
        return 0;
}

/* The worker's own CPU time and peak memory (with its reaped children), so
 * the pool can answer before the zygote reports the exit. */
static void
pack_rusage(msgpack_packer *pk)
{
        struct rusage self = {}, kids = {};
        uint64_t us;

        (void) getrusage(RUSAGE_SELF, &self);
        (void) getrusage(RUSAGE_CHILDREN, &kids);
        us = (uint64_t) (self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                         kids.ru_stime.tv_sec) *
                     1000000 +
             (uint64_t) (self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
                         kids.ru_stime.tv_usec);
        proto_pack_key_uint(pk, "cpu_us", us);
        proto_pack_key_uint(pk, "maxrss_kb", (uint64_t) MAX(self.ru_maxrss, kids.ru_maxrss));
}

/* The runner says "memory" when a memory error escaped the code; only the
 * address-space watch knows whether the limit caused it (memlimit.c). In
 * cgroup mode nothing is watched: the limit is the OOM killer, which leaves
 * no result behind, so a MemoryError there is an ordinary exception (one
 * that overcommit refused, or the code's own). */
static int
pack_status(msgpack_packer *pk, PyObject *res)
{
        PyObject *status = PyDict_GetItemString(res, "status");
        PyObject *size = PyDict_GetItemString(res, "memory_request");
        uint64_t n = 0;

        if (!status || !PyUnicode_Check(status) || PyUnicode_CompareWithASCIIString(status, "memory") != 0)
                return pack_pystr(pk, status);
        if (size && PyLong_Check(size)) {
                n = PyLong_AsUnsignedLongLong(size);
                if (PyErr_Occurred()) {
                        PyErr_Clear();
                        n = 0;
                }
        }
        return proto_pack_str(pk, zygote_memlimit_reached(n) ? "memory" : "exception");
}

int
zygote_python_run(const char *code, size_t code_len, unsigned max_images, size_t max_image_bytes,
                  uint64_t address_space_limit, msgpack_packer *pk)
{
        PyObject *res, *omitted;

        /* Without the watch every memory error is reported as an exception:
         * the status never blames the limit without evidence. */
        (void) zygote_memlimit_watch(address_space_limit);
        res = PyObject_CallMethod(runner, "reseed", NULL);
        Py_XDECREF(res);
        PyErr_Clear();
        res = PyObject_CallMethod(runner, "run", "s#In", code, (Py_ssize_t) code_len, max_images,
                                  (Py_ssize_t) max_image_bytes);
        if (!res || !PyDict_Check(res)) {
                /* The code broke the runner itself (it shares the interpreter). */
                Py_XDECREF(res);
                PyErr_Clear();
                return -EIO;
        }
        msgpack_pack_map(pk, 8);
        proto_pack_key_str(pk, "type", "result");
        proto_pack_str(pk, "status");
        pack_status(pk, res);
        proto_pack_str(pk, "value");
        pack_pystr(pk, PyDict_GetItemString(res, "value"));
        proto_pack_str(pk, "exception");
        pack_exception(pk, PyDict_GetItemString(res, "exception"));
        proto_pack_str(pk, "images");
        pack_images(pk, PyDict_GetItemString(res, "images"));
        omitted = PyDict_GetItemString(res, "images_omitted");
        proto_pack_key_uint(pk, "images_omitted",
                            omitted && PyLong_Check(omitted) ? PyLong_AsUnsignedLong(omitted) : 0);
        PyErr_Clear();
        Py_DECREF(res);
        pack_rusage(pk);
        return 0;
}
