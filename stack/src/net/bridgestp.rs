//! 802.1D (1998) spanning tree for bridge(4): BPDUs, root election, port roles and states,
//! the hello, message age, forward delay, hold, TCN and topology change timers, and
//! topology change handling, written from the standard's procedures (clause 8.6-8.9).
//!
//! Times are kept in 1/256 s, as in the BPDUs; the bridge's timer runs this once a
//! second (`tick`). Only members with the `stp` flag take part; a bridge with none sends
//! no BPDUs. Received BPDUs come from `bridge_input` with the bridge's lock held; what
//! is malformed is counted (`bpdu_bad`) and dropped. The bridge identifier's address is
//! the lowest among the STP members, as NetBSD's; unlike NetBSD's, a configuration BPDU
//! carries this bridge's identifier in its bridge-id field (not the root's), so Linux and
//! other 802.1D bridges read it right.

use crate::msg::{bstp_state, ifbif};
use crate::net::if_bridge::Softc;

/// The bridge group address BPDUs go to.
pub const BSTP_ETHERADDR: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x00];

const BPDU_TYPE_CFG: u8 = 0x00;
const BPDU_TYPE_TCN: u8 = 0x80;
const FLAG_TC: u8 = 0x01;
const FLAG_TCA: u8 = 0x80;
/// LLC header: DSAP, SSAP (the spanning tree SAP), UI.
const LLC: [u8; 3] = [0x42, 0x42, 0x03];
const CFG_LEN: usize = 35;
const TCN_LEN: usize = 4;

/// One second, in the BPDU's units.
const TICK: u16 = 256;
const MESSAGE_AGE_INCREMENT: u16 = 256;
const HOLD_TIME: u16 = 256;
pub const DEFAULT_MAX_AGE: u16 = 20 * 256;
pub const DEFAULT_HELLO_TIME: u16 = 2 * 256;
pub const DEFAULT_FORWARD_DELAY: u16 = 15 * 256;
pub const DEFAULT_BRIDGE_PRIORITY: u16 = 0x8000;

/// One of the standard's timers: runs from 0 up to the limit it is checked against.
#[derive(Debug, Clone, Copy, Default)]
pub struct StpTimer {
    active: bool,
    value: u16,
}

impl StpTimer {
    fn start(&mut self, value: u16) {
        self.active = true;
        self.value = value;
    }

    fn stop(&mut self) {
        self.active = false;
        self.value = 0;
    }

    /// Advances one tick; true (and stopped) once it reaches `limit`.
    fn expired(&mut self, limit: u16) -> bool {
        if !self.active {
            return false;
        }
        self.value = self.value.saturating_add(TICK);
        if self.value >= limit {
            self.stop();
            return true;
        }
        false
    }
}

/// The bridge's part (802.1D 8.5.3).
#[derive(Debug, Clone)]
pub struct Bstp {
    pub bridge_priority: u16,
    pub bridge_id: u64,
    pub designated_root: u64,
    pub root_path_cost: u32,
    /// The root port's interface index; None when this bridge is the root.
    pub root_port: Option<u16>,
    pub max_age: u16,
    pub hello_time: u16,
    pub forward_delay: u16,
    pub bridge_max_age: u16,
    pub bridge_hello_time: u16,
    pub bridge_forward_delay: u16,
    pub topology_change_detected: bool,
    pub topology_change: bool,
    hello_timer: StpTimer,
    tcn_timer: StpTimer,
    topology_change_timer: StpTimer,
}

impl Default for Bstp {
    fn default() -> Bstp {
        Bstp {
            bridge_priority: DEFAULT_BRIDGE_PRIORITY,
            bridge_id: 0,
            designated_root: 0,
            root_path_cost: 0,
            root_port: None,
            max_age: DEFAULT_MAX_AGE,
            hello_time: DEFAULT_HELLO_TIME,
            forward_delay: DEFAULT_FORWARD_DELAY,
            bridge_max_age: DEFAULT_MAX_AGE,
            bridge_hello_time: DEFAULT_HELLO_TIME,
            bridge_forward_delay: DEFAULT_FORWARD_DELAY,
            topology_change_detected: false,
            topology_change: false,
            hello_timer: StpTimer::default(),
            tcn_timer: StpTimer::default(),
            topology_change_timer: StpTimer::default(),
        }
    }
}

