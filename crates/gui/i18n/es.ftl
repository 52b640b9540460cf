# El escritorio de recall en español. Cada mensaje tiene su gemelo inglés en en.ftl con las
# mismas variables (una prueba lo comprueba). Los selectores usan las palabras de la API.

## Barra de estado

agent-voice-ready = Voz: Disponible
agent-voice-not-ready = Voz: No disponible
agent-web-ready = Devolución web: Disponible
agent-web-not-ready = Devolución web: No disponible
status-store-offline = Base de datos del equipo inaccesible: { $count } cambios guardados en este equipo
status-no-account = Sin cuenta: solo llamadas directas
registration-line = { $account }: { $state ->
        [registered] registrada
        [registering] registrando
        [failed] error
       *[unregistered] sin registrar
    }{ $transport ->
        [none] {""}
       *[other] {" "}por { $transport }
    }
registration-server = Servidor: { $server }
voicemail-waiting = ✉ { $new ->
        [0] mensajes en espera
        [one] 1 mensaje de voz nuevo
       *[other] { $new } mensajes de voz nuevos
    }
voicemail-detail = { $account }: { $new } nuevos, { $old } antiguos
status-connecting = Conectando…
status-levels = Micro { $mic } dB · Auricular { $headset } dB
tray-ready = Disponible
tray-show = Mostrar recall
tray-quit = Salir
settings-open = Ajustes
notice-dismiss = Cerrar
refused = No se pudo ({ $what }): { $reason }

## Listas

panel-resize = Redimensionar panel
dial-heading = Marcar
dial-hint = Número o URI SIP
dial-field = Número que marcar
dial-button = Llamar
dial-pad = Teclado de marcación
current-heading = En curso
current-empty = Nada entre manos
call-row = { $id } { $remote } ({ $state ->
        [ringing] Sonando
        [dialing] Marcando
        [connected] Conectada
        [held] En espera
       *[ended] Finalizada
    })
history-heading = Historial
history-search = Buscar en el historial
history-empty = Aún no hay interacciones cerradas
interaction-summary = { $id } { $kind ->
        [immediate] Devolución inmediata
        [delayed] Devolución diferida
        [scheduled] Devolución programada
        [preview] Devolución con vista previa
        [web] Devolución web
       *[call] Llamada
    } { $who } ({ $state ->
        [notified] sonando
        [previewing] vista previa
        [dialing] marcando
        [connected] conectada
        [held] en espera
        [ended] finalizada
        [rejected] rechazada
        [missed] perdida
       *[done] terminada
    })

## Aviso

toast-title = { $kind ->
        [immediate] Devolución inmediata entrante
        [delayed] Devolución diferida entrante
        [scheduled] Devolución programada entrante
        [preview] Devolución con vista previa entrante
        [web] Devolución web entrante
       *[call] Llamada entrante
    }
toast-number = Número del cliente: { $number }
field-line = { $label }: { $value }
toast-countdown = Vuelve a la cola en { $seconds } s
toast-accept = Aceptar
toast-reject = Rechazar

## Área de trabajo

idle-heading = Listo para la próxima devolución
idle-hint = Las devoluciones entrantes aparecen arriba a la derecha. F5 acepta, F6 rechaza.
timeline-heading = Historia de esta interacción
timeline-line = { $time }  { $what }
status-transferring = Transfiriendo ({ $progress ->
        [trying] intentando
        [accepted] aceptada
       *[ringing] sonando
    }); el cliente está en espera
status-transferred = Transferida a { $target } ({ $outcome ->
        [confirmed] confirmada
       *[unconfirmed] sin confirmar
    })
status-ready-to-call = Lista para llamar
status-ringing = Sonando
status-dialing = Marcando
status-dialing-early-media = Marcando (suena el medio temprano)
status-held = En espera { $duration }
status-connected = Conectada { $duration }
status-connected-muted = Conectada { $duration } (silenciada)
status-ended = Finalizada
status-ended-as = Finalizada ({ $state ->
        [notified] sonando
        [previewing] vista previa
        [dialing] marcando
        [connected] conectada
        [held] en espera
        [ended] finalizada
        [rejected] rechazada
        [missed] perdida
       *[done] terminada
    })
media-securing = protegiendo el audio (DTLS)…
media-encrypted = 🔒 cifrada ({ $keying } { $suite })
media-not-encrypted = SIN cifrar
media-relayed = audio por relé TURN
media-direct = audio directo (ICE)
media-lost = audio perdido
media-connecting = conectando el audio (ICE)…

