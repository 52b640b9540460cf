//! The HTTP/JSON control API (PRODUCT.md §4) on axum. Handlers only pass requests to the run
//! loop and wait for its answer; the phone is never touched from here.

use std::convert::Infallible;
use std::time::Duration;

use api::{
    AgentState, AgentStatus, CallId, CallView, Command, Event, Interaction, InteractionCommand,
    InteractionId, Refusal, RefusalKind, Reply, Request as Asked, Reschedule, StatusView,
};
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};

use crate::core::{Mail, request, subscribe};
use futures_util::Stream;
use futures_util::StreamExt;
use interaction::{Contact, StandardResponse};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::BroadcastStream;

#[derive(Clone)]
struct AppState {
    core: mpsc::Sender<Mail>,
    token: Option<String>,
    /// On a team's store a reschedule goes back to the queue unless it says `personal`.
    team: bool,
}

/// An error as the API returns it: a status and `{ "error": "…" }`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let status = match refusal.kind {
            RefusalKind::NotFound => StatusCode::NOT_FOUND,
            RefusalKind::Conflict => StatusCode::CONFLICT,
            RefusalKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            RefusalKind::Failed => StatusCode::INTERNAL_SERVER_ERROR,
            RefusalKind::Forbidden => StatusCode::FORBIDDEN,
        };
        Self(status, refusal.message)
    }
}

/// The core answered with a reply of the wrong kind: a bug, said plainly.
fn unexpected(reply: &Reply) -> ApiError {
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the phone answered with the wrong kind of reply: {reply:?}"),
    )
}

fn gone() -> ApiError {
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "the phone is shutting down".to_owned(),
    )
}

/// The router.
pub(crate) fn router(core: mpsc::Sender<Mail>, token: Option<String>, team: bool) -> Router {
    let state = AppState { core, token, team };
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/calls", get(list_calls).post(create_call))
        .route("/v1/calls/{id}", get(get_call))
        .route("/v1/calls/{id}/{action}", post(call_action))
        .route("/v1/events", get(events))
        .route("/v1/agent/state", put(agent_state))
        .route("/v1/interactions", get(list_interactions))
        .route("/v1/interactions/{id}", get(get_interaction))
        .route("/v1/interactions/{id}/case", get(get_case))
        .route("/v1/interactions/{id}/{action}", post(interaction_action))
        .route("/v1/contacts", get(list_contacts).post(create_contact))
        .route(
            "/v1/contacts/{id}",
            get(get_contact).put(update_contact).delete(delete_contact),
        )
        .route("/v1/responses", get(list_responses).post(create_response))
        .route("/v1/responses/{id}", axum::routing::delete(delete_response))
        .route("/v1/settings", get(get_settings).put(put_settings))
        .route("/v1/settings/test-registration", post(test_registration))
        .route("/v1/settings/test-tone", post(test_tone))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such endpoint".to_owned()) })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
}

/// The largest request body taken (the settings, the biggest, are a few KiB); more is 413.
const MAX_BODY: usize = 256 * 1024;

/// Keeps every error JSON with a message: what axum answers by itself (413 for a body over
/// [`MAX_BODY`], 405 for a method a path does not take, 415, …) comes as text or empty, and is
/// turned into `{"error": "…"}` with the same status.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the request body is over {MAX_BODY} bytes")
        }
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned(),
        _ => text,
    };
    ApiError(status, message).into_response()
}

/// Whether the presented token is ours, in time that does not depend on where they differ
/// (nor on their lengths: their SHA-256 digests are compared).
fn token_matches(presented: Option<&str>, token: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    let digest = |text: &str| ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let Some(presented) = presented else {
        return false;
    };
    digest(presented)
        .as_ref()
        .ct_eq(digest(token).as_ref())
        .into()
}

