#!/usr/bin/env python3
"""Idle-connection helper for bench/run's memory workload (python3 stdlib only).

  holdconn.py server PORT STATUSFILE
      Accept TCP connections on 127.0.0.1:PORT and hold them open, doing nothing
      but waiting for EOF. The number of connections currently open is written
      to STATUSFILE (atomically, whenever it changes, at most every 50 ms).

  holdconn.py client HOST PORT
      Read target counts from stdin, one per line. For each, open connections
      to HOST:PORT until that many are held, then print
      "ok <held> <failed> <last error>" and flush. On EOF of stdin close
      everything and exit.

The client and the server each hold up to ~10 000 sockets, which is why they
are separate processes (the fd hard limit on the bench machine is 20 000).
"""
import asyncio
import os
import resource
import socket
import sys
import time


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def server(port, status_path):
    state = {"open": 0, "written": -1}

    def write_status():
        if state["open"] == state["written"]:
            return
        tmp = status_path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % state["open"])
        os.replace(tmp, status_path)
        state["written"] = state["open"]

    async def handle(reader, writer):
        state["open"] += 1
        try:
            while await reader.read(65536):
                pass
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            state["open"] -= 1
            try:
                writer.close()
            except OSError:
                pass

    async def main():
        srv = await asyncio.start_server(handle, "127.0.0.1", port,
                                         backlog=4096, reuse_address=True)
        async with srv:
            while True:
                write_status()
                await asyncio.sleep(0.05)

    write_status()
    asyncio.run(main())


def client(host, port):
    socks = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        target = int(line)
        failed = 0
        consecutive = 0
        last_err = "-"
        deadline = time.monotonic() + 90
        while len(socks) < target:
            if time.monotonic() > deadline or consecutive >= 20:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect((host, port))
                socks.append(s)
                consecutive = 0
            except OSError as e:
                s.close()
                failed += 1
                consecutive += 1
                last_err = (e.strerror or type(e).__name__).replace(" ", "_")
                time.sleep(0.05)
        print("ok %d %d %s" % (len(socks), failed, last_err), flush=True)
    for s in socks:
        s.close()


def main(argv):
    raise_nofile()
    if len(argv) == 4 and argv[1] == "server":
        server(int(argv[2]), argv[3])
    elif len(argv) == 4 and argv[1] == "client":
        client(argv[2], int(argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except KeyboardInterrupt:
        sys.exit(130)