## Acciones de llamada

recording-on = ⏺ GRAB
recording-paused = ⏸ GRAB en pausa
recording-pause = Pausar grabación
recording-resume = Reanudar grabación
recording-start = Grabar
recording-stop = Detener grabación
call-hang-up = Colgar
call-resume = Recuperar
call-hold = Retener
call-mute = Silenciar
call-unmute = Activar micro
call-transfer = Transferir
call-consult = Consultar
call-conference = Conferencia
call-keypad = Teclado
interaction-call = Llamar
interaction-schedule = Programar devolución
interaction-reschedule = Reprogramar
interaction-done = Marcar como terminada
done-needs-disposition = Elija primero una tipificación
done-needs-hang-up = Cuelgue primero
participants = Participantes
participant-line = { $remote } ({ $state ->
        [ringing] Sonando
        [dialing] Marcando
        [connected] Conectada
        [held] En espera
       *[ended] Finalizada
    })
participant-copy-number = Copiar número
participant-email = Enviar correo al contacto
participant-complete-transfer = Completar transferencia
participant-merge = Unir en conferencia
participant-hang-up = Colgar a { $remote }
keypad-heading = Teclado (los dígitos van a la historia de la interacción)
keypad-send = Enviar DTMF { $key }

## Caso, devolución y contacto

case-heading = Información del caso
case-empty = No hay datos del caso adjuntos
case-unreadable = Algunos datos adjuntos no se pudieron leer; se guardan tal como llegaron.
case-history-heading = Antes en este caso
case-history-loading = Buscando el historial del caso…
case-history-empty = No hay interacciones anteriores con este cliente
case-history-no-disposition = sin tipificación
case-history-line = { $agent } · { $disposition }
case-field-CaseID = Caso
case-field-AccountNumber = Cuenta
case-field-Language = Idioma
case-field-Reason = Motivo
callback-heading = Información de la devolución
callback-type = Tipo
callback-kind = { $kind ->
        [immediate] Inmediata
        [delayed] Diferida
        [scheduled] Programada
        [preview] Con vista previa
        [web] Web
       *[none] No es una devolución
    }
callback-number = Número
callback-desired = Hora deseada
callback-desired-unreadable = { $raw } (ilegible)
callback-instructions = Instrucciones
callback-reason = Motivo
callback-service = Servicio
weekday = { $day ->
        [0] lunes
        [1] martes
        [2] miércoles
        [3] jueves
        [4] viernes
        [5] sábado
       *[6] domingo
    }
month = { $month ->
        [1] enero
        [2] febrero
        [3] marzo
        [4] abril
        [5] mayo
        [6] junio
        [7] julio
        [8] agosto
        [9] septiembre
        [10] octubre
        [11] noviembre
       *[12] diciembre
    }
date-time = { $weekday }, { $day } de { $month } de { $year }, { $time } (UTC{ $offset })
contact-heading = Contacto
contact-none = Ningún contacto tiene este número
contact-name = Nombre
contact-numbers = Números
contact-email = Correo electrónico
contact-address = Dirección
contact-language = Idioma
contact-notes = Notas
contact-save = Guardar contacto
contact-edit = Editar contacto

## Tipificación, nota, respuestas

disposition-heading = Tipificación
disposition-heading-required = Tipificación (obligatoria)
disposition-resolved = Resuelto
disposition-no_answer = No contesta
disposition-busy = Ocupado
disposition-wrong_number = Número equivocado
disposition-callback_rescheduled = Devolución reprogramada
disposition-escalated = Escalado
note-heading = Nota
note-hint = Lo acordado
responses-heading = Respuestas
responses-search = Buscar respuestas
response-copy = Copiar
response-email = Correo
response-email-to = { $title } a { $email }

## Team Communicator

team-title = Team Communicator
team-transfer = Transferir a
team-consult = Consultar con
team-conference = Añadir a la conferencia
team-hint = Nombre, número, cola o URI SIP
team-search = Buscar en el equipo
team-target = { $name } ({ $kind })
team-target-state = { $name } ({ $kind }) — { $state ->
        [idle] libre
        [ringing] sonando
        [on-a-call] en una llamada
        [offline] desconectado
       *[unknown] desconocido
    }
target-kind-agent = agente
target-kind-queue = cola
target-kind-routing-point = punto de enrutamiento
team-recent = Reciente: { $remote }
team-cancel = Cancelar
team-call-typed = Llamar a { $typed }

