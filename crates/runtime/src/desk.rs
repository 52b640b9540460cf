//! The desktop's link to the core: its requests go in as the control API's do, and every
//! event (the snapshot first), the replies it shows and its refusals go out through the
//! desktop's postbox, which wakes the window. The desktop never waits on the core.

use api::{Delivery, Reply, Request};
use tokio::sync::mpsc;

use crate::core::{Mail, request, subscribe};

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
pub(crate) fn spawn(desk: Desk, core: mpsc::Sender<Mail>) {
    let Desk { mut requests, post } = desk;
    let post = std::sync::Arc::new(post);
    let events = post.clone();
    let subscriber = core.clone();
    tokio::spawn(async move {
        let Some((snapshot, mut receiver)) = subscribe(&subscriber).await else {
            return;
        };
        events(Delivery::Event(snapshot));
        loop {
            match receiver.recv().await {
                Ok(event) => events(Delivery::Event(event)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Too far behind: start again from a fresh snapshot.
                    let Some((snapshot, fresh)) = subscribe(&subscriber).await else {
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
        while let Some(asked) = requests.recv().await {
            let (kind, what) = (asked.kind(), asked.describe());
            // A saved contact is shown by sending the directory afresh.
            let then_directory = matches!(asked, Request::SaveContact(_));
            let Some(reply) = request(&core, asked).await else {
                return;
            };
            match reply {
                Reply::Refused(refusal) => post(Delivery::Refused {
                    request: kind,
                    what,
                    refusal,
                }),
                // What came of these the events show.
                Reply::Done
                | Reply::Call(_)
                | Reply::Calls(_)
                | Reply::Interaction(_)
                | Reply::Interactions(_)
                | Reply::Agent(_) => {}
                Reply::Contact(_)
                | Reply::Contacts(_)
                | Reply::Response(_)
                | Reply::Responses(_)
                    if then_directory =>
                {
                    match request(&core, Request::Directory).await {
                        Some(Reply::Refused(refusal)) => post(Delivery::Refused {
                            request: api::RequestKind::Directory,
                            what: Request::Directory.describe(),
                            refusal,
                        }),
                        Some(directory) => post(Delivery::Reply(directory)),
                        None => return,
                    }
                }
                other => post(Delivery::Reply(other)),
            }
        }
    });
}
