//! Capture-role connections: one BPF descriptor each (`/dev/bpf` opened), attached to an
//! interface's tap, detached when the connection closes, so a capture that dies leaves
//! nothing behind (not even the interface's promiscuous mode).

use std::sync::Arc;
use std::time::Instant;

use crate::msg::{BpfAttachReq, BpfAttached, BpfConf, Empty, Header, Msg, IFT_LOOP};
use crate::net::bpf::dev::{BpfD, BPF_DFLTBUFSIZE};
use crate::net::if_control::{announce_ifinfo, Fail};
use crate::net::ifnet::Ifnet;
use crate::resmgr::Conn;
use crate::sys::Stack;
use crate::wire::bpf::BpfProgram;
use crate::wire::bpf::{BPF_D_OUT, DLT_EN10MB, DLT_NULL};
use crate::wire::ethernet::ETHER_HDR_LEN;

/// One connection's capture.
pub(crate) struct Capture {
    d: Arc<BpfD>,
    ifp: Option<Arc<Ifnet>>,
    /// Whether this capture holds a promiscuous-mode request on `ifp`.
    promisc: bool,
}

impl Capture {
    /// Sets what to call when a parked read may go on.
    pub fn set_notify(&self, n: crate::net::bpf::dev::Notify) {
        self.d.set_notify(Some(n));
    }

    pub fn new() -> Capture {
        Capture {
            d: BpfD::new(BPF_DFLTBUFSIZE),
            ifp: None,
            promisc: false,
        }
    }

    /// Lets go of the interface: off its tap, and its promiscuous request given back.
    fn detach(&mut self, stack: &Stack) {
        if let Some(ifp) = self.ifp.take() {
            ifp.bpf.detach(&self.d);
            if std::mem::take(&mut self.promisc) && ifp.ifpromisc(false) {
                announce_ifinfo(&mut stack.ctx(), &ifp);
            }
        }
    }

    /// Takes or gives back promiscuous mode on the attached interface, as the settings say.
    fn sync_promisc(&mut self, stack: &Stack) {
        let Some(ifp) = &self.ifp else { return };
        let want = self.d.conf().promisc;
        if want != self.promisc {
            self.promisc = want;
            if ifp.ifpromisc(want) {
                announce_ifinfo(&mut stack.ctx(), ifp);
            }
        }
    }
}

/// The link type of an interface as a capture sees it.
fn dlt(ifp: &Ifnet) -> u32 {
    if ifp.if_type == IFT_LOOP {
        DLT_NULL
    } else {
        DLT_EN10MB
    }
}

/// A read that waits for packets or its timeout.
pub(crate) struct Parked {
    pub hdr: Header,
    pub deadline: Option<Instant>,
}

/// Serves one request of a capture connection; returns a read that has to wait.
pub(crate) fn dispatch(stack: &Arc<Stack>, conn: &Conn, cap: &mut Capture, hdr: &Header, msg: &Msg) -> Option<Parked> {
    let r = match msg {
        Msg::BpfAttach(req) => attach(stack, conn, cap, req),
        Msg::BpfSetFilter(insns) => match BpfProgram::new(insns.clone()) {
            Ok(p) => {
                cap.d.set_filter(p);
                Ok(Msg::Done(Empty))
            }
            Err(e) => Err(Fail::with(libc::EINVAL, format!("invalid filter program: {e}"))),
        },
        Msg::BpfConfigure(c) => configure(stack, cap, c),
        Msg::BpfStats(_) => Ok(Msg::BpfStatsOk(cap.d.stats())),
        Msg::BpfFlush(_) => {
            cap.d.flush();
            Ok(Msg::Done(Empty))
        }
        Msg::BpfRead(_) => {
            if cap.ifp.is_none() {
                Err(Fail::new(libc::ENXIO))
            } else {
                let p = Parked {
                    hdr: *hdr,
                    deadline: cap.d.read_deadline(),
                };
                return retry(stack, conn, cap, p);
            }
        }
        Msg::BpfWrite(frame) => write(stack, conn, cap, frame),
        _ => Err(Fail::new(libc::EINVAL)),
    };
    match r {
        Ok(m) => conn.reply(hdr, &m),
        Err(f) => conn.reply_err(hdr.seq, f.errno, f.text),
    }
    None
}