## Reprogramar

reschedule-title = Programar devolución
reschedule-date = Fecha (AAAA-MM-DD)
reschedule-time = Hora (HH:MM)
reschedule-zone = Zona horaria (Europe/Madrid o +01:00)
reschedule-number = Número nuevo (opcional)
reschedule-personal = Devolución personal (para mí, no para la cola)
reschedule-confirm = Programar
reschedule-cancel = Cancelar
zone-unknown = zona horaria desconocida { $zone }: use un nombre IANA como Europe/Madrid o un desfase como +01:00
zone-unreadable = la fecha o la hora no son válidas: use 2026-12-24 y 09:30 (se escribió { $typed })
zone-skipped = { $time } no existe en { $zone }: los relojes se adelantan entonces (elija { $suggestion })
reschedule-refused = No se puede programar la devolución: { $reason }

## La historia de la interacción

timeline-notified = notificada
timeline-accepted = aceptada
timeline-rejected = rechazada ({ $status })
timeline-missed = perdida: { $reason }
timeline-dialing = marcando { $target }
timeline-connected = conectada
timeline-held = retenida
timeline-resumed = recuperada
timeline-dtmf = DTMF { $digits }
timeline-transferred = transferida a { $target }
timeline-transferred-how = transferida a { $target } ({ $how })
transfer-outcome = { $outcome ->
        [confirmed] confirmada
        [failed] fallida
       *[unconfirmed] sin confirmar
    }
transfer-outcome-detail = { $outcome }: { $detail }
transfer-outcome-late = { $outcome }, después de liberar la llamada
timeline-conferenced = en conferencia
timeline-recording-started = grabación iniciada: { $file }
timeline-recording = { $action ->
        [pause] grabación en pausa
        [resume] grabación reanudada
        [stop] grabación detenida
       *[other] grabación: { $action }
    }
timeline-rescheduled = reprogramada para { $when }
timeline-disposition = tipificación { $disposition }
timeline-note = nota guardada
timeline-ended = finalizada
timeline-done = terminada

## Ajustes

settings-title = Ajustes
settings-tab-accounts = Cuentas
settings-tab-audio = Audio
settings-tab-codecs = Códecs
settings-tab-callbacks = Devoluciones
settings-tab-appearance = Apariencia
appearance-theme = Tema
appearance-scale = Escala
theme = { $theme ->
        [light] Claro
        [high_contrast] Alto contraste
       *[dark] Oscuro
    }
settings-language = Idioma
resize-right = Redimensionar ventana: borde derecho
resize-left = Redimensionar ventana: borde izquierdo
resize-bottom = Redimensionar ventana: borde inferior
resize-top = Redimensionar ventana: borde superior
resize-bottom-right = Redimensionar ventana: esquina inferior derecha
resize-top-right = Redimensionar ventana: esquina superior derecha
resize-bottom-left = Redimensionar ventana: esquina inferior izquierda
resize-top-left = Redimensionar ventana: esquina superior izquierda
settings-close = Cerrar
settings-save = Guardar
settings-saving = Guardando…
settings-file = Guardado en { $file }
settings-saved-to = Guardado en { $file }
settings-saved-until-stop = Guardado hasta que recall se cierre
settings-saved = { $place }; en uso ya.
settings-saved-restart = { $place }; en uso ya, salvo { $things }: reinicie recall para ello.
restart-the-sound-devices = los dispositivos de sonido
restart-the-headset = los auriculares
restart-the-STUN-server-and-keep-alive-interval = el servidor STUN y el intervalo de keep-alive
account-no-name = (sin nombre)
account-add = Añadir cuenta
account-remove = Quitar cuenta
account-none = Sin cuenta: las llamadas van directamente a direcciones SIP. Añada una para registrarse en una centralita.
account-name = Nombre
account-name-hint = trabajo
account-aor = Dirección (AOR)
account-aor-hint = sip:agente@pbx.example.com
account-display-name = Nombre visible
account-display-name-hint = Ana de Soporte
account-registrar = Registrador
account-registrar-hint = sip:pbx.example.com (de la dirección)
account-transport = Transporte
transport = { $transport ->
        [udp] UDP
        [tcp] TCP
        [tls] TLS (cifrado)
       *[auto] Automático (lo decide el DNS)
    }