async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !token_matches(presented, token) {
            return ApiError(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (set Authorization: Bearer <control.token>)"
                    .to_owned(),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Puts a request to the core; its reply, or the refusal as an HTTP error.
async fn ask(state: &AppState, asked: Asked) -> Result<Reply, ApiError> {
    match request(&state.core, asked).await {
        None => Err(gone()),
        Some(Reply::Refused(refusal)) => Err(refusal.into()),
        Some(reply) => Ok(reply),
    }
}

/// Takes the one kind of reply a request is answered with.
macro_rules! expect {
    ($reply:expr, $pattern:pat => $value:expr) => {
        match $reply {
            $pattern => Ok($value),
            other => Err(unexpected(&other)),
        }
    };
}

async fn status(State(state): State<AppState>) -> Result<Json<StatusView>, ApiError> {
    expect!(ask(&state, Asked::Status).await?, Reply::Status(s) => Json(s))
}

async fn get_settings(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    expect!(ask(&state, Asked::Settings).await?, Reply::Settings {
        settings,
        inputs,
        outputs,
        devices_note,
        headsets,
        file,
    } => Json(json!({
        "settings": settings,
        "file": file,
        "inputs": inputs,
        "outputs": outputs,
        "devices_note": devices_note,
        "headsets": headsets,
    })))
}

/// Replaces the settings (the whole object, as `GET /v1/settings` returns it): 422 naming the
/// field when one is wrong, and then nothing changes.
async fn put_settings(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let settings: api::Settings = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid settings: {e}")))?;
    expect!(
        ask(&state, Asked::SaveSettings(settings)).await?,
        Reply::SettingsSaved { on_restart } => Json(json!({ "saved": true, "on_restart": on_restart }))
    )
}

/// REGISTERs once with an account form; 202, and the outcome comes as a
/// `registration_test` event.
async fn test_registration(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let form: api::Account = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid account: {e}")))?;
    expect!(ask(&state, Asked::TestRegistration(form)).await?, Reply::Done => StatusCode::ACCEPTED)
}

async fn test_tone(State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    expect!(ask(&state, Asked::TestTone).await?, Reply::Done => StatusCode::NO_CONTENT)
}

async fn list_calls(State(state): State<AppState>) -> Result<Json<Vec<CallView>>, ApiError> {
    expect!(ask(&state, Asked::Calls).await?, Reply::Calls(calls) => Json(calls))
}

fn parse_id(id: &str) -> Result<CallId, ApiError> {
    id.parse()
        .map_err(|e: api::IdError| ApiError(StatusCode::NOT_FOUND, e.to_string()))
}

async fn get_call(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CallView>, ApiError> {
    let id = parse_id(&id)?;
    expect!(ask(&state, Asked::GetCall(id)).await?, Reply::Call(view) => Json(view))
}

/// Reads an optional JSON body; an empty body is `{}`.
fn body<T: for<'de> Deserialize<'de> + Default>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCall {
    to: Option<String>,
    account: Option<String>,
}

async fn create_call(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<CallView>), ApiError> {
    let request: NewCall = body(&bytes)?;
    let to = request.to.ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "missing \"to\": the SIP URI to call".to_owned(),
        )
    })?;
    let command = Command::Dial {
        to,
        account: request.account,
    };
    expect!(
        ask(&state, Asked::Command(command)).await?,
        Reply::Call(view) => (StatusCode::CREATED, Json(view))
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    status: Option<u16>,
    digits: Option<String>,
    target: Option<String>,
    replaces: Option<String>,
    with: Option<String>,
}

/// A call id given in a request body: a bad one is the request's fault (422), not a path
/// that does not exist.
fn body_call_id(id: &str) -> Result<CallId, ApiError> {
    id.parse()
        .map_err(|e: api::IdError| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
}

async fn call_action(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Json<CallView>, ApiError> {
    let call = parse_id(&id)?;
    let request: ActionBody = body(&bytes)?;
    let command = match action.as_str() {
        "answer" => Command::Answer { call },
        "reject" => Command::Reject {
            call,
            status: request.status,
        },
        "hangup" => Command::Hangup { call },
        "hold" => Command::Hold { call },
        "resume" => Command::Resume { call },
        "mute" => Command::Mute { call, muted: true },
        "unmute" => Command::Mute { call, muted: false },
        "record" => Command::Record {
            call,
            action: api::RecordAction::Start,
        },
        "pause_recording" => Command::Record {
            call,
            action: api::RecordAction::Pause,
        },
        "resume_recording" => Command::Record {
            call,
            action: api::RecordAction::Resume,
        },
        "stop_recording" => Command::Record {
            call,
            action: api::RecordAction::Stop,
        },
        "dtmf" => Command::Dtmf {
            call,
            digits: request.digits.ok_or_else(|| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    "missing \"digits\" (0-9, *, #, A-D)".to_owned(),
                )
            })?,
        },
        "transfer" => Command::Transfer {
            call,
            target: request.target,
            replaces: request.replaces.as_deref().map(body_call_id).transpose()?,
        },
        "consult" => Command::Consult {
            call,
            target: request.target.ok_or_else(|| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    "missing \"target\": whom to consult".to_owned(),
                )
            })?,
        },
        "conference" => Command::Conference {
            call,
            target: request.target,
            // `with` names the other call; `replaces` is accepted as its other name.
            with: request
                .with
                .or(request.replaces)
                .as_deref()
                .map(body_call_id)
                .transpose()?,
        },
        other => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!(
                    "unknown call action {other:?} (answer, reject, hangup, hold, resume, mute, unmute, record, pause_recording, resume_recording, stop_recording, dtmf, transfer, consult, conference)"
                ),
            ));
        }
    };
    expect!(ask(&state, Asked::Command(command)).await?, Reply::Call(view) => Json(view))
}

