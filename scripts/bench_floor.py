"""The floor of `matrix messages` for scripts/bench --scale: the newest N messages of a room,
fetched page by page (1,000 per page, Synapse's largest) on one kept-alive connection, parsed
and dropped. Prints the microseconds it took.

Usage: python3 scripts/bench_floor.py URL ROOM_ID N   (the token in BENCH_TOKEN)
"""

import http.client
import json
import os
import sys
import time
import urllib.parse


def main():
    url, room, wanted = sys.argv[1], sys.argv[2], int(sys.argv[3])
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    headers = {"Authorization": f"Bearer {os.environ['BENCH_TOKEN']}"}
    room_path = f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/messages"
    event_filter = json.dumps({"types": ["m.room.message", "m.room.encrypted"]})
    started = time.monotonic()
    seen, start = 0, None
    while seen < wanted:
        query = {"dir": "b", "limit": min(1000, wanted - seen), "filter": event_filter}
        if start:
            query["from"] = start
        connection.request("GET", f"{room_path}?{urllib.parse.urlencode(query)}", None, headers)
        answer = connection.getresponse()
        page = json.loads(answer.read())
        if answer.status != 200:
            sys.exit(f"bench_floor: the server answered {answer.status}")
        chunk = page.get("chunk", [])
        seen += len(chunk)
        start = page.get("end")
        if not chunk or not start:
            break
    print(int((time.monotonic() - started) * 1_000_000))


if __name__ == "__main__":
    main()
