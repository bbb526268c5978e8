/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Messages between the pool (outside the jail) and a zygote or worker (inside).
 * Every message is one frame (src/proto/frame.h) holding a msgpack map with a
 * "type" key. The set is closed: anything else is a protocol violation and the
 * sender is killed.
 *
 *  zygote -> pool   {type: "ready", python: str, preloaded: [str]}
 *                                                             after preloading
 *                   {type: "error", message: str}             preload failed (then exits)
 *                   {type: "spawned", slot: uint, pid: uint}   a worker was forked
 *                   {type: "exit", pid, slot, code, signal, utime_us, stime_us, maxrss_kb}
 *  pool -> zygote   {type: "spawn", slot, uid, tmp_bytes, workspace_bytes}
 *                    + SCM_RIGHTS [socket, stdout, stderr]
 *  worker -> pool   {type: "hello"}                            locked down and warm; SO_PASSCRED
 *                                                              gives its pid
 *                   {type: "failed", message: str}             set-up failed (instead of hello, or
 *                                                              instead of a result); nothing ran
 *                   {type: "result", status, value, exception, images, images_omitted,
 *                    cpu_us, maxrss_kb}
 *  pool -> worker   {type: "run", code: str, stdin: bin,
 *                    limits: {cpu_s, nproc, nofile, fsize, as_bytes},
 *                    max_images: uint, max_image_bytes: uint}
 */
#pragma once

#define WIRE_MAX_ZYGOTE_FRAME (64u * 1024u)
/* A result carries the value repr (capped at 1 MiB by the runner), a traceback
 * and images; 64 MiB bounds what a worker can make the pool buffer. */
#define WIRE_MAX_RESULT_FRAME (64u * 1024u * 1024u)
#define WIRE_SPAWN_FDS 3

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* wire.c (pool side): message helpers. */
const char *wire_type(const msgpack_object *m, size_t *ret_len);
int wire_type_is(const msgpack_object *m, const char *type);
/* Validate, then unpack (the object points into data). */
int wire_unpack(const void *data, size_t size, msgpack_unpacked *ret);
int wire_send_spawn(int control, unsigned slot, uid_t uid, uint64_t tmp_bytes, uint64_t workspace_bytes,
                    const int fds[WIRE_SPAWN_FDS]);
