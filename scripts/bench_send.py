"""Sends text messages to a room for scripts/bench, on one kept-alive connection.

Usage: python3 scripts/bench_send.py URL ROOM_ID N [--stamped GAP_MS | --timed]
The sender's access token comes from BENCH_SENDER_TOKEN (never the command line). Without
--stamped, the N messages go as fast as the server takes them; with it, one every GAP_MS, each
carrying the time it was sent (nanoseconds since the epoch) as its body. With --timed, prints
the microseconds the N sends took (the floor of `matrix send` in scripts/bench --scale).
"""

import http.client
import json
import os
import sys
import time
import urllib.parse
import uuid


def main():
    url, room, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    gap = float(sys.argv[5]) / 1000 if len(sys.argv) > 5 and sys.argv[4] == "--stamped" else None
    token = os.environ["BENCH_SENDER_TOKEN"]
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    path = f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/send/m.room.message/"
    started = time.monotonic()
    for n in range(count):
        if gap is not None:
            time.sleep(gap)
            body = str(time.time_ns())
        else:
            body = f"burst {n}"
        content = json.dumps({"msgtype": "m.text", "body": body})
        connection.request("PUT", path + uuid.uuid4().hex, content, headers)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            sys.exit(f"bench_send: the server answered {answer.status}")
    if sys.argv[4:5] == ["--timed"]:
        print(int((time.monotonic() - started) * 1_000_000))


if __name__ == "__main__":
    main()
