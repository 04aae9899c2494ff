# A bot in one pipeline: it joins the rooms it is invited to and answers !ping with pong, until
# stopped (Ctrl-C, or a signal from a service manager).
#
#   plugin use matrix
#   nu examples/bot.nu bot          # the name of a saved session (`matrix session list`)
#
# One `matrix listen` gives both: invitations (rows of type `invite`) and messages. With
# `--since saved`, a bot that was down answers what came meanwhile, each message once: the saved
# session keeps where its listener got (give each bot process a saved session of its own).
#
# A failure to answer (a room where the bot may not post, a rate limit that outlasts the retry,
# a room that is gone) is said on stderr, and the bot goes on with the next event.
def main [
    session: string = "bot"  # the saved session the bot runs as
] {
    matrix listen --session $session --invites --since saved
    | each {|event|
        try {
            if $event.type == invite {
                $event | matrix join --session $session | ignore
                print -e $"bot: joined ($event.room_id)"
            } else if $event.msgtype == 'm.text' and $event.body == '!ping' {
                # A notice: bots do not answer notices, so two bots never loop.
                'pong' | matrix send $event.room_id --notice --session $session | ignore
            }
        } catch {|err|
            print -e $"bot: could not answer in ($event.room_id): ($err.msg)"
        }
    }
    | ignore
}
