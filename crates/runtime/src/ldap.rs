//! The team's LDAP directory (`[directory]`): people read with a search (ldap3), their
//! attributes mapped to contacts by config, and kept fresh every `refresh`. The run loop adds
//! them to the agent's own contacts: incoming numbers are matched against them and the Team
//! Communicator finds them, without a round trip to the server per keystroke or per call.

use std::time::Duration;

use interaction::Contact;
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Directory contacts are numbered from here, apart from the agent's own contacts.
pub const DIRECTORY_IDS: u64 = 1 << 40;

/// Where the directory is and how its entries read as contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryConfig {
    /// `ldap://host:port` (or `ldapi://`).
    pub url: String,
    /// Where people are searched, e.g. `ou=people,dc=example,dc=com`.
    pub base: String,
    /// Which entries are people, e.g. `(objectClass=inetOrgPerson)`.
    pub filter: String,
    /// Bound as this DN with `password`, else anonymously.
    pub bind_dn: Option<String>,
    /// The bind password.
    pub password: Option<String>,
    /// The attribute holding the name shown (`cn`).
    pub name_attribute: String,
    /// The attributes holding phone numbers (`telephoneNumber`, `mobile`).
    pub number_attributes: Vec<String>,
    /// The attribute holding the e-mail address (`mail`).
    pub email_attribute: Option<String>,
    /// How often the directory is read again.
    pub refresh: Duration,
    /// At most this many entries.
    pub size_limit: usize,
}

/// Reads the directory once.
pub async fn fetch(config: &DirectoryConfig) -> Result<Vec<Contact>, String> {
    let settings = LdapConnSettings::new().set_conn_timeout(Duration::from_secs(5));
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &config.url)
        .await
        .map_err(|e| format!("cannot reach {}: {e}", config.url))?;
    ldap3::drive!(conn);
    if let Some(dn) = &config.bind_dn {
        ldap.simple_bind(dn, config.password.as_deref().unwrap_or(""))
            .await
            .and_then(ldap3::LdapResult::success)
            .map_err(|e| format!("bind as {dn} refused: {e}"))?;
    }
    let mut attributes = vec![config.name_attribute.clone()];
    attributes.extend(config.number_attributes.iter().cloned());
    attributes.extend(config.email_attribute.iter().cloned());
    let limit = i32::try_from(config.size_limit).unwrap_or(i32::MAX);
    let found = ldap
        .with_timeout(Duration::from_secs(10))
        .with_search_options(SearchOptions::new().sizelimit(limit))
        .search(&config.base, Scope::Subtree, &config.filter, attributes)
        .await
        .map_err(|e| format!("search under {} failed: {e}", config.base))?;
    // Size limit exceeded (4) still brings the entries up to the limit.
    if found.1.rc != 0 && found.1.rc != 4 {
        return Err(format!(
            "search under {} refused: {} {}",
            config.base, found.1.rc, found.1.text
        ));
    }
    let _ = ldap.unbind().await;
    Ok(found
        .0
        .into_iter()
        .take(config.size_limit)
        .map(SearchEntry::construct)
        .enumerate()
        .filter_map(|(n, entry)| contact(config, n, &entry))
        .collect())
}

/// One entry as a contact: its name, every number, its e-mail; the DN kept as a field.
fn contact(config: &DirectoryConfig, n: usize, entry: &SearchEntry) -> Option<Contact> {
    let first = |attribute: &str| {
        entry
            .attrs
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
            .and_then(|(_, values)| values.first().cloned())
    };
    let name = first(&config.name_attribute)?;
    let numbers = config
        .number_attributes
        .iter()
        .flat_map(|attribute| {
            entry
                .attrs
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case(attribute))
                .flat_map(|(_, values)| values.iter().cloned())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("directory_dn".to_owned(), entry.dn.clone());
    Some(Contact {
        id: DIRECTORY_IDS + n as u64,
        name,
        numbers,
        email: config.email_attribute.as_deref().and_then(first),
        fields,
        ..Contact::default()
    })
}

/// Reads the directory now and every `refresh`, sending each reading to the run loop; a
/// failed reading is logged and the last good one stays in use.
pub fn spawn(config: DirectoryConfig, to_core: mpsc::UnboundedSender<Vec<Contact>>) {
    tokio::spawn(async move {
        loop {
            // Its own task: a reading that panics (a malformed answer) costs one reading.
            let reading = tokio::spawn({
                let config = config.clone();
                async move { fetch(&config).await }
            })
            .await;
            match reading {
                Ok(Ok(contacts)) => {
                    info!(entries = contacts.len(), url = %config.url, "directory read");
                    if to_core.send(contacts).is_err() {
                        return;
                    }
                }
                Ok(Err(e)) => warn!(error = %e, "directory not read"),
                Err(e) => warn!(error = %e, "directory reading failed"),
            }
            tokio::time::sleep(config.refresh).await;
        }
    });
}
