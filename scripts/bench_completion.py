"""The completion part of scripts/bench: Tab at a real nu prompt, in a pseudo-terminal.

Usage: python3 scripts/bench_completion.py NU RUNS OUT.json
Run in a folder with a file `bench-notes.txt`. Environment: XDG_CONFIG_HOME / XDG_DATA_HOME
with the plugin registered and the saved default session `bench` (scripts/bench makes them),
BENCH_DEVICE (its device ID), BENCH_ROOM (the ID of its only room).

Each sample types a line, presses Tab and times until the completed text is on the screen, so
it includes the line editor drawing it. Nushell's own file-name completion is the baseline. (Nu
0.115's line editor shows a plugin's completions after a 100 ms poll of the keyboard runs out:
strace shows the plugin answering within a few ms, and the screen at about 100 ms.)
"Cold" is the first Tab after `plugin stop matrix` (the plugin is spawned, and its caches are
empty); "warm" the next one. Writes milliseconds per case as JSON.
"""

import json
import os
import pty
import select
import sys
import time

PROMPT = "BENCH> "


class Prompt:
    def __init__(self, nu):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["NO_COLOR"] = "1"
            os.execv(nu, [nu, "--no-history"])
        self.screen = b""
        self.read_until(b"> ", 30)
        # Built from two halves, so that the typed line itself does not show the prompt.
        half = len(PROMPT) // 2
        self.command(f"$env.PROMPT_COMMAND = {{|| '{PROMPT[:half]}' + '{PROMPT[half:]}' }}; "
                     "$env.PROMPT_INDICATOR = ''")

    def read_until(self, needle, within, start=0, must=True):
        """Reads until `needle` shows after byte `start` of the screen; after `within` s,
        fails (or, unless `must`, returns False)."""
        deadline = time.monotonic() + within
        while needle not in self.screen[start:]:
            left = deadline - time.monotonic()
            if left <= 0:
                if not must:
                    return False
                sys.exit(f"bench: no {needle!r} within {within} s; the screen ends: "
                         f"{self.screen[-400:]!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 65536)
                # A line editor asks where the cursor is and waits: answer as a terminal does.
                for _ in range(chunk.count(b"\x1b[6n")):
                    os.write(self.fd, b"\x1b[1;1R")
                self.screen += chunk
        return True

    def command(self, line):
        mark = len(self.screen)
        os.write(self.fd, line.encode() + b"\r")
        self.read_until(PROMPT.encode(), 30, mark)

    def tab(self, line, shown):
        """Types `line`, presses Tab, and returns the ms until `shown` is on the screen."""
        # Keys typed while nu sets up its line editor after a command can be dropped: type
        # again until the line shows.
        for _ in range(10):
            mark = len(self.screen)
            os.write(self.fd, line.encode())
            if self.read_until(line.split()[-1].encode(), 1, mark, must=False):
                break
            os.write(self.fd, b"\x03")
            self.read_until(PROMPT.encode(), 10, mark)
        mark = len(self.screen)
        started = time.monotonic()
        os.write(self.fd, b"\t")
        self.read_until(shown.encode(), 10, mark)
        took = (time.monotonic() - started) * 1000
        # Clear the line (and any menu), and wait for the prompt again.
        mark = len(self.screen)
        os.write(self.fd, b"\x03")
        self.read_until(PROMPT.encode(), 10, mark)
        return took


def main():
    nu, runs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    device, room = os.environ["BENCH_DEVICE"], os.environ["BENCH_ROOM"]
    # case: (line, what the completed line shows)
    cases = {
        "files": ("open bench-no", "open bench-notes.txt"),
        "sessions": ("matrix whoami --session ben", "--session bench"),
        "api_paths": ("matrix api account/who", "api account/whoami"),
        "rooms": ("matrix send !", f"send {room}"),
        "devices": (f"matrix devices rename {device[:-1]}", f"rename {device}"),
    }
    results = {name: {"cold": [], "warm": []} for name in cases}
    prompt = Prompt(nu)
    # Nu answers a Tab on a line it completed before from memory: leading blanks make each
    # sample's line new, and complete the same.
    blanks = 0
    for _ in range(runs):
        for name, (line, shown) in cases.items():
            prompt.command("plugin stop matrix")
            for kind in ("cold", "warm"):
                blanks += 1
                results[name][kind].append(prompt.tab(" " * blanks + line, shown))
    os.write(prompt.fd, b"exit\r")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
