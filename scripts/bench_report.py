"""Writes the results of scripts/bench as Markdown: usage is in scripts/bench.

Reads hyperfine's JSON exports (seconds per run), the in-session measurements of
scripts/bench.nu (microseconds), the completion times of scripts/bench_completion.py
(milliseconds) and the connection counts, all from one folder.
"""

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import bench_report_e2ee
import bench_report_scale


BURST_START, BURST_END = "<!-- scripts/bench_burst -->", "<!-- /scripts/bench_burst -->"


def kept_burst_block(out):
    """The side-by-side bursts that scripts/bench_burst wrote into the report, kept as they are
    (this bench does not measure them)."""
    try:
        text = out.read_text(encoding="utf-8")
    except OSError:
        return []
    start, end = text.find(BURST_START), text.find(BURST_END)
    if start < 0 or end < start:
        return []
    return text[start:end + len(BURST_END)].splitlines() + [""]


def load(folder, name):
    with open(folder / f"{name}.json", encoding="utf-8") as f:
        return json.load(f)


def stats_ms(values_ms):
    """(median, min, max) of a list of milliseconds."""
    return statistics.median(values_ms), min(values_ms), max(values_ms)


def hyperfine_ms(folder, name):
    """Per command of one hyperfine export: its run times in ms."""
    return {r["command"]: [t * 1000 for t in r["times"]] for r in load(folder, name)["results"]}