fn attach(stack: &Stack, conn: &Conn, cap: &mut Capture, req: &BpfAttachReq) -> Result<Msg, Fail> {
    if conn.cred.uid != 0 {
        return Err(Fail::with(libc::EPERM, "capturing needs root".into()));
    }
    let ifp = stack
        .ctx()
        .ifnet_by_name(&req.ifname)
        .cloned()
        .ok_or_else(|| Fail::with(libc::ENXIO, format!("{}: no such interface", req.ifname)))?;
    cap.detach(stack);
    let buflen = match req.buflen {
        Some(n) => cap.d.set_bufsize(n),
        None => {
            cap.d.flush();
            cap.d.bufsize()
        }
    };
    ifp.bpf.attach(&cap.d);
    cap.ifp = Some(ifp.clone());
    cap.sync_promisc(stack);
    Ok(Msg::BpfAttachedOk(BpfAttached { dlt: dlt(&ifp), buflen }))
}

fn configure(stack: &Stack, cap: &mut Capture, c: &BpfConf) -> Result<Msg, Fail> {
    if c.direction > BPF_D_OUT {
        return Err(Fail::with(
            libc::EINVAL,
            format!("direction {} is not in, out or inout", c.direction),
        ));
    }
    cap.d.set_conf(*c);
    cap.sync_promisc(stack);
    Ok(Msg::Done(Empty))
}

/// Tries a parked read again: None once it was answered.
pub(crate) fn retry(stack: &Stack, conn: &Conn, cap: &Capture, p: Parked) -> Option<Parked> {
    // The interface was destroyed under the capture.
    let ifindex = cap.ifp.as_ref().map(|i| i.index);
    if ifindex.is_none_or(|i| stack.ctx().ifnet_by_index(i).is_none()) {
        conn.reply_err(p.hdr.seq, libc::ENXIO, None);
        return None;
    }
    if stack.shutting_down() {
        conn.reply_err(p.hdr.seq, libc::EINTR, None);
        return None;
    }
    let Some(buf) = cap.d.try_read(p.deadline) else {
        return Some(p);
    };
    let m = Msg::BpfData(buf);
    conn.reply(&p.hdr, &m);
    if let Msg::BpfData(buf) = m {
        cap.d.give_back(buf);
    }
    None
}

/// Sends a frame on the interface, as written to the capture: complete with its link
/// header (`BIOCSHDRCMPLT`), or for loopback the address family then the datagram.
fn write(stack: &Stack, conn: &Conn, cap: &Capture, frame: &[u8]) -> Result<Msg, Fail> {
    if conn.cred.uid != 0 {
        return Err(Fail::new(libc::EPERM));
    }
    let ifp = cap.ifp.as_ref().ok_or_else(|| Fail::new(libc::ENXIO))?;
    if !ifp.is_up() {
        return Err(Fail::new(libc::ENETDOWN));
    }
    if ifp.if_type == IFT_LOOP {
        let (af, dgram) = frame.split_first_chunk::<4>().ok_or_else(|| Fail::new(libc::EINVAL))?;
        if u32::from_ne_bytes(*af) != libc::AF_INET as u32 {
            return Err(Fail::new(libc::EAFNOSUPPORT));
        }
        if dgram.len() > ifp.mtu() as usize {
            return Err(Fail::new(libc::EMSGSIZE));
        }
        let dst = std::net::Ipv4Addr::UNSPECIFIED.into();
        let m = crate::sys::mbuf::Mbuf::from_slice(dgram);
        (ifp.if_output)(&mut stack.ctx(), ifp, m, crate::net::ifnet::Dst::Ip(dst)).map_err(Fail::new)?;
        return Ok(Msg::Done(Empty));
    }
    if frame.len() < ETHER_HDR_LEN {
        return Err(Fail::new(libc::EINVAL));
    }
    if frame.len() > ifp.mtu() as usize + ETHER_HDR_LEN + crate::wire::ethernet::ETHER_VLAN_ENCAP_LEN {
        return Err(Fail::new(libc::EMSGSIZE));
    }
    ifp.transmit(frame, &pktbox_drivers::FrameMeta::PLAIN)
        .map_err(Fail::new)?;
    Ok(Msg::Done(Empty))
}

/// The connection ended: the capture goes.
pub(crate) fn close(stack: &Stack, mut cap: Capture) {
    cap.d.set_notify(None);
    cap.detach(stack);
}
