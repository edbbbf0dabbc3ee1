#!/usr/bin/env bash
# bench/exchange.sh: the TCP exchange and the proxy's syscalls for one
# proxied `Connection: close` HTTP request, through each contender.
#
#   bench/exchange.sh [-b BALANCE_BIN] [-o OUTDIR] [-n] [-l SECONDS] [CONTENDER...]
#
# CONTENDERs: balance haproxy nginx pen (default: balance haproxy).
# -n: no strace pass. -l SECONDS: also a pass under load (below).
# Needs root for tcpdump and strace (bench/setup installs both).
#
# For each contender, in front of one tiny nginx HTTP backend (the bench's),
# after one unrecorded warm-up request:
#   1. tcpdump -i lo -nn -tt on the proxy's and the backend's port while a
#      client does what wrk -H 'Connection: close' does once: connect, set
#      TCP_NODELAY, send the request, read until the answer is complete
#      (Content-Length), close() at once;
#   2. strace -f -tt -e trace=%network,%desc,epoll_wait,epoll_pwait,epoll_ctl
#      (strace 6.1 has no 'epoll' class; %desc has them anyway) attached to every thread of
#      the proxy while the client does the same again (a separate request:
#      strace slows the proxy down and may change the timing).
#   3. with -l: wrk -t1 -c50 -d SECONDS -H 'Connection: close' (the bench's
#      rate load) while tcpdump writes the SYN, FIN and RST segments of both
#      ports to a pcap; then, per leg, who sent the first FIN of each
#      connection (that end holds its TIME_WAIT), how many were reset, and
#      how often the first FIN carried data (an answer and its FIN in one
#      segment). tcpdump takes CPU from the others meanwhile: the shares
#      are what counts, not the rate.
# OUTDIR (default bench/results/exchange-<time>) gets, per contender,
# C.tcpdump (raw), C.segments (the same, each line labelled with its leg and
# direction, times relative to the first SYN), C.strace (raw) and with -l
# C.load (the counts). The labelled segments and the counts are printed.
# Every process started here is killed by PID.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
here=$(cd "$(dirname "$0")" && pwd)
balance_bin=$here/../build/balance
out=
strace_pass=1
load_s=0
while getopts "b:o:nl:h" opt; do
  case $opt in
    b) balance_bin=$OPTARG ;;
    o) out=$OPTARG ;;
    n) strace_pass=0 ;;
    l) load_s=$OPTARG ;;
    *) sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
contenders=("$@")
[ ${#contenders[@]} -gt 0 ] || contenders=(balance haproxy)
for t in tcpdump python3 nginx $([ "$load_s" = 0 ] || echo wrk); do
  command -v "$t" >/dev/null || { echo "exchange.sh: $t not installed (bench/setup)" >&2; exit 1; }
done
[ $strace_pass = 0 ] || command -v strace >/dev/null \
  || { echo "exchange.sh: strace not installed (or use -n)" >&2; exit 1; }
out=${out:-$here/results/exchange-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
tmp=$(mktemp -d /tmp/balance-exchange-XXXXXX)
pids=()

cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  sleep 0.3
  for p in "${pids[@]}"; do
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 - "$@" <<'EOF'
import socket, sys
taken = {int(x) for x in sys.argv[1:]}
for port in range(23400, 32000):
    if port in taken:
        continue
    try:
        for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.bind((addr, port))
            s.close()
    except OSError:
        continue
    print(port)
    break
EOF
}

wait_port() {
  local i
  for i in $(seq 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2).close()" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "exchange.sh: nothing listens on $1" >&2
  return 1
}

# One request, as wrk -H 'Connection: close' makes it.
request() {
  python3 - "$1" <<'EOF'
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % port)
data = b""
while b"\r\n\r\n" not in data:
    data += s.recv(4096)
head, _, body = data.partition(b"\r\n\r\n")
length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
while len(body) < length:
    body += s.recv(4096)
s.close()  # at once, as wrk does once the answer is parsed
sys.stderr.write(head.split(b"\r\n")[0].decode() + "\n")
EOF
}

backend=$(free_port)
mkdir -p "$tmp/backend"
cat > "$tmp/backend/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/backend/nginx.pid;
error_log $tmp/backend/error.log warn;
events { worker_connections 1000; }
http {
    access_log off;
    default_type text/plain;
    server {
        listen 127.0.0.1:$backend backlog=4096;
        return 200 "ok";
    }
}
EOF
nginx -p "$tmp/backend" -e "$tmp/backend/error.log" -c "$tmp/backend/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_port "$backend"

start_proxy() {  # contender front_port -> sets proxy_pid
  local c=$1 front=$2 d=$tmp/$1
  mkdir -p "$d"
  case $c in
    balance)
      mkdir -m 700 "$d/run"
      BALANCE_RUNTIME_DIR=$d/run "$balance_bin" -f "$front" "127.0.0.1:$backend" \
        >"$d/log" 2>&1 &
      ;;
    haproxy)
      cat > "$d/haproxy.cfg" <<EOF
