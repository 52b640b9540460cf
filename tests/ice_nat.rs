//! ICE through real NATs: network namespaces this test makes (and removes), the kernel's NAT
//! (nftables masquerade) between them, coturn as the STUN and TURN server, baresip with its
//! ice module on the far side.
//!
//! ```text
//!  agent ns: recall 192.0.2.10 ── NAT A 192.0.2.1 | 203.0.113.1 ──┐
//!                                                                  ├─ wan ns (bridge): coturn 203.0.113.100,
//!  bob ns:   baresip 198.51.100.10 ── NAT B 198.51.100.1 | 203.0.113.2 ┘
//!  public ns: baresip 203.0.113.20 ─────────────────────────────────────┘
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::ice::{BARESIP_ICE, BARESIP_ICE_CONFIG, ice_pair};
use crate::srtp::{baresip_at, call_bob, flowing, hang_up_and_check_audio};
use crate::support::{
    Headless, Proc, connect, free_port, reach_in_netns, require, scratch, wait_until, write_tone,
};

/// coturn's address on the "internet".
const TURN: &str = "203.0.113.100:3478";

/// The namespaces of one test, removed when it is dropped.
struct Topology {
    prefix: String,
    names: Vec<String>,
}

fn ip(args: &str) {
    let status = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .expect("ip");
    assert!(status.success(), "ip {args}");
}

fn in_ns(netns: &str, command: &str) {
    let status = Command::new("ip")
        .args(["netns", "exec", netns])
        .args(command.split_whitespace())
        .status()
        .expect("ip netns exec");
    assert!(status.success(), "{netns}: {command}");
}

/// How NAT A maps: `masquerade` keeps the source port (endpoint-independent mapping,
/// address-and-port-dependent filtering: a port-restricted cone in practice), `masquerade
/// fully-random` maps every new destination to a new port (symmetric).
#[derive(Clone, Copy)]
enum Nat {
    PortRestricted,
    Symmetric,
}

impl Topology {
    fn new(tag: &str, nat: Nat, bob_behind_nat: bool) -> Self {
        require("ip");
        require("nft");
        let prefix = format!("rc{}{tag}", std::process::id() % 100_000);
        let mut topology = Self {
            prefix: prefix.clone(),
            names: Vec::new(),
        };
        let (agent, nat_a, wan) = (topology.ns("a"), topology.ns("n"), topology.ns("w"));
        let p = &prefix;
        // agent ─ NAT A
        ip(&format!("link add {p}a0 type veth peer name {p}a1"));
        ip(&format!("link set {p}a0 netns {agent}"));
        ip(&format!("link set {p}a1 netns {nat_a}"));
        ip(&format!("-n {agent} addr add 192.0.2.10/24 dev {p}a0"));
        ip(&format!("-n {agent} link set {p}a0 up"));
        ip(&format!("-n {agent} route add default via 192.0.2.1"));
        ip(&format!("-n {nat_a} addr add 192.0.2.1/24 dev {p}a1"));
        ip(&format!("-n {nat_a} link set {p}a1 up"));
        // NAT A ─ wan bridge
        ip(&format!("-n {wan} link add {p}br type bridge"));
        ip(&format!("-n {wan} link set {p}br up"));
        ip(&format!("-n {wan} addr add 203.0.113.100/24 dev {p}br"));
        topology.uplink(&nat_a, &wan, "n", "203.0.113.1/24");
        // A public host for bob when he is not behind a NAT.
        let public = topology.ns("p");
        topology.uplink(&public, &wan, "p", "203.0.113.20/24");
        topology.masquerade(&nat_a, &format!("{p}n0"), nat);
        if bob_behind_nat {
            let (bob, nat_b) = (topology.ns("b"), topology.ns("m"));
            ip(&format!("link add {p}b0 type veth peer name {p}b1"));
            ip(&format!("link set {p}b0 netns {bob}"));
            ip(&format!("link set {p}b1 netns {nat_b}"));
            ip(&format!("-n {bob} addr add 198.51.100.10/24 dev {p}b0"));
            ip(&format!("-n {bob} link set {p}b0 up"));
            ip(&format!("-n {bob} route add default via 198.51.100.1"));
            ip(&format!("-n {nat_b} addr add 198.51.100.1/24 dev {p}b1"));
            ip(&format!("-n {nat_b} link set {p}b1 up"));
            topology.uplink(&nat_b, &wan, "m", "203.0.113.2/24");
            topology.masquerade(&nat_b, &format!("{p}m0"), Nat::PortRestricted);
            // Bob's LAN is routed from the wan for SIP only (see `let_sip_in`).
            ip(&format!(
                "-n {wan} route add 198.51.100.0/24 via 203.0.113.2"
            ));
            ip(&format!(
                "-n {nat_a} route add 198.51.100.0/24 via 203.0.113.2"
            ));
        }
        topology
    }

