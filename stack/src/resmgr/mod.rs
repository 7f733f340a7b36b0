//! The stack's end of the channel: listen on `<prefix>/dev/socket`, hand each connection to
//! a pooled thread, check credentials, decode, dispatch, answer.
//!
//! A connection's first message gives it a role. A worker thread serves one connection
//! from start to end, so a blocking request waits in its own thread without holding the
//! stack context. The pool keeps `threads_min` threads and grows to `threads_max`; beyond
//! that, new connections wait for a free thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::msg::wire::{Cred, Listener, Received, SeqPacket};
use crate::msg::{decode, encode, DecodeError, Header, HelloReply, Msg, Role, HDR_LEN, MAX_MSG, MSGF_REPLY};
use crate::sys::Stack;

mod bpf;
mod control;
mod socket;

/// How long a thread above `threads_min` waits idle before it ends.
const IDLE: Duration = Duration::from_secs(10);

pub(crate) struct Pool {
    queue: Mutex<PoolState>,
    cv: Condvar,
}

/// Work for a pool thread: a connection to serve.
pub(crate) enum Job {
    /// A client connected; its first message will say its role.
    New(SeqPacket),
    /// A connection the stack made for an accepted TCP connection: already a socket.
    Accepted { sock: SeqPacket, cred: Cred, id: u64 },
}

