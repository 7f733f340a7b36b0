//! A UDP sender and receiver for the bridging and forwarding benchmarks: small datagrams
//! in batches of 64 with sendmmsg/recvmmsg, so that the sender, not the system call per
//! frame, is not what limits the rate.
//!
//!     udpflood send ADDR:PORT SECONDS THREADS [LEN]   prints datagrams sent
//!     udpflood recv PORT SECONDS                      prints datagrams received per second
//!
//! The receiver counts from its first datagram for SECONDS (or until nothing came for
//! two seconds).

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const BATCH: usize = 64;

fn send(dst: SocketAddr, secs: f64, threads: usize, len: usize) -> u64 {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
                s.connect(dst).expect("connect");
                let buf = vec![0x55u8; len];
                let mut iov: Vec<libc::iovec> = (0..BATCH)
                    .map(|_| libc::iovec {
                        iov_base: buf.as_ptr() as *mut libc::c_void,
                        iov_len: len,
                    })
                    .collect();
                // SAFETY: mmsghdr is plain data; zeroed is a valid empty header.
                let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
                for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
                    m.msg_hdr.msg_iov = v;
                    m.msg_hdr.msg_iovlen = 1;
                }
                let end = Instant::now() + Duration::from_secs_f64(secs);
                let mut n = 0u64;
                while Instant::now() < end {
                    // SAFETY: BATCH valid headers pointing at live buffers.
                    let r = unsafe { libc::sendmmsg(s.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, 0) };
                    if r > 0 {
                        n += r as u64;
                    }
                }
                n
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
}

fn recv(port: u16, secs: f64) -> f64 {
    let s = UdpSocket::bind(("0.0.0.0", port)).expect("bind");
    let big: libc::c_int = 8 << 20;
    // SAFETY: setsockopt with a valid int.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &big as *const libc::c_int as *const libc::c_void,
            4,
        )
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    let mut bufs = vec![[0u8; 2048]; BATCH];
    let mut iov: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: as above.
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
    for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
        m.msg_hdr.msg_iov = v;
        m.msg_hdr.msg_iovlen = 1;
    }
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    let mut n = 0u64;
    loop {
        let mut tv = libc::timespec { tv_sec: 2, tv_nsec: 0 };
        // SAFETY: BATCH valid headers pointing at live buffers.
        let r = unsafe { libc::recvmmsg(s.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, 0, &mut tv) };
        if r <= 0 {
            if first.is_some() {
                break;
            }
            continue;
        }
        let now = Instant::now();
        let f = *first.get_or_insert(now);
        n += r as u64;
        last = now;
        if now.duration_since(f).as_secs_f64() >= secs {
            break;
        }
    }
    match first {
        Some(f) => n as f64 / last.duration_since(f).as_secs_f64().max(1e-3),
        None => 0.0,
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize| a.get(i).cloned().unwrap_or_default();
    match arg(1).as_str() {
        "send" => {
            let dst: SocketAddr = arg(2).parse().expect("ADDR:PORT");
            let secs: f64 = arg(3).parse().unwrap_or(5.0);
            let threads: usize = arg(4).parse().unwrap_or(1);
            let len: usize = arg(5).parse().unwrap_or(18);
            println!("{}", send(dst, secs, threads, len));
        }
        "recv" => {
            let port: u16 = arg(2).parse().expect("PORT");
            let secs: f64 = arg(3).parse().unwrap_or(5.0);
            println!("{:.0}", recv(port, secs));
        }
        _ => {
            eprintln!("usage: udpflood send ADDR:PORT SECONDS THREADS [LEN] | recv PORT SECONDS");
            std::process::exit(2);
        }
    }
}
