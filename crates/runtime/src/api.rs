//! The HTTP/JSON control API (PRODUCT.md §4) on axum. Handlers only pass requests to the run
//! loop and wait for its answer; the phone is never touched from here.

use std::convert::Infallible;
use std::time::Duration;

use api::{
    AgentState, AgentStatus, CallId, CallView, Command, Event, Interaction, InteractionCommand,
    InteractionId, Reschedule, StatusView,
};
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use engine::EngineError;
use store::StoreError;

use crate::SettingsError;
use futures_util::Stream;
use futures_util::StreamExt;
use interaction::{Contact, StandardResponse};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::wrappers::BroadcastStream;

/// What a handler asks the run loop.
#[derive(Debug)]
pub(crate) enum ApiRequest {
    Command(Command, oneshot::Sender<Result<CallView, EngineError>>),
    Calls(oneshot::Sender<Vec<CallView>>),
    Call(CallId, oneshot::Sender<Option<CallView>>),
    Status(oneshot::Sender<StatusView>),
    Subscribe(oneshot::Sender<(Event, broadcast::Receiver<Event>)>),
    Interactions(
        interaction::Query,
        oneshot::Sender<Result<Vec<Interaction>, StoreError>>,
    ),
    Interaction(InteractionId, oneshot::Sender<Option<Interaction>>),
    InteractionCommand(
        InteractionId,
        InteractionCommand,
        oneshot::Sender<Result<Interaction, EngineError>>,
    ),
    Agent(
        Option<AgentState>,
        Option<AgentState>,
        oneshot::Sender<AgentStatus>,
    ),
    Directory(DirectoryRequest),
    /// The settings as saved, and where.
    Settings(oneshot::Sender<Result<(api::Settings, Option<String>), SettingsError>>),
    /// Check, save and apply settings; what takes effect only on restart comes back.
    SaveSettings(
        Box<api::Settings>,
        oneshot::Sender<Result<Vec<String>, SettingsError>>,
    ),
    /// A one-off REGISTER; the outcome is an event.
    TestRegistration(
        Box<api::Account>,
        oneshot::Sender<Result<(), SettingsError>>,
    ),
    /// The headset's test tone.
    TestTone(oneshot::Sender<Result<(), EngineError>>),
}

/// Contacts and standard responses.
#[derive(Debug)]
pub(crate) enum DirectoryRequest {
    Contacts(oneshot::Sender<Result<Vec<Contact>, StoreError>>),
    SaveContact(Contact, oneshot::Sender<Result<Contact, StoreError>>),
    DeleteContact(u64, oneshot::Sender<Result<bool, StoreError>>),
    Responses(oneshot::Sender<Result<Vec<StandardResponse>, StoreError>>),
    SaveResponse(
        StandardResponse,
        oneshot::Sender<Result<StandardResponse, StoreError>>,
    ),
    DeleteResponse(u64, oneshot::Sender<Result<bool, StoreError>>),
}

#[derive(Clone)]
struct AppState {
    core: mpsc::Sender<ApiRequest>,
    token: Option<String>,
}

/// An error as the API returns it: a status and `{ "error": "…" }`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = match e {
            EngineError::NoSuchCall(_) => StatusCode::NOT_FOUND,
            EngineError::WrongState { .. } => StatusCode::CONFLICT,
            EngineError::NotDialable(_)
            | EngineError::NoSuchAccount(_)
            | EngineError::Sip(_)
            | EngineError::CannotAnswer(_)
            | EngineError::BadRejectStatus(_)
            | EngineError::BadDigit(_)
            | EngineError::NoDigits
            | EngineError::Rfc4733Refused
            | EngineError::CallInProgress
            | EngineError::NoCustomerNumber
            | EngineError::NoDialDomain
            | EngineError::AlreadyTransferring(_)
            | EngineError::WithItself(_)
            | EngineError::NotEstablished(_)
            | EngineError::MissingTarget(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EngineError::NoReply(_) => StatusCode::INTERNAL_SERVER_ERROR,
            EngineError::NoMediaPort => StatusCode::SERVICE_UNAVAILABLE,
            EngineError::NoSuchInteraction(_) => StatusCode::NOT_FOUND,
            EngineError::Interaction(
                interaction::InteractionError::InvalidTransition { .. }
                | interaction::InteractionError::DispositionRequired,
            ) => StatusCode::CONFLICT,
            EngineError::Interaction(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self(status, e.to_string())
    }
}

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        let status = match e {
            SettingsError::NotKept => StatusCode::CONFLICT,
            SettingsError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            SettingsError::File { .. } | SettingsError::Unreadable(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self(status, e.to_string())
    }
}