impl Bstp {
    fn root_bridge(&self) -> bool {
        self.designated_root == self.bridge_id
    }
}

/// One port's part (802.1D 8.5.5).
#[derive(Debug, Clone)]
pub struct Port {
    pub ifindex: u16,
    pub priority: u8,
    pub path_cost: u32,
    pub state: u8,
    pub designated_root: u64,
    pub designated_cost: u32,
    pub designated_bridge: u64,
    pub designated_port: u16,
    topology_change_ack: bool,
    config_pending: bool,
    change_detection_enabled: bool,
    message_age_timer: StpTimer,
    forward_delay_timer: StpTimer,
    hold_timer: StpTimer,
}

impl Port {
    pub fn new(ifindex: u16, priority: u8, path_cost: u32) -> Port {
        Port {
            ifindex,
            priority,
            path_cost,
            state: bstp_state::DISABLED,
            designated_root: 0,
            designated_cost: 0,
            designated_bridge: 0,
            designated_port: 0,
            topology_change_ack: false,
            config_pending: false,
            change_detection_enabled: true,
            message_age_timer: StpTimer::default(),
            forward_delay_timer: StpTimer::default(),
            hold_timer: StpTimer::default(),
        }
    }

    /// The port identifier: priority, then the port number (interface index & 0xff).
    pub fn port_id(&self) -> u16 {
        (u16::from(self.priority) << 8) | (self.ifindex & 0xff)
    }
}

/// A configuration BPDU's content (802.1D 9.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigBpdu {
    pub flags: u8,
    pub root_id: u64,
    pub root_path_cost: u32,
    pub bridge_id: u64,
    pub port_id: u16,
    pub message_age: u16,
    pub max_age: u16,
    pub hello_time: u16,
    pub forward_delay: u16,
}

/// A received BPDU, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bpdu {
    Config(ConfigBpdu),
    Tcn,
}

/// Parses a whole frame to the bridge group address: 802.3 length, LLC, then the BPDU.
/// None for anything malformed (which the caller counts).
pub fn parse(frame: &[u8]) -> Option<Bpdu> {
    if frame.len() < 14 + LLC.len() + TCN_LEN {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([frame[12], frame[13]]));
    // An 802.3 length that fits the frame (padding may follow it).
    if len >= 0x600 || len < LLC.len() + TCN_LEN || 14 + len > frame.len() {
        return None;
    }
    let body = &frame[14..14 + len];
    if body[..3] != LLC {
        return None;
    }
    let b = &body[3..];
    // Protocol identifier 0 (802.1D); any version is read as the 802.1D part of it.
    if b[0] != 0 || b[1] != 0 {
        return None;
    }
    match b[3] {
        BPDU_TYPE_TCN => Some(Bpdu::Tcn),
        BPDU_TYPE_CFG if b.len() >= CFG_LEN => {
            let u16at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
            let u64at = |i: usize| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[i..i + 8]);
                u64::from_be_bytes(a)
            };
            Some(Bpdu::Config(ConfigBpdu {
                flags: b[4],
                root_id: u64at(5),
                root_path_cost: u32::from_be_bytes([b[13], b[14], b[15], b[16]]),
                bridge_id: u64at(17),
                port_id: u16at(25),
                message_age: u16at(27),
                max_age: u16at(29),
                hello_time: u16at(31),
                forward_delay: u16at(33),
            }))
        }
        _ => None,
    }
}