/// The events after the snapshot. A listener that falls behind (the 4096 events the channel
/// holds went by unread) is let go: what it would show is no longer true, and it gets a fresh
/// snapshot when it comes back. Nothing is buffered for it beyond the channel, and the phone
/// never waits.
fn following(receiver: tokio::sync::broadcast::Receiver<Event>) -> impl Stream<Item = Event> {
    BroadcastStream::new(receiver)
        .take_while(|r| {
            if r.is_err() {
                tracing::info!("an event listener fell behind; its stream is closed");
            }
            std::future::ready(r.is_ok())
        })
        .filter_map(|r| async move { r.ok() })
}

async fn events(
    State(state): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>, ApiError> {
    let (snapshot, receiver) = subscribe(&state.core).await.ok_or_else(gone)?;
    let first = futures_util::stream::once(async move { snapshot });
    let rest = following(receiver);
    let stream = first.chain(rest).map(|event| {
        let name = match &event {
            Event::Snapshot { .. } => "snapshot",
            Event::Call { .. } => "call",
            Event::Dtmf { .. } => "dtmf",
            Event::Registration { .. } => "registration",
            Event::Presence { .. } => "presence",
            Event::RegistrationTest { .. } => "registration_test",
            Event::Interaction { .. } => "interaction",
            Event::Agent { .. } => "agent",
        };
        Ok(sse::Event::default()
            .event(name)
            .json_data(&event)
            .unwrap_or_else(|_| sse::Event::default().data("{}")))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentBody {
    voice: Option<AgentState>,
    web_callback: Option<AgentState>,
}

async fn agent_state(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Json<AgentStatus>, ApiError> {
    let request: AgentBody = body(&bytes)?;
    if request.voice.is_none() && request.web_callback.is_none() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "give \"voice\" and/or \"web_callback\": \"ready\" or \"not_ready\"".to_owned(),
        ));
    }
    let asked = Asked::Agent {
        voice: request.voice,
        web_callback: request.web_callback,
    };
    expect!(ask(&state, asked).await?, Reply::Agent(agent) => Json(agent))
}
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InteractionQuery {
    state: Option<String>,
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
}

impl InteractionQuery {
    /// The search it asks for, or what is wrong with it.
    fn parse(self) -> Result<interaction::Query, ApiError> {
        let bad = |message: String| ApiError(StatusCode::BAD_REQUEST, message);
        let time = |name: &str, value: Option<String>| {
            value
                .map(|v| {
                    time::OffsetDateTime::parse(&v, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| {
                            bad(format!(
                                "{name}={v:?} is not an RFC 3339 time (e.g. 2026-11-25T15:30:00Z)"
                            ))
                        })
                })
                .transpose()
        };
        let state = query_state(self.state.as_deref())?;
        let defaults = interaction::Query::default();
        Ok(interaction::Query {
            state,
            text: self.q.filter(|q| !q.trim().is_empty()),
            from: time("from", self.from)?,
            to: time("to", self.to)?,
            limit: match self.limit {
                Some(0) => return Err(bad("limit must be at least 1".to_owned())),
                Some(n) => n,
                None => defaults.limit,
            },
        })
    }
}

fn query_state(text: Option<&str>) -> Result<Option<interaction::InteractionState>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    serde_json::from_value(serde_json::Value::String(text.to_ascii_lowercase()))
        .map(Some)
        .map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!(
                    "state={text:?} is not an interaction state (notified, previewing, dialing, connected, held, ended, rejected, missed, done)"
                ),
            )
        })
}

