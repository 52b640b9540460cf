//! The tray against a real session bus: a private `dbus-daemon`, a StatusNotifierWatcher (the
//! tray host's side, served by the test — no desktop shell runs here), the desktop under
//! Xvfb registered at Kamailio. The icon registers itself, asks for attention while a
//! callback rings, and its menu's Quit (clicked through com.canonical.dbusmenu, as a panel
//! does) closes recall, which un-registers first.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zbus::zvariant::OwnedValue;

use crate::kamailio_baresip::{account_config, kamailio};
use crate::support::{
    Proc, free_port, get_json, recall, require, scratch, sipp_in_background, wait_until,
};

/// The tray host's registry: which items registered.
struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: String) {
        self.items.lock().expect("items").push(service);
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().expect("items").clone()
    }
}

type Layout = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

/// An X display of the test's own (Xvfb on a free display number).
fn xvfb(dir: &std::path::Path) -> (Proc, String) {
    require("Xvfb");
    for _ in 0..20 {
        let n = 100 + free_port() % 400;
        let socket = format!("/tmp/.X11-unix/X{n}");
        if std::path::Path::new(&socket).exists() {
            continue;
        }
        let display = format!(":{n}");
        let mut command = Command::new("Xvfb");
        command.args([
            display.as_str(),
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ]);
        let proc = Proc::spawn("Xvfb", command, &dir.join(format!("xvfb-{n}.log")));
        if wait_until(Duration::from_secs(5), || {
            std::path::Path::new(&socket).exists()
        }) {
            return (proc, display);
        }
    }
    panic!("no Xvfb display came up");
}

/// `recall desktop` on `display` with `config`, its SIP and control API on free ports, on the
/// session bus at `bus` (none: no tray), logging its SIP.
fn desktop(
    dir: &std::path::Path,
    display: &str,
    config: &std::path::Path,
    bus: Option<&str>,
) -> (Proc, std::net::SocketAddr, std::net::SocketAddr) {
    let sip: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let control: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut command = recall();
    command
        .args(["desktop", "--audio", "null", "--log-sip", "--config"])
        .arg(config)
        .arg("--listen")
        .arg(format!("udp:{sip}"))
        .arg("--control")
        .arg(control.to_string())
        .env("DISPLAY", display)
        .env("LANG", "en_US.UTF-8")
        .env("RUST_LOG", "info");
    match bus {
        Some(address) => command.env("DBUS_SESSION_BUS_ADDRESS", address),
        None => command.env_remove("DBUS_SESSION_BUS_ADDRESS"),
    };
    let proc = Proc::spawn("recall desktop", command, &dir.join("recall.log"));
    (proc, sip, control)
}