/// Builds the frame of a BPDU from `src`: 802.3 header, LLC, body, padded to 60 bytes.
/// Returns the frame buffer and its length.
pub fn build(src: &[u8; 6], bpdu: &Bpdu) -> ([u8; 60], usize) {
    let mut f = [0u8; 60];
    f[..6].copy_from_slice(&BSTP_ETHERADDR);
    f[6..12].copy_from_slice(src);
    f[14..17].copy_from_slice(&LLC);
    let b = &mut f[17..];
    let body_len = match bpdu {
        Bpdu::Tcn => {
            b[3] = BPDU_TYPE_TCN;
            TCN_LEN
        }
        Bpdu::Config(c) => {
            b[3] = BPDU_TYPE_CFG;
            b[4] = c.flags;
            b[5..13].copy_from_slice(&c.root_id.to_be_bytes());
            b[13..17].copy_from_slice(&c.root_path_cost.to_be_bytes());
            b[17..25].copy_from_slice(&c.bridge_id.to_be_bytes());
            b[25..27].copy_from_slice(&c.port_id.to_be_bytes());
            b[27..29].copy_from_slice(&c.message_age.to_be_bytes());
            b[29..31].copy_from_slice(&c.max_age.to_be_bytes());
            b[31..33].copy_from_slice(&c.hello_time.to_be_bytes());
            b[33..35].copy_from_slice(&c.forward_delay.to_be_bytes());
            CFG_LEN
        }
    };
    let len = LLC.len() + body_len;
    f[12..14].copy_from_slice(&(len as u16).to_be_bytes());
    (f, 60)
}

/// The members taking part in the spanning tree.
fn stp_ports(sc: &Softc) -> Vec<usize> {
    (0..sc.members.len())
        .filter(|i| sc.members[*i].flags & ifbif::STP != 0)
        .collect()
}

fn port(sc: &mut Softc, i: usize) -> &mut crate::net::bridgestp::Port {
    &mut sc.members[i].stp
}

fn send(sc: &mut Softc, i: usize, bpdu: &Bpdu) {
    let ifp = &sc.members[i].ifp;
    if !ifp.is_up() {
        return;
    }
    let (f, len) = build(&ifp.lladdr, bpdu);
    if ifp.transmit(&f[..len], &pktbox_drivers::FrameMeta::PLAIN).is_ok() {
        sc.stats.bpdu_out += 1;
    } else {
        sc.stats.dropped += 1;
    }
}

fn designated_port(sc: &Softc, i: usize) -> bool {
    let p = &sc.members[i].stp;
    p.designated_bridge == sc.stp.bridge_id && p.designated_port == p.port_id()
}

fn transmit_config(sc: &mut Softc, i: usize) {
    if sc.members[i].stp.hold_timer.active {
        sc.members[i].stp.config_pending = true;
        return;
    }
    let message_age = if sc.stp.root_bridge() {
        0
    } else {
        let root = sc.stp.root_port;
        sc.members
            .iter()
            .find(|m| Some(m.ifp.index) == root)
            .map(|m| m.stp.message_age_timer.value)
            .unwrap_or(0)
            .saturating_add(MESSAGE_AGE_INCREMENT)
    };
    let p = &sc.members[i].stp;
    let c = ConfigBpdu {
        flags: if sc.stp.topology_change { FLAG_TC } else { 0 } | if p.topology_change_ack { FLAG_TCA } else { 0 },
        root_id: sc.stp.designated_root,
        root_path_cost: sc.stp.root_path_cost,
        bridge_id: sc.stp.bridge_id,
        port_id: p.port_id(),
        message_age,
        max_age: sc.stp.max_age,
        hello_time: sc.stp.hello_time,
        forward_delay: sc.stp.forward_delay,
    };
    if c.message_age < sc.stp.max_age {
        send(sc, i, &Bpdu::Config(c));
        let p = port(sc, i);
        p.topology_change_ack = false;
        p.config_pending = false;
        p.hold_timer.start(0);
    }
}

fn supersedes_port_info(sc: &Softc, i: usize, c: &ConfigBpdu) -> bool {
    let p = &sc.members[i].stp;
    if c.root_id != p.designated_root {
        return c.root_id < p.designated_root;
    }
    if c.root_path_cost != p.designated_cost {
        return c.root_path_cost < p.designated_cost;
    }
    if c.bridge_id != p.designated_bridge {
        return c.bridge_id < p.designated_bridge;
    }
    c.bridge_id != sc.stp.bridge_id || c.port_id <= p.designated_port
}

fn record_config_information(sc: &mut Softc, i: usize, c: &ConfigBpdu) {
    let p = port(sc, i);
    p.designated_root = c.root_id;
    p.designated_cost = c.root_path_cost;
    p.designated_bridge = c.bridge_id;
    p.designated_port = c.port_id;
    p.message_age_timer.start(c.message_age);
}

