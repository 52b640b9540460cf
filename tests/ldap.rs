//! The team's LDAP directory: OpenLDAP's slapd (Debian's), started by the test with its own
//! configuration on a loopback port and seeded with people; recall reads them into its
//! contacts, matches an incoming callback's number to one, and shows them in the directory
//! the Team Communicator searches.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{
    Headless, Proc, free_port, get_json, require, run_sipp, scratch, sipp_call_args, wait_until,
};

const BASE: &str = "dc=example,dc=com";

/// slapd on `port` with an empty `dc=example,dc=com`, seeded with two people.
fn slapd(dir: &Path, port: u16) -> Proc {
    require("slapd");
    require("ldapadd");
    let db = dir.join("db");
    std::fs::create_dir_all(&db).expect("db dir");
    let conf = dir.join("slapd.conf");
    std::fs::write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {pid}
database mdb
maxsize 10485760
suffix \"{BASE}\"
rootdn \"cn=admin,{BASE}\"
rootpw directory-secret
directory {db}
",
            pid = dir.join("slapd.pid").display(),
            db = db.display()
        ),
    )
    .expect("conf");
    let mut command = Command::new("slapd");
    command
        .args(["-f", &conf.display().to_string()])
        .args(["-h", &format!("ldap://127.0.0.1:{port}/")])
        .args(["-d", "256"]);
    let mut proc = Proc::spawn("slapd", command, &dir.join("slapd.log"));
    let url = format!("ldap://127.0.0.1:{port}");
    let seed = dir.join("seed.ldif");
    std::fs::write(
        &seed,
        format!(
            "dn: {BASE}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people

dn: cn=Ana Ruiz,ou=people,{BASE}
objectClass: inetOrgPerson
cn: Ana Ruiz
sn: Ruiz
telephoneNumber: +34 600 123 456
mail: ana.ruiz@example.com

dn: cn=Bo Li,ou=people,{BASE}
objectClass: inetOrgPerson
cn: Bo Li
sn: Li
mobile: +44 20 7946 0000

dn: cn=Printer,ou=people,{BASE}
objectClass: organizationalRole
cn: Printer
"
        ),
    )
    .expect("seed");
    let seeded = wait_until(Duration::from_secs(10), || {
        Command::new("ldapadd")
            .args(["-x", "-H", &url, "-D", &format!("cn=admin,{BASE}")])
            .args(["-w", "directory-secret", "-f", &seed.display().to_string()])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !seeded {
        let log = proc.log_text();
        proc.kill_hard();
        panic!("slapd did not take the seed; log:\n{log}");
    }
    proc
}

/// A config naming the test's directory, bound as its admin with `password`.
fn directory_config(dir: &Path, port: u16, password: &str) -> std::path::PathBuf {
    let config = dir.join("recall.toml");
    std::fs::write(
        &config,
        format!(
            "[directory]
url = \"ldap://127.0.0.1:{port}\"
base = \"ou=people,{BASE}\"
bind_dn = \"cn=admin,{BASE}\"
password = \"{password}\"
number_attributes = [\"telephoneNumber\", \"mobile\"]
"
        ),
    )
    .expect("config");
    config
}

#[test]
fn people_in_the_ldap_directory_are_matched_to_callers_and_found_by_the_team_communicator() {
    let dir = scratch("ldap");
    let port = free_port();
    let mut server = slapd(&dir, port);
    let config = directory_config(&dir, port, "directory-secret");
    let agent = Headless::start(&dir, &["--config", &config.display().to_string()]);
    let people = || -> Vec<serde_json::Value> {
        get_json(agent.control, "/v1/contacts")
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        wait_until(Duration::from_secs(10), || people().len() == 2),
        "{:?}",
        people()
    );
    let ana = people()
        .into_iter()
        .find(|c| c["name"] == "Ana Ruiz")
        .expect("Ana from the directory");
    assert_eq!(ana["numbers"], serde_json::json!(["+34 600 123 456"]));
    assert_eq!(ana["email"], "ana.ruiz@example.com");
    assert!(
        people().iter().any(
            |c| c["name"] == "Bo Li" && c["numbers"] == serde_json::json!(["+44 20 7946 0000"])
        )
    );

    // A callback from Ana's line written another way is matched to her.
    let mut args = sipp_call_args("sipp/uac_callback_case.xml", agent.sip);
    args.extend(
        [
            "-key",
            "customer",
            "0034600123456",
            "-key",
            "case",
            "CASE-1",
        ]
        .map(str::to_owned),
    );
    let sipp = {
        let dir = dir.clone();
        std::thread::spawn(move || run_sipp(&dir, "sipp-ldap", &args, Duration::from_secs(40)))
    };
    let mut matched = serde_json::Value::Null;
    assert!(
        wait_until(Duration::from_secs(10), || {
            matched = get_json(agent.control, "/v1/interactions?state=notified");
            matched[0]["contact"]["name"] == "Ana Ruiz"
        }),
        "{matched}"
    );
    let id = matched[0]["id"].as_str().expect("id").to_owned();
    let (status, _) =
        crate::support::post_json(agent.control, &format!("/v1/interactions/{id}/reject"), "");
    assert_eq!(status, 200);
    let _ = sipp.join();
    server.kill_hard();
}

#[test]
fn a_directory_that_refuses_the_bind_leaves_the_agent_working() {
    let dir = scratch("ldap-refused");
    let port = free_port();
    let mut server = slapd(&dir, port);
    let config = directory_config(&dir, port, "wrong");
    let mut agent = Headless::start(&dir, &["--config", &config.display().to_string()]);
    assert!(wait_until(Duration::from_secs(10), || {
        agent.proc.log_text().contains("directory not read")
    }));
    let log = agent.proc.log_text();
    assert!(
        log.contains("bind as cn=admin,dc=example,dc=com refused"),
        "{log}"
    );
    assert!(
        !log.contains("wrong"),
        "the password stays out of the log: {log}"
    );
    assert_eq!(agent.status()["active_calls"], 0);
    assert_eq!(
        get_json(agent.control, "/v1/contacts"),
        serde_json::json!([])
    );
    server.kill_hard();
    agent.proc.terminate(Duration::from_secs(5));
}
