"""Sends text messages to a room for scripts/bench, on one kept-alive connection.

Usage: python3 scripts/bench_send.py URL ROOM_ID N [--stamped GAP_MS] [--timed [plain|checked|watched]]
The sender's access token comes from BENCH_SENDER_TOKEN (never the command line). Without
--stamped, the N messages go as fast as the server takes them; with it, one every GAP_MS, each
carrying the time it was sent (nanoseconds since the epoch) as its body. With --timed, prints
the microseconds the N sends took: the floors of `matrix send` in scripts/bench --scale, as
N PUTs (`plain`), each after a check of the room's encryption (`checked`: what a sender without
a watch must do), or with a `/sync` long-poll open meanwhile as the plugin's room watch keeps
one (`watched`: the server works out a sync answer for each new event).
"""

import argparse
import http.client
import json
import os
import random
import threading
import time
import urllib.parse
import uuid

# The long-poll filter of the plugin's room watch (src/rooms/watch.rs).
WATCH_TYPES = ["m.room.encryption", "m.room.canonical_alias"]
WATCH_FILTER = json.dumps({
    "room": {
        "timeline": {"types": WATCH_TYPES, "limit": 20},
        "state": {"types": WATCH_TYPES, "lazy_load_members": True},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
    "presence": {"types": []},
    "account_data": {"types": []},
})


def connect(url):
    parsed = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)


def watch(url, headers, stop):
    """Keeps a filtered /sync long-poll open until `stop` is set."""
    connection, since = connect(url), None
    while not stop.is_set():
        query = {"filter": WATCH_FILTER, "timeout": 30000}
        if since:
            query["since"] = since
        else:
            query["timeout"] = random.randrange(1, 10**9)  # not a cached answer
        connection.request("GET", f"/_matrix/client/v3/sync?{urllib.parse.urlencode(query)}",
                           None, headers)
        since = json.loads(connection.getresponse().read())["next_batch"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("room")
    parser.add_argument("count", type=int)
    parser.add_argument("--stamped", type=float, metavar="GAP_MS")
    parser.add_argument("--timed", nargs="?", const="plain", choices=["plain", "checked", "watched"])
    args = parser.parse_args()
    token = os.environ["BENCH_SENDER_TOKEN"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection = connect(args.url)
    room = urllib.parse.quote(args.room)
    path = f"/_matrix/client/v3/rooms/{room}/send/m.room.message/"
    stop = threading.Event()
    if args.timed == "watched":
        threading.Thread(target=watch, args=(args.url, headers, stop), daemon=True).start()
        time.sleep(0.5)

    def call(method, target, body=None, fine=(200,)):
        connection.request(method, target, body, headers)
        answer = connection.getresponse()
        answer.read()
        if answer.status not in fine:
            raise SystemExit(f"bench_send: the server answered {answer.status}")

    started = time.monotonic()
    for n in range(args.count):
        if args.stamped is not None:
            time.sleep(args.stamped / 1000)
            body = str(time.time_ns())
        else:
            body = f"burst {n}"
        if args.timed == "checked":
            # 404: not encrypted.
            call("GET", f"/_matrix/client/v3/rooms/{room}/state/m.room.encryption/", fine=(404,))
        content = json.dumps({"msgtype": "m.text", "body": body})
        call("PUT", path + uuid.uuid4().hex, content)
    took = int((time.monotonic() - started) * 1_000_000)
    stop.set()
    if args.timed:
        print(took)


if __name__ == "__main__":
    main()
