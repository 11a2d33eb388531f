#!/usr/bin/env python3
"""Drives `kiln chat` in a real pseudo-terminal: two turns, /set temp 0, /undo,
Ctrl-C during a long reply (the process survives and the next prompt works),
history recall with the up arrow, then Ctrl-C twice at an empty prompt quits.

  chat_pty.py KILN MODEL STATE_DIR
"""
import os
import pty
import re
import select
import sys
import time

kiln, model, state = sys.argv[1:4]
env = dict(os.environ, XDG_STATE_HOME=state, TERM="xterm")
pid, fd = pty.fork()
if pid == 0:
    os.execve(kiln, [kiln, "chat", "-m", model, "--chat-template", "chatml", "--no-color",
                     "-c", "32768", "-n", "24", "--seed", "7", "--ignore-eos"], env)

buf = b""


def expect(pattern, timeout=30.0, what=None):
    """Reads until `pattern` (a regex on bytes) appears after the last match; returns the text read."""
    global buf
    deadline = time.time() + timeout
    rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
    while True:
        m = rx.search(buf)
        if m:
            out, buf = buf[:m.end()], buf[m.end():]
            return out.decode("utf-8", "replace")
        left = deadline - time.time()
        if left <= 0:
            fail("timed out waiting for %s; got: %r" % (what or pattern, buf[-400:]))
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                fail("the process ended while waiting for %s; got: %r" % (what or pattern, buf[-400:]))
            buf += data


def fail(msg):
    print("FAIL pty: " + msg)
    try:
        os.kill(pid, 9)
    except OSError:
        pass
    sys.exit(1)


def send(s):
    os.write(fd, s.encode() if isinstance(s, str) else s)


PROMPT = r"\r?\n?> $"
STATS = r"kiln: prompt \d+ tokens \((\d+) cached, \d+ new[^\n]*stop: (\w[\w ]*)"

expect(r"> ", what="first prompt")
send("Once upon a time\r")
out = expect(STATS, what="stats of turn 1")
expect(r"> ", what="prompt after turn 1")
send("/set temp 0\r")
expect(r"temp = 0", what="/set temp 0")
expect(r"> ")
send("The dog\r")
out = expect(STATS, what="stats of turn 2")
cached = int(re.search(r"\((\d+) cached", out).group(1))
if cached == 0:
    fail("turn 2 reused nothing from the KV cache: " + out)
expect(r"> ")
send("/undo\r")
expect(r"dropped the last exchange", what="/undo")
expect(r"> ")

# a long reply, interrupted
send("/set n -1\r")
expect(r"n = -1")
expect(r"> ")
send("Tell me a long story\r")
time.sleep(1.0)
send(b"\x03")
out = expect(STATS, timeout=60, what="stats after Ctrl-C")
if "stop: interrupted" not in out or "[interrupted]" not in out:
    fail("Ctrl-C did not interrupt the reply: " + out[-300:])
expect(r"> ", what="prompt after the interrupt")
send("/set n 8\r")
expect(r"n = 8")
expect(r"> ")
send("Hello again\r")
expect(STATS, what="a turn after the interrupt")
expect(r"> ")

# """ multiline input
send('"""first line\r')
expect(r"\. ", what="continuation prompt")
send('second line"""\r')
expect(STATS, what="a multiline turn")
expect(r"> ")

# history: up arrow recalls the last line
send(b"\x1b[A")
expect(r"first line second line", what="history recall of the multiline entry")
send(b"\x1b[A")
expect(r"Hello again", what="history recall")
send(b"\x15")  # Ctrl-U clears the line
send(b"\x03")
expect(r"Ctrl-C again", what="first Ctrl-C at the prompt")
expect(r"> ")
send(b"\x03")
deadline = time.time() + 10
while time.time() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    try:
        os.read(fd, 4096)
    except OSError:
        pass
    time.sleep(0.05)
else:
    fail("a second Ctrl-C at the empty prompt did not quit")
if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
    fail("exit status %r" % status)
# Ctrl-D at an empty prompt quits too
pid, fd = pty.fork()
if pid == 0:
    os.execve(kiln, [kiln, "chat", "-m", model, "--chat-template", "chatml", "--no-color", "-n", "4"], env)
buf = b""
expect(r"> ", what="prompt of the second process")
send(b"\x04")
deadline = time.time() + 10
while time.time() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    try:
        os.read(fd, 4096)
    except OSError:
        pass
    time.sleep(0.05)
else:
    fail("Ctrl-D at the empty prompt did not quit")
if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
    fail("exit status after Ctrl-D %r" % status)

hist = os.path.join(state, "kiln", "history")
if not os.path.exists(hist) or "Hello again" not in open(hist, encoding="utf-8").read():
    fail("no history file at " + hist)
if "first line\\nsecond line" not in open(hist, encoding="utf-8").read():
    fail("the multiline entry is not in the history file")
print("ok   pty: two turns, /set, /undo, Ctrl-C during a reply, \"\"\" multiline, history, Ctrl-C twice and Ctrl-D quit")
