//! The core's answers to the edge: every [`api::Request`], from the control API or the
//! desktop, is answered here with one [`api::Reply`].

use api::{InteractionId, RefusalKind, Reply, Request as Asked};
use engine::Request;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::error;

use super::{Core, ask};
use crate::SettingsError;

/// What reaches the core from the edge: a request to answer, or a listener to add.
pub(crate) enum Mail {
    /// Answer this.
    Ask(Box<Asked>, oneshot::Sender<Reply>),
    /// The state now as a snapshot event, and every event after it.
    Subscribe(oneshot::Sender<(api::Event, broadcast::Receiver<api::Event>)>),
}

/// Puts a request to the core and waits for its answer; `None` when the core has stopped.
pub(crate) async fn request(core: &mpsc::Sender<Mail>, asked: Asked) -> Option<Reply> {
    let (tx, rx) = oneshot::channel();
    core.send(Mail::Ask(Box::new(asked), tx)).await.ok()?;
    rx.await.ok()
}

/// Subscribes to the core's events; `None` when the core has stopped.
pub(crate) async fn subscribe(
    core: &mpsc::Sender<Mail>,
) -> Option<(api::Event, broadcast::Receiver<api::Event>)> {
    let (tx, rx) = oneshot::channel();
    core.send(Mail::Subscribe(tx)).await.ok()?;
    rx.await.ok()
}

impl From<SettingsError> for api::Refusal {
    fn from(e: SettingsError) -> Self {
        let kind = match e {
            SettingsError::NotKept => RefusalKind::Conflict,
            SettingsError::Invalid(_) => RefusalKind::Invalid,
            SettingsError::File { .. } | SettingsError::Unreadable(_) => RefusalKind::Failed,
        };
        Self::new(kind, e.to_string())
    }
}

fn stored(e: &store::StoreError) -> Reply {
    Reply::refused(RefusalKind::Failed, e.to_string())
}

fn refused(e: impl Into<api::Refusal>) -> Reply {
    Reply::Refused(e.into())
}

impl Core {
    pub(super) fn on_mail(&mut self, mail: Mail) {
        match mail {
            Mail::Ask(asked, reply) => {
                // Whatever waits to be written is written first: a read sees it, in memory
                // and in the store alike.
                self.show(std::time::Instant::now());
                let answer = self.serve(*asked);
                let _ = reply.send(answer);
            }
            Mail::Subscribe(reply) => {
                let receiver = self.events.subscribe();
                let _ = reply.send((self.phone.snapshot(self.listen.clone()), receiver));
            }
        }
    }

    /// The case history of an interaction: from the store (the team's, on PostgreSQL), else
    /// from the interactions in memory.
    fn case(&mut self, id: InteractionId) -> Reply {
        const SHOWN: usize = 50;
        let found = self.phone.interaction(id).or_else(|| {
            let stored = self.store.as_mut().map(|s| s.load(id));
            stored.and_then(|r| r.inspect_err(|e| error!(error = %e, "load")).ok().flatten())
        });
        let Some(of) = found else {
            return Reply::refused(RefusalKind::NotFound, format!("no interaction {id}"));
        };
        let from_store = self
            .store
            .as_ref()
            .map(|store| store.case_history(&of, &self.case_keys, SHOWN));
        let entries = match from_store {
            Some(Ok(entries)) => entries,
            Some(Err(e)) if !matches!(e, store::StoreError::Unreachable(_)) => return stored(&e),
            // No store, or a team's that is away: the interactions in memory.
            _ => {
                let case = interaction::CaseKey::of(&of, &self.case_keys);
                let mut entries: Vec<_> = self
                    .phone
                    .interactions()
                    .into_iter()
                    .filter(|other| other.id != of.id)
                    .filter_map(|other| {
                        let matched = case.matches(&other)?;
                        Some(interaction::CaseEntry::new(&self.agent, &other, matched))
                    })
                    .collect();
                entries.sort_by(|a, b| b.at.cmp(&a.at).then(b.interaction.cmp(&a.interaction)));
                entries.truncate(SHOWN);
                entries
            }
        };
        Reply::Case { id, entries }
    }

