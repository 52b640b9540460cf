# recall's desktop in English. Every message here has its Spanish twin in es.ftl with the
# same variables (a test checks it). Selectors take the API's words as keys.

## Status bar

agent-voice-ready = Voice: Ready
agent-voice-not-ready = Voice: Not Ready
agent-web-ready = Web callback: Ready
agent-web-not-ready = Web callback: Not Ready
status-store-offline = Team database unreachable: { $count } changes kept on this computer
status-no-account = No account: direct calls only
registration-line = { $account }: { $state ->
        [registered] registered
        [registering] registering
        [failed] failed
       *[unregistered] unregistered
    }{ $transport ->
        [none] {""}
       *[other] {" "}over { $transport }
    }
registration-server = Server: { $server }
voicemail-waiting = ✉ { $new ->
        [0] messages waiting
        [one] 1 new voicemail
       *[other] { $new } new voicemails
    }
voicemail-detail = { $account }: { $new } new, { $old } old
status-connecting = Connecting…
status-levels = Mic { $mic } dB · Headset { $headset } dB
tray-ready = Ready
tray-show = Show recall
tray-quit = Quit
settings-open = Settings
notice-dismiss = Dismiss
refused = Could not { $what }: { $reason }

## Lists

panel-resize = Resize panel
dial-heading = Dial
dial-hint = Number or SIP URI
dial-field = Number to dial
dial-button = Dial
dial-pad = Dial pad
current-heading = Current
current-empty = Nothing in hand
call-row = { $id } { $remote } ({ $state ->
        [ringing] Ringing
        [dialing] Dialing
        [connected] Connected
        [held] On hold
       *[ended] Ended
    })
history-heading = History
history-search = Search history
history-empty = No closed interactions yet
interaction-summary = { $id } { $kind ->
        [immediate] Immediate callback
        [delayed] Delayed callback
        [scheduled] Scheduled callback
        [preview] Preview callback
        [web] Web callback
       *[call] Call
    } { $who } ({ $state ->
        [notified] ringing
        [previewing] preview
        [dialing] dialing
        [connected] connected
        [held] on hold
        [ended] ended
        [rejected] rejected
        [missed] missed
       *[done] done
    })

## Toast

toast-title = { $kind ->
        [immediate] Incoming immediate callback
        [delayed] Incoming delayed callback
        [scheduled] Incoming scheduled callback
        [preview] Incoming preview callback
        [web] Incoming web callback
       *[call] Incoming call
    }
toast-number = Customer number: { $number }
field-line = { $label }: { $value }
toast-countdown = Returns to the queue in { $seconds } s
toast-accept = Accept
toast-reject = Reject

## Work area

idle-heading = Ready for the next callback
idle-hint = Incoming callbacks appear at the top right. F5 accepts, F6 rejects.
timeline-heading = History of this interaction
timeline-line = { $time }  { $what }
status-transferring = Transferring ({ $progress ->
        [trying] trying
        [accepted] accepted
       *[ringing] ringing
    }); the customer is on hold
status-transferred = Transferred to { $target } ({ $outcome ->
        [confirmed] confirmed
       *[unconfirmed] unconfirmed
    })
status-ready-to-call = Ready to call
status-ringing = Ringing
status-dialing = Dialing
status-dialing-early-media = Dialing (early media playing)
status-held = On hold { $duration }
status-connected = Connected { $duration }
status-connected-muted = Connected { $duration } (muted)
status-ended = Ended
status-ended-as = Ended ({ $state ->
        [notified] ringing
        [previewing] preview
        [dialing] dialing
        [connected] connected
        [held] on hold
        [ended] ended
        [rejected] rejected
        [missed] missed
       *[done] done
    })
media-securing = securing the media (DTLS)…
media-encrypted = 🔒 encrypted ({ $keying } { $suite })
media-not-encrypted = NOT encrypted
media-relayed = media via TURN relay
media-direct = media direct (ICE)
media-lost = media lost
media-connecting = connecting the media (ICE)…

