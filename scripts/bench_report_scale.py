"""The growth tables of `scripts/bench --scale` (see scripts/bench_scale.nu), for
scripts/bench_report.py: for each case, the figure at each size, its ratio to the smallest and
to its floor measured in the same run, requests, and the plugin's peak memory."""

MIB = 1024


def growth(scale):
    lines = []
    add = lines.append
    messages(scale, add)
    rooms(scale["rooms"], add)
    send(scale["send"], add)
    sessions(scale["sessions"], add)
    peak = max(peaks(scale))
    add(f"Peak memory of the plugin over every case above: **{peak / MIB:.1f} MiB** "
        f"(target < 30 MiB: {'met' if peak < 30 * MIB else '**missed**'}).")
    add("")
    return lines


def peaks(scale):
    yield from (case["plugin"]["peak_kib"] for case in scale["messages"])
    yield scale["first5"]["peak_kib"]
    yield from (case["plugin"]["peak_kib"] for case in scale["rooms"])
    yield from (case["plugin"]["peak_kib"] for case in scale["send"])
    for case in scale["sessions"]:
        yield case["list"]["peak_kib"]
        yield case["par_each"]["peak_kib"]


def section(add, title, prose):
    """A section's title and the text that says what its table measured."""
    add(f"## {title}")
    add("")
    add(prose)
    add("")


def header(add, columns):
    """A table's header: the columns, each right-aligned."""
    add("| " + " | ".join(columns) + " |")
    add("|" + " ---: |" * len(columns))


def verdict(ratio, wanted):
    return f"{ratio:.2f}× ({'met' if ratio <= wanted else '**missed**'})"


def messages(scale, add):
    smallest = scale["messages"][0]
    section(add, "Growth: `matrix messages` over a long history",
            "`scripts/bench --scale`: a room with the most messages below, read newest first with "
            "`--limit N` (the rows dropped as they come), beside the floor: the same pages "
            "(1,000 each) fetched and parsed by `scripts/bench_floor.py` on one kept-alive "
            "connection, each size read once untimed first (Synapse answers faster the second "
            "time); up to 1,000 the median of 5 reads, the 10,000 read once. The plugin's first "
            "page is 100, so that the first rows come at once. Requests "
            "counted in Synapse's access log; the plugin's peak memory measured after resetting it.")
    header(add, ["N", "time (ms)", "× smallest", "floor (ms)", "× floor (target 1.5×)",
                 "requests", "peak memory (MiB)"])
    for case in scale["messages"]:
        ms = case["plugin"]["micros"] / 1000
        floor = case["floor_micros"] / 1000
        grown = case["plugin"]["micros"] / smallest["plugin"]["micros"]
        add(f"| {case['n']:,} | {ms:.1f} | {grown:.1f}× | {floor:.1f} | {verdict(ms / floor, 1.5)} | "
            f"{case['plugin']['requests']} | {case['plugin']['peak_kib'] / MIB:.1f} |")
    first5 = scale["first5"]
    add("")
    add(f"`matrix messages --limit {first5['n']:,} | first 5`: {first5['micros'] / 1000:.1f} ms, "
        f"{first5['requests']} request(s), peak memory {first5['peak_kib'] / MIB:.1f} MiB.")
    add("")


def rooms(cases, add):
    smallest = cases[0]
    section(add, "Growth: `matrix rooms` in more and more rooms",
            "An account in N rooms (named; every 5th with an alias, every 10th encrypted), "
            "`matrix rooms` beside the server's three ways to answer the same question (ID, name, "
            "alias, members, encryption of each), each timed by `scripts/bench_rooms.py` on one "
            "kept-alive connection: the filtered `/sync` the plugin used before, `joined_rooms` and "
            "then each room's state, and the simplified sliding sync (MSC4186) the plugin uses now. "
            "Median of up to 5 runs; bytes are the answers' bodies.")
    header(add, ["N", "`matrix rooms` (ms)", "× smallest", "requests", "bytes",
                 "filtered /sync (ms)", "joined_rooms + state (ms, requests)",
                 "sliding sync (ms)", "× cheapest (target 2×)", "peak memory (MiB)"])
    for case in cases:
        plugin, floors = case["plugin"], case["floors"]
        ms = plugin["micros"] / 1000
        ways = {name: way["micros"] / 1000 for name, way in floors.items()}
        cheapest = min(ways.values())
        joined = floors["joined_rooms_state"]
        add(f"| {case['n']:,} | {ms:.1f} | {plugin['micros'] / smallest['plugin']['micros']:.1f}× | "
            f"{plugin['requests']:g} | {plugin['bytes']:,} | {ways['sync']:.1f} | "
            f"{ways['joined_rooms_state']:.1f} ({joined['requests']:,}) | "
            f"{ways['sliding_sync']:.1f} | {verdict(ms / cheapest, 2)} | "
            f"{plugin['peak_kib'] / MIB:.1f} |")
    add("")