global
    nbthread 2
    maxconn 9800
defaults
    mode tcp
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
frontend fe
    bind 127.0.0.1:$front
    default_backend be
backend be
    balance roundrobin
    server s0 127.0.0.1:$backend
EOF
      haproxy -db -f "$d/haproxy.cfg" >"$d/log" 2>&1 &
      ;;
    nginx)
      cat > "$d/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 2;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1000; }
stream {
    upstream be { server 127.0.0.1:$backend; }
    server { listen 127.0.0.1:$front; proxy_pass be; proxy_connect_timeout 1s; }
}
EOF
      nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf" -g 'daemon off;' >"$d/log" 2>&1 &
      ;;
    pen)
      pen -f -x 1000 -t 1 "127.0.0.1:$front" "127.0.0.1:$backend" >"$d/log" 2>&1 &
      ;;
    *) echo "exchange.sh: unknown contender $c" >&2; return 1 ;;
  esac
  proxy_pid=$!
  pids+=($proxy_pid)
  wait_port "$front"
  sleep 0.2
}

label() {  # tcpdump text on stdin -> legs and directions, relative times
  python3 -c "$(cat <<'EOF'
import re, sys
front, back = int(sys.argv[1]), int(sys.argv[2])
pat = re.compile(r"^(\d+\.\d+) IP6? [\d.:a-f]+?\.(\d+) > [\d.:a-f]+?\.(\d+): (.*)$")
t0 = None
for line in sys.stdin:
    m = pat.match(line.strip())
    if not m:
        continue
    t, sport, dport, rest = float(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
    if t0 is None:
        t0 = t
    if dport == front:
        who = "client  -> proxy  "
    elif sport == front:
        who = "client <-  proxy  "
    elif dport == back:
        who = "          proxy  -> backend"
    elif sport == back:
        who = "          proxy <-  backend"
    else:
        who = "?"
    rest = re.sub(r", options \[.*?\]", "", rest)
    print("%+10.6f  %-27s %s" % (t - t0, who, rest))
EOF
)" "$1" "$backend"
}

first_fins() {  # tcpdump -r text on stdin -> per leg, who closed first
  python3 -c "$(cat <<'EOF'
import re, sys
front, back = int(sys.argv[1]), int(sys.argv[2])
pat = re.compile(r"^\S+ IP6? [\d.:a-f]+?\.(\d+) > [\d.:a-f]+?\.(\d+): Flags \[([^\]]*)\].*?length (\d+)")
conns = {}  # (leg, ephemeral port) -> record of the current connection
done = {"client": [], "backend": []}
for line in sys.stdin:
    m = pat.match(line.strip())
    if not m:
        continue
    sport, dport, flags, length = int(m.group(1)), int(m.group(2)), m.group(3), int(m.group(4))
    for leg, port in (("client", front), ("backend", back)):
        if port in (sport, dport):
            break
    else:
        continue
    listening = sport == port  # sent by the proxy (client leg) or the backend
    key = (leg, dport if listening else sport)
    if flags == "S":  # a new connection on this four-tuple
        if key in conns:
            done[leg].append(conns[key])
        conns[key] = {"fin": None, "data": False, "rst": False}
        continue
    rec = conns.get(key)
    if rec is None:
        continue  # began before the capture
    if "F" in flags and rec["fin"] is None:
        rec["fin"] = "listening" if listening else "connecting"
        rec["data"] = length > 0
    if "R" in flags:
        rec["rst"] = True
for key, rec in conns.items():
    done[key[0]].append(rec)
names = {"client": ("client", "proxy"), "backend": ("proxy", "backend")}
for leg in ("client", "backend"):
    recs = done[leg]
    n = len(recs) or 1
    conn_end, listen_end = names[leg]
    first = {w: sum(1 for r in recs if r["fin"] == w) for w in ("connecting", "listening")}
    print("%-7s leg: %6d connections; first FIN from the %s %5.1f %%, from the %s %5.1f %%, "
          "no FIN seen %4.1f %%; reset %4.1f %%; first FIN carrying data %5.1f %%"
          % (leg, len(recs), conn_end, 100.0 * first["connecting"] / n, listen_end,
             100.0 * first["listening"] / n, 100.0 * sum(1 for r in recs if r["fin"] is None) / n,
             100.0 * sum(1 for r in recs if r["rst"]) / n,
             100.0 * sum(1 for r in recs if r["data"]) / n))
EOF
)" "$1" "$backend"
}