struct PoolState {
    waiting: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

/// Serves the channel until the listener is shut down.
pub fn serve(stack: Arc<Stack>, listener: Arc<Listener>) {
    let pool = Arc::new(Pool {
        queue: Mutex::new(PoolState {
            waiting: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        cv: Condvar::new(),
    });
    let min = stack.config.threads_min.max(1);
    for _ in 0..min {
        spawn_worker(&stack, &pool);
    }
    loop {
        let conn = match listener.accept() {
            Ok(c) => c,
            Err(_) if stack.shutting_down() => return,
            Err(e) => {
                crate::klog!("resmgr: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if stack.shutting_down() {
            return;
        }
        let grow = {
            let mut q = pool.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.waiting.push_back(Job::New(conn));
            q.idle < q.waiting.len() && q.threads < stack.config.threads_max.max(min)
        };
        if grow {
            spawn_worker(&stack, &pool);
        }
        pool.cv.notify_one();
    }
}

impl Pool {
    /// Queues a job, growing the pool when no thread is free.
    pub(crate) fn push(self: &Arc<Self>, stack: &Arc<Stack>, job: Job) {
        let grow = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.waiting.push_back(job);
            q.idle < q.waiting.len() && q.threads < stack.config.threads_max.max(stack.config.threads_min.max(1))
        };
        if grow {
            spawn_worker(stack, self);
        }
        self.cv.notify_one();
    }
}

fn spawn_worker(stack: &Arc<Stack>, pool: &Arc<Pool>) {
    {
        let mut q = pool.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.threads += 1;
    }
    let stack = stack.clone();
    let pool2 = pool.clone();
    let r = std::thread::Builder::new()
        .name("resmgr".into())
        .spawn(move || worker(&stack, &pool2));
    if let Err(e) = r {
        crate::klog!("resmgr: cannot start a thread: {e}");
        let mut q = pool.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.threads -= 1;
    }
}

fn worker(stack: &Arc<Stack>, pool: &Arc<Pool>) {
    let mut buf = vec![0u8; MAX_MSG + 1];
    loop {
        let conn = {
            let mut q = pool.queue.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(c) = q.waiting.pop_front() {
                    break Some(c);
                }
                if stack.shutting_down() {
                    break None;
                }
                q.idle += 1;
                let (g, to) = pool.cv.wait_timeout(q, IDLE).unwrap_or_else(|p| p.into_inner());
                q = g;
                q.idle -= 1;
                if to.timed_out() && q.waiting.is_empty() && q.threads > stack.config.threads_min.max(1) {
                    break None;
                }
            }
        };
        let Some(conn) = conn else {
            let mut q = pool.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.threads -= 1;
            return;
        };
        serve_conn(stack, pool, conn, &mut buf);
    }
}

static CONN_ID: AtomicU64 = AtomicU64::new(1);

/// One connection's state as the worker sees it.
pub(crate) struct Conn {
    pub id: u64,
    pub sock: SeqPacket,
    pub cred: Cred,
    pub role: Option<Role>,
}

impl Conn {
    /// Sends a reply to the request with header `req`.
    pub fn reply(&self, req: &Header, msg: &Msg) {
        let b = encode(msg, req.seq, std::process::id(), MSGF_REPLY, 0);
        let _ = self.sock.send(&b);
    }

    /// Sends an error reply, with an explanation when there is one.
    pub fn reply_err(&self, seq: u32, errno: i32, text: Option<String>) {
        let b = encode(
            &Msg::ErrorText(text.unwrap_or_default()),
            seq,
            std::process::id(),
            MSGF_REPLY,
            errno,
        );
        let _ = self.sock.send(&b);
    }
}

fn serve_conn(stack: &Arc<Stack>, pool: &Arc<Pool>, job: Job, buf: &mut [u8]) {
    let (mut conn, mut sock_kind) = match job {
        Job::New(sock) => {
            let Ok(cred) = sock.peer_cred() else { return };
            let conn = Conn {
                id: CONN_ID.fetch_add(1, Ordering::Relaxed),
                sock,
                cred,
                role: None,
            };
            (conn, None)
        }
        Job::Accepted { sock, cred, id } => {
            let conn = Conn {
                id,
                sock,
                cred,
                role: Some(Role::Socket),
            };
            (conn, Some(socket::Kind::Tcp(crate::inet::tcp::usrreq::Sock::Conn)))
        }
    };
    let mut capture: Option<bpf::Capture> = None;
    loop {
        if stack.shutting_down() {
            break;
        }
        let n = match conn.sock.recv(buf) {
            Ok(Received::Msg(n)) => n,
            Ok(Received::Truncated(_)) => {
                conn.reply_err(0, libc::EINVAL, Some(DecodeError::Oversized.to_string()));
                continue;
            }
            Ok(Received::Closed) | Err(_) => break,
        };
        let b = &buf[..n];
        let frame = match decode(b) {
            Ok(f) => f,
            Err(e) => {
                // Answer with what could be read of the header, if anything.
                let seq = if b.len() >= HDR_LEN {
                    u32::from_le_bytes([b[8], b[9], b[10], b[11]])
                } else {
                    0
                };
                conn.reply_err(seq, libc::EINVAL, Some(e.to_string()));
                continue;
            }
        };
        match (conn.role, &frame.msg) {
            (None, Msg::Hello(h)) => match h.role {
                Role::Control | Role::Socket | Role::Bpf => {
                    conn.role = Some(h.role);
                    if h.role == Role::Bpf {
                        // A read answers with a whole buffer in one datagram.
                        let _ = conn.sock.set_buffers(1 << 20);
                        capture = Some(bpf::Capture::new());
                    }
                    let r = HelloReply {
                        variant: stack.variant.name().to_string(),
                        version: env!("CARGO_PKG_VERSION").to_string(),
                        pid: std::process::id(),
                    };
                    conn.reply(&frame.hdr, &Msg::HelloOk(r));
                }
                other => conn.reply_err(
                    frame.hdr.seq,
                    libc::EPROTONOSUPPORT,
                    Some(format!("the {other:?} role is not in this build yet")),
                ),
            },
            (None, _) => conn.reply_err(
                frame.hdr.seq,
                libc::EINVAL,
                Some("the first message must say the connection's role".into()),
            ),
            (Some(Role::Control), msg) => control::dispatch(stack, &conn, &frame.hdr, msg),
            (Some(Role::Socket), msg) => socket::dispatch(stack, pool, &conn, &mut sock_kind, &frame.hdr, msg),
            (Some(Role::Bpf), msg) => match capture.as_mut() {
                Some(cap) => bpf::dispatch(stack, &conn, cap, &frame.hdr, msg),
                None => conn.reply_err(frame.hdr.seq, libc::EINVAL, None),
            },
            (Some(_), _) => conn.reply_err(frame.hdr.seq, libc::EINVAL, None),
        }
    }
    stack.ctx().rtsock.unsubscribe(conn.id);
    if let Some(k) = sock_kind {
        socket::close(stack, conn.id, k);
    }
    if let Some(cap) = capture {
        bpf::close(stack, cap);
    }
}
