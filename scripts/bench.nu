# The in-session part of scripts/bench, run by the real nu with the plugin registered.
# Prints one JSON record of measurements in microseconds (lists, one number per sample).
# Environment: MATRIX_PASSWORD, BENCH_URL, BENCH_USER, BENCH_RUNS, BENCH_CALLS, BENCH_FLOOR
# (the keepalive helper; MATRIX_TOKEN is set for it below); for `matrix listen`: BENCH_ROOM (a
# room of the saved session `bench`), BENCH_SEND (scripts/bench_send.py), BENCH_SENDER_TOKEN
# (another member's token), BENCH_BURST (how many messages the burst has).

def micros [] { into int | $in // 1000 }

def main [] {
    let url = $env.BENCH_URL
    let user = $env.BENCH_USER
    let runs = $env.BENCH_RUNS | into int
    let calls = $env.BENCH_CALLS | into int

    # The first call spawns the plugin; the default saved session is made by the script.
    let s = $env.MATRIX_PASSWORD | matrix login $user -H $url
    $env.MATRIX_TOKEN = $s.access_token | matrix token reveal

    # Cold start: the same whoami right after `plugin stop` (spawn + handshake + call) and
    # again warm; the difference is what starting the plugin costs.
    let start = 1..$runs | each {|_|
        plugin stop matrix
        let cold = timeit { $s | matrix whoami } | micros
        let warm = timeit { $s | matrix whoami } | micros
        {cold: $cold, warm: $warm}
    }

    let login = 1..$runs | each {|_| timeit { $env.MATRIX_PASSWORD | matrix login $user -H $url } | micros }

    # Warm whoami and the in-process floor take turns, batch by batch, so that drift in the
    # server's speed touches both alike.
    let turns = 1..$runs | each {|_|
        let floor = ^$env.BENCH_FLOOR floor $url $calls
            | lines | parse '{name} {values}'
            | update values { split row ' ' | into int }
            | transpose -rd
        let warm = 1..$calls | each {|_| timeit { $s | matrix whoami } | micros }
        # A plugin call that does no network: what the plugin protocol itself costs.
        let local = 1..$calls | each {|_| timeit { $s.access_token | matrix token reveal } | micros }
        {floor: $floor, warm: $warm, local: $local}
    }

    let each = 1..$runs | each {|_| timeit { 1..$calls | each {|_| $s | matrix whoami } | ignore } | micros }
    let par = 1..$runs | each {|_| timeit { 1..$calls | par-each {|_| $s | matrix whoami } | ignore } | micros }
    let saved = 1..$runs | each {|_| timeit { 1..$calls | each {|_| null | matrix whoami } | ignore } | micros }
    let pid = plugin list | where name == matrix | get pid.0
    let peak = open $'/proc/($pid)/status' | lines | parse --regex 'VmHWM:\s+(?<kb>\d+) kB' | get kb.0 | into int
    # The same with the tokens in the system keyring (saved session `bench-kr`), taking turns
    # with the file's (`bench`), so that drift touches both alike.
    let keyring_turns = 1..$runs | each {|_| {
        file: (timeit { 1..$calls | each {|_| matrix whoami --session bench } | ignore } | micros)
        keyring: (timeit { 1..$calls | each {|_| matrix whoami --session bench-kr } | ignore } | micros)
    } }

    let keyring_peak = open $'/proc/($pid)/status' | lines | parse --regex 'VmHWM:\s+(?<kb>\d+) kB' | get kb.0 | into int
    # Gone before the growth tables: their `matrix session list` reads the file alone. The
    # plugin starts again without the keyring's connection for what follows.
    matrix session remove bench-kr
    plugin stop matrix

    # matrix listen: from a send (another user's, its time in the body) to the row, one
    # message every 50 ms; then a burst sent while nobody listened, read from the saved
    # position, with the plugin's peak memory during it.
    let room = $env.BENCH_ROOM
    job spawn { sleep 1sec; ^python3 $env.BENCH_SEND $url $room $calls --stamped 50 }
    let latency = matrix listen --session bench $room --limit $calls
        | each {|row| ((date now | into int) - ($row.body | into int)) // 1000 }
    matrix listen --session bench --since saved --once | ignore
    let burst = $env.BENCH_BURST | into int
    ^python3 $env.BENCH_SEND $url $room $burst
    # Sending took long enough for Nushell to stop the idle plugin: start it again.
    matrix config | ignore
    let pid = plugin list | where name == matrix | get pid.0
    ^sh -c $'echo 5 > /proc/($pid)/clear_refs'
    let burst_read = timeit { matrix listen --session bench --since saved --limit $burst | ignore } | micros
    let burst_peak = open $'/proc/($pid)/status' | lines | parse --regex 'VmHWM:\s+(?<kb>\d+) kB' | get kb.0 | into int

    # The same burst through `each`, without and with an ack per row (`--ack`), twice each,
    # taking turns.
    let ack_turns = 1..2 | each {|_|
        ^python3 $env.BENCH_SEND $url $room $burst
        let plain = timeit { matrix listen --session bench --since saved --limit $burst | each {|r| $r } | ignore } | micros
        ^python3 $env.BENCH_SEND $url $room $burst
        let acked = timeit { matrix listen --session bench --since saved --ack --limit $burst | each {|r| $r | matrix listen ack } | ignore } | micros
        {plain: $plain, acked: $acked}
    }

    {
        cold_start: ($start | get cold)
        warm_after_start: ($start | get warm)
        warm_login: $login
        warm_whoami: ($turns | get warm | flatten)
        plugin_call: ($turns | get local | flatten)
        floor_raw: ($turns | get floor.raw | flatten)
        floor_library: ($turns | get floor.library | flatten)
        floor_interruptible: ($turns | get floor.interruptible | flatten)
        each_calls: $each
        par_each_calls: $par
        saved_each_calls: $saved
        saved_file_calls: ($keyring_turns | get file)
        saved_keyring_calls: ($keyring_turns | get keyring)
        keyring_peak_rss_kib: $keyring_peak
        plugin_peak_rss_kib: $peak
        listen_latency: $latency
        burst_events: $burst
        burst_read: $burst_read
        burst_peak_rss_kib: $burst_peak
        burst_each: ($ack_turns | get plain)
        burst_each_acked: ($ack_turns | get acked)
    } | to json
}