fn gone() -> ApiError {
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "the phone is shutting down".to_owned(),
    )
}

/// The router.
pub(crate) fn router(core: mpsc::Sender<ApiRequest>, token: Option<String>) -> Router {
    let state = AppState { core, token };
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/calls", get(list_calls).post(create_call))
        .route("/v1/calls/{id}", get(get_call))
        .route("/v1/calls/{id}/{action}", post(call_action))
        .route("/v1/events", get(events))
        .route("/v1/agent/state", put(agent_state))
        .route("/v1/interactions", get(list_interactions))
        .route("/v1/interactions/{id}", get(get_interaction))
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
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
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
        if presented != Some(token.as_str()) {
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

async fn ask<T>(
    state: &AppState,
    make: impl FnOnce(oneshot::Sender<T>) -> ApiRequest,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    state.core.send(make(tx)).await.map_err(|_| gone())?;
    rx.await.map_err(|_| gone())
}

async fn status(State(state): State<AppState>) -> Result<Json<StatusView>, ApiError> {
    ask(&state, ApiRequest::Status).await.map(Json)
}

async fn get_settings(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let (settings, file) = ask(&state, ApiRequest::Settings).await??;
    Ok(Json(json!({ "settings": settings, "file": file })))
}

/// Replaces the settings (the whole object, as `GET /v1/settings` returns it): 422 naming the
/// field when one is wrong, and then nothing changes.
async fn put_settings(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let settings: api::Settings = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid settings: {e}")))?;
    let on_restart = ask(&state, |tx| {
        ApiRequest::SaveSettings(Box::new(settings), tx)
    })
    .await??;
    Ok(Json(json!({ "saved": true, "on_restart": on_restart })))
}

/// REGISTERs once with an account form; 202, and the outcome comes as a
/// `registration_test` event.
async fn test_registration(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let form: api::Account = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid account: {e}")))?;
    ask(&state, |tx| {
        ApiRequest::TestRegistration(Box::new(form), tx)
    })
    .await??;
    Ok(StatusCode::ACCEPTED)
}

async fn test_tone(State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    ask(&state, ApiRequest::TestTone).await??;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_calls(State(state): State<AppState>) -> Result<Json<Vec<CallView>>, ApiError> {
    ask(&state, ApiRequest::Calls).await.map(Json)
}

fn parse_id(id: &str) -> Result<CallId, ApiError> {
    id.parse()
        .map_err(|e: String| ApiError(StatusCode::NOT_FOUND, e))
}

async fn get_call(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CallView>, ApiError> {
    let id = parse_id(&id)?;
    ask(&state, |tx| ApiRequest::Call(id, tx))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no call {id}")))
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
    let view = ask(&state, |tx| ApiRequest::Command(command, tx)).await??;
    Ok((StatusCode::CREATED, Json(view)))
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
        .map_err(|e: String| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e))
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
                    "unknown call action {other:?} (answer, reject, hangup, hold, resume, mute, unmute, dtmf, transfer, consult, conference)"
                ),
            ));
        }
    };
    let view = ask(&state, |tx| ApiRequest::Command(command, tx)).await??;
    Ok(Json(view))
}

