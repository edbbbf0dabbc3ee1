"""Hostile peers of the control plane, for test_control_attacks.py and
test_security.py: the bytes that crashed or ballooned CAF's BASP parser,
floods of idle connections, and a way to send them as another local user
(`nobody`), which is who the control plane must withstand.

Also runnable as a script (that is how it runs as nobody: its source is
passed with `python3 -c`, so nobody needs no access to this tree):
    python3 -c SRC send unix|tcp ADDRESS NAME...   -> one line per payload
"""

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time


def basp_header(operation, payload_len):
    """A CAF 0.17 BASP header: operation, 3 bytes, big-endian 32-bit payload
    length, then operation data and two actor ids (32 bytes)."""
    return struct.pack(">BBBBIQQQ", operation, 0, 0, 0, payload_len, 0, 0, 0)


PAYLOADS = {
    # the client handshake with no payload: SIGSEGV in CAF 0.17.6
    "empty-handshake": basp_header(1, 0),
    # a 1 GiB announcement: CAF reserves it before reading a byte of it
    "gib-handshake": basp_header(1, 1 << 30) + b"\0" * 1024,
    "gib-message": basp_header(2, 1 << 30) + b"\0" * 1024,
    "random-64k": None,  # os.urandom(65536), made fresh each time
    "zeros": b"\x00" * 64,
    "ones": b"\xff" * 64,
    "http": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "shell-words": b"show\nkill\n",
    # our own preamble's magic with a wrong secret, then a BASP header
    "wrong-secret": b"BALCTL01" + b"0" * 64 + basp_header(1, 0),
}


def payload(name):
    data = PAYLOADS[name]
    return os.urandom(65536) if data is None else data


def _connect(kind, address, timeout):
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(address)
    else:
        host, port = address.rsplit(":", 1)
        s = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    return s


def send(kind, address, name, timeout=3.0):
    """Sends one payload, then reads until the peer closes or `timeout`.
    Returns ("refused"|"closed"|"open", bytes received): "open" means the
    daemon neither answered nor hung up within the timeout."""
    try:
        s = _connect(kind, address, timeout)
    except OSError as exc:
        return f"refused:{exc.errno}", b""
    got = b""
    try:
        try:
            s.sendall(payload(name))
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                return "closed", got
            if not chunk:
                return "closed", got
            got += chunk
        return "open", got
    finally:
        s.close()


def nobody_prefix():
    """The command prefix that runs a program as `nobody`, or None (not root,
    or no setpriv/runuser)."""
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    return None


def send_as_nobody(kind, address, names, timeout=3.0):
    """send() for each payload name, run as nobody: [(name, outcome, n_bytes)]."""
    with open(__file__) as f:
        source = f.read()
    cmd = nobody_prefix() + [sys.executable, "-c", source, "send", kind, address] + list(names)
    p = subprocess.run(cmd, capture_output=True, timeout=timeout * len(names) + 10,
                       stdin=subprocess.DEVNULL, cwd="/")
    assert p.returncode == 0, f"hostile sender failed: {p.stderr.decode()!r}"
    out = []
    for line in p.stdout.decode().splitlines():
        name, outcome, n = line.split()
        out.append((name, outcome, int(n)))
    return out


def flood(kind, address, n):
    """Opens up to `n` idle connections without waiting for any of them to
    complete (non-blocking connects); returns the sockets."""
    socks = []
    for _ in range(n):
        fam = socket.AF_UNIX if kind == "unix" else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        if kind == "unix":
            target = address
        else:
            host, port = address.rsplit(":", 1)
            target = (host, int(port))
        err = s.connect_ex(target)
        if err not in (0, 115, 11):  # 0, EINPROGRESS, EAGAIN (backlog full)
            s.close()
            continue
        socks.append(s)
    return socks


def public_copy_of(binary):
    """A copy of `binary` that another user may execute (the tree may sit in a
    private home); returns (path, directory to remove)."""
    d = tempfile.mkdtemp(prefix="balance-bin-", dir="/tmp")
    os.chmod(d, 0o755)
    path = os.path.join(d, os.path.basename(binary))
    shutil.copy2(binary, path)
    os.chmod(path, 0o755)
    return path, d


def vm_kb(pid, key="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__" and len(sys.argv) > 4 and sys.argv[1] == "send":
    kind, address = sys.argv[2], sys.argv[3]
    for name in sys.argv[4:]:
        outcome, got = send(kind, address, name)
        print(name, outcome, len(got), flush=True)
