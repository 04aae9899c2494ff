# The --scale part of scripts/bench: how `matrix messages` grows with the history it reads,
# beside the floor (the same pages fetched by scripts/bench_floor.py on one kept-alive
# connection). Run by the real nu with the plugin registered and the saved session `bench`.
# Prints one JSON record.
# Environment: BENCH_URL, BENCH_SCALE_ROOM (a room of `bench` with BENCH_SCALE_MAX messages),
# BENCH_SCALE_SIZES (e.g. "100 1000 10000"), BENCH_SYNAPSE_LOG (its access log, to count the
# requests), BENCH_FLOOR_MESSAGES (scripts/bench_floor.py), BENCH_TOKEN (the session's token,
# for the floor).

def micros [] { into int | $in // 1000 }

# The /messages requests Synapse has logged so far.
def requests [] {
    open --raw $env.BENCH_SYNAPSE_LOG | lines | where $it =~ 'Processed request.*"GET /_matrix/client/v3/rooms/[^ ]*/messages' | length
}

# Runs `work` with the plugin's peak memory reset first: [took µs, requests, peak KiB].
def measured [work: closure] {
    matrix config | ignore
    let pid = plugin list | where name == matrix | get pid.0
    ^sh -c $'echo 5 > /proc/($pid)/clear_refs'
    let before = requests
    let took = timeit { do $work } | micros
    let peak = open $'/proc/($pid)/status' | lines | parse --regex 'VmHWM:\s+(?<kb>\d+) kB' | get kb.0 | into int
    {micros: $took, requests: ((requests) - $before), peak_kib: $peak}
}

def main [] {
    let room = $env.BENCH_SCALE_ROOM
    let sizes = $env.BENCH_SCALE_SIZES | split row ' ' | into int
    let messages = $sizes | each {|n|
        # Synapse answers a history faster the second time: warm it first, for both.
        ^python3 $env.BENCH_FLOOR_MESSAGES $env.BENCH_URL $room $n | ignore
        let plugin = measured { matrix messages --session bench $room --limit $n | ignore }
        let floor = ^python3 $env.BENCH_FLOOR_MESSAGES $env.BENCH_URL $room $n | into int
        {n: $n, plugin: $plugin, floor_micros: $floor}
    }
    let largest = $sizes | math max
    let first5 = measured { matrix messages --session bench $room --limit $largest | first 5 | ignore }
    {messages: $messages, first5: ($first5 | insert n $largest)} | to json
}