for c in "${contenders[@]}"; do
  front=$(free_port "$backend")
  echo "== $c (proxy port $front, backend $backend)" >&2
  start_proxy "$c" "$front"
  request "$front"  # warm-up, not recorded

  tcpdump -i lo -nn -tt -l -U "tcp port $front or tcp port $backend" \
    >"$out/$c.tcpdump" 2>"$tmp/$c.tcpdump.err" &
  tcpdump_pid=$!
  pids+=($tcpdump_pid)
  for _ in $(seq 100); do
    grep -q "listening on" "$tmp/$c.tcpdump.err" 2>/dev/null && break
    sleep 0.05
  done
  request "$front"
  sleep 0.5  # room for delayed ACKs (40 ms) and anything late
  kill -INT "$tcpdump_pid"
  wait "$tcpdump_pid" || true
  label "$front" <"$out/$c.tcpdump" >"$out/$c.segments"
  echo "-- $c: segments (tcpdump -i lo -nn -tt 'tcp port $front or tcp port $backend')"
  cat "$out/$c.segments"

  if [ $strace_pass = 1 ]; then
    strace -f -tt -e trace=%network,%desc,epoll_wait,epoll_pwait,epoll_ctl -p "$proxy_pid" -o "$out/$c.strace" \
      2>"$tmp/$c.strace.err" &
    strace_pid=$!
    pids+=($strace_pid)
    sleep 1  # attaching to every thread
    request "$front"
    sleep 0.5
    kill -INT "$strace_pid"
    wait "$strace_pid" || true
    echo "-- $c: strace in $out/$c.strace ($(wc -l <"$out/$c.strace") lines)"
  fi
  if [ "$load_s" != 0 ]; then
    tcpdump -i lo -nn -s 96 -B 65536 -w "$tmp/$c.pcap" \
      "(tcp port $front or tcp port $backend) and tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0" \
      2>"$tmp/$c.load.err" &
    tcpdump_pid=$!
    pids+=($tcpdump_pid)
    for _ in $(seq 100); do
      grep -q "listening on" "$tmp/$c.load.err" 2>/dev/null && break
      sleep 0.05
    done
    wrk -t1 -c50 -d"${load_s}s" -H 'Connection: close' "http://127.0.0.1:$front/" >"$tmp/$c.wrk"
    sleep 0.5
    kill -INT "$tcpdump_pid"
    wait "$tcpdump_pid" || true
    {
      echo "wrk -t1 -c50 -d${load_s}s -H 'Connection: close': $(grep -E 'Requests/sec' "$tmp/$c.wrk" | tr -s ' ')" \
        "(under tcpdump; $(grep -E 'dropped by kernel' "$tmp/$c.load.err"))"
      tcpdump -r "$tmp/$c.pcap" -nn -tt 2>/dev/null | first_fins "$front"
    } >"$out/$c.load"
    echo "-- $c: under load"
    cat "$out/$c.load"
  fi
  if [ "$c" = nginx ] && [ -f "$tmp/nginx/nginx.pid" ]; then
    kill "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null || true
  fi
  kill "$proxy_pid" 2>/dev/null || true
  wait "$proxy_pid" 2>/dev/null || true
  echo
done
echo "files: $out" >&2
