#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""qmp.py - talk to a QEMU started with -qmp unix:PATH,server=on,wait=off.

  qmp.py SOCK CMD [ARGS-JSON]    run one command, print its "return" as JSON
                                 (exit 1 with QEMU's error on stderr)
  qmp.py SOCK migrate DSTSOCK URI SECS
                                 live-migrate to URI, where the QEMU with QMP
                                 on DSTSOCK waits (migrate-incoming): turn the
                                 events on, send `migrate`, wait up to SECS for
                                 the MIGRATION event saying completed or
                                 failed, then for the destination's RESUME;
                                 print query-migrate's answer plus, from the
                                 events' wall-clock times (seconds since the
                                 epoch): "event_status", "started_at",
                                 "stopped_at" (source STOP), "completed_at",
                                 "resumed_at" (destination RESUME);
                                 exit 0 if completed and resumed

One connection per socket and call: a QMP chardev serves one client at a
time. A QEMU that was itself a migration destination answers query-migrate
with its incoming state (QEMU 7.2: status "completed", times 0), so the
event times are the ones to trust for its own outgoing migration.
"""
import json
import socket
import sys
import time


class Qmp:
    def __init__(self, path, timeout):
        self.deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.events = []                # not yet taken by event()
        self.seen = []                  # every event read
        self.read()                     # the greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from QEMU")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("QEMU closed the QMP socket")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        m = json.loads(line)
        if "event" in m:
            self.seen.append(m)
        return m

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            m = self.read()
            if "event" in m:
                self.events.append(m)
            elif "error" in m:
                raise RuntimeError("%s: %s" % (name, m["error"].get("desc")))
            elif "return" in m:
                return m["return"]

    def event(self, name, pred):
        """The first event NAME for which pred(data) holds, kept or next."""
        while True:
            while self.events:
                e = self.events.pop(0)
                if e["event"] == name and pred(e.get("data", {})):
                    return e
            self.events.append(self.read())


def when(event):
    ts = event["timestamp"]
    return ts["seconds"] + ts["microseconds"] / 1e6


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, cmd = sys.argv[1], sys.argv[2]
    try:
        if cmd == "migrate":
            dst, uri, secs = sys.argv[3], sys.argv[4], float(sys.argv[5])
            d = Qmp(dst, secs)
            q = Qmp(path, secs)
            q.cmd("migrate-set-capabilities", {"capabilities": [
                {"capability": "events", "state": True}]})
            r = {"started_at": time.time()}
            q.cmd("migrate", {"uri": uri})
            e = q.event("MIGRATION", lambda d: d.get("status") in
                        ("completed", "failed", "cancelled"))
            # QEMU sets total-time just after it says completed
            for _ in range(20):
                r.update(q.cmd("query-migrate"))
                if r.get("total-time") or r.get("status") != "completed":
                    break
                time.sleep(0.05)
            r["event_status"] = e["data"]["status"]
            r["completed_at"] = when(e)
            stop = [x for x in q.seen if x["event"] == "STOP"]
            if stop:
                r["stopped_at"] = when(stop[0])
            if r["event_status"] != "completed":
                print(json.dumps(r))
                return 1
            r["resumed_at"] = when(d.event("RESUME", lambda d: True))
            print(json.dumps(r))
            return 0
        args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
        print(json.dumps(Qmp(path, 10).cmd(cmd, args)))
        return 0
    except (OSError, RuntimeError, ValueError) as err:
        print("qmp.py: %s %s: %s" % (path, cmd, err), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
