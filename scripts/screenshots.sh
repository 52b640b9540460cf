#!/usr/bin/env bash
# Takes the README's screenshots of the desktop under Xvfb at 1280x800: a callback ringing in,
# a connected callback being worked, a preview. SIPp plays the callback server; the control API
# accepts (the window shows what the core does, whoever asked).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_packages xvfb x11-apps imagemagick sip-tester curl
ensure_rust
cargo build --locked --bin recall

work=$(mktemp -d)
display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $agent $xvfb 2>/dev/null || true; pkill -f "sipp.*$work" 2>/dev/null || true' EXIT
sleep 1

cat > "$work/desk.toml" <<'TOML'
[callbacks]
disposition_mandatory = true
TOML
DISPLAY=$display target/debug/recall desktop --config "$work/desk.toml" \
    --listen udp:127.0.0.1:25090 --control 127.0.0.1:28090 \
    --db "$work/recall.db" --seed fixtures/demo >"$work/recall.log" 2>&1 &
agent=$!
sleep 3

# A longer callback with more case data, of a given type.
scenario() {
    sed -e "s/X-Genesys-_callback_type: scheduled/X-Genesys-_callback_type: $1/" \
        -e 's|<pause milliseconds="2000"/>|<pause milliseconds="60000"/>|' \
        -e 's|      X-Genesys-Language: en|      X-Genesys-Language: en\n      X-Genesys-CaseID: 4711\n      X-Genesys-AccountNumber: 88-2034-17\n      X-Genesys-Reason: Router%20replacement\n      X-Genesys-_instructions: Confirm%20the%20delivery%20address%20first|' \
        fixtures/sipp/uac_callback.xml >"$work/$1.xml"
    sipp -sf "$work/$1.xml" 127.0.0.1:25090 -i 127.0.0.1 -p "$2" -m 1 -nostdin -timeout 90 \
        >/dev/null 2>&1 &
}
shot() {
    sleep 1.5
    DISPLAY=$display xwd -root -silent | /usr/bin/convert xwd:- "assets/screenshots/$1.png"
    echo "assets/screenshots/$1.png"
}

scenario scheduled 25091
sleep 1
shot toast
curl -s -X POST http://127.0.0.1:28090/v1/interactions/i-1/accept >/dev/null
curl -s -X POST http://127.0.0.1:28090/v1/calls/c-1/dtmf -H 'content-type: application/json' \
    -d '{"digits": "12#"}' >/dev/null
curl -s -X POST http://127.0.0.1:28090/v1/interactions/i-1/note -H 'content-type: application/json' \
    -d '{"text": "Customer confirmed the new address; router ships Friday."}' >/dev/null
sleep 3
shot connected
curl -s -X POST http://127.0.0.1:28090/v1/calls/c-1/hangup >/dev/null
curl -s -X POST http://127.0.0.1:28090/v1/interactions/i-1/disposition \
    -H 'content-type: application/json' -d '{"code": "resolved"}' >/dev/null
curl -s -X POST http://127.0.0.1:28090/v1/interactions/i-1/done >/dev/null

scenario preview 25092
sleep 1
curl -s -X POST http://127.0.0.1:28090/v1/interactions/i-2/accept >/dev/null
shot preview