fn record_config_timeout_values(sc: &mut Softc, c: &ConfigBpdu) {
    sc.stp.max_age = c.max_age;
    sc.stp.hello_time = c.hello_time;
    sc.stp.forward_delay = c.forward_delay;
    sc.stp.topology_change = c.flags & FLAG_TC != 0;
}

fn config_bpdu_generation(sc: &mut Softc) {
    for i in stp_ports(sc) {
        if designated_port(sc, i) && sc.members[i].stp.state != bstp_state::DISABLED {
            transmit_config(sc, i);
        }
    }
}

fn transmit_tcn(sc: &mut Softc) {
    let root = sc.stp.root_port;
    if let Some(i) = sc.members.iter().position(|m| Some(m.ifp.index) == root) {
        send(sc, i, &Bpdu::Tcn);
    }
}

fn root_selection(sc: &mut Softc) {
    let mut best: Option<usize> = None;
    for i in stp_ports(sc) {
        let p = &sc.members[i].stp;
        if designated_port(sc, i) || p.state == bstp_state::DISABLED || p.designated_root >= sc.stp.bridge_id {
            continue;
        }
        let better = match best {
            None => true,
            Some(b) => {
                let r = &sc.members[b].stp;
                let key = |q: &Port| {
                    (
                        q.designated_root,
                        u64::from(q.designated_cost) + u64::from(q.path_cost),
                        q.designated_bridge,
                        q.designated_port,
                        q.port_id(),
                    )
                };
                key(p) < key(r)
            }
        };
        if better {
            best = Some(i);
        }
    }
    match best {
        None => {
            sc.stp.root_port = None;
            sc.stp.designated_root = sc.stp.bridge_id;
            sc.stp.root_path_cost = 0;
        }
        Some(b) => {
            let p = &sc.members[b].stp;
            sc.stp.root_port = Some(p.ifindex);
            sc.stp.designated_root = p.designated_root;
            sc.stp.root_path_cost = p.designated_cost.saturating_add(p.path_cost);
        }
    }
}

fn become_designated_port(sc: &mut Softc, i: usize) {
    let (root, cost, id) = (sc.stp.designated_root, sc.stp.root_path_cost, sc.stp.bridge_id);
    let p = port(sc, i);
    p.designated_root = root;
    p.designated_cost = cost;
    p.designated_bridge = id;
    p.designated_port = p.port_id();
}

fn designated_port_selection(sc: &mut Softc) {
    for i in stp_ports(sc) {
        let p = &sc.members[i].stp;
        let s = &sc.stp;
        if designated_port(sc, i)
            || p.designated_root != s.designated_root
            || s.root_path_cost < p.designated_cost
            || (s.root_path_cost == p.designated_cost
                && (s.bridge_id < p.designated_bridge
                    || (s.bridge_id == p.designated_bridge && p.port_id() <= p.designated_port)))
        {
            become_designated_port(sc, i);
        }
    }
}

fn configuration_update(sc: &mut Softc) {
    root_selection(sc);
    designated_port_selection(sc);
}

/// Sets a port's state; learned addresses behind a port that stops forwarding go.
fn set_state(sc: &mut Softc, i: usize, state: u8) {
    let was = sc.members[i].stp.state;
    sc.members[i].stp.state = state;
    if was == bstp_state::FORWARDING && state != bstp_state::FORWARDING {
        let idx = sc.members[i].ifp.index;
        sc.flush(false, Some(idx));
    }
}

fn make_forwarding(sc: &mut Softc, i: usize) {
    if sc.members[i].stp.state == bstp_state::BLOCKING {
        set_state(sc, i, bstp_state::LISTENING);
        sc.members[i].stp.forward_delay_timer.start(0);
    }
}

fn make_blocking(sc: &mut Softc, i: usize) {
    let st = sc.members[i].stp.state;
    if st != bstp_state::DISABLED && st != bstp_state::BLOCKING {
        if (st == bstp_state::FORWARDING || st == bstp_state::LEARNING) && sc.members[i].stp.change_detection_enabled {
            topology_change_detection(sc);
        }
        set_state(sc, i, bstp_state::BLOCKING);
        sc.members[i].stp.forward_delay_timer.stop();
    }
}