def machine():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {memory} RAM, Linux {platform.release()}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--build", required=True)
    parser.add_argument("--smoke", required=True)
    parser.add_argument("--tool", action="append", default=[])
    args = parser.parse_args()
    folder, calls = args.folder, args.calls

    login = hyperfine_ms(folder, "login")
    whoami = hyperfine_ms(folder, "whoami")
    curl_many = hyperfine_ms(folder, "curl_many")["curl"]
    session = load(folder, "session")
    connections = load(folder, "connections")

    def us_to_ms(values):
        return [v / 1000 for v in values]

    rows = []  # (group, case, samples in ms, note); a group's first row is its baseline

    def row(group, case, samples, note=""):
        rows.append((group, case, samples, note))

    row("login", "curl process (as the seed document does it)", login["curl"])
    row("login", "`nu -c 'matrix login …'` process, plugin cold", login["nu"])
    row("login", "library example process (`examples/login.rs`)", login["example"],
        "logs in, then calls whoami: 2 requests")
    row("login", "matrix-commander 8.0.6 process", login["matrix-commander"])
    row("login", "`matrix login` in a running nu session", us_to_ms(session["warm_login"]))
    row("whoami", "curl process", whoami["curl"])
    row("whoami", "`nu -c ''` (nu starting, nothing else)", whoami["nu-empty"])
    row("whoami", "`nu -c 'matrix whoami'` process (saved default session)", whoami["nu"])
    row("whoami", "`matrix whoami` in a running nu session", us_to_ms(session["warm_whoami"]))
    row("whoami", "`matrix token reveal` in a running nu session", us_to_ms(session["plugin_call"]),
        "a plugin call without network")
    row("whoami", "in-process floor: one keep-alive connection, bare ureq",
        us_to_ms(session["floor_raw"]))
    row("whoami", "in-process: the library's `Client::whoami`", us_to_ms(session["floor_library"]))
    row("whoami", "in-process: `Client::whoami`, interruptible",
        us_to_ms(session["floor_interruptible"]), "as the plugin runs it: Ctrl-C aware")
    row(f"{calls} whoami", f"{calls} curl processes", curl_many)
    row(f"{calls} whoami", f"`1..{calls} | each {{ $s | matrix whoami }}` in one nu session",
        us_to_ms(session["each_calls"]))
    row(f"{calls} whoami", f"`1..{calls} | par-each {{ $s | matrix whoami }}` in one nu session",
        us_to_ms(session["par_each_calls"]))
    row(f"{calls} whoami", f"`1..{calls} | each {{ matrix whoami }}` (saved default session)",
        us_to_ms(session["saved_each_calls"]))
    saved_group = f"{calls} whoami, saved session's tokens"
    row(saved_group, f"`1..{calls} | each {{ matrix whoami --session bench }}`: in the file",
        us_to_ms(session["saved_file_calls"]))
    row(saved_group, f"the same, `--session bench-kr`: in the system keyring",
        us_to_ms(session["saved_keyring_calls"]),
        "GNOME Keyring on a bus of its own: one item read per command, the connection kept")
    row("plugin start", "first `matrix whoami` after `plugin stop` (spawn, handshake, call)",
        us_to_ms(session["cold_start"]))
    row("plugin start", "the next `matrix whoami` (warm)", us_to_ms(session["warm_after_start"]))

    row("matrix listen", "from another user's send to the row (one message every 50 ms)",
        us_to_ms(session["listen_latency"]), "the send's own request included")

    completion = load(folder, "completion")
    tab = "Tab to the completed line at a nu prompt"
    row(tab, "Nushell's own file names (`open bench-no`)", completion["files"]["warm"],
        "no plugin")
    for key, case, note in [
        ("sessions", "saved session names (`--session ben`)",
         "the session file; nu 0.115 shows any plugin's completions when a 100 ms poll of the "
         "keyboard runs out"),
        ("api_paths", "`matrix api` paths (`account/who`)", "a built-in list"),
        ("rooms", "rooms (`matrix send !`)", "cold: one filtered /sync; warm: kept 60 s"),
        ("devices", "devices (`matrix devices rename …`)", "one /devices request each time"),
    ]:
        row(tab, f"{case}, cold (after `plugin stop`)", completion[key]["cold"], note)
        row(tab, f"{case}, warm", completion[key]["warm"])

    for group, case, samples, _ in rows:
        if not samples or min(samples) <= 0:
            sys.exit(f"bench: no measurement for {group}: {case}")

    baselines = {}
    for group, _, samples, _ in rows:
        baselines.setdefault(group, statistics.median(samples))

    med = statistics.median
    floor_ms = med(us_to_ms(session["floor_raw"]))
    warm_ms = med(us_to_ms(session["warm_whoami"]))
    each_ms = med(us_to_ms(session["each_calls"]))
    nu_empty_ms, curl_who_ms, nu_who_ms = (med(whoami[k]) for k in ("nu-empty", "curl", "nu"))
    mc_ms, nu_login_ms, warm_login_ms = (med(login["matrix-commander"]), med(login["nu"]),
                                         med(us_to_ms(session["warm_login"])))
    rss_mib = session["plugin_peak_rss_kib"] / 1024
    start_ms = med(us_to_ms(session["cold_start"])) - med(us_to_ms(session["warm_after_start"]))

    targets = [
        (f"{calls} whoami in one nu session vs {calls} curl processes", "≥ 3× faster",
         med(curl_many) / each_ms, med(curl_many) / each_ms >= 3, "×"),
        ("warm `matrix whoami` vs the in-process keep-alive floor", "≤ 1.5×",
         warm_ms / floor_ms, warm_ms / floor_ms <= 1.5, "×"),
        ("cold `nu -c 'matrix whoami'` vs `nu -c ''` + one curl", "≤ 1.3×",
         nu_who_ms / (nu_empty_ms + curl_who_ms), nu_who_ms / (nu_empty_ms + curl_who_ms) <= 1.3,
         "×"),
        ("a login (`nu -c` process) vs matrix-commander", "≥ 10× faster",
         mc_ms / nu_login_ms, mc_ms / nu_login_ms >= 10, "×"),
        ("a login (warm, in a nu session) vs matrix-commander", "≥ 10× faster",
         mc_ms / warm_login_ms, mc_ms / warm_login_ms >= 10, "×"),
        ("plugin peak RSS", "< 20 MiB", rss_mib, rss_mib < 20, " MiB"),
    ]

    expected = {"nu_each": 1, "floor": 3}
    reuse_ok = all(connections[k] == v for k, v in expected.items())

    lines = []
    add = lines.append
    add("# Benchmarks")
    add("")
    if args.smoke == "true":
        add("**Smoke run** (debug build, few samples): checks that every case runs; the numbers "
            "mean nothing.")
        add("")
    add("Written by `scripts/bench` (see the README); every number below comes from one run, "
        "side by side, against one local Synapse. Reproduce with:")
    add("")
    add("```sh")
    add(f"scripts/bench --runs {args.runs} --calls {args.calls}")
    add("```")
    add("")
    add(f"- Machine: {machine()}.")
    for tool in args.tool:
        add(f"- {tool}")
    add(f"- {args.runs} samples per case (hyperfine for processes, after 2 warm-up runs; "
        "nu's `timeit` inside one session). Times in milliseconds: median, min, max; "
        "the ratio is the median against the group's first row.")
    add("")
    add("## Targets")
    add("")
    add("| target | wanted | measured | |")
    add("| --- | --- | --- | --- |")
    for name, wanted, value, met, unit in targets:
        add(f"| {name} | {wanted} | {value:.3f}{unit} | {'met' if met else '**missed**'} |")
    add("")
    call_ms = med(us_to_ms(session["plugin_call"]))
    add(f"Warm `matrix whoami` takes {warm_ms - floor_ms:.2f} ms more than the in-process floor; "
        f"any plugin call, even one without network (`matrix token reveal`), costs {call_ms:.2f} ms "
        "in the same session.")
    add("")
    add(f"Plugin start (spawn and handshake, the first call minus the next): {start_ms:.1f} ms.")
    add("")
    burst, burst_s = session["burst_events"], session["burst_read"] / 1e6
    add(f"`matrix listen`: a burst of {burst} messages, sent while nobody listened, read from the "
        f"saved position (`--since saved --limit {burst}`) in {burst_s:.2f} s: "
        f"{burst / burst_s:.0f} events per second, the plugin's peak memory meanwhile "
        f"{session['burst_peak_rss_kib'] / 1024:.1f} MiB.")
    add("")
    plain_each, acked_each = med(session["burst_each"]) / 1e6, med(session["burst_each_acked"]) / 1e6
    kill = load(folder, "ack_kill")
    add(f"At-least-once (`--ack`): the same burst through `each`, {burst / plain_each:.0f} events per "
        f"second without acks and {burst / acked_each:.0f} with `$row | matrix listen ack` on each "
        f"row ({(acked_each - plain_each) * 1e6 / burst / 1000:.2f} ms an ack, median of 2 each). A bot "
        f"that acks each of {kill['sent']} messages (10 ms of work each), killed with SIGKILL after "
        f"{kill['before_kill']} and started again: {kill['handled']} of {kill['sent']} handled, "
        f"{kill['repeats']} of them twice.")
    add("")
    file_ms, keyring_ms = med(session["saved_file_calls"]), med(session["saved_keyring_calls"])
    add(f"Tokens in the system keyring: each command with the saved session reads its item, "
        f"{(keyring_ms - file_ms) / 1000 / calls:.2f} ms more than from the file (the {calls}-whoami "
        f"table below); the plugin's peak memory with the keyring's connection open "
        f"{session['keyring_peak_rss_kib'] / 1024:.1f} MiB.")
    add("")
    add("## Results")
    for group in dict.fromkeys(r[0] for r in rows):
        add("")
        add(f"### {group}")
        add("")
        add("| case | median | min | max | vs first row | note |")
        add("| --- | ---: | ---: | ---: | ---: | --- |")
        for g, case, samples, note in rows:
            if g != group:
                continue
            median, low, high = stats_ms(samples)
            ratio = median / baselines[group]
            ratio_text = f"{ratio:.2f}×"
            case = case.replace("|", "\\|")
            add(f"| {case} | {median:.2f} | {low:.2f} | {high:.2f} | {ratio_text} | {note} |")
    add("")
    lines.extend(bench_report_e2ee.section(load(folder, "e2ee"), session))
    lines.extend(kept_burst_block(args.out))
    scale_file = folder / "scale.json"
    if scale_file.exists():
        lines.extend(bench_report_scale.growth(load(folder, "scale")))
    add("## Connections")
    add("")
    add("TCP connections accepted by a counting relay in front of Synapse, one fresh `nu -c` "
        f"process (a token imported at the relay, then {calls} whoami) per line:")
    add("")
    add("| case | connections |")
    add("| --- | ---: |")
    add(f"| `1..{calls} \\| each {{ $s \\| matrix whoami }}` | {connections['nu_each']} |")
    add(f"| `1..{calls} \\| par-each {{ $s \\| matrix whoami }}` | {connections['nu_par_each']} |")
    add(f"| {calls} curl processes | {connections['curl']} |")
    add(f"| in-process floor (3 clients, {calls} calls each) | {connections['floor']} |")
    add("")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if not reuse_ok:
        sys.exit(f"bench: connections were not reused: {connections}")


if __name__ == "__main__":
    main()
