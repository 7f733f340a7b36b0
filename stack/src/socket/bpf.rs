//! A capture on an interface of the stack: what `/dev/bpf` is to a BSD program.
//!
//! ```no_run
//! use pktbox_stack::wire::bpf::records;
//! use pktbox_stack::socket::Bpf;
//! use pktbox_stack::msg::BpfConf;
//!
//! let mut b = Bpf::open()?;
//! let link = b.attach("en0", Some(64 * 1024))?; // BIOCSBLEN, BIOCSETIF
//! b.configure(BpfConf { promisc: true, direction: 1, immediate: true, timeout_ms: 1000 })?;
//! let buf = b.read()?; // records, possibly none when the timeout passed
//! for (h, pkt) in records(&buf) {
//!     println!("{}.{:06} {} of {} bytes", h.tv_sec, h.tv_usec, h.caplen, h.datalen);
//! }
//! let st = b.stats()?;
//! println!("{} received, {} dropped", st.recv, st.drop);
//! # Ok::<(), pktbox_stack::socket::Error>(())
//! ```

use std::path::Path;

use super::{prefix_from_env, Error, SockConn};
use crate::msg::{BpfAttachReq, BpfAttached, BpfConf, BpfStat, Empty, Msg, Role};
use crate::wire::bpf::BpfInsn;

/// One capture (a bpf-role connection). Dropping it ends the capture.
pub struct Bpf {
    c: SockConn,
}

impl Bpf {
    /// Opens a capture on the stack named by `SOCK`.
    pub fn open() -> Result<Bpf, Error> {
        Bpf::open_at(&prefix_from_env())
    }

    /// Opens a capture on the stack at `prefix`.
    pub fn open_at(prefix: &Path) -> Result<Bpf, Error> {
        Ok(Bpf {
            c: SockConn::connect(prefix, Role::Bpf)?,
        })
    }

    fn unexpected(m: Msg) -> Error {
        Error::Protocol(format!("unexpected answer: {m:?}"))
    }

    /// Attaches to an interface (BIOCSETIF), with a buffer of `buflen` bytes (BIOCSBLEN;
    /// the stack clamps it): the link type and the buffer size granted.
    pub fn attach(&mut self, ifname: &str, buflen: Option<u32>) -> Result<BpfAttached, Error> {
        match self.c.call(Msg::BpfAttach(BpfAttachReq {
            ifname: ifname.to_string(),
            buflen,
        }))? {
            Msg::BpfAttachedOk(a) => Ok(a),
            m => Err(Bpf::unexpected(m)),
        }
    }

    /// Sets the filter (BIOCSETF). The stack checks the program before taking it.
    pub fn set_filter(&mut self, insns: &[BpfInsn]) -> Result<(), Error> {
        self.c.done(Msg::BpfSetFilter(insns.to_vec()))
    }

    /// Promiscuous mode, direction, immediate mode and read timeout.
    pub fn configure(&mut self, conf: BpfConf) -> Result<(), Error> {
        self.c.done(Msg::BpfConfigure(conf))
    }

    /// Waits for captured packets as the settings say and returns a buffer of `bpf_hdr`
    /// records (see `wire::bpf::records`); empty when the read timeout passed first.
    pub fn read(&mut self) -> Result<Vec<u8>, Error> {
        match self.c.call(Msg::BpfRead(Empty))? {
            Msg::BpfData(b) => Ok(b),
            m => Err(Bpf::unexpected(m)),
        }
    }

    /// Sends one whole frame on the interface.
    pub fn write(&mut self, frame: &[u8]) -> Result<(), Error> {
        self.c.done(Msg::BpfWrite(frame.to_vec()))
    }

    /// The capture's counters (BIOCGSTATS).
    pub fn stats(&mut self) -> Result<BpfStat, Error> {
        match self.c.call(Msg::BpfStats(Empty))? {
            Msg::BpfStatsOk(s) => Ok(s),
            m => Err(Bpf::unexpected(m)),
        }
    }

    /// Discards what is buffered and zeroes the counters (BIOCFLUSH).
    pub fn flush(&mut self) -> Result<(), Error> {
        self.c.done(Msg::BpfFlush(Empty))
    }
}
