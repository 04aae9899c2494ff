# The end-to-end encryption part of scripts/bench, run by the real nu with the plugin
# registered. Prints one JSON record (times in microseconds, one number per sample).
# Environment: BENCH_RUNS; BENCH_SYNAPSE_LOG (Synapse's access log: requests are counted there);
# BENCH_PLAIN_ROOM (a plain room of the saved session `bench-e2ee`); BENCH_DMS (encrypted DMs a
# matrix-nio user opened with it and it joined, space-separated: the first takes the later
# sends, each of the others one first send); BENCH_NIO (the nio helper, its python and folder:
# `python helper folder`); BENCH_BURST (how many encrypted messages the burst has).

def micros [] { into int | $in // 1000 }

# The requests of @bench that Synapse served, but the room watch's held syncs.
def served [] {
    open --raw $env.BENCH_SYNAPSE_LOG | lines
        | where $it =~ '\{@bench:localhost\} Processed request' and $it !~ '"GET /_matrix/client/v3/sync'
        | length
}

def plugin_pid [] { matrix config | ignore; plugin list | where name == matrix | get pid.0 }

def peak_kib [pid: int] {
    open $'/proc/($pid)/status' | lines | parse --regex 'VmHWM:\s+(?<kb>\d+) kB' | get kb.0 | into int
}

# `work` timed, with the @bench requests it made.
def counted [work: closure] {
    let before = served
    let time = timeit { do $work } | micros
    {time: $time, requests: ((served) - $before)}
}

def main [] {
    let runs = $env.BENCH_RUNS | into int
    let plain = $env.BENCH_PLAIN_ROOM
    let dms = $env.BENCH_DMS | split row ' '
    let nio = $env.BENCH_NIO | split row ' '

    # The device's store made and its keys uploaded, as a bot's first encrypted room does.
    let pid = plugin_pid
    ^sh -c $'echo 5 > /proc/($pid)/clear_refs'
    let made = timeit { matrix e2ee status --session bench-e2ee | ignore } | micros
    let status_peak = peak_kib $pid

    # Plain and encrypted sends take turns, so that drift touches both alike; the first send to
    # each other DM makes and shares a room key (Olm sessions with the devices, to-device).
    let later = 1..$runs | each {|n| {
        plain: (counted { matrix send $plain $'plain ($n)' --session bench-e2ee | ignore })
        encrypted: (counted { matrix send $dms.0 $'sealed ($n)' --session bench-e2ee | ignore })
    } }
    let first = $dms | skip 1 | each {|room| counted { matrix send $room 'first' --session bench-e2ee | ignore } }
    let send_peak = peak_kib $pid

    # A burst of encrypted messages sent while nobody listened, read from the saved position.
    matrix listen --session bench-e2ee --since saved --once | ignore
    let burst = $env.BENCH_BURST | into int
    ^$nio.0 $nio.1 $nio.2 send-many $dms.0 $burst | ignore
    let pid = plugin_pid
    ^sh -c $'echo 5 > /proc/($pid)/clear_refs'
    let read = timeit {
        let rows = matrix listen --session bench-e2ee --since saved --limit $burst
            | where encrypted and decrypt_error == null | length
        if $rows != $burst { error make {msg: $'decrypted ($rows) of ($burst)'} }
    } | micros
    let burst_peak = peak_kib $pid

    {
        store_made: $made
        status_peak_rss_kib: $status_peak
        plain_send: ($later | get plain.time)
        plain_send_requests: ($later | get plain.requests)
        encrypted_send: ($later | get encrypted.time)
        encrypted_send_requests: ($later | get encrypted.requests)
        first_send: ($first | get time)
        first_send_requests: ($first | get requests)
        send_peak_rss_kib: $send_peak
        burst_events: $burst
        burst_read: $read
        burst_peak_rss_kib: $burst_peak
    } | to json
}
