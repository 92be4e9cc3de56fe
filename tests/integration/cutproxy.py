#!/usr/bin/env python3
"""cutproxy.py LISTEN_PORT_FILE MASTER_HOST:PORT CUT [MODE]

A TCP proxy in front of a master that cuts the first CUT connections
short during the handshake, as a master over its handshake budget does
(it closes the oldest pending handshakes): MODE "hello" relays the
master's CHALLENGE, reads the client's HELLO, then closes both sides;
MODE "greeting" closes right after accept. Later connections are relayed
whole. Writes its port to LISTEN_PORT_FILE, and "cut N relayed M" to
stdout on SIGTERM. Bounded: it exits after 120 s whatever happens."""
import os, signal, socket, sys, threading

port_file, master, cut = sys.argv[1], sys.argv[2], int(sys.argv[3])
mode = sys.argv[4] if len(sys.argv) > 4 else "hello"
mhost, mport = master.rsplit(":", 1)
state = {"n": 0, "cut": 0, "relayed": 0}
lock = threading.Lock()


def read_frame(s):
    """One whole frame (proto.txt 2: an 8-byte header whose first u32 is
    the payload's length, then the payload)."""
    buf = b""
    while len(buf) < 8:
        b = s.recv(8 - len(buf))
        if not b:
            return None
        buf += b
    n = int.from_bytes(buf[0:4], "big")
    while len(buf) < 8 + n:
        b = s.recv(8 + n - len(buf))
        if not b:
            return None
        buf += b
    return buf


def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(c):
    with lock:
        state["n"] += 1
        k = state["n"]
    if k <= cut and mode == "greeting":
        with lock:
            state["cut"] += 1
        c.close()
        return
    m = socket.create_connection((mhost, int(mport)), timeout=10)
    if k <= cut:
        ok = False
        try:
            ch = read_frame(m)              # CHALLENGE
            if ch:
                c.sendall(ch)
                ok = read_frame(c) is not None   # the client's HELLO
        except OSError:
            pass
        with lock:
            state["cut"] += ok
        c.close()
        m.close()
        return
    with lock:
        state["relayed"] += 1
    threading.Thread(target=pump, args=(m, c), daemon=True).start()
    pump(c, m)


def done(*_):
    print("cut %d relayed %d" % (state["cut"], state["relayed"]), flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, done)
signal.signal(signal.SIGALRM, done)
signal.alarm(120)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(64)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % ls.getsockname()[1])
os.rename(port_file + ".tmp", port_file)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