fn port_state_selection(sc: &mut Softc) {
    for i in stp_ports(sc) {
        if Some(sc.members[i].ifp.index) == sc.stp.root_port {
            let p = port(sc, i);
            p.config_pending = false;
            p.topology_change_ack = false;
            make_forwarding(sc, i);
        } else if designated_port(sc, i) {
            sc.members[i].stp.message_age_timer.stop();
            make_forwarding(sc, i);
        } else {
            let p = port(sc, i);
            p.config_pending = false;
            p.topology_change_ack = false;
            make_blocking(sc, i);
        }
    }
}

fn topology_change_detection(sc: &mut Softc) {
    if sc.stp.root_bridge() {
        sc.stp.topology_change = true;
        sc.stp.topology_change_timer.start(0);
        sc.stats.topology_changes += 1;
    } else if !sc.stp.topology_change_detected {
        transmit_tcn(sc);
        sc.stp.tcn_timer.start(0);
    }
    sc.stp.topology_change_detected = true;
}

fn topology_change_acknowledged(sc: &mut Softc) {
    sc.stp.topology_change_detected = false;
    sc.stp.tcn_timer.stop();
}

fn acknowledge_topology_change(sc: &mut Softc, i: usize) {
    sc.members[i].stp.topology_change_ack = true;
    transmit_config(sc, i);
}

/// What a bridge that has just become the root does (8.6.2.3, 8.7.7).
fn became_root(sc: &mut Softc) {
    sc.stp.max_age = sc.stp.bridge_max_age;
    sc.stp.hello_time = sc.stp.bridge_hello_time;
    sc.stp.forward_delay = sc.stp.bridge_forward_delay;
    topology_change_detection(sc);
    sc.stp.tcn_timer.stop();
    config_bpdu_generation(sc);
    sc.stp.hello_timer.start(0);
}

fn received_config_bpdu(sc: &mut Softc, i: usize, c: &ConfigBpdu) {
    if sc.members[i].stp.state == bstp_state::DISABLED {
        return;
    }
    let was_root = sc.stp.root_bridge();
    if supersedes_port_info(sc, i, c) {
        record_config_information(sc, i, c);
        configuration_update(sc);
        port_state_selection(sc);
        if !sc.stp.root_bridge() && was_root {
            sc.stp.hello_timer.stop();
            if sc.stp.topology_change_detected {
                sc.stp.topology_change_timer.stop();
                transmit_tcn(sc);
                sc.stp.tcn_timer.start(0);
            }
        }
        if Some(sc.members[i].ifp.index) == sc.stp.root_port {
            record_config_timeout_values(sc, c);
            config_bpdu_generation(sc);
            if c.flags & FLAG_TCA != 0 {
                topology_change_acknowledged(sc);
            }
        }
    } else if designated_port(sc, i) {
        transmit_config(sc, i);
    }
}

fn received_tcn_bpdu(sc: &mut Softc, i: usize) {
    if sc.members[i].stp.state != bstp_state::DISABLED && designated_port(sc, i) {
        topology_change_detection(sc);
        acknowledge_topology_change(sc, i);
    }
}

/// A BPDU from member `i` (an STP member): parsed, counted, acted on.
pub(crate) fn input(sc: &mut Softc, i: usize, frame: &[u8]) {
    if sc.stp.bridge_id == 0 {
        return;
    }
    match parse(frame) {
        None => sc.stats.bpdu_bad += 1,
        Some(Bpdu::Tcn) => {
            sc.stats.bpdu_in += 1;
            sc.stats.tcn_in += 1;
            received_tcn_bpdu(sc, i);
        }
        Some(Bpdu::Config(c)) => {
            sc.stats.bpdu_in += 1;
            // A message as old as its maximum age is stale (9.3.4).
            if c.message_age >= c.max_age {
                return;
            }
            received_config_bpdu(sc, i, &c);
        }
    }
}

fn initialize_port(sc: &mut Softc, i: usize) {
    become_designated_port(sc, i);
    set_state(sc, i, bstp_state::BLOCKING);
    let p = port(sc, i);
    p.topology_change_ack = false;
    p.config_pending = false;
    p.change_detection_enabled = true;
    p.message_age_timer.stop();
    p.forward_delay_timer.stop();
    p.hold_timer.stop();
}