account-proxy = Proxy de salida
account-proxy-hint = udp:192.0.2.10:5060 (el registrador)
account-username = Usuario
account-username-hint = (el usuario de la dirección)
account-password = Contraseña
account-expires = Duración del registro (s)
account-expires-hint = 600
account-register = Registrarse
account-dtmf = DTMF
dtmf-mode = { $mode ->
        [rfc4733] Solo RFC 4733
        [info] SIP INFO
       *[auto] Automático (RFC 4733; si no, SIP INFO)
    }
account-tls-ca = CA de confianza para TLS (archivo PEM)
account-tls-ca-hint = (las del sistema, o [tls] ca)
account-tls-insecure = Aceptar cualquier certificado TLS (solo laboratorio: cualquiera en el camino puede escuchar)
account-mwi = Indicador de buzón de voz (suscribirse al resumen de mensajes)
account-test = Probar registro
account-test-waiting = Registrando…
account-test-registered = Registrada: { $detail }
account-test-failed = Sin registrar: { $detail }
network-heading = Red (todas las cuentas; se aplica al próximo inicio)
network-stun = Servidor STUN
network-stun-hint = 192.0.2.50:3478 (ninguno)
network-keepalive = Intervalo de keep-alive (s)
network-keepalive-hint = 30 (0: desactivado)
audio-devices-problem = Dispositivos de sonido: { $note }
audio-backend = recall funciona ahora con audio { $backend }; los dispositivos elegidos aquí se usan cuando funciona con dispositivos de sonido (--audio device).
audio-microphone = Micrófono
audio-headset = Auriculares
audio-ring = Dispositivo de timbre
audio-system-default = El predeterminado del sistema
audio-same-as-headset = El mismo que los auriculares
audio-microphone-level = Nivel del micrófono
audio-headset-level = Nivel de los auriculares
audio-silent = silencio
audio-headset-buttons = Botones y luces de los auriculares
audio-headset-auto = Automático (los primeros auriculares de telefonía)
audio-off = desactivado
audio-no-headset = No hay auriculares de telefonía conectados (USB HID, página de telefonía).
audio-processing = Procesado del micrófono (se aplica al guardar, también durante las llamadas):
audio-echo-cancellation = Cancelación de eco (para altavoces y auriculares abiertos)
audio-noise-suppression = Supresión de ruido (la sala a su espalda)
audio-auto-gain = Control automático de ganancia (un nivel de voz constante)
audio-test-tone = Reproducir tono de prueba
audio-test-tone-playing = Sonando el tono de prueba…
codecs-heading = Se ofrecen en este orden; se usa el primero que tengan ambos lados.
codec = { $codec ->
        [opus] Opus (banda ancha, 48 kHz)
        [g722] G.722 (banda ancha, 16 kHz)
        [pcmu] G.711 ley µ (PCMU)
        [pcma] G.711 ley A (PCMA)
       *[other] { $codec }
    }
codec-up = Subir
codec-down = Bajar
codecs-opus-bitrate = Tasa de bits de Opus (bit/s)
codecs-opus-bitrate-hint = 24000
callbacks-reject-status = Rechazar envía el estado
callbacks-reject-status-hint = 486
callbacks-not-ready-status = Si no está disponible, responder
sip-status = { $status ->
        [480] 480 No disponible temporalmente
        [603] 603 Rechazada
       *[486] 486 Ocupado aquí
    }
callbacks-preview-timeout = Tiempo de vista previa (s)
callbacks-preview-timeout-hint = vacío: hasta que el servidor desista
callbacks-reject-on-timeout = Al agotarse el tiempo, rechazar aquí la devolución (480) en lugar de dejarla sonar
callbacks-auto-answer = Contestar las devoluciones cuyo INVITE pide respuesta automática
callbacks-disposition-mandatory = Terminar requiere una tipificación
problem-no-codec = Códecs: ofrezca al menos uno
problem-opus-bitrate = La tasa de bits de Opus { $typed } no es un número de bits por segundo (24000 va bien para voz)
problem-reject-status = El estado de rechazo { $typed } no es un estado SIP como 486 o 603
problem-preview-timeout = El tiempo de vista previa { $typed } no es un número de segundos (déjelo vacío si no hay)
problem-stun-server = El servidor STUN { $typed } no es IP:PUERTO, p. ej. 192.0.2.50:3478 (déjelo vacío si no hay)
problem-keepalive = El intervalo de keep-alive { $typed } no es un número de segundos (30 es lo habitual; 0 desactiva el keep-alive)
problem-no-such-account = no existe esa cuenta
problem-lifetime = Cuenta { $account }: la duración del registro { $typed } no es un número de segundos
