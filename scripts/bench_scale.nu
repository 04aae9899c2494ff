# The --scale part of scripts/bench: how each command's cost grows with its work, beside its
# floor measured in the same run. Run by the real nu with the plugin registered and the saved
# sessions `bench` and `roomy`. Prints one JSON record.
#
# Environment: BENCH_URL (Synapse), BENCH_USER (@bench), MATRIX_PASSWORD, BENCH_TOKEN (bench's
# token, for the floors), BENCH_SYNAPSE_LOG (its access log: requests and bytes are counted
# there), BENCH_RUNS (samples of the quick cases), BENCH_SCRIPTS (the scripts/ folder),
# BENCH_FLOOR (benches/keepalive), BENCH_RELAY and BENCH_RELAY_LOG (a counting relay to Synapse).
# Per case, the sizes: BENCH_SCALE_SIZES and BENCH_SCALE_ROOM (a room of `bench` with the
# largest number of messages), BENCH_ROOMS_SIZES and BENCH_ROOMS_TOKEN (roomy's token),
# BENCH_SEND_SIZES, BENCH_SESSION_SIZES.

def micros [] { into int | $in // 1000 }

def sizes [name: string] { $env | get $name | split row ' ' | into int }

def --wrapped python [script: string, ...args: string] { ^python3 ($env.BENCH_SCRIPTS | path join $script) ...$args }

# The requests of `who` that Synapse has logged so far whose line matches `pattern`: how many,
# and the bytes of their answers.
def served [who: string, pattern: string = ''] {
    let lines = open --raw $env.BENCH_SYNAPSE_LOG | lines
        | where $it =~ $'\{($who)\} Processed request' and $it =~ $pattern
    {requests: ($lines | length), bytes: ($lines | parse --regex ' (?<b>\d+)B \d{3} ' | get b | into int | append 0 | math sum)}
}

def plugin_pid [] { matrix config | ignore; plugin list | where name == matrix | get pid.0 }

# Runs `work` `runs` times with the plugin's peak memory reset first: the median µs, the
# requests and answer bytes of `who` per run, the peak KiB.
def measured [who: string, runs: int, work: closure] {
    let pid = plugin_pid
    ^sh -c $'echo 5 > /proc/($pid)/clear_refs'
    let before = served $who
    let took = 1..$runs | each { null | timeit { do $work } | micros } | math median
    sleep 200ms  # Synapse logs a request just after its answer
    let after = served $who
    let peak = open $'/proc/($pid)/status' | lines | parse --regex 'VmHWM:\s+(?<kb>\d+) kB' | get kb.0 | into int
    {micros: $took, requests: (($after.requests - $before.requests) / $runs), bytes: (($after.bytes - $before.bytes) // $runs), peak_kib: $peak}
}

# `matrix messages` over a long history.
def messages_case [] {
    let room = $env.BENCH_SCALE_ROOM
    let sizes = sizes BENCH_SCALE_SIZES
    let messages = $sizes | each {|n|
        # A short read is timed a few times (median), the longest once.
        let runs = if $n > 1000 { 1 } else { [$env.BENCH_RUNS 5] | into int | math min }
        # Synapse answers a history faster the second time: warm it first, for both.
        python bench_floor.py $env.BENCH_URL $room ($n | into string) | ignore
        let plugin = measured '@bench:localhost' $runs { matrix messages --session bench $room --limit $n | ignore }
        let floor = 1..$runs | each { python bench_floor.py $env.BENCH_URL $room ($n | into string) | into int } | math median
        {n: $n, plugin: $plugin, floor_micros: $floor}
    }
    let largest = $sizes | math max
    let first5 = measured '@bench:localhost' 1 { matrix messages --session bench $room --limit $largest | first 5 | ignore }
    {messages: $messages, first5: ($first5 | insert n $largest)}
}

# `matrix rooms` on an account in more and more rooms, beside the server's three ways to
# answer the same question.
def rooms_case [] {
    let runs = [$env.BENCH_RUNS 5] | into int | math min
    sizes BENCH_ROOMS_SIZES | each {|n|
        with-env {BENCH_TOKEN: $env.BENCH_ROOMS_TOKEN} { python bench_rooms.py create $env.BENCH_URL ($n | into string) }
        let plugin = measured '@roomy:localhost' $runs { matrix rooms --session roomy | ignore }
        let floors = with-env {BENCH_TOKEN: $env.BENCH_ROOMS_TOKEN} {
            python bench_rooms.py floor $env.BENCH_URL ($runs | into string) | from json
        }
        {n: $n, plugin: $plugin, floors: $floors, rows: (matrix rooms --session roomy | length)}
    }
}

# `matrix send` n times into a room named by its alias, from one session, beside n PUTs on one
# kept-alive connection: alone, each after a check of the room's encryption, and with a /sync
# long-poll open meanwhile. Each in a room of its own: Synapse sends slower into a longer room.
def send_case [] {
    sizes BENCH_SEND_SIZES | each {|n|
        let alias = $'send-($n)-(random chars -l 6)'
        matrix api createRoom --session bench --data {room_alias_name: $alias} | ignore
        let puts = served '@bench:localhost' '"PUT /_matrix/client/v3/rooms/[^ ]*/send/'
        let plugin = measured '@bench:localhost' 1 {
            for i in 1..$n { matrix send --session bench $'#($alias):localhost' $'message ($i)' | ignore }
        }
        let sent = (served '@bench:localhost' '"PUT /_matrix/client/v3/rooms/[^ ]*/send/').requests - $puts.requests
        let rooms = 1..3 | each { matrix api createRoom --session bench --data {} | get room_id }
        # The plugin's room watch (a /sync long-poll) would go on for a while: stop it, so that
        # only the floors' own requests reach the server while they are timed.
        plugin stop matrix
        let floors = [plain checked watched] | zip $rooms | each {|pair|
            let way = $pair.0
            let room = $pair.1
            let took = with-env {BENCH_SENDER_TOKEN: $env.BENCH_TOKEN} {
                python bench_send.py $env.BENCH_URL $room ($n | into string) --timed $way | into int
            }
            {$way: $took}
        } | into record
        {n: $n, plugin: ($plugin | insert sends $sent), floors: $floors}
    }
}

def accepted [] { open --raw $env.BENCH_RELAY_LOG | lines | where $it starts-with 'accepted' | length }

# Many saved sessions (of one user, each its own device, all at the relay): `matrix session
# list`, and a whoami for each with par-each.
def sessions_case [] {
    let runs = [$env.BENCH_RUNS 5] | into int | math min
    sizes BENCH_SESSION_SIZES | each {|n|
        let have = matrix session list | where name starts-with many | length
        for i in ($have + 1)..$n {
            $env.MATRIX_PASSWORD | matrix login $env.BENCH_USER -H $env.BENCH_URL | get access_token
                | matrix token reveal | matrix token import -H $env.BENCH_RELAY --save $'many($i)' | ignore
        }
        let file = $env.XDG_CONFIG_HOME | path join nu_plugin_matrix sessions.json
        let list = measured '@bench:localhost' $runs { matrix session list | ignore }
        let list_floor = 1..$runs | each { timeit { open --raw $file | from json | ignore } | micros } | math median
        let names = matrix session list | where name starts-with many | get name
        # Warm, as the floor is: the plugin's connection to the relay is made before the clock.
        matrix whoami --session ($names | first) | ignore
        let before = accepted
        let par = measured '@bench:localhost' 1 { matrix session list | where name in $names | par-each { matrix whoami --session $in.name } | ignore }
        let connections = (accepted) - $before
        let floor = with-env {MATRIX_TOKEN: $env.BENCH_TOKEN} { ^$env.BENCH_FLOOR floor $env.BENCH_RELAY ($n | into string) }
            | lines | where $it starts-with 'raw ' | first | split row ' ' | skip 1 | into int | math sum
        {n: $n, sessions: (matrix session list | length), list: $list, list_floor_micros: $list_floor,
         par_each: ($par | insert connections $connections), whoami_floor_micros: $floor}
    }
}

def main [] {
    let messages = messages_case
    {
        messages: $messages.messages,
        first5: $messages.first5,
        rooms: (rooms_case),
        send: (send_case),
        sessions: (sessions_case),
    } | to json
}
