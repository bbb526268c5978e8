# SPDX-License-Identifier: LGPL-2.1-or-later
"""THREATS.md §A, socket families, and the network of a jail without one.

Only AF_UNIX may be created (the default environment has no network): every
other family answers EAFNOSUPPORT from the filter, also with high bits set
in the family word (the kernel takes an int, the filter compares the low 32
bits).  AF_VSOCK matters most: this host is a virtual machine whose vsock
reaches the hypervisor.
"""

import fcntl
import os
import socket
import struct

from jail_probe import *  # noqa: F401,F403 (the bundler drops this line)

AF_MAX = 46  # AF_MCTP + 1 (linux/socket.h, 6.x)


@check("net: the only interface is lo (/proc/self/net/dev, if_nametoindex)")
def _():
    lines = read("/proc/self/net/dev").splitlines()[2:]
    names = sorted(line.split(":")[0].strip() for line in lines if ":" in line)
    expect(names == ["lo"], "interfaces: %s" % names)
    expect(socket.if_nametoindex("lo") == 1, "if_nametoindex('lo') = %d" % socket.if_nametoindex("lo"))


@check("net: lo is up")
def _():
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh22x", b"lo", 0)
        res = fcntl.ioctl(s.fileno(), 0x8913, req)  # SIOCGIFFLAGS
    flags = struct.unpack("16sh22x", res)[1]
    expect(flags & 1, "lo flags %#x lack IFF_UP" % flags)


@check("net: if_nameindex() is [(1, 'lo')] or refused (netlink filtered)")
def _():
    try:
        got = socket.if_nameindex()
    except OSError as e:
        expect(e.errno == E.EAFNOSUPPORT, "if_nameindex: %s" % e)
        return "if_nameindex needs AF_NETLINK, which the filter refuses (EAFNOSUPPORT)"
    expect(got == [(1, "lo")], "if_nameindex() = %r" % (got,))


def socket_refused(family, type_, proto=0):
    def fn():
        try:
            s = socket.socket(family, type_, proto)
        except OSError as e:
            expect(e.errno == E.EAFNOSUPPORT, "socket(%d, %d, %d): %s, want EAFNOSUPPORT"
                   % (family, type_, proto, e))
            return
        s.close()
        raise Fail("socket(%d, %d, %d) succeeded" % (family, type_, proto))
    return fn


for _desc, _args in (
        ("AF_INET stream", (socket.AF_INET, socket.SOCK_STREAM)),
        ("AF_INET datagram", (socket.AF_INET, socket.SOCK_DGRAM)),
        ("AF_INET raw ICMP", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),
        ("AF_INET6 stream", (socket.AF_INET6, socket.SOCK_STREAM)),
        ("AF_INET6 raw", (socket.AF_INET6, socket.SOCK_RAW, 58)),
        ("AF_PACKET raw", (getattr(socket, "AF_PACKET", 17), socket.SOCK_RAW)),
        ("AF_NETLINK route", (getattr(socket, "AF_NETLINK", 16), socket.SOCK_RAW, 0)),
        ("AF_VSOCK stream", (AF_VSOCK, socket.SOCK_STREAM)),
        ("AF_VSOCK datagram", (AF_VSOCK, socket.SOCK_DGRAM)),
        ("AF_VSOCK seqpacket", (AF_VSOCK, socket.SOCK_SEQPACKET)),
        ("AF_ALG seqpacket", (AF_ALG, socket.SOCK_SEQPACKET)),
):
    check("net: socket(%s) fails with EAFNOSUPPORT" % _desc)(socket_refused(*_args))


@check("net: raw socket() of every family 0..%d but AF_UNIX fails with EAFNOSUPPORT" % (AF_MAX - 1))
def _():
    bad = []
    for fam in range(AF_MAX):
        if fam == socket.AF_UNIX:
            continue
        for type_ in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_SEQPACKET):
            r, e = raw(NR["socket"], fam, type_, 0)
            if r >= 0:
                os.close(r)
            if r != -1 or e != E.EAFNOSUPPORT:
                bad.append("socket(%d, %d) = %d (%s)" % (fam, type_, r, ename(e)))
    expect(not bad, "; ".join(bad))


HIGH_BITS = (1 << 32, 0xffffffff00000000, 0x8000000000000000)


@check("net: raw socket(AF_VSOCK, AF_INET, AF_NETLINK, AF_PACKET with high bits set) "
       "fails with EAFNOSUPPORT")
def _():
    for fam in (AF_VSOCK, socket.AF_INET, 16, 17):
        for hb in HIGH_BITS:
            expect_errno("socket", (hb | fam, socket.SOCK_STREAM, 0), E.EAFNOSUPPORT, os.close)
            expect_errno("socket", (hb | fam, socket.SOCK_DGRAM, 0), E.EAFNOSUPPORT, os.close)


@check("net: raw socketpair() of every family but AF_UNIX, also with high bits, fails with EAFNOSUPPORT")
def _():
    for fam in range(AF_MAX):
        if fam == socket.AF_UNIX:
            continue
        expect_errno("socketpair", (fam, socket.SOCK_STREAM, 0, 1), E.EAFNOSUPPORT)
    for hb in HIGH_BITS:
        expect_errno("socketpair", (hb | AF_VSOCK, socket.SOCK_STREAM, 0, 1), E.EAFNOSUPPORT)
        expect_errno("socketpair", (hb | socket.AF_INET, socket.SOCK_STREAM, 0, 1), E.EAFNOSUPPORT)


@check("net: AF_UNIX works, also with high bits in the family (the kernel truncates, as the filter does)")
def _():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        a.sendall(b"ping")
        expect(b.recv(16) == b"ping", "no data through the socketpair")
    r, e = raw(NR["socket"], (1 << 32) | socket.AF_UNIX, socket.SOCK_STREAM, 0)
    expect(r >= 0, "socket(1<<32 | AF_UNIX) = %d (%s)" % (r, ename(e)))
    os.close(r)


@check("net: no loopback listener can be made (AF_INET and AF_INET6 refused)")
def _():
    for fam, addr in ((socket.AF_INET, ("127.0.0.1", 0)), (socket.AF_INET6, ("::1", 0))):
        try:
            s = socket.socket(fam, socket.SOCK_STREAM)
        except OSError as e:
            expect(e.errno == E.EAFNOSUPPORT, "socket(%d): %s" % (fam, e))
            continue
        with s:
            s.bind(addr)
            raise Fail("bound a loopback listener on %r" % (s.getsockname(),))