#[test]
fn the_tray_rings_with_the_agent_and_quit_un_registers() {
    require("dbus-daemon");
    let dir = scratch("tray");
    // A display and a session bus of the test's own.
    let (xvfb, display) = xvfb(&dir);
    let bus = dir.join("bus");
    let address = format!("unix:path={}", bus.display());
    let dbus = Proc::spawn(
        "dbus-daemon",
        {
            let mut c = Command::new("dbus-daemon");
            c.args(["--session", "--nofork", "--nopidfile"])
                .arg(format!("--address={address}"));
            c
        },
        &dir.join("dbus.log"),
    );
    assert!(
        wait_until(Duration::from_secs(5), || bus.exists()),
        "no bus: {}",
        dbus.log_text()
    );
    // zbus's blocking connection runs its own executor thread: the watcher answers while
    // the test waits.
    let items = Arc::new(Mutex::new(Vec::new()));
    let host = zbus::blocking::connection::Builder::address(address.as_str())
        .expect("address")
        .name("org.kde.StatusNotifierWatcher")
        .expect("name")
        .serve_at(
            "/StatusNotifierWatcher",
            Watcher {
                items: items.clone(),
            },
        )
        .expect("serve")
        .build()
        .expect("the watcher on the bus");

    // The desktop, registered at Kamailio.
    let (_kam, registrar) = kamailio(&dir);
    let config = account_config(&dir, registrar, "alice-secret");
    let (mut desk, sip, control) = desktop(&dir, &display, &config, Some(&address));
    let registered = wait_until(Duration::from_secs(15), || {
        std::net::TcpStream::connect(control).is_ok()
            && get_json(control, "/v1/status")["registrations"][0]["state"] == "registered"
    });
    assert!(registered, "not registered:\n{}", desk.log_text());
    assert!(
        wait_until(Duration::from_secs(5), || !items
            .lock()
            .expect("items")
            .is_empty()),
        "the icon never registered:\n{}",
        desk.log_text()
    );
    let service = items.lock().expect("items")[0].clone();
    let item = |path: &'static str, interface: &'static str| {
        // Read fresh each time: an item signals NewStatus, not PropertiesChanged.
        zbus::blocking::proxy::Builder::<zbus::blocking::Proxy<'_>>::new(&host)
            .destination(service.clone())
            .and_then(|b| b.path(path))
            .and_then(|b| b.interface(interface))
            .map(|b| b.cache_properties(zbus::proxy::CacheProperties::No))
            .and_then(|b| b.build())
            .expect("proxy")
    };
    let icon = item("/StatusNotifierItem", "org.kde.StatusNotifierItem");
    let status = || -> String { icon.get_property("Status").expect("Status") };
    assert_eq!(status(), "Active");
    let title: String = icon.get_property("Title").expect("Title");
    assert_eq!(title, "recall — Voice: Ready");

    // A callback rings: the icon asks for attention until it is answered.
    let sipp = sipp_in_background(&dir, "sipp-callback", "sipp/uac_callback.xml", sip);
    assert!(
        wait_until(Duration::from_secs(10), || status() == "NeedsAttention"),
        "{}",
        desk.log_text()
    );
    let ringing = get_json(control, "/v1/interactions?state=notified");
    let id = ringing[0]["id"]
        .as_str()
        .expect("a ringing callback")
        .to_owned();
    let (code, _) =
        crate::support::post_json(control, &format!("/v1/interactions/{id}/reject"), "");
    assert_eq!(code, 200);
    assert!(wait_until(Duration::from_secs(5), || status() == "Active"));
    let _ = sipp.join();

    // Quit from the menu, as the panel sends it.
    let menu = item("/MenuBar", "com.canonical.dbusmenu");
    let (_, (_, _, children)): (u32, Layout) = menu
        .call("GetLayout", &(0i32, -1i32, Vec::<String>::new()))
        .expect("layout");
    let mut quit = None;
    let mut labels = Vec::new();
    for child in children {
        let (id, props, _): Layout = child.try_into().expect("an item");
        if let Some(label) = props.get("label") {
            let label = String::try_from(label.try_clone().expect("clone")).expect("text");
            if label == "Quit" {
                quit = Some(id);
            }
            labels.push(label);
        }
    }
    assert_eq!(labels, ["Voice: Ready", "Ready", "Show recall", "Quit"]);
    let quit = quit.expect("a Quit item");
    let () = menu
        .call(
            "Event",
            &(quit, "clicked", zbus::zvariant::Value::from(0i32), 0u32),
        )
        .expect("clicked");
    let exited = desk.wait(Duration::from_secs(10));
    assert!(exited.success(), "{exited:?}:\n{}", desk.log_text());
    // It said goodbye to the registrar first: REGISTER with Expires 0, answered 200.
    let log = desk.log_text();
    let goodbye = log
        .find("Expires: 0")
        .or_else(|| log.find("expires=0"))
        .unwrap_or_else(|| panic!("no un-REGISTER in the log:\n{log}"));
    assert!(
        log[goodbye..].contains("SIP/2.0 200"),
        "the un-REGISTER was not answered 200:\n{}",
        &log[goodbye..]
    );
    drop(xvfb);
}

#[test]
fn a_global_shortcut_accepts_the_ringing_callback_from_outside_the_window() {
    require("xdotool");
    let dir = scratch("shortcut");
    let (_xvfb, display) = xvfb(&dir);
    let config = dir.join("desk.toml");
    std::fs::write(&config, "[desktop]\nreject_shortcut = \"Alt+F9\"\n").expect("config");
    let (desk, sip, control) = desktop(&dir, &display, &config, None);
    assert!(
        wait_until(Duration::from_secs(10), || std::net::TcpStream::connect(
            control
        )
        .is_ok()),
        "{}",
        desk.log_text()
    );
    let sipp = sipp_in_background(&dir, "sipp-callback", "sipp/uac_callback.xml", sip);
    let mut id = String::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let ringing = get_json(control, "/v1/interactions?state=notified");
            id = ringing[0]["id"].as_str().unwrap_or_default().to_owned();
            !id.is_empty()
        }),
        "{}",
        desk.log_text()
    );
    // The default accept key goes to the display, not to the window: the grab takes it.
    // (Ctrl+Alt+F1…F12 would not do: X switches virtual terminals with them.)
    let pressed = Command::new("xdotool")
        .args(["key", "ctrl+shift+F5"])
        .env("DISPLAY", &display)
        .status()
        .expect("xdotool");
    assert!(pressed.success());
    assert!(
        wait_until(Duration::from_secs(5), || {
            get_json(control, &format!("/v1/interactions/{id}"))["state"] != "notified"
        }),
        "the shortcut did not accept it:\n{}",
        desk.log_text()
    );
    let state = get_json(control, &format!("/v1/interactions/{id}"))["state"].clone();
    assert!(
        ["connected", "previewing", "ended"].contains(&state.as_str().unwrap_or_default()),
        "{state}"
    );
    let timeline = get_json(control, &format!("/v1/interactions/{id}"))["timeline"].to_string();
    assert!(timeline.contains("accepted"), "{timeline}");
    let _ = sipp.join();
}
