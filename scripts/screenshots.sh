#!/usr/bin/env bash
# Takes the README's screenshots of `recall demo` under Xvfb at 1280x800: a callback ringing in,
# a connected callback being worked, a preview, the Settings window; then the demo again in
# Spanish (`--language es`) for the toast and the connected callback (toast-es.png,
# connected-es.png). The demo's own PBX rings the callbacks in; the control API plays the agent
# (the window shows what the core does, whoever asked).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_packages xvfb x11-apps imagemagick xdotool curl pkg-config libasound2-dev libopus-dev gcc
ensure_rust
cargo build --locked --bin recall

display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
demo=
trap 'kill $demo $xvfb 2>/dev/null || true' EXIT
sleep 1
api=127.0.0.1:28090

post() { curl -s -X POST "http://$api/v1/$1" -H 'content-type: application/json' -d "${2:-}" >/dev/null; }
state() { curl -s "http://$api/v1/interactions/$1" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p' | head -1; }
wait_for() { for _ in $(seq 200); do [ "$(state "$1")" = "$2" ] && return; sleep 0.2; done; echo "$1 never $2" >&2; exit 1; }
shot() {
    sleep 1.5
    DISPLAY=$display xwd -root -silent | /usr/bin/convert xwd:- "assets/screenshots/$1.png"
    echo "assets/screenshots/$1.png"
}

# The first callback ringing in, then worked: DTMF, a note. $1: the language, $2: the
# screenshots' suffix, $3: the note.
toast_and_connected() {
    DISPLAY=$display target/debug/recall demo --audio null --control $api --language "$1" >/dev/null 2>&1 &
    demo=$!
    wait_for i-1 notified
    shot "toast$2"
    post interactions/i-1/accept
    wait_for i-1 connected
    call=$(curl -s "http://$api/v1/interactions/i-1" | sed -n 's/.*"call_id":"\(c-[0-9]*\)".*/\1/p')
    post "calls/$call/dtmf" '{"digits": "12#"}'
    post interactions/i-1/note "{\"text\": \"$3\"}"
    sleep 3
    shot "connected$2"
}

toast_and_connected es -es "El cliente confirmó la nueva dirección; el router sale el viernes."
# The window ends on SIGTERM once its core has stopped; it is given five seconds.
kill $demo
for _ in $(seq 50); do kill -0 $demo 2>/dev/null || break; sleep 0.1; done
kill -9 $demo 2>/dev/null || true
sleep 1
toast_and_connected en "" "Customer confirmed the new address; router ships Friday."
post "calls/$call/hangup"
post interactions/i-1/disposition '{"code": "resolved"}'
post interactions/i-1/done
wait_for i-2 notified
post interactions/i-2/reject
wait_for i-3 notified
post interactions/i-3/accept
wait_for i-3 previewing
shot preview

# The Settings window, opened from the status bar, an account being added (xdotool clicks at
# the places the 1280x800 layout puts them).
export DISPLAY=$display
xdotool windowfocus --sync "$(xdotool search --name '^recall$' | head -1)"
click() { xdotool mousemove "$1" "$2" click 1; sleep 0.5; }
type_into() { click "$1" "$2"; xdotool key ctrl+a; xdotool type --delay 20 "$3"; }
click 719 12
sleep 1
click 66 99
type_into 315 121 "work"
type_into 315 144 "sip:ana@pbx.example.com"
type_into 315 167 "Ana Ruiz (Support)"
type_into 315 283 "secret"
shot settings