fn enable_port(sc: &mut Softc, i: usize) {
    initialize_port(sc, i);
    port_state_selection(sc);
}

fn disable_port(sc: &mut Softc, i: usize) {
    let was_root = sc.stp.root_bridge();
    become_designated_port(sc, i);
    set_state(sc, i, bstp_state::DISABLED);
    let p = port(sc, i);
    p.topology_change_ack = false;
    p.config_pending = false;
    p.message_age_timer.stop();
    p.forward_delay_timer.stop();
    configuration_update(sc);
    port_state_selection(sc);
    if sc.stp.root_bridge() && !was_root {
        became_root(sc);
    }
}

fn port_usable(sc: &Softc, i: usize) -> bool {
    let ifp = &sc.members[i].ifp;
    ifp.is_up() && ifp.link_up()
}

/// (Re)starts the spanning tree (`bstp_initialization`): after the bridge comes up and
/// after any change to its members or parameters.
pub(crate) fn initialization(sc: &mut Softc) {
    let ports = stp_ports(sc);
    // Members without STP always forward.
    for m in sc.members.iter_mut().filter(|m| m.flags & ifbif::STP == 0) {
        m.stp.state = bstp_state::FORWARDING;
    }
    let Some(mac) = ports.iter().map(|i| sc.members[*i].ifp.lladdr).min() else {
        stop(sc);
        return;
    };
    let mut id = [0u8; 8];
    id[..2].copy_from_slice(&sc.stp.bridge_priority.to_be_bytes());
    id[2..].copy_from_slice(&mac);
    let s = &mut sc.stp;
    s.bridge_id = u64::from_be_bytes(id);
    s.designated_root = s.bridge_id;
    s.root_path_cost = 0;
    s.root_port = None;
    s.max_age = s.bridge_max_age;
    s.hello_time = s.bridge_hello_time;
    s.forward_delay = s.bridge_forward_delay;
    s.topology_change_detected = false;
    s.topology_change = false;
    s.tcn_timer.stop();
    s.topology_change_timer.stop();
    s.hello_timer.start(0);
    for i in ports {
        if port_usable(sc, i) {
            initialize_port(sc, i);
        } else {
            initialize_port(sc, i);
            set_state(sc, i, bstp_state::DISABLED);
        }
    }
    port_state_selection(sc);
    config_bpdu_generation(sc);
}

/// Stops the spanning tree (`bstp_stop`): every STP port disabled, no timers.
pub(crate) fn stop(sc: &mut Softc) {
    for i in stp_ports(sc) {
        set_state(sc, i, bstp_state::DISABLED);
        let p = port(sc, i);
        p.message_age_timer.stop();
        p.forward_delay_timer.stop();
        p.hold_timer.stop();
    }
    let s = &mut sc.stp;
    s.bridge_id = 0;
    s.designated_root = 0;
    s.root_port = None;
    s.root_path_cost = 0;
    s.topology_change = false;
    s.topology_change_detected = false;
    s.hello_timer.stop();
    s.tcn_timer.stop();
    s.topology_change_timer.stop();
}

