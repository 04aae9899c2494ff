# A bot in one pipeline: it joins the rooms it is invited to, marks each !ping with 👀 and
# replies pong to it, and answers !report with a file, until stopped (Ctrl-C, or a signal from a service manager).
#
#   plugin use matrix
#   nu examples/bot.nu bot          # the name of a saved session (`matrix session list`)
#
# One `matrix listen` gives both: invitations (rows of type `invite`) and messages. With
# `--since saved --ack`, a bot that was down, crashed or was killed answers what came meanwhile:
# the saved session keeps the place after the events it acked (`matrix listen ack`), so an event
# it did not finish comes again (give each bot process a saved session of its own: a second
# listener of one is refused). An event may then come twice; each answer to a row is sent under
# a transaction ID derived from the row and the answer, so the homeserver sends it once.
#
# A failure to answer (a room where the bot may not post, a rate limit that outlasts the retry,
# a room that is gone) is said on stderr, and the bot goes on with the next event.
def main [
    session: string = "bot"  # the saved session the bot runs as
] {
    matrix listen --session $session --invites --since saved --ack
    | each {|event|
        try {
            if $event.type == invite {
                $event | matrix join --session $session | ignore
                print -e $"bot: joined ($event.room_id)"
            } else if $event.edits != null {
                # An edit: left alone (the message it edits was answered, or not, as it
                # came). A reply or a reaction to an edit's row goes to the message it edits,
                # as Element's do.
            } else if $event.msgtype == 'm.text' and $event.body == '!ping' {
                # The row is what is answered: the room and the event come from it.
                $event | matrix react 👀 --session $session | ignore
                # A reply (in the !ping's thread, if it is in one), as a notice: bots do not
                # answer notices, so two bots never loop.
                $event | matrix send pong --reply --notice --session $session | ignore
            } else if $event.msgtype == 'm.text' and $event.body == '!report' {
                # A file: what is on the pipeline, named; encrypted in an encrypted room.
                # A reply to the !report, so that a repeat after a crash is sent once.
                sys host | to json | matrix send $event.room_id --file host.json --reply-to $event.event_id --session $session | ignore
            }
        } catch {|err|
            print -e $"bot: could not answer in ($event.room_id): ($err.msg)"
        }
        # Done with it, answered or not: it will not come again.
        $event | matrix listen ack | ignore
    }
    | ignore
}