def send(cases, add):
    smallest = cases[0]
    section(add, "Growth: `matrix send` N times into one room",
            "`for i in 1..N { matrix send --session bench '#alias' … }` in one nu session, a new "
            "room (named by its alias) for each N, beside three floors, each N sends on one "
            "kept-alive connection into a new room of its own (`scripts/bench_send.py --timed`): "
            "PUTs alone (the floor of the target), each after a `GET` of the room's encryption "
            "(what a sender without a watch does: 2 requests a message), and PUTs with a `/sync` "
            "long-poll open meanwhile, as the plugin's room watch keeps one. Requests: every request "
            "of the session in Synapse's access log while the loop ran (the room's alias, its "
            "encryption, the watch's `/sync`s and the sends).")
    header(add, ["N", "time (ms)", "× smallest", "per message (ms)", "PUTs alone (ms)",
                 "× PUTs alone (target 1.5×)", "GET + PUT (ms)", "PUTs, long-poll open (ms)",
                 "requests", "sends", "requests per message", "peak memory (MiB)"])
    for case in cases:
        plugin, floors = case["plugin"], case["floors"]
        ms = plugin["micros"] / 1000
        plain, checked, watched = (floors[way] / 1000 for way in ("plain", "checked", "watched"))
        add(f"| {case['n']:,} | {ms:.1f} | {plugin['micros'] / smallest['plugin']['micros']:.1f}× | "
            f"{ms / case['n']:.2f} | {plain:.1f} | {verdict(ms / plain, 1.5)} | {checked:.1f} | "
            f"{watched:.1f} | {plugin['requests']:g} | {plugin['sends']} | "
            f"{plugin['requests'] / case['n']:.3f} | {plugin['peak_kib'] / MIB:.1f} |")
    add("")


def sessions(cases, add):
    smallest = cases[0]
    section(add, "Growth: many saved sessions",
            "N saved sessions of one user (each its own device, all at a counting relay in front "
            "of Synapse; the file also holds `bench` and `roomy`): `matrix session list` beside nu "
            "reading the session file itself (`open --raw sessions.json | from json`), and "
            "`matrix session list | where … | par-each { matrix whoami --session $in.name }` over "
            "the N beside N whoami on one kept-alive connection in-process through the same "
            "relay (`benches/keepalive`'s bare ureq), with the connections the relay accepted "
            "(after one warm-up call, as the floor has: 0, the connection is kept).")
    header(add, ["sessions", "`session list` (ms)", "× smallest", "reading the file (ms)",
                 "× floor", "par-each whoami (ms)", "× smallest", "floor (ms)",
                 "× floor (target 1.5×)", "connections", "peak memory (MiB)"])
    for case in cases:
        lst, par = case["list"], case["par_each"]
        list_ms, list_floor = lst["micros"] / 1000, case["list_floor_micros"] / 1000
        par_ms, par_floor = par["micros"] / 1000, case["whoami_floor_micros"] / 1000
        add(f"| {case['n']} | {list_ms:.2f} | "
            f"{lst['micros'] / smallest['list']['micros']:.1f}× | {list_floor:.2f} | "
            f"{list_ms / list_floor:.2f}× | {par_ms:.1f} | "
            f"{par['micros'] / smallest['par_each']['micros']:.1f}× | {par_floor:.1f} | "
            f"{verdict(par_ms / par_floor, 1.5)} | {par['connections']} | "
            f"{max(lst['peak_kib'], par['peak_kib']) / MIB:.1f} |")
    add("")