    /// The agent's host gets a second address, 192.0.2.11, which outlives the first (the
    /// kernel would drop it with its primary otherwise).
    fn second_agent_address(&self) {
        let (agent, link) = (self.name("a"), format!("{}a0", self.prefix));
        in_ns(
            &agent,
            &format!("sysctl -qw net.ipv4.conf.{link}.promote_secondaries=1"),
        );
        ip(&format!("-n {agent} addr add 192.0.2.11/24 dev {link}"));
    }

    /// The agent's first address, 192.0.2.10 (where its RTP is bound), leaves its host, as
    /// when a laptop leaves a network; waits until `agent` has moved its call's media.
    fn first_agent_address_goes(&self, agent: &Headless) {
        let (ns, link) = (self.name("a"), format!("{}a0", self.prefix));
        ip(&format!("-n {ns} addr del 192.0.2.10/24 dev {link}"));
        ip(&format!("-n {ns} route replace default via 192.0.2.1"));
        assert!(
            wait_until(Duration::from_secs(15), || agent
                .proc
                .log_text()
                .contains("moving the call's media")),
            "{}",
            agent.proc.log_text()
        );
    }

    /// NAT B lets in, unasked, only SIP to bob's port (as a PBX's port forward would): all
    /// else reaches bob only as the answer to what bob sent.
    fn let_sip_in(&self, port: u16) {
        let out = format!("{}m0", self.prefix);
        self.nft(
            &self.name("m"),
            &format!(
                "table ip filter {{ chain inbound {{ type filter hook forward priority 0; \
                 ct state established,related accept; iifname \"{out}\" udp dport {port} accept; \
                 iifname \"{out}\" drop; }}; }}\n"
            ),
        );
    }

    /// NAT A's firewall lets out of the agent's LAN no UDP but SIP to `port` (as offices that
    /// allow only web traffic and the PBX do): no STUN, no direct media.
    fn only_sip_out(&self, port: u16) {
        let lan = format!("{}a1", self.prefix);
        self.nft(
            &self.name("n"),
            &format!(
                "table ip office {{ chain out {{ type filter hook forward priority 0; \
                 iifname \"{lan}\" udp dport != {port} drop; }}; }}\n"
            ),
        );
    }

    /// Makes a namespace with its loopback up.
    fn ns(&mut self, role: &str) -> String {
        let name = format!("{}{role}", self.prefix);
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        ip(&format!("netns add {name}"));
        ip(&format!("-n {name} link set lo up"));
        self.names.push(name.clone());
        name
    }

    fn name(&self, role: &str) -> String {
        format!("{}{role}", self.prefix)
    }

    /// A NAT namespace's outside interface, on the wan bridge, with this address.
    fn uplink(&self, nat: &str, wan: &str, role: &str, addr: &str) {
        let p = &self.prefix;
        ip(&format!(
            "link add {p}{role}0 type veth peer name {p}{role}1"
        ));
        ip(&format!("link set {p}{role}0 netns {nat}"));
        ip(&format!("link set {p}{role}1 netns {wan}"));
        ip(&format!("-n {nat} addr add {addr} dev {p}{role}0"));
        ip(&format!("-n {nat} link set {p}{role}0 up"));
        ip(&format!("-n {wan} link set {p}{role}1 master {p}br"));
        ip(&format!("-n {wan} link set {p}{role}1 up"));
        in_ns(nat, "sysctl -q -w net.ipv4.ip_forward=1");
    }

    fn masquerade(&self, nat: &str, out: &str, kind: Nat) {
        let how = match kind {
            Nat::PortRestricted => "masquerade",
            Nat::Symmetric => "masquerade fully-random",
        };
        // As a home router's firewall does, what the wan sends to the router unasked is dropped
        // (and, dropped before conntrack confirms it, leaves no entry that would make the NAT
        // map our next flow to that sender to another port).
        let rules = format!(
            "table ip nat {{ chain post {{ type nat hook postrouting priority 100; oifname \"{out}\" {how}; }}; }}\n\
             table ip guard {{ chain input {{ type filter hook input priority 0; iifname \"{out}\" ct state new drop; }}; }}\n"
        );
        self.nft(nat, &rules);
    }