async fn list_interactions(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<InteractionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Interaction>>, ApiError> {
    let axum::extract::Query(query) =
        query.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let query = query.parse()?;
    expect!(ask(&state, Asked::Interactions(query)).await?, Reply::Interactions(found) => Json(found))
}

fn parse_interaction_id(id: &str) -> Result<InteractionId, ApiError> {
    id.parse()
        .map_err(|e: api::IdError| ApiError(StatusCode::NOT_FOUND, e.to_string()))
}

async fn get_interaction(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Interaction>, ApiError> {
    let id = parse_interaction_id(&id)?;
    expect!(ask(&state, Asked::GetInteraction(id)).await?, Reply::Interaction(found) => Json(*found))
}

async fn get_case(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<interaction::CaseEntry>>, ApiError> {
    let id = parse_interaction_id(&id)?;
    expect!(ask(&state, Asked::Case(id)).await?, Reply::Case { entries, .. } => Json(entries))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InteractionBody {
    status: Option<u16>,
    code: Option<String>,
    text: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    at: Option<time::OffsetDateTime>,
    /// A wall-clock time (`2027-03-29T10:00`) in `time_zone`, instead of `at`.
    local: Option<String>,
    time_zone: Option<String>,
    number: Option<String>,
    personal: Option<bool>,
}

/// A reschedule body: an instant (`at`, RFC 3339), or a wall-clock time (`local`) in an IANA
/// zone or offset (`time_zone`), read with that zone's rules on that date. Without
/// `personal`, `personal_by_default` says (false on a team's store: back to the queue).
fn reschedule_request(
    request: InteractionBody,
    personal_by_default: bool,
) -> Result<Reschedule, ApiError> {
    let personal = request.personal.unwrap_or(personal_by_default);
    match (request.at, request.local) {
        (Some(_), Some(_)) => Err(ApiError(
            StatusCode::BAD_REQUEST,
            "give \"at\" (an instant) or \"local\" (a wall-clock time in \"time_zone\"), not both"
                .to_owned(),
        )),
        (Some(at), None) => Ok(Reschedule {
            at,
            time_zone: request.time_zone,
            number: request.number,
            personal,
        }),
        (None, Some(local)) => {
            let zone = request.time_zone.ok_or_else(|| {
                missing("\"time_zone\": the zone of \"local\", e.g. Europe/Madrid")
            })?;
            let (date, time) = local.trim().split_once(['T', ' ']).ok_or_else(|| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "\"local\" is not a date and time such as 2027-03-29T10:00 (got {local:?})"
                    ),
                )
            })?;
            Reschedule::local(date, time, &zone, request.number, personal)
                .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))
        }
        (None, None) => Err(missing(
            "\"at\": the new time, RFC 3339 (or \"local\" with \"time_zone\")",
        )),
    }
}

fn missing(what: &str) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, format!("missing {what}"))
}

async fn interaction_action(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Json<Interaction>, ApiError> {
    let id = parse_interaction_id(&id)?;
    let request: InteractionBody = body(&bytes)?;
    let command = match action.as_str() {
        "accept" => InteractionCommand::Accept,
        "reject" => InteractionCommand::Reject {
            status: request.status,
        },
        "call" => InteractionCommand::Call,
        "done" => InteractionCommand::Done,
        "disposition" => InteractionCommand::Disposition {
            code: request
                .code
                .ok_or_else(|| missing("\"code\": the disposition code"))?,
        },
        "note" => InteractionCommand::Note {
            text: request.text.ok_or_else(|| missing("\"text\": the note"))?,
        },
        "reschedule" => InteractionCommand::Reschedule {
            request: reschedule_request(request, !state.team)?,
        },
        other => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!(
                    "unknown interaction action {other:?} (accept, reject, call, done, reschedule, disposition, note)"
                ),
            ));
        }
    };
    expect!(
        ask(&state, Asked::Interaction { id, command }).await?,
        Reply::Interaction(found) => Json(*found)
    )
}

fn directory_id(id: &str) -> Result<u64, ApiError> {
    id.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("{id:?} is not an id")))
}

fn contact_body(bytes: &Bytes) -> Result<Contact, ApiError> {
    let contact: Contact = serde_json::from_slice(bytes)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))?;
    if contact.name.trim().is_empty() {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a contact needs a \"name\"".to_owned(),
        ));
    }
    Ok(contact)
}