    fn serve(&mut self, asked: Asked) -> Reply {
        match asked {
            Asked::Command(command) => {
                let result = ask(&mut self.phone, Request::Call(command));
                // Durable before acknowledged: drain (and so persist) first.
                self.drain_now();
                match result {
                    Ok(engine::Reply::Call(view)) => Reply::Call(*view),
                    Ok(_) => refused(engine::EngineError::NoReply("a call command")),
                    Err(e) => refused(e),
                }
            }
            Asked::Calls => Reply::Calls(self.phone.calls()),
            Asked::GetCall(id) => self.phone.call(id).map_or_else(
                || Reply::refused(RefusalKind::NotFound, format!("no call {id}")),
                Reply::Call,
            ),
            Asked::Status => {
                let mut status = self.phone.status(self.listen.clone());
                status.store = self.store.as_ref().map(|s| s.describe().to_owned());
                status.store_pending = self.store.as_ref().map_or(0, store::Store::pending);
                Reply::Status(status)
            }
            Asked::Interactions(query) => {
                // The database holds every interaction (memory keeps the recent ones); while a
                // team's database is away (writes waiting in the journal), memory answers.
                let memory = |phone: &engine::Phone| query.select(phone.interactions().into_iter());
                let found = match &self.store {
                    Some(store) if store.pending() == 0 => match store.query(&query) {
                        Err(store::StoreError::Unreachable(_)) => Ok(memory(&self.phone)),
                        found => found,
                    },
                    _ => Ok(memory(&self.phone)),
                };
                found.map_or_else(|e| stored(&e), Reply::Interactions)
            }
            Asked::GetInteraction(id) => {
                let found = self.phone.interaction(id).or_else(|| {
                    let stored = self.store.as_ref().map(|s| s.load(id));
                    stored
                        .and_then(|r| r.inspect_err(|e| error!(error = %e, "load")).ok().flatten())
                });
                found.map_or_else(
                    || Reply::refused(RefusalKind::NotFound, format!("no interaction {id}")),
                    |found| Reply::Interaction(Box::new(found)),
                )
            }
            Asked::Case(id) => self.case(id),
            Asked::Interaction { id, command } => {
                let result = ask(&mut self.phone, Request::Interaction { id, command });
                self.drain_now();
                match result {
                    Ok(engine::Reply::Interaction(found)) => Reply::Interaction(found),
                    Ok(_) => refused(engine::EngineError::NoSuchInteraction(id)),
                    Err(e) => refused(e),
                }
            }
            Asked::Agent {
                voice,
                web_callback,
            } => match ask(
                &mut self.phone,
                Request::Agent {
                    voice,
                    web_callback,
                },
            ) {
                Ok(engine::Reply::Agent(agent)) => Reply::Agent(agent),
                Ok(_) => refused(engine::EngineError::NoReply("the agent state")),
                Err(e) => refused(e),
            },
            Asked::Contacts => self.contacts().map_or_else(|e| stored(&e), Reply::Contacts),
            Asked::SaveContact(contact) => {
                let saved = self.directory.save_contact(contact);
                self.contacts_changed();
                saved.map_or_else(|e| stored(&e), Reply::Contact)
            }
            Asked::DeleteContact(id) => {
                let deleted = self.directory.delete_contact(id);
                self.contacts_changed();
                match deleted {
                    Ok(true) => Reply::Done,
                    Ok(false) => Reply::refused(RefusalKind::NotFound, format!("no contact {id}")),
                    Err(e) => stored(&e),
                }
            }
            Asked::Responses => self
                .directory
                .responses()
                .map_or_else(|e| stored(&e), Reply::Responses),
            Asked::SaveResponse(_) | Asked::DeleteResponse(_) if !self.responses_editor => {
                Reply::refused(
                    RefusalKind::Forbidden,
                    "the standard responses are the team's: only an editor changes them \
                     ([store] responses_editor = true)",
                )
            }
            Asked::SaveResponse(response) => self
                .directory
                .save_response(response)
                .map_or_else(|e| stored(&e), Reply::Response),
            Asked::DeleteResponse(id) => match self.directory.delete_response(id) {
                Ok(true) => Reply::Done,
                Ok(false) => Reply::refused(RefusalKind::NotFound, format!("no response {id}")),
                Err(e) => stored(&e),
            },
            Asked::Directory => match (self.contacts(), self.directory.responses()) {
                (Ok(contacts), Ok(responses)) => Reply::Directory {
                    contacts,
                    responses,
                },
                (Err(e), _) | (_, Err(e)) => stored(&e),
            },
            Asked::Settings => {
                let loaded = match &self.settings {
                    Some(store) => store.load().map(|s| (s, store.file())),
                    None => Err(SettingsError::NotKept),
                };
                match loaded {
                    Ok((settings, file)) => settings_reply(settings, file),
                    Err(e) => refused(e),
                }
            }
            Asked::SaveSettings(settings) => {
                let saved = match &mut self.settings {
                    Some(store) => store.save(&settings),
                    None => Err(SettingsError::NotKept),
                };
                match saved {
                    Ok(crate::Applied {
                        accounts,
                        media,
                        callbacks,
                        on_restart,
                    }) => {
                        let _ = ask(
                            &mut self.phone,
                            Request::Reconfigure {
                                accounts,
                                media: Box::new(media),
                                callbacks,
                            },
                        );
                        self.drain_now();
                        Reply::SettingsSaved { on_restart }
                    }
                    Err(e) => refused(e),
                }
            }
            Asked::TestRegistration(form) => {
                let account = match &self.settings {
                    Some(store) => store.account(&form),
                    None => Err(SettingsError::NotKept),
                };
                match account {
                    Ok(account) => {
                        let _ = ask(&mut self.phone, Request::TestRegistration(account));
                        self.drain_now();
                        Reply::Done
                    }
                    Err(e) => refused(e),
                }
            }
            Asked::TestTone => {
                let result = ask(&mut self.phone, Request::TestTone);
                self.drain_now();
                result.map_or_else(refused, |_| Reply::Done)
            }
        }
    }

    /// The agent's contacts, then the team directory's people.
    fn contacts(&self) -> Result<Vec<interaction::Contact>, store::StoreError> {
        let mut contacts = self.directory.contacts()?;
        contacts.extend(self.directory_people.iter().cloned());
        Ok(contacts)
    }

    /// The phone matches callers against the contacts: give it the new list.
    pub(super) fn contacts_changed(&mut self) {
        match self.contacts() {
            Ok(contacts) => {
                let _ = ask(&mut self.phone, Request::SetContacts(contacts));
            }
            Err(e) => error!(error = %e, "cannot reload the contacts"),
        }
    }
}

/// The settings with the sound devices there are to choose from.
fn settings_reply(settings: api::Settings, file: Option<String>) -> Reply {
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
    Reply::Settings {
        settings,
        inputs,
        outputs,
        devices_note,
        headsets: crate::headset::list(),
        file,
    }
}