async fn events(
    State(state): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>, ApiError> {
    let (snapshot, receiver) = ask(&state, ApiRequest::Subscribe).await?;
    let first = futures_util::stream::once(async move { snapshot });
    // A listener that falls behind skips what it missed rather than stalling the phone.
    let rest = BroadcastStream::new(receiver).filter_map(|r| async move { r.ok() });
    let stream = first.chain(rest).map(|event| {
        let name = match &event {
            Event::Snapshot { .. } => "snapshot",
            Event::Call { .. } => "call",
            Event::Dtmf { .. } => "dtmf",
            Event::Registration { .. } => "registration",
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
    ask(&state, |tx| {
        ApiRequest::Agent(request.voice, request.web_callback, tx)
    })
    .await
    .map(Json)
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
    stored(ask(&state, |tx| ApiRequest::Interactions(query, tx)).await?).map(Json)
}

fn parse_interaction_id(id: &str) -> Result<InteractionId, ApiError> {
    id.parse()
        .map_err(|e: String| ApiError(StatusCode::NOT_FOUND, e))
}

async fn get_interaction(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Interaction>, ApiError> {
    let id = parse_interaction_id(&id)?;
    ask(&state, |tx| ApiRequest::Interaction(id, tx))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no interaction {id}")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InteractionBody {
    status: Option<u16>,
    code: Option<String>,
    text: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    at: Option<time::OffsetDateTime>,
    time_zone: Option<String>,
    number: Option<String>,
    personal: Option<bool>,
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
            request: Reschedule {
                at: request
                    .at
                    .ok_or_else(|| missing("\"at\": the new time, RFC 3339"))?,
                time_zone: request.time_zone,
                number: request.number,
                personal: request.personal.unwrap_or(true),
            },
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
    let view = ask(&state, |tx| ApiRequest::InteractionCommand(id, command, tx)).await??;
    Ok(Json(view))
}

fn stored<T>(result: Result<T, StoreError>) -> Result<T, ApiError> {
    result.map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
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

async fn list_contacts(State(state): State<AppState>) -> Result<Json<Vec<Contact>>, ApiError> {
    let list = ask(&state, |tx| {
        ApiRequest::Directory(DirectoryRequest::Contacts(tx))
    })
    .await?;
    stored(list).map(Json)
}

async fn get_contact(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Contact>, ApiError> {
    let id = directory_id(&id)?;
    let list = ask(&state, |tx| {
        ApiRequest::Directory(DirectoryRequest::Contacts(tx))
    })
    .await?;
    stored(list)?
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
    let saved = ask(&state, |tx| {
        ApiRequest::Directory(DirectoryRequest::SaveContact(contact, tx))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(stored(saved)?)))
}

async fn update_contact(
    State(state): State<AppState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Contact>, ApiError> {
    let id = directory_id(&id)?;
    let existing = ask(&state, |tx| {
        ApiRequest::Directory(DirectoryRequest::Contacts(tx))
    })
    .await?;
    if !stored(existing)?.iter().any(|c| c.id == id) {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no contact {id}")));
    }
    let contact = Contact {
        id,
        ..contact_body(&bytes)?
    };
    let saved = ask(&state, |tx| {
        ApiRequest::Directory(DirectoryRequest::SaveContact(contact, tx))
    })
    .await?;
    stored(saved).map(Json)
}

async fn delete_contact(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = directory_id(&id)?;
    let gone = ask(&state, |tx| {
        ApiRequest::Directory(DirectoryRequest::DeleteContact(id, tx))
    })
    .await?;
    if stored(gone)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError(StatusCode::NOT_FOUND, format!("no contact {id}")))
    }
}

#[derive(Debug, Default, Deserialize)]
struct ResponseQuery {
    q: Option<String>,
}

async fn list_responses(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<ResponseQuery>,
) -> Result<Json<Vec<StandardResponse>>, ApiError> {
    let all = ask(&state, |tx| {
        ApiRequest::Directory(DirectoryRequest::Responses(tx))
    })
    .await?;
    let all = stored(all)?;
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
    let saved = ask(&state, |tx| {
        ApiRequest::Directory(DirectoryRequest::SaveResponse(response, tx))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(stored(saved)?)))
}

async fn delete_response(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = directory_id(&id)?;
    let gone = ask(&state, |tx| {
        ApiRequest::Directory(DirectoryRequest::DeleteResponse(id, tx))
    })
    .await?;
    if stored(gone)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError(StatusCode::NOT_FOUND, format!("no response {id}")))
    }
}
