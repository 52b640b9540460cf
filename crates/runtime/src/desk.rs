//! The desktop's link to the core: its requests go in as the control API's do, and every
//! event (the snapshot first) and refusal goes out through the desktop's postbox, which wakes
//! the window. The desktop never waits on the core.

use api::{Delivery, Reply, Request};
use tokio::sync::{mpsc, oneshot};

use crate::api::{ApiRequest, DirectoryRequest};

/// The desktop's end of the core, handed to [`crate::run`] in the runtime config.
pub struct Desk {
    /// What the desktop asks.
    pub requests: mpsc::UnboundedReceiver<Request>,
    /// Hands the desktop what the core has for it (and wakes the window).
    pub post: Box<dyn Fn(Delivery) + Send + Sync>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Desk")
    }
}

/// Serves the desktop until it or the core goes away.
pub(crate) fn spawn(desk: Desk, core: mpsc::Sender<ApiRequest>) {
    let Desk { mut requests, post } = desk;
    let post = std::sync::Arc::new(post);
    let events = post.clone();
    let subscriber = core.clone();
    tokio::spawn(async move {
        let (tx, rx) = oneshot::channel();
        if subscriber.send(ApiRequest::Subscribe(tx)).await.is_err() {
            return;
        }
        let Ok((snapshot, mut receiver)) = rx.await else {
            return;
        };
        events(Delivery::Event(snapshot));
        loop {
            match receiver.recv().await {
                Ok(event) => events(Delivery::Event(event)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Too far behind: start again from a fresh snapshot.
                    let (tx, rx) = oneshot::channel();
                    if subscriber.send(ApiRequest::Subscribe(tx)).await.is_err() {
                        return;
                    }
                    let Ok((snapshot, fresh)) = rx.await else {
                        return;
                    };
                    receiver = fresh;
                    events(Delivery::Event(snapshot));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            let kind = request.kind();
            let refused = |what: String, reason: String| {
                post(Delivery::Reply(Reply::Refused {
                    request: kind.clone(),
                    what,
                    reason,
                }));
            };
            match request {
                Request::Command(command) => {
                    let what = describe_command(&command);
                    let (tx, rx) = oneshot::channel();
                    if core.send(ApiRequest::Command(command, tx)).await.is_err() {
                        return;
                    }
                    if let Ok(Err(e)) = rx.await {
                        refused(what, e.to_string());
                    }
                }
                Request::Interaction { id, command } => {
                    let what = format!("{} {id}", describe_interaction(&command));
                    let (tx, rx) = oneshot::channel();
                    if core
                        .send(ApiRequest::InteractionCommand(id, command, tx))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if let Ok(Err(e)) = rx.await {
                        refused(what, e.to_string());
                    }
                }
                Request::Agent(agent) => {
                    let (tx, rx) = oneshot::channel();
                    let request =
                        ApiRequest::Agent(Some(agent.voice), Some(agent.web_callback), tx);
                    if core.send(request).await.is_err() {
                        return;
                    }
                    let _ = rx.await;
                }
                Request::SaveContact(contact) => {
                    let (tx, rx) = oneshot::channel();
                    let request = ApiRequest::Directory(DirectoryRequest::SaveContact(contact, tx));
                    if core.send(request).await.is_err() {
                        return;
                    }
                    match rx.await {
                        Ok(Ok(_)) => send_directory(&core, post.as_ref()).await,
                        Ok(Err(e)) => refused("save the contact".to_owned(), e.to_string()),
                        Err(_) => return,
                    }
                }
                Request::Directory => send_directory(&core, post.as_ref()).await,
                Request::Status => {
                    let (tx, rx) = oneshot::channel();
                    if core.send(ApiRequest::Status(tx)).await.is_err() {
                        return;
                    }
                    if let Ok(status) = rx.await {
                        post(Delivery::Reply(Reply::Status(status)));
                    }
                }
                Request::Settings => {
                    let (tx, rx) = oneshot::channel();
                    if core.send(ApiRequest::Settings(tx)).await.is_err() {
                        return;
                    }
                    match rx.await {
                        Ok(Ok((settings, file))) => post(settings_reply(settings, file)),
                        Ok(Err(e)) => refused("open the settings".to_owned(), e.to_string()),
                        Err(_) => return,
                    }
                }
                Request::SaveSettings(settings) => {
                    let (tx, rx) = oneshot::channel();
                    let request = ApiRequest::SaveSettings(Box::new(settings), tx);
                    if core.send(request).await.is_err() {
                        return;
                    }
                    match rx.await {
                        Ok(Ok(on_restart)) => {
                            post(Delivery::Reply(Reply::SettingsSaved { on_restart }));
                        }
                        Ok(Err(e)) => refused("save the settings".to_owned(), e.to_string()),
                        Err(_) => return,
                    }
                }
                Request::TestRegistration(form) => {
                    let what = format!("test the registration of {:?}", form.name);
                    let (tx, rx) = oneshot::channel();
                    let request = ApiRequest::TestRegistration(Box::new(form), tx);
                    if core.send(request).await.is_err() {
                        return;
                    }
                    if let Ok(Err(e)) = rx.await {
                        refused(what, e.to_string());
                    }
                }
                Request::TestTone => {
                    let (tx, rx) = oneshot::channel();
                    if core.send(ApiRequest::TestTone(tx)).await.is_err() {
                        return;
                    }
                    if let Ok(Err(e)) = rx.await {
                        refused("play the test tone".to_owned(), e.to_string());
                    }
                }
            }
        }
    });
}

/// The settings with the sound devices there are to choose from.
fn settings_reply(settings: api::Settings, file: Option<String>) -> Delivery {
    let (inputs, outputs, devices_note) = match ::audio::list() {
        Ok(devices) => {
            let names = |input: bool| {
                devices
                    .iter()
                    .filter(|d| if input { d.input } else { d.output })
                    .map(|d| d.id.clone())
                    .collect::<Vec<_>>()
            };
            let (inputs, outputs) = (names(true), names(false));
            let note = (inputs.is_empty() && outputs.is_empty())
                .then(|| "no sound devices were found".to_owned());
            (inputs, outputs, note)
        }
        Err(e) => (Vec::new(), Vec::new(), Some(e.to_string())),
    };
    Delivery::Reply(Reply::Settings {
        settings,
        inputs,
        outputs,
        devices_note,
        file,
    })
}

async fn send_directory(core: &mpsc::Sender<ApiRequest>, post: &(dyn Fn(Delivery) + Send + Sync)) {
    let (tx, rx) = oneshot::channel();
    let (tx2, rx2) = oneshot::channel();
    if core
        .send(ApiRequest::Directory(DirectoryRequest::Contacts(tx)))
        .await
        .is_err()
        || core
            .send(ApiRequest::Directory(DirectoryRequest::Responses(tx2)))
            .await
            .is_err()
    {
        return;
    }
    match (rx.await, rx2.await) {
        (Ok(Ok(contacts)), Ok(Ok(responses))) => {
            post(Delivery::Reply(Reply::Directory {
                contacts,
                responses,
            }));
        }
        (Ok(Err(e)), _) | (_, Ok(Err(e))) => post(Delivery::Reply(Reply::Refused {
            request: api::RequestKind::Directory,
            what: "read the directory".to_owned(),
            reason: e.to_string(),
        })),
        _ => {}
    }
}

fn describe_command(command: &api::Command) -> String {
    use api::Command as C;
    match command {
        C::Dial { to, .. } | C::DialWith { to, .. } => format!("call {to}"),
        C::Answer { call } => format!("answer {call}"),
        C::Reject { call, .. } => format!("reject {call}"),
        C::Hangup { call } => format!("hang up {call}"),
        C::Hold { call } => format!("hold {call}"),
        C::Resume { call } => format!("resume {call}"),
        C::Mute { call, muted } => format!("{} {call}", if *muted { "mute" } else { "unmute" }),
        C::Dtmf { call, digits } => format!("send {digits} on {call}"),
        C::Transfer { call, .. } => format!("transfer {call}"),
        C::Consult { call, target } => format!("consult {target} from {call}"),
        C::Conference { call, .. } => format!("conference {call}"),
    }
}

fn describe_interaction(command: &api::InteractionCommand) -> &'static str {
    use api::InteractionCommand as I;
    match command {
        I::Accept => "accept",
        I::Reject { .. } => "reject",
        I::Call => "call back",
        I::Done => "mark done",
        I::Reschedule { .. } => "reschedule",
        I::Disposition { .. } => "set the disposition of",
        I::Note { .. } => "save the note of",
    }
}
