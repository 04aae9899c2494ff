"""The end-to-end encryption section of BENCHMARKS.md, from scripts/bench_e2ee.nu's record (and
the plain burst of scripts/bench.nu beside it)."""

import statistics


def section(e2ee, session):
    """Markdown lines: sends plain, encrypted and first; the encrypted burst against the plain."""
    ms = lambda values: [v / 1000 for v in values]
    plain = statistics.median(ms(e2ee["plain_send"]))
    rows = [
        ("`matrix send` to a plain room", e2ee["plain_send"], e2ee["plain_send_requests"], ""),
        ("`matrix send` to an encrypted DM, room key already shared", e2ee["encrypted_send"],
         e2ee["encrypted_send_requests"], "members, then the encrypted `PUT`"),
        ("`matrix send` to an encrypted DM, its first message", e2ee["first_send"],
         e2ee["first_send_requests"],
         "members, one-time keys of the devices it has no Olm session with, the room key to "
         "them over to-device, the `PUT`; device keys too when a member's devices changed"),
    ]
    lines = [
        "## End-to-end encryption",
        "",
        "The bench user's saved session `bench-e2ee` in encrypted DMs that a matrix-nio 0.26 user "
        "opened with it (the nio user's one device, and this one), in one running nu session; "
        "plain and encrypted sends take turns. Requests are the user's as Synapse's access log "
        "has them (the room watch's held syncs left out).",
        "",
        "| case | median | min | max | vs plain | requests |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case, samples, requests, note in rows:
        values = ms(samples)
        median = statistics.median(values)
        count = statistics.median(requests)
        note = f" ({note})" if note else ""
        lines.append(f"| {case} | {median:.2f} | {min(values):.2f} | {max(values):.2f} | "
                     f"{median / plain:.2f}× | {count:g}{note} |")
    burst = e2ee["burst_events"]
    sealed_s = e2ee["burst_read"] / 1e6
    plain_s = session["burst_read"] / 1e6
    lines += [
        "",
        f"`matrix listen`: a burst of {burst} encrypted messages, sent by nio while nobody "
        f"listened, read and decrypted from the saved position in {sealed_s:.2f} s: "
        f"{burst / sealed_s:.0f} events per second, against {session['burst_events'] / plain_s:.0f} "
        f"for the plain burst above; the plugin's peak memory meanwhile "
        f"{e2ee['burst_peak_rss_kib'] / 1024:.1f} MiB (plain: "
        f"{session['burst_peak_rss_kib'] / 1024:.1f} MiB).",
        "",
        f"The device's first meeting with encryption (`matrix e2ee status`: its store made, its "
        f"keys uploaded): {e2ee['store_made'] / 1000:.0f} ms; the plugin's peak memory with the "
        f"crypto machine open {e2ee['status_peak_rss_kib'] / 1024:.1f} MiB, and "
        f"{e2ee['send_peak_rss_kib'] / 1024:.1f} MiB after the sends.",
        "",
    ]
    return lines