/// One second passed (`bstp_tick`): members' link state, then every timer.
pub(crate) fn tick(sc: &mut Softc) {
    if sc.stp.bridge_id == 0 {
        return;
    }
    for i in stp_ports(sc) {
        let usable = port_usable(sc, i);
        let disabled = sc.members[i].stp.state == bstp_state::DISABLED;
        if usable && disabled {
            enable_port(sc, i);
        } else if !usable && !disabled {
            disable_port(sc, i);
        }
    }
    let hello = sc.stp.hello_time;
    if sc.stp.hello_timer.expired(hello) {
        config_bpdu_generation(sc);
        sc.stp.hello_timer.start(0);
    }
    let bridge_hello = sc.stp.bridge_hello_time;
    if sc.stp.tcn_timer.expired(bridge_hello) {
        transmit_tcn(sc);
        sc.stp.tcn_timer.start(0);
    }
    let tc_time = sc.stp.bridge_max_age.saturating_add(sc.stp.bridge_forward_delay);
    if sc.stp.topology_change_timer.expired(tc_time) {
        sc.stp.topology_change_detected = false;
        sc.stp.topology_change = false;
    }
    for i in stp_ports(sc) {
        let max_age = sc.stp.max_age;
        if sc.members[i].stp.message_age_timer.expired(max_age) {
            // The root's information timed out on this port (8.7.5).
            let was_root = sc.stp.root_bridge();
            become_designated_port(sc, i);
            configuration_update(sc);
            port_state_selection(sc);
            if sc.stp.root_bridge() && !was_root {
                became_root(sc);
            }
        }
    }
    for i in stp_ports(sc) {
        let fd = sc.stp.forward_delay;
        if sc.members[i].stp.forward_delay_timer.expired(fd) {
            match sc.members[i].stp.state {
                bstp_state::LISTENING => {
                    set_state(sc, i, bstp_state::LEARNING);
                    sc.members[i].stp.forward_delay_timer.start(0);
                }
                bstp_state::LEARNING => {
                    set_state(sc, i, bstp_state::FORWARDING);
                    let designated_for_some = (0..sc.members.len()).any(|j| {
                        sc.members[j].flags & ifbif::STP != 0 && sc.members[j].stp.designated_bridge == sc.stp.bridge_id
                    });
                    if designated_for_some && sc.members[i].stp.change_detection_enabled {
                        topology_change_detection(sc);
                    }
                }
                _ => {}
            }
        }
        if sc.members[i].stp.hold_timer.expired(HOLD_TIME) && sc.members[i].stp.config_pending {
            transmit_config(sc, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_bpdu_round_trips() {
        let c = ConfigBpdu {
            flags: FLAG_TC | FLAG_TCA,
            root_id: 0x8000_0211_2233_4455,
            root_path_cost: 55,
            bridge_id: 0x8000_02aa_bbcc_ddee,
            port_id: 0x8003,
            message_age: 256,
            max_age: 20 * 256,
            hello_time: 2 * 256,
            forward_delay: 15 * 256,
        };
        let (f, len) = build(&[2, 0, 0, 0, 0, 1], &Bpdu::Config(c));
        assert_eq!(len, 60);
        assert_eq!(&f[..6], &BSTP_ETHERADDR);
        assert_eq!(u16::from_be_bytes([f[12], f[13]]), 38);
        assert_eq!(parse(&f[..len]), Some(Bpdu::Config(c)));
        let (t, tl) = build(&[2, 0, 0, 0, 0, 1], &Bpdu::Tcn);
        assert_eq!(u16::from_be_bytes([t[12], t[13]]), 7);
        assert_eq!(parse(&t[..tl]), Some(Bpdu::Tcn));
    }

    #[test]
    fn malformed_bpdus_are_refused() {
        let c = ConfigBpdu {
            flags: 0,
            root_id: 1,
            root_path_cost: 0,
            bridge_id: 1,
            port_id: 0x8001,
            message_age: 0,
            max_age: 20 * 256,
            hello_time: 2 * 256,
            forward_delay: 15 * 256,
        };
        let (f, _) = build(&[2, 0, 0, 0, 0, 1], &Bpdu::Config(c));
        // Truncated at every length below a whole config BPDU.
        for n in 0..14 + 3 + CFG_LEN {
            let mut g = f;
            g[12..14].copy_from_slice(&((n.saturating_sub(14)) as u16).to_be_bytes());
            assert_eq!(parse(&g[..n]), None, "length {n}");
        }
        // An Ethernet II type in place of the length, a wrong SAP, a wrong protocol id,
        // an unknown type.
        let mut g = f;
        g[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        assert_eq!(parse(&g), None);
        let mut g = f;
        g[14] = 0xaa;
        assert_eq!(parse(&g), None);
        let mut g = f;
        g[17] = 1;
        assert_eq!(parse(&g), None);
        let mut g = f;
        g[20] = 0x02;
        assert_eq!(parse(&g), None);
    }

    #[test]
    fn timers_expire_at_their_limit() {
        let mut t = StpTimer::default();
        assert!(!t.expired(512));
        t.start(0);
        assert!(!t.expired(512));
        assert!(t.expired(512));
        assert!(!t.active);
    }
}
