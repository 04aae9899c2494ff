# Log a bot in and write its access token to a file that only its owner can read.
#
#   plugin use matrix
#   nu examples/login_bot.nu @bot:example.org --homeserver https://matrix.example.org --out bot.token
#
# The password comes from $env.MATRIX_PASSWORD, or else from a hidden prompt. The token file is
# created empty with mode 0600 before the token goes in, so it is never readable by others.
# Prints the session without its token.
def main [
    user: string               # the bot, e.g. @bot:example.org
    --homeserver (-H): string  # the homeserver's base URL
    --out: path = "bot.token"  # where to write the token
    --device-id: string = "BOT" # a fixed device ID, so logging in again reuses the device
] {
    let password = if "MATRIX_PASSWORD" in $env {
        $env.MATRIX_PASSWORD
    } else {
        input -s $"Password for ($user): "
    }
    let session = if $homeserver == null {
        $password | matrix login $user --device-id $device_id
    } else {
        $password | matrix login $user --homeserver $homeserver --device-id $device_id
    }
    ^install -m 600 /dev/null $out
    $session.access_token | matrix token reveal | save --force $out
    $session | reject access_token | insert token_file ($out | path expand)
}