## Call actions

recording-on = ⏺ REC
recording-paused = ⏸ REC paused
recording-pause = Pause recording
recording-resume = Resume recording
recording-start = Record
recording-stop = Stop recording
call-hang-up = Hang up
call-resume = Resume
call-hold = Hold
call-mute = Mute
call-unmute = Unmute
call-transfer = Transfer
call-consult = Consult
call-conference = Conference
call-keypad = Keypad
interaction-call = Call
interaction-schedule = Schedule callback
interaction-reschedule = Reschedule
interaction-done = Mark done
done-needs-disposition = Choose a disposition first
done-needs-hang-up = Hang up first
participants = Participants
participant-line = { $remote } ({ $state ->
        [ringing] Ringing
        [dialing] Dialing
        [connected] Connected
        [held] On hold
       *[ended] Ended
    })
participant-copy-number = Copy number
participant-email = E-mail the contact
participant-complete-transfer = Complete transfer
participant-merge = Merge into conference
participant-hang-up = Hang up { $remote }
keypad-heading = Keypad (digits go to the interaction's history)
keypad-send = Send DTMF { $key }

## Case, callback and contact

case-heading = Case information
case-empty = No case data attached
case-unreadable = Some attached data could not be read; it is kept as received.
case-history-heading = Earlier in this case
case-history-loading = Looking up the case history…
case-history-empty = No earlier interactions with this customer
case-history-no-disposition = no disposition
case-history-line = { $agent } · { $disposition }
case-field-CaseID = Case
case-field-AccountNumber = Account
case-field-Language = Language
case-field-Reason = Reason
callback-heading = Callback information
callback-type = Type
callback-kind = { $kind ->
        [immediate] Immediate
        [delayed] Delayed
        [scheduled] Scheduled
        [preview] Preview
        [web] Web
       *[none] Not a callback
    }
callback-number = Number
callback-desired = Desired time
callback-desired-unreadable = { $raw } (unreadable)
callback-instructions = Instructions
callback-reason = Reason
callback-service = Service
weekday = { $day ->
        [0] Monday
        [1] Tuesday
        [2] Wednesday
        [3] Thursday
        [4] Friday
        [5] Saturday
       *[6] Sunday
    }
month = { $month ->
        [1] January
        [2] February
        [3] March
        [4] April
        [5] May
        [6] June
        [7] July
        [8] August
        [9] September
        [10] October
        [11] November
       *[12] December
    }
date-time = { $weekday } { $day } { $month } { $year }, { $time } (UTC{ $offset })
contact-heading = Contact
contact-none = No contact matches this number
contact-name = Name
contact-numbers = Numbers
contact-email = E-mail
contact-address = Address
contact-language = Language
contact-notes = Notes
contact-save = Save contact
contact-edit = Edit contact

## Disposition, note, responses

disposition-heading = Disposition
disposition-heading-required = Disposition (required)
disposition-resolved = Resolved
disposition-no_answer = No answer
disposition-busy = Busy
disposition-wrong_number = Wrong number
disposition-callback_rescheduled = Callback rescheduled
disposition-escalated = Escalated
note-heading = Note
note-hint = What was agreed
responses-heading = Responses
responses-search = Search responses
response-copy = Copy
response-email = E-mail
response-email-to = { $title } to { $email }

## Team Communicator

team-title = Team Communicator
team-transfer = Transfer to
team-consult = Consult with
team-conference = Conference in
team-hint = Name, number, queue or SIP URI
team-search = Search team
team-target = { $name } ({ $kind })
team-target-state = { $name } ({ $kind }) — { $state ->
        [idle] idle
        [ringing] ringing
        [on-a-call] on a call
        [offline] offline
       *[unknown] unknown
    }
target-kind-agent = agent
target-kind-queue = queue
target-kind-routing-point = routing point
team-recent = Recent: { $remote }
team-cancel = Cancel
team-call-typed = Call { $typed }

## Reschedule

reschedule-title = Schedule callback
reschedule-date = Date (YYYY-MM-DD)
reschedule-time = Time (HH:MM)
reschedule-zone = Time zone (Europe/Madrid or +01:00)
reschedule-number = New number (optional)
reschedule-personal = Personal callback (to me, not the queue)
reschedule-confirm = Schedule
reschedule-cancel = Cancel
zone-unknown = unknown time zone { $zone }: use an IANA name such as Europe/Madrid or an offset such as +01:00
zone-unreadable = the date or time is not valid: use 2026-12-24 and 09:30 (got { $typed })
zone-skipped = { $time } does not exist in { $zone }: the clocks go forward then (pick { $suggestion })
reschedule-refused = Cannot schedule the callback: { $reason }

## The interaction's history

timeline-notified = notified
timeline-accepted = accepted
timeline-rejected = rejected ({ $status })
timeline-missed = missed: { $reason }
timeline-dialing = dialing { $target }
timeline-connected = connected
timeline-held = held
timeline-resumed = resumed
timeline-dtmf = DTMF { $digits }
timeline-transferred = transferred to { $target }
timeline-transferred-how = transferred to { $target } ({ $how })
transfer-outcome = { $outcome ->
        [confirmed] confirmed
        [failed] failed
       *[unconfirmed] unconfirmed
    }
transfer-outcome-detail = { $outcome }: { $detail }
transfer-outcome-late = { $outcome }, after the call was released
timeline-conferenced = conferenced
timeline-recording-started = recording started: { $file }
timeline-recording = { $action ->
        [pause] recording paused
        [resume] recording resumed
        [stop] recording stopped
       *[other] recording { $action }
    }
timeline-rescheduled = rescheduled for { $when }
timeline-disposition = disposition { $disposition }
timeline-note = note saved
timeline-ended = ended
timeline-done = done

## Settings

settings-title = Settings
settings-tab-accounts = Accounts
settings-tab-audio = Audio
settings-tab-codecs = Codecs
settings-tab-callbacks = Callbacks
settings-tab-appearance = Appearance
appearance-theme = Theme
appearance-scale = Scale
theme = { $theme ->
        [light] Light
        [high_contrast] High contrast
       *[dark] Dark
    }
settings-language = Language
resize-right = Resize window right edge
resize-left = Resize window left edge
resize-bottom = Resize window bottom edge
resize-top = Resize window top edge
resize-bottom-right = Resize window bottom-right corner
resize-top-right = Resize window top-right corner
resize-bottom-left = Resize window bottom-left corner
resize-top-left = Resize window top-left corner
settings-close = Close
settings-save = Save
settings-saving = Saving…
settings-file = Saved in { $file }
settings-saved-to = Saved to { $file }
settings-saved-until-stop = Saved until recall stops
settings-saved = { $place }; in use now.
settings-saved-restart = { $place }; in use now, except { $things }: restart recall for them.
restart-the-sound-devices = the sound devices
restart-the-headset = the headset
restart-the-STUN-server-and-keep-alive-interval = the STUN server and keep-alive interval
account-no-name = (no name)
account-add = Add account
account-remove = Remove account
account-none = No account: calls go straight to SIP addresses. Add one to register at a PBX.
account-name = Name
account-name-hint = work
account-aor = Address (AOR)
account-aor-hint = sip:agent@pbx.example.com
account-display-name = Display name
account-display-name-hint = Ana at Support
account-registrar = Registrar
account-registrar-hint = sip:pbx.example.com (from the address)
account-transport = Transport
transport = { $transport ->
        [udp] UDP
        [tcp] TCP
        [tls] TLS (encrypted)
       *[auto] Automatic (DNS decides)
    }
account-proxy = Outbound proxy
account-proxy-hint = udp:192.0.2.10:5060 (the registrar)
account-username = User name
account-username-hint = (the address's user)
account-password = Password
account-expires = Registration lifetime (s)
account-expires-hint = 600
account-register = Register
account-dtmf = DTMF
dtmf-mode = { $mode ->
        [rfc4733] RFC 4733 only
        [info] SIP INFO
       *[auto] Automatic (RFC 4733, else SIP INFO)
    }
account-tls-ca = TLS trusted CAs (PEM file)
account-tls-ca-hint = (the system's, or [tls] ca)
account-tls-insecure = Accept any TLS certificate (lab only: anyone on the path can listen in)
account-mwi = Voicemail indicator (subscribe to the mailbox's message summary)
account-test = Test registration
account-test-waiting = Registering…
account-test-registered = Registered: { $detail }
account-test-failed = Not registered: { $detail }
network-heading = Network (every account; used from the next start)
network-stun = STUN server
network-stun-hint = 192.0.2.50:3478 (none)
network-keepalive = Keep-alive interval (s)
network-keepalive-hint = 30 (0: off)
audio-devices-problem = Sound devices: { $note }
audio-backend = recall runs with { $backend } audio now; the devices chosen here are used when it runs with sound devices (--audio device).
audio-microphone = Microphone
audio-headset = Headset
audio-ring = Ring device
audio-system-default = System default
audio-same-as-headset = Same as the headset
audio-microphone-level = Microphone level
audio-headset-level = Headset level
audio-silent = silent
audio-headset-buttons = Headset buttons and lights
audio-headset-auto = Automatic (the first telephony headset)
audio-off = off
audio-no-headset = No telephony headset is plugged in (USB HID, telephony page).
audio-processing = Microphone processing (applied when saved, during calls too):
audio-echo-cancellation = Echo cancellation (for speakers and open headsets)
audio-noise-suppression = Noise suppression (the room behind you)
audio-auto-gain = Automatic gain control (a steady voice level)
audio-test-tone = Play test tone
audio-test-tone-playing = Playing the test tone…
codecs-heading = Offered in this order; the first both sides have is used.
codec = { $codec ->
        [opus] Opus (wide-band, 48 kHz)
        [g722] G.722 (wide-band, 16 kHz)
        [pcmu] G.711 µ-law (PCMU)
        [pcma] G.711 A-law (PCMA)
       *[other] { $codec }
    }
codec-up = Up
codec-down = Down
codecs-opus-bitrate = Opus bitrate (bit/s)
codecs-opus-bitrate-hint = 24000
callbacks-reject-status = Reject sends status
callbacks-reject-status-hint = 486
callbacks-not-ready-status = While Not Ready, answer
sip-status = { $status ->
        [480] 480 Temporarily Unavailable
        [603] 603 Decline
       *[486] 486 Busy Here
    }
callbacks-preview-timeout = Preview timeout (s)
callbacks-preview-timeout-hint = empty: until the server gives up
callbacks-reject-on-timeout = When it times out, refuse the callback here (480) instead of letting it ring on
callbacks-auto-answer = Answer callbacks whose INVITE asks for auto-answer
callbacks-disposition-mandatory = Done needs a disposition
problem-no-codec = Codecs: offer at least one
problem-opus-bitrate = Opus bitrate { $typed } is not a number of bits per second (24000 is good for voice)
problem-reject-status = Reject status { $typed } is not a SIP status such as 486 or 603
problem-preview-timeout = Preview timeout { $typed } is not a number of seconds (leave it empty for none)
problem-stun-server = STUN server { $typed } is not IP:PORT, e.g. 192.0.2.50:3478 (leave it empty for none)
problem-keepalive = Keep-alive interval { $typed } is not a number of seconds (30 is usual; 0 turns keep-alives off)
problem-no-such-account = no such account
problem-lifetime = Account { $account }: registration lifetime { $typed } is not a number of seconds