async fn contacts(state: &AppState) -> Result<Vec<Contact>, ApiError> {
    expect!(ask(state, Asked::Contacts).await?, Reply::Contacts(list) => list)
}

async fn list_contacts(State(state): State<AppState>) -> Result<Json<Vec<Contact>>, ApiError> {
    contacts(&state).await.map(Json)
}

async fn get_contact(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Contact>, ApiError> {
    let id = directory_id(&id)?;
    contacts(&state)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .map(Json)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no contact {id}")))
}

async fn create_contact(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Contact>), ApiError> {
    let contact = Contact {
        id: 0,
        ..contact_body(&bytes)?
    };
    expect!(
        ask(&state, Asked::SaveContact(contact)).await?,
        Reply::Contact(saved) => (StatusCode::CREATED, Json(saved))
    )
}

async fn update_contact(
    State(state): State<AppState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Contact>, ApiError> {
    let id = directory_id(&id)?;
    if !contacts(&state).await?.iter().any(|c| c.id == id) {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no contact {id}")));
    }
    let contact = Contact {
        id,
        ..contact_body(&bytes)?
    };
    expect!(ask(&state, Asked::SaveContact(contact)).await?, Reply::Contact(saved) => Json(saved))
}

async fn delete_contact(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = directory_id(&id)?;
    expect!(ask(&state, Asked::DeleteContact(id)).await?, Reply::Done => StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
struct ResponseQuery {
    q: Option<String>,
}

async fn list_responses(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<ResponseQuery>,
) -> Result<Json<Vec<StandardResponse>>, ApiError> {
    let all = expect!(ask(&state, Asked::Responses).await?, Reply::Responses(all) => all)?;
    let found = interaction::search_responses(&all, query.q.as_deref().unwrap_or(""))
        .into_iter()
        .cloned()
        .collect();
    Ok(Json(found))
}

async fn create_response(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<StandardResponse>), ApiError> {
    let response: StandardResponse = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))?;
    if response.title.trim().is_empty() || response.body.trim().is_empty() {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a response needs a \"title\" and a \"body\"".to_owned(),
        ));
    }
    let response = StandardResponse { id: 0, ..response };
    expect!(
        ask(&state, Asked::SaveResponse(response)).await?,
        Reply::Response(saved) => (StatusCode::CREATED, Json(saved))
    )
}

async fn delete_response(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = directory_id(&id)?;
    expect!(ask(&state, Asked::DeleteResponse(id)).await?, Reply::Done => StatusCode::NO_CONTENT)
}

/// The control API's answer to one HTTP request when the phone behind it refuses everything
/// it is asked ("not found"): status and body. Everything the API does with a request before
/// the phone sees it — routing, the bearer token, the size limit, reading the path, the query
/// and the JSON body — runs as in the program. For the fuzz target (`crates/fuzz`) and tests.
pub async fn answer_without_phone(
    request: axum::extract::Request,
    token: Option<String>,
) -> (StatusCode, Bytes) {
    use tower::ServiceExt as _;
    let (core, mut mailbox) = mpsc::channel::<Mail>(8);
    let phone = tokio::spawn(async move {
        while let Some(mail) = mailbox.recv().await {
            if let Mail::Ask(asked, reply) = mail {
                let refusal = Refusal::new(
                    RefusalKind::NotFound,
                    format!("nothing here to {}", asked.describe()),
                );
                let _ = reply.send(Reply::Refused(refusal));
            }
        }
    });
    let response = match router(core, token, false).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), MAX_BODY)
        .await
        .unwrap_or_default();
    phone.abort();
    (status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent_event() -> Event {
        Event::Agent {
            agent: api::AgentStatus::default(),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_listener_that_falls_behind_is_let_go_and_one_that_keeps_up_is_not() {
        let (tx, slow) = tokio::sync::broadcast::channel(2);
        let keeping_up = tx.subscribe();
        let mut fast = Box::pin(following(keeping_up));
        for _ in 0..2 {
            tx.send(agent_event()).expect("send");
            assert!(fast.next().await.is_some());
        }
        tx.send(agent_event()).expect("send");
        // The slow one never read: three events went into a channel of two.
        let missed: Vec<Event> = following(slow).collect().await;
        assert!(missed.is_empty(), "{missed:?}");
        assert!(fast.next().await.is_some());
        drop(tx);
        assert!(fast.next().await.is_none());
    }
}
