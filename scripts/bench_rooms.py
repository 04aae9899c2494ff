"""Rooms for scripts/bench --scale: makes an account's rooms, and measures the server calls
that answer what `matrix rooms` answers (each room's ID, name, alias, joined members and
encryption), each on one kept-alive connection, parsed and dropped.

Usage (the account's token in BENCH_TOKEN, never the command line):
  python3 scripts/bench_rooms.py create URL N       joins the account to N rooms in all
                                                   (named; every 5th with an alias, every 10th
                                                   encrypted)
  python3 scripts/bench_rooms.py floor URL RUNS    prints JSON: per way, the median
                                                   microseconds, requests and bytes received
"""

import http.client
import json
import os
import random
import statistics
import sys
import time
import urllib.parse

# The filter of `Client::rooms` (src/rooms.rs), so the server does the same work.
ROOMS_FILTER = {
    "room": {
        "timeline": {"limit": 0},
        "state": {
            "types": ["m.room.create", "m.room.name", "m.room.canonical_alias", "m.room.encryption"],
            "lazy_load_members": True,
        },
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
    "presence": {"types": []},
    "account_data": {"types": []},
}


class Server:
    def __init__(self, url):
        parsed = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)
        self.headers = {"Authorization": f"Bearer {os.environ['BENCH_TOKEN']}",
                        "Content-Type": "application/json"}
        self.requests = 0
        self.bytes = 0

    def call(self, method, path, query=None, body=None):
        target = "/_matrix/client" + path
        if query:
            target += "?" + urllib.parse.urlencode(query)
        self.connection.request(method, target, json.dumps(body) if body is not None else None,
                                self.headers)
        answer = self.connection.getresponse()
        raw = answer.read()
        self.requests += 1
        self.bytes += len(raw)
        if answer.status != 200:
            sys.exit(f"bench_rooms: {method} {path} answered {answer.status}: {raw[:200]!r}")
        return json.loads(raw)


def create(url, wanted):
    server = Server(url)
    have = len(server.call("GET", "/v3/joined_rooms")["joined_rooms"])
    for n in range(have, wanted):
        body = {"name": f"Room {n}", "preset": "private_chat"}
        if n % 5 == 0:
            body["room_alias_name"] = f"scale-{n}-{random.randrange(1 << 30)}"
        if n % 10 == 0:
            body["initial_state"] = [{"type": "m.room.encryption", "state_key": "",
                                      "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
        server.call("POST", "/v3/createRoom", body=body)


def filtered_sync(server):
    # A timeout not used before: Synapse keeps a sync's answer two minutes, keyed by it.
    query = {"filter": json.dumps(ROOMS_FILTER), "timeout": random.randrange(1, 10**9)}
    return len(server.call("GET", "/v3/sync", query)["rooms"]["join"])


def joined_rooms_and_state(server):
    rooms = server.call("GET", "/v3/joined_rooms")["joined_rooms"]
    for room in rooms:
        server.call("GET", f"/v3/rooms/{urllib.parse.quote(room)}/state")
    return len(rooms)


def sliding_sync(server):
    # Synapse's simplified sliding sync (MSC4186): one list holding every room, only the state
    # asked for; the member counts come with each room.
    body = {"lists": {"all": {
        "ranges": [[0, 99_999]],
        "required_state": [["m.room.name", ""], ["m.room.canonical_alias", ""],
                           ["m.room.encryption", ""]],
        "timeline_limit": 0,
    }}}
    answer = server.call("POST", "/unstable/org.matrix.simplified_msc3575/sync", body=body)
    return len(answer.get("rooms", {}))


def floor(url, runs):
    result = {}
    for name, way in [("sync", filtered_sync), ("joined_rooms_state", joined_rooms_and_state),
                      ("sliding_sync", sliding_sync)]:
        server = Server(url)
        way(server)  # warm the server and the connection
        samples, rooms = [], 0
        server.requests = server.bytes = 0
        for _ in range(runs):
            started = time.monotonic()
            rooms = way(server)
            samples.append(int((time.monotonic() - started) * 1_000_000))
        result[name] = {"micros": statistics.median(samples), "rooms": rooms,
                        "requests": server.requests // runs, "bytes": server.bytes // runs}
    print(json.dumps(result))


def main():
    match sys.argv[1:]:
        case ["create", url, n]:
            create(url, int(n))
        case ["floor", url, runs]:
            floor(url, int(runs))
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main()