    fn nft(&self, nat: &str, rules: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", nat, "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("nft");
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(rules.as_bytes())
                .expect("rules");
        }
        assert!(child.wait().expect("nft").success(), "{rules}");
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// coturn in the wan namespace, with its own config: STUN and TURN on 203.0.113.100:3478
/// (UDP and TCP), long-term credentials agent/secret.
fn coturn(dir: &Path, wan: &str) -> Proc {
    coturn_with(dir, wan, None)
}

/// coturn as [`coturn`], and with `pki` (from `recall cert`) TURN over TLS on
/// 203.0.113.100:5349 too.
fn coturn_with(dir: &Path, wan: &str, pki: Option<&Path>) -> Proc {
    require("turnserver");
    let config = dir.join("turnserver.conf");
    let tls = match pki {
        Some(pki) => format!(
            "tls-listening-port=5349\ncert={}\npkey={}\n",
            pki.join("cert.pem").display(),
            pki.join("key.pem").display()
        ),
        None => "no-tls\n".to_owned(),
    };
    std::fs::write(
        &config,
        format!(
            "listening-ip=203.0.113.100\nlistening-port=3478\nrelay-ip=203.0.113.100\n\
             min-port=49152\nmax-port=49400\nrealm=recall.test\nlt-cred-mech\nuser=agent:secret\n\
             fingerprint\n{tls}no-dtls\nno-cli\nno-tcp-relay\nno-multicast-peers\n\
             pidfile={}\nlog-file=stdout\nsimple-log\nverbose\n",
            dir.join("turnserver.pid").display()
        ),
    )
    .expect("coturn config");
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", wan, "turnserver", "-c"])
        .arg(&config);
    let turn = Proc::spawn("coturn", command, &dir.join("coturn.log"));
    assert!(
        wait_until(Duration::from_secs(10), || turn
            .log_text()
            .contains("Total General servers")
            || turn.log_text().contains("listener opened")),
        "{}",
        turn.log_text()
    );
    turn
}

/// recall headless inside the agent's namespace on 192.0.2.10, with `[media]` as given; its
/// control API is reached inside the namespace.
fn recall_behind_nat(dir: &Path, agent_ns: &str, media: &str) -> Headless {
    recall_behind_nat_on(dir, agent_ns, media, "192.0.2.10")
}

/// As [`recall_behind_nat`], its SIP on `sip_ip` (RTP stays on 192.0.2.10).
fn recall_behind_nat_on(dir: &Path, agent_ns: &str, media: &str, sip_ip: &str) -> Headless {
    write_tone(&dir.join("tone.wav"), 440.0, 10.0);
    let config = dir.join("recall.toml");
    std::fs::write(
        &config,
        format!("[media]\ncodecs = [\"pcmu\"]\nrtp_ip = \"192.0.2.10\"\n{media}\n"),
    )
    .expect("config");
    let sip: SocketAddr = format!("{sip_ip}:5060").parse().expect("addr");
    let control: SocketAddr = format!("127.0.0.2:{}", free_port()).parse().expect("addr");
    reach_in_netns(control, agent_ns);
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", agent_ns, env!("CARGO_BIN_EXE_recall")])
        .arg("headless")
        .arg("--listen")
        .arg(format!("udp:{sip}"))
        .arg("--control")
        .arg(control.to_string())
        .arg("--config")
        .arg(&config)
        .arg("--audio")
        .arg(format!(
            "file:{},{}",
            dir.join("tone.wav").display(),
            dir.join("heard.wav").display()
        ))
        .arg("--log-sip")
        .env(
            "RUST_LOG",
            std::env::var("RECALL_TEST_LOG").unwrap_or_else(|_| "info".to_owned()),
        );
    let proc = Proc::spawn("recall behind NAT", command, &dir.join("recall.log"));
    let agent = Headless { proc, sip, control };
    assert!(
        wait_until(Duration::from_secs(10), || connect(control).is_ok()),
        "{}",
        agent.proc.log_text()
    );
    agent
}

/// Waits until the agent's spare sockets have gathered their candidates.
fn gathered(agent: &Headless) {
    assert!(
        wait_until(Duration::from_secs(10), || agent
            .proc
            .log_text()
            .contains("ICE candidates gathered")),
        "{}",
        agent.proc.log_text()
    );
}

/// A call from recall behind a port-restricted NAT (STUN only) to baresip on a public address,
/// placed once both are up: the topology (keep it alive), coturn, bob, and recall.
/// Both sides play a tone of `seconds` (baresip hangs up when its file ends).
fn call_public_bob(dir: &Path, tag: &str, seconds: f32) -> (Topology, Proc, Proc, Headless) {
    let topology = Topology::new(tag, Nat::PortRestricted, false);
    let (agent_ns, wan) = (topology.name("a"), topology.name("w"));
    let turn = coturn(dir, &wan);
    let (bob, sip, _) = baresip_at(
        dir,
        Some(&topology.name("p")),
        "203.0.113.20",
        BARESIP_ICE,
        BARESIP_ICE_CONFIG,
    );
    let agent = recall_behind_nat(
        dir,
        &agent_ns,
        &format!("ice = true\nstun_server = \"{TURN}\""),
    );
    gathered(&agent);
    write_tone(&dir.join("tone.wav"), 440.0, seconds);
    let (status, call) = call_bob(&agent, &format!("203.0.113.20:{sip}"));
    assert_eq!(status, 201, "{call}");
    (topology, turn, bob, agent)
}

#[test]
fn behind_a_port_restricted_nat_the_server_reflexive_candidate_carries_the_call() {
    let dir = scratch("ice-nat-prc");
    let (_topology, _turn, bob, agent) = call_public_bob(&dir, "p", 10.0);
    let view = ice_pair(&agent);
    let log = agent.proc.log_text();
    // Our offer has the host and the server-reflexive candidate (NAT A's public address).
    assert!(
        log.contains("typ host") && log.contains(" 203.0.113.1 ") && log.contains("typ srflx"),
        "{log}"
    );
    // The pair runs from our host socket (through the NAT) to bob; bob reached us at NAT A's
    // public address — our host candidate, 192.0.2.10, is unreachable from the wan.
    let pair = view["ice"].as_str().unwrap_or_default();
    assert!(pair.contains("-> host 203.0.113.20:"), "{view}");
    assert!(
        wait_until(Duration::from_secs(10), || bob
            .log_text()
            .contains("connected: raddr 203.0.113.1:")),
        "{}",
        bob.log_text()
    );
    let view = flowing(&agent, &bob);
    hang_up_and_check_audio(&dir, agent, &bob, &view, false);
}

#[test]
fn behind_a_symmetric_nat_only_the_turn_relay_carries_the_call() {
    let dir = scratch("ice-nat-sym");
    let topology = Topology::new("s", Nat::Symmetric, true);
    let (agent_ns, wan, bob_ns) = (topology.name("a"), topology.name("w"), topology.name("b"));
    let turn = coturn(&dir, &wan);
    let (bob, sip, _) = baresip_at(
        &dir,
        Some(&bob_ns),
        "198.51.100.10",
        &format!("{BARESIP_ICE};stunserver=stun:{TURN}"),
        BARESIP_ICE_CONFIG,
    );
    let agent = recall_behind_nat(
        &dir,
        &agent_ns,
        &format!(
            "ice = true\nstun_server = \"{TURN}\"\nturn_server = \"{TURN}\"\n\
             turn_user = \"agent\"\nturn_password = \"secret\""
        ),
    );
    gathered(&agent);
    topology.let_sip_in(sip);
    relayed_call(
        &dir,
        agent,
        &bob,
        &turn,
        &format!("198.51.100.10:{sip}"),
        "",
    );
}

/// Calls bob at `at`: the pair runs from coturn's relay (to `remote`, when said), and the
/// audio goes both ways over it.
fn relayed_call(dir: &Path, agent: Headless, bob: &Proc, turn: &Proc, at: &str, remote: &str) {
    let (status, call) = call_bob(&agent, at);
    assert_eq!(status, 201, "{call}");
    let view = ice_pair(&agent);
    let pair = view["ice"].as_str().unwrap_or_default();
    assert!(
        pair.starts_with("relay 203.0.113.100:") && pair.contains(remote),
        "{view}\n{}\n{}",
        agent.proc.log_text(),
        turn.log_text()
    );
    let view = flowing(&agent, bob);
    hang_up_and_check_audio(dir, agent, bob, &view, false);
}

#[test]
fn when_the_peer_vanishes_consent_expires_and_the_call_ends() {
    let dir = scratch("ice-nat-consent");
    let (_topology, _turn, mut bob, agent) = call_public_bob(&dir, "c", 10.0);
    flowing(&agent, &bob);
    // Bob's process dies without a BYE: nothing answers our consent checks any more.
    let _ = bob.child.kill();
    let _ = bob.child.wait();
    let mut view = serde_json::Value::Null;
    let ended = wait_until(Duration::from_secs(45), || {
        view = agent.calls().first().cloned().unwrap_or_default();
        view["state"] == "ended"
    });
    assert!(ended, "{view}\n{}", agent.proc.log_text());
    let reason = view["end_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("consent expired"), "{view}");
}

/// recall behind a NAT whose firewall lets out no UDP but SIP calls public bob; the TURN
/// server is reached as `turn_server` says (over TCP or TLS) and its relay carries the call.
fn relayed_over_a_stream(tag: &str, turn_server: &str, said: &str) {
    let dir = scratch(&format!("ice-nat-{tag}"));
    let topology = Topology::new(tag, Nat::PortRestricted, false);
    let (agent_ns, wan) = (topology.name("a"), topology.name("w"));
    let pki = crate::tls::make_cert(&dir, "pki", &["203.0.113.100"]);
    let turn = coturn_with(&dir, &wan, Some(&pki));
    let (bob, sip, _) = baresip_at(
        &dir,
        Some(&topology.name("p")),
        "203.0.113.20",
        BARESIP_ICE,
        BARESIP_ICE_CONFIG,
    );
    topology.only_sip_out(sip);
    let agent = recall_behind_nat(
        &dir,
        &agent_ns,
        &format!(
            "ice = true\nstun_server = \"{TURN}\"\nturn_server = \"{turn_server}\"\n\
             turn_user = \"agent\"\nturn_password = \"secret\"\n\n[tls]\nca = \"{}\"",
            pki.join("ca.pem").display()
        ),
    );
    gathered(&agent);
    let log = agent.proc.log_text();
    // The STUN server is out of reach; the TURN server answered over the stream.
    assert!(
        log.contains(said) && log.contains("STUN binding: no answer"),
        "{log}"
    );
    relayed_call(
        &dir,
        agent,
        &bob,
        &turn,
        &format!("203.0.113.20:{sip}"),
        "-> host 203.0.113.20:",
    );
}

#[test]
fn where_no_udp_gets_out_the_turn_server_is_reached_over_tls_and_relays_the_call() {
    relayed_over_a_stream("t", "turns:203.0.113.100:5349", "TURN over TLS");
}

#[test]
fn where_no_udp_gets_out_the_turn_server_is_reached_over_tcp_and_relays_the_call() {
    relayed_over_a_stream(
        "u",
        "turn:203.0.113.100:3478?transport=tcp",
        "TURN over TCP",
    );
}

#[test]
fn when_the_agents_addresses_change_ice_restarts_and_the_call_goes_on() {
    let dir = scratch("ice-nat-restart");
    let (topology, _turn, bob, agent) = call_public_bob(&dir, "r", 30.0);
    ice_pair(&agent);
    flowing(&agent, &bob);
    // The agent's host gets another address (a VPN came up, DHCP renumbered it).
    ip(&format!(
        "-n {} addr add 192.0.2.11/24 dev {}a0",
        topology.name("a"),
        topology.prefix
    ));
    let ufrags = |log: &str| {
        log.lines()
            .filter_map(|l| l.strip_prefix("a=ice-ufrag:"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let before = ufrags(&agent.proc.log_text());
    assert!(
        wait_until(Duration::from_secs(15), || agent
            .proc
            .log_text()
            .contains("ICE restarted: re-offering")),
        "{}",
        agent.proc.log_text()
    );
    // Our re-offer carries new credentials (bob's answer keeps his: libre does not restart
    // its side, which RFC 8445 §9 asks — his checks with them are still answered); the checks
    // pick a pair again and the audio goes on over it.
    assert!(
        wait_until(Duration::from_secs(10), || {
            let after = ufrags(&agent.proc.log_text());
            after.len() >= before.len() + 2 && !before.contains(&after[before.len()])
        }),
        "{:?}\n{}\n{}",
        before,
        agent.proc.log_text(),
        bob.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(10), || agent
            .proc
            .log_text()
            .matches("ICE selected a pair")
            .count()
            >= 2),
        "{}",
        agent.proc.log_text()
    );
    let received = first_call_packets(&agent);
    let view = ice_pair(&agent);
    assert!(
        wait_until(Duration::from_secs(10), || first_call_packets(&agent)
            > received + 100),
        "{view}\n{}\n{}",
        agent.proc.log_text(),
        bob.log_text()
    );
    hang_up_and_check_audio(&dir, agent, &bob, &view, false);
}

#[test]
fn when_the_media_address_leaves_the_host_the_call_moves_to_another_and_goes_on() {
    let dir = scratch("ice-nat-move");
    let topology = Topology::new("v", Nat::PortRestricted, false);
    let (agent_ns, wan) = (topology.name("a"), topology.name("w"));
    // The agent's host has a second address, on which SIP runs; RTP is bound to the first.
    topology.second_agent_address();
    let turn = coturn(&dir, &wan);
    let (bob, sip, _) = baresip_at(
        &dir,
        Some(&topology.name("p")),
        "203.0.113.20",
        BARESIP_ICE,
        BARESIP_ICE_CONFIG,
    );
    let agent = recall_behind_nat_on(
        &dir,
        &agent_ns,
        &format!("ice = true\nstun_server = \"{TURN}\""),
        "192.0.2.11",
    );
    gathered(&agent);
    write_tone(&dir.join("tone.wav"), 440.0, 30.0);
    let (status, call) = call_bob(&agent, &format!("203.0.113.20:{sip}"));
    assert_eq!(status, 201, "{call}");
    ice_pair(&agent);
    flowing(&agent, &bob);
    // The address the call's RTP socket is bound to leaves the host (the laptop left that
    // network; DHCP gave it another).
    topology.first_agent_address_goes(&agent);
    let moved = agent
        .proc
        .log_text()
        .lines()
        .find(|l| l.contains("moving the call's media"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(moved.contains("192.0.2.11:"), "{moved}");
    // ICE restarts on the new socket and picks a pair through it; the audio goes on.
    assert!(
        wait_until(Duration::from_secs(15), || agent
            .proc
            .log_text()
            .matches("ICE selected a pair")
            .count()
            >= 2),
        "{}\n{}",
        agent.proc.log_text(),
        bob.log_text()
    );
    let received = first_call_packets(&agent);
    let view = ice_pair(&agent);
    assert!(
        wait_until(Duration::from_secs(10), || first_call_packets(&agent)
            > received + 100),
        "{view}\n{}\n{}",
        agent.proc.log_text(),
        bob.log_text()
    );
    hang_up_and_check_audio(&dir, agent, &bob, &view, false);
    drop(turn);
    drop(topology);
}

#[test]
fn without_ice_a_call_whose_media_address_leaves_the_host_re_offers_the_new_one() {
    let dir = scratch("media-move-plain");
    let topology = Topology::new("q", Nat::PortRestricted, false);
    let (agent_ns, lan_ns) = (topology.name("a"), topology.name("n"));
    topology.second_agent_address();
    // Bob on the agent's LAN, without ICE; he hangs up when no RTP has come for 5 s, so the
    // call still being up later says he hears the agent at its new address.
    let (bob, sip, _) = baresip_at(&dir, Some(&lan_ns), "192.0.2.1", "", "rtp_timeout 5");
    let agent = recall_behind_nat_on(&dir, &agent_ns, "", "192.0.2.11");
    write_tone(&dir.join("tone.wav"), 440.0, 30.0);
    let (status, call) = call_bob(&agent, &format!("192.0.2.1:{sip}"));
    assert_eq!(status, 201, "{call}");
    flowing(&agent, &bob);
    topology.first_agent_address_goes(&agent);
    // The re-INVITE offers the new address, and bob's RTP comes to it.
    assert!(
        wait_until(Duration::from_secs(5), || agent
            .proc
            .log_text()
            .contains("c=IN IP4 192.0.2.11")),
        "{}",
        agent.proc.log_text()
    );
    let received = first_call_packets(&agent);
    std::thread::sleep(Duration::from_secs(8));
    let view = crate::srtp::first_call(&agent);
    assert_eq!(view["state"], "connected", "{view}\n{}", bob.log_text());
    assert!(
        first_call_packets(&agent) > received + 300,
        "{view}\n{}\n{}",
        agent.proc.log_text(),
        bob.log_text()
    );
    hang_up_and_check_audio(&dir, agent, &bob, &view, false);
    drop(topology);
}

/// RTP packets the agent's call has received so far.
fn first_call_packets(agent: &Headless) -> u64 {
    crate::srtp::first_call(agent)["stats"]["packets_received"]
        .as_u64()
        .unwrap_or(0)
}
