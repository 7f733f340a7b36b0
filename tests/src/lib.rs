//! Helpers for pktbox's integration tests: find the built binary, start stacks in temporary
//! prefixes and stop them on every exit path, run applets against them, pick free ports,
//! make network namespaces, and build or parse the Ethernet/ARP frames tests put on a wire.
//!
//! Every resource a test makes is named uniquely (pid plus a counter) and released by a
//! guard's `Drop`, so tests run in parallel and clean up after a panic too.
//!
//! Run them with `cargo build && cargo test`: `cargo test` does not build the pktbox binary
//! these tests run (set `PKTBOX_BIN` to test another build). They change stack state, which
//! needs uid 0, so they expect to run as root, as CI does. A test whose prerequisite (root,
//! /dev/net/tun, a host tool) is missing says so with [`skip`]: a visible `SKIPPED` line, or,
//! when `CI` is set, a failure.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use pktbox_stack;

pub mod hostile;
use pktbox_stack::socket::Stack;
use sha2::{Digest, Sha256};

/// How long a test waits for something that should happen at once before it gives up.
/// This bounds a hang; it is not a measure of speed.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The pktbox binary: `$PKTBOX_BIN`, else `<workspace>/target/debug/pktbox`, which must
/// exist and be newer than the sources it is built from (`cargo test` does not build
/// another package's binary, so a stale one would test old code).
pub fn bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(find_bin).clone()
}

fn find_bin() -> PathBuf {
    if let Some(b) = std::env::var_os("PKTBOX_BIN").filter(|b| !b.is_empty()) {
        let b = PathBuf::from(b);
        assert!(
            b.is_file(),
            "PKTBOX_BIN={} does not exist; unset it or build that binary",
            b.display()
        );
        return b;
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { ws.join(t) })
        .unwrap_or_else(|| ws.join("target"));
    let b = target.join("debug/pktbox");
    let built = std::fs::metadata(&b).and_then(|m| m.modified()).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run `cargo build` first (or set PKTBOX_BIN)",
            b.display()
        )
    });
    let mut newer = Vec::new();
    for d in ["cmds", "stack", "drivers"] {
        newest_under(&ws.join(d), built, &mut newer);
    }
    // A source newer than the binary may be a test-only file that does not change it,
    // so this is a warning, not a failure; the README's test command builds first.
    if let Some(n) = newer.first() {
        eprintln!(
            "warning: {} is older than {}: run `cargo build` first (or set PKTBOX_BIN)",
            b.display(),
            n.display()
        );
    }
    b
}

/// Collects the .rs and Cargo.toml files under `dir` modified after `t`.
fn newest_under(dir: &Path, t: std::time::SystemTime, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            newest_under(&p, t, out);
        } else if (p.extension().is_some_and(|x| x == "rs") || p.file_name().is_some_and(|n| n == "Cargo.toml"))
            && e.metadata().and_then(|m| m.modified()).is_ok_and(|m| m > t)
        {
            out.push(p);
        }
    }
}

/// A name no other test (in this process or another) uses: `<prefix><pid>-<n>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Waits until `f` gives Some, or panics with `what` once PATIENCE has passed.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every routing broadcast caused by what was done before this call, in order.
///
/// The stack sends a change's messages before it answers the request that made it, so once
/// a command has exited its messages are queued on `sub`. A request on `sub` itself is a
/// barrier: its answer comes after them, and the client keeps broadcasts that arrive while
/// it waits for an answer. Reading them back then needs no waiting.
pub fn broadcasts(sub: &mut Stack) -> Vec<pktbox_stack::msg::Msg> {
    sub.if_list(Some("lo0")).expect("barrier request");
    let mut v = Vec::new();
    while let Some(m) = sub
        .next_broadcast(Some(Duration::from_millis(1)))
        .expect("read a broadcast")
    {
        v.push(m);
    }
    v
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        // Short names: a Unix socket path must fit in 108 bytes.
        let path = std::env::temp_dir().join(unique("pktbox-t"));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        // Reachable by an unprivileged user, for the tests that run tools as one.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod the temporary directory");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What a finished command gave.
#[derive(Debug, Clone)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    /// The exit code; None when a signal ended it.
    pub code: Option<i32>,
}

impl Output {
    /// Panics, showing everything, unless the command exited 0.
    #[track_caller]
    pub fn ok(self) -> Output {
        assert_eq!(self.code, Some(0), "command failed: {self:#?}");
        self
    }

    /// Panics, showing everything, unless the command exited with `code`.
    #[track_caller]
    pub fn code(self, code: i32) -> Output {
        assert_eq!(self.code, Some(code), "unexpected exit: {self:#?}");
        self
    }
}

fn output_of(mut cmd: Command) -> Output {
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Output {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code(),
    }
}

/// Runs `pktbox ARGS...` with extra environment variables (SOCK is removed unless given).
pub fn pktbox<I, S>(args: I, env: &[(&str, &OsStr)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(bin());
    cmd.args(args).env_remove("SOCK");
    for (k, v) in env {
        cmd.env(k, v);
    }
    output_of(cmd)
}

/// Runs any program, for host tools (`ip`, `setpriv`).
pub fn run<I, S>(prog: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(tool(prog).unwrap_or_else(|| prog.into()));
    cmd.args(args);
    output_of(cmd)
}

/// Where a host program is: the first `prog` on PATH, else in the system directories a
/// non-root PATH may leave out (tcpdump and ethtool live in /usr/sbin on Debian).
pub fn tool(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Whether a host program is installed (see [`tool`]).
pub fn have(prog: &str) -> bool {
    tool(prog).is_some()
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether this is a CI run: `CI` is set and not empty. There a test whose prerequisite is
/// missing fails instead of skipping (see [`skip`]).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Says that `test` (or a part of it) cannot run here because of `why`, a missing
/// prerequisite. In CI ([`in_ci`]) that is a failure: it panics, naming what is missing,
/// since scripts/test installs everything the tests need. Elsewhere it prints
/// `SKIPPED test: why` straight to standard error, past the test harness's capture (which
/// takes `eprintln!`, not writes to the stderr handle), so a skip shows in cargo's output.
#[track_caller]
pub fn skip(test: &str, why: &str) {
    if in_ci() {
        panic!("{test}: {why}; CI is set, so a missing prerequisite is a failure (scripts/test installs the tools)");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Whether `test` can go on: true as root, else a [`skip`] saying so.
#[track_caller]
pub fn need_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    skip(test, "needs root");
    false
}

/// Whether `test` can go on: true when every host program named is installed, else a
/// [`skip`] naming the first one missing.
#[track_caller]
pub fn need(test: &str, progs: &[&str]) -> bool {
    match progs.iter().find(|p| !have(p)) {
        None => true,
        Some(p) => {
            skip(test, &format!("no {p} installed"));
            false
        }
    }
}

/// A UDP port on 127.0.0.1 that was free a moment ago (the kernel picked it for port 0).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A process we can wait for without being its parent: a pidfd polls readable once the
/// process has ended, and cannot be confused by a reused pid.
struct PidFd {
    pid: i32,
    fd: OwnedFd,
}

impl PidFd {
    fn open(pid: i32) -> std::io::Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        Ok(PidFd {
            pid,
            fd: unsafe { OwnedFd::from_raw_fd(r as i32) },
        })
    }

    fn signal(&self, sig: i32) {
        // SAFETY: pidfd_send_signal on our pidfd; a process already gone gives ESRCH.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }

    /// Whether the process ended within `t`.
    fn wait(&self, t: Duration) -> bool {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let deadline = Instant::now() + t;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut p, 1, left.as_millis() as i32) };
            if r > 0 {
                return true;
            }
            if r == 0 || Instant::now() >= deadline {
                return false;
            }
        }
    }

    fn alive(&self) -> bool {
        !self.wait(Duration::ZERO)
    }
}

/// A running stack in a fresh temporary prefix. Dropping it sends SIGTERM, waits for the
/// stack to end (SIGKILL if it will not) and removes the prefix.
pub struct StackProc {
    dir: TempDir,
    prefix: PathBuf,
    variant: String,
    proc: Option<PidFd>,
}

impl StackProc {
    /// `io-pkt-v4 -ptcpip prefix=<new dir> ARGS...`, which must succeed.
    pub fn start(args: &[&str]) -> StackProc {
        StackProc::start_variant("io-pkt-v4", args)
    }

    /// Like `start`, with another stack variant.
    pub fn start_variant(variant: &str, args: &[&str]) -> StackProc {
        let mut s = StackProc::new_prefix(variant);
        let o = s.start_here(args);
        assert_eq!(o.code, Some(0), "stack did not start: {o:#?}");
        s
    }

    /// A stack guard with a fresh prefix and no stack yet; `start_here` starts it.
    pub fn new_prefix(variant: &str) -> StackProc {
        let dir = TempDir::new();
        let prefix = dir.join("p");
        StackProc {
            dir,
            prefix,
            variant: variant.to_string(),
            proc: None,
        }
    }

    /// Runs `VARIANT -ptcpip prefix=<prefix> ARGS...` (in the background, as users do) and
    /// returns what it printed. When it says it started, the stack is adopted by this guard.
    pub fn start_here(&mut self, args: &[&str]) -> Output {
        let mut full = vec![
            self.variant.clone(),
            "-ptcpip".into(),
            format!("prefix={}", self.prefix.display()),
        ];
        full.extend(args.iter().map(|s| s.to_string()));
        let o = pktbox(&full, &[]);
        if o.code == Some(0) {
            self.adopt();
        }
        o
    }

    /// Takes charge of the stack now answering at the prefix.
    pub fn adopt(&mut self) {
        let s = self.open();
        let pid = s.hello().pid as i32;
        self.proc = Some(PidFd::open(pid).expect("pidfd_open on the stack"));
    }

    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The temporary directory holding the prefix, for a test's other files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where a stack started in the background writes its log.
    pub fn log_path(&self) -> PathBuf {
        self.prefix.join("var/log/io-pkt.log")
    }

    pub fn socket_path(&self) -> PathBuf {
        self.prefix.join("dev/socket")
    }

    /// The stack's pid.
    pub fn pid(&self) -> i32 {
        self.proc.as_ref().expect("a running stack").pid
    }

    /// A control connection to the stack.
    pub fn open(&self) -> Stack {
        Stack::open_at(&self.prefix)
            .unwrap_or_else(|e| panic!("cannot reach the stack at {}: {e}", self.prefix.display()))
    }

    /// `pktbox APPLET ARGS...` with SOCK set to this stack and no standard input, to spawn
    /// (a command that runs until stopped, say).
    pub fn command(&self, applet: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg(applet).args(args).env("SOCK", &self.prefix).stdin(Stdio::null());
        c
    }

    /// Runs `pktbox APPLET ARGS...` with SOCK set to this stack.
    pub fn run(&self, applet: &str, args: &[&str]) -> Output {
        let mut full = vec![applet];
        full.extend_from_slice(args);
        pktbox(&full, &[("SOCK", self.prefix.as_os_str())])
    }

    /// Runs an applet that must succeed and returns its standard output.
    #[track_caller]
    pub fn ok(&self, applet: &str, args: &[&str]) -> String {
        let o = self.run(applet, args);
        assert_eq!(o.code, Some(0), "`{applet} {}` failed: {o:#?}", args.join(" "));
        o.stdout
    }

    /// `ifconfig --json IF`, the one interface's object.
    #[track_caller]
    pub fn if_json(&self, ifname: &str) -> serde_json::Value {
        let out = self.ok("ifconfig", &["--json", ifname]);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("ifconfig --json {ifname}: {e}: {out}"));
        let arr = v.as_array().expect("ifconfig --json gives an array");
        assert_eq!(arr.len(), 1, "ifconfig --json {ifname}: {out}");
        arr[0].clone()
    }

    /// One counter of an interface (`ipackets`, `ierrors`, ...), from `ifconfig --json`.
    #[track_caller]
    pub fn counter(&self, ifname: &str, name: &str) -> u64 {
        self.if_json(ifname)["counters"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no counter {name} for {ifname}"))
    }

    /// Waits until a counter reaches at least `n`, and returns it.
    #[track_caller]
    pub fn wait_counter(&self, ifname: &str, name: &str, n: u64) -> u64 {
        wait_for(&format!("{ifname} {name} >= {n}"), || {
            let v = self.counter(ifname, name);
            (v >= n).then_some(v)
        })
    }

    /// An interface's link-level address, from `ifconfig --json`.
    #[track_caller]
    pub fn mac(&self, ifname: &str) -> [u8; 6] {
        let s = self.if_json(ifname)["address"]
            .as_str()
            .expect("an Ethernet interface has an address")
            .to_string();
        parse_mac(&s)
    }

    /// Whether the stack process is still running.
    pub fn alive(&self) -> bool {
        self.proc.as_ref().is_some_and(PidFd::alive)
    }

    /// Sends SIGTERM and waits for the stack to end; true if it did.
    pub fn terminate(&mut self) -> bool {
        self.stop(libc::SIGTERM)
    }

    /// Sends SIGKILL and waits for the stack to end (it leaves its socket file behind).
    pub fn kill(&mut self) -> bool {
        self.stop(libc::SIGKILL)
    }

    fn stop(&mut self, sig: i32) -> bool {
        let Some(p) = self.proc.take() else {
            return true;
        };
        p.signal(sig);
        if p.wait(PATIENCE) {
            return true;
        }
        p.signal(libc::SIGKILL);
        p.wait(PATIENCE);
        false
    }
}

impl Drop for StackProc {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A child process (a stack in the foreground, say) that is stopped on drop: SIGTERM, then
/// SIGKILL if it does not end.
pub struct ChildGuard {
    pub child: std::process::Child,
}

impl ChildGuard {
    pub fn spawn(mut cmd: Command) -> ChildGuard {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        ChildGuard { child }
    }

    /// The exit code if the child has ended.
    pub fn try_code(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().ok().flatten().map(|s| s.code())
    }

    /// SIGTERM, then waits; the exit code (None when a signal ended it or it would not end).
    pub fn terminate(&mut self) -> Option<i32> {
        if let Some(c) = self.try_code() {
            return c;
        }
        // SAFETY: kill(2) on our own child, which we have not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(c) = self.try_code() {
                return c;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A network namespace of the test's own, `pktbox-t<pid>-<n>`, deleted by exact name on drop.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new() -> NetNs {
        let name = unique("pktbox-t");
        run("ip", ["netns", "add", &name]).ok();
        NetNs { name }
    }
}

impl Default for NetNs {
    fn default() -> Self {
        NetNs::new()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("bad MAC {s}")))
        .collect();
    v.try_into().unwrap_or_else(|_| panic!("bad MAC {s}"))
}

pub fn mac_str(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

pub const BROADCAST: [u8; 6] = [0xff; 6];
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ARPOP_REQUEST: u16 = 1;
pub const ARPOP_REPLY: u16 = 2;

/// An Ethernet frame: destination, source, type, payload (no padding added).
pub fn ether_frame(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An Ethernet/IPv4 ARP packet (RFC 826).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sha: [u8; 6],
    pub spa: Ipv4Addr,
    pub tha: [u8; 6],
    pub tpa: Ipv4Addr,
}

impl Arp {
    pub fn emit(&self) -> [u8; 28] {
        let mut b = [0u8; 28];
        b[0..2].copy_from_slice(&1u16.to_be_bytes());
        b[2..4].copy_from_slice(&0x0800u16.to_be_bytes());
        b[4] = 6;
        b[5] = 4;
        b[6..8].copy_from_slice(&self.op.to_be_bytes());
        b[8..14].copy_from_slice(&self.sha);
        b[14..18].copy_from_slice(&self.spa.octets());
        b[18..24].copy_from_slice(&self.tha);
        b[24..28].copy_from_slice(&self.tpa.octets());
        b
    }

    /// Parses an ARP packet, checking the fixed Ethernet/IPv4 fields.
    pub fn parse(b: &[u8]) -> Result<Arp, String> {
        if b.len() < 28 {
            return Err(format!("ARP packet of {} bytes", b.len()));
        }
        let hw = u16::from_be_bytes([b[0], b[1]]);
        let pro = u16::from_be_bytes([b[2], b[3]]);
        if hw != 1 || pro != 0x0800 || b[4] != 6 || b[5] != 4 {
            return Err(format!("ARP hrd {hw} pro {pro:#x} hln {} pln {}", b[4], b[5]));
        }
        let ip = |i: usize| Ipv4Addr::new(b[i], b[i + 1], b[i + 2], b[i + 3]);
        let mac = |i: usize| -> [u8; 6] { b[i..i + 6].try_into().expect("6 bytes") };
        Ok(Arp {
            op: u16::from_be_bytes([b[6], b[7]]),
            sha: mac(8),
            spa: ip(14),
            tha: mac(18),
            tpa: ip(24),
        })
    }
}

/// An ARP frame as the test puts it on a wire: broadcast for a request.
pub fn arp_frame(dst: [u8; 6], arp: &Arp) -> Vec<u8> {
    ether_frame(dst, arp.sha, ETHERTYPE_ARP, &arp.emit())
}

/// A frame split into its Ethernet header and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtherFrame {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub ethertype: u16,
    pub payload: Vec<u8>,
}

pub fn parse_ether(f: &[u8]) -> Result<EtherFrame, String> {
    if f.len() < 14 {
        return Err(format!("frame of {} bytes", f.len()));
    }
    Ok(EtherFrame {
        dst: f[0..6].try_into().expect("6 bytes"),
        src: f[6..12].try_into().expect("6 bytes"),
        ethertype: u16::from_be_bytes([f[12], f[13]]),
        payload: f[14..].to_vec(),
    })
}

/// An io-pkt-v4 in the foreground inside `ns` on one `driver` with option word `opts`
/// (`-d tap tap=tap0,host=10.0.0.1/24`); returns once the stack answers. The guard stops
/// the stack; `ns` must outlive it.
pub fn start_in_netns(ns: &NetNs, driver: &str, opts: &str) -> (StackProc, ChildGuard) {
    start_variant_in_netns(ns, "io-pkt-v4", driver, opts)
}

/// [`start_in_netns`] with another stack variant (`io-pkt-v6-hc`).
pub fn start_variant_in_netns(ns: &NetNs, variant: &str, driver: &str, opts: &str) -> (StackProc, ChildGuard) {
    start_args_in_netns(ns, variant, &["-d", driver, opts])
}

/// [`start_variant_in_netns`] with any io-pkt arguments after the prefix (none: a stack
/// with no driver, whose interfaces are cloned at run time).
pub fn start_args_in_netns(ns: &NetNs, variant: &str, args: &[&str]) -> (StackProc, ChildGuard) {
    let mut st = StackProc::new_prefix(variant);
    let log_path = st.dir().join("stack.log");
    let log = std::fs::File::create(&log_path).expect("stack log");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.name])
        .arg(bin())
        .args([variant, "-f", "-ptcpip", &format!("prefix={}", st.prefix().display())])
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("stack log"))
        .stderr(log);
    let mut child = ChildGuard::spawn(cmd);
    wait_for("the stack in the namespace to answer", || {
        if let Some(c) = child.try_code() {
            panic!(
                "the stack exited ({c:?}): {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        Stack::open_at(st.prefix()).ok()
    });
    st.adopt();
    (st, child)
}

/// Two stacks wired together by the udp driver: A is 10.N.0.1/24, B is 10.N.0.2/24.
pub fn udp_pair(net: u8) -> (StackProc, StackProc) {
    let (pa, pb) = (free_udp_port(), free_udp_port());
    let a = StackProc::start(&["-d", "udp", &format!("local=127.0.0.1:{pa},remote=127.0.0.1:{pb}")]);
    let b = StackProc::start(&["-d", "udp", &format!("local=127.0.0.1:{pb},remote=127.0.0.1:{pa}")]);
    a.ok("ifconfig", &["en0", &format!("10.{net}.0.1/24")]);
    b.ok("ifconfig", &["en0", &format!("10.{net}.0.2/24")]);
    (a, b)
}

/// Whether a test that needs a Linux peer over TAP can run: root, /dev/net/tun, and the
/// host programs named. Says why not ([`skip`]) when it cannot.
#[track_caller]
pub fn can_run_linux(test: &str, progs: &[&str]) -> bool {
    if !need_root(test) {
        return false;
    }
    if !Path::new("/dev/net/tun").exists() {
        skip(test, "no /dev/net/tun");
        return false;
    }
    need(test, progs)
}

/// Whether a test can run a command as an unprivileged user ([`as_nobody`]): always when
/// not root (the tests are then unprivileged already), else with setpriv(1).
#[track_caller]
pub fn can_run_as_nobody(test: &str) -> bool {
    !is_root() || need(test, &["setpriv"])
}

/// Opens the stack's prefix to other users: its directories searchable (the socket itself
/// is open to everyone), and a copy of pktbox in a 0755 directory, since the build tree may
/// sit under a home directory nobody else can enter. Returns that copy, for [`as_nobody`].
pub fn open_to_others(st: &StackProc) -> PathBuf {
    for d in [st.prefix().to_path_buf(), st.prefix().join("dev")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).expect("chmod the prefix");
    }
    let exe = st.dir().join("pktbox");
    std::fs::copy(bin(), &exe).expect("copy pktbox");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod the pktbox copy");
    exe
}

/// Runs `EXE ARGS` against the stack as uid/gid 65534 (nobody) through setpriv when root,
/// or directly when the tests are unprivileged already. See [`can_run_as_nobody`].
pub fn as_nobody(st: &StackProc, exe: &Path, args: &[&str]) -> Output {
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(exe);
        c
    } else {
        Command::new(exe)
    };
    cmd.args(args).env("SOCK", st.prefix());
    output_of(cmd)
}

/// The classic BPF program `pktbox tcpdump -ddd EXPR` prints (a count, then `code jt jf k`
/// lines), as the stack takes it.
pub fn compiled_filter(pktbox: &Path, expr: &str) -> Vec<pktbox_stack::wire::bpf::BpfInsn> {
    let o = Command::new(pktbox)
        .args(["tcpdump", "-ddd", expr])
        .output()
        .expect("pktbox tcpdump -ddd");
    assert!(o.status.success(), "{expr}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<u32> = l.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            assert_eq!(v.len(), 4, "{expr}: {l}");
            pktbox_stack::wire::bpf::BpfInsn::jump(v[0] as u16, v[3], v[1] as u8, v[2] as u8)
        })
        .collect()
}

/// For benchmarks: `$PKTBOX_BIN`, else the release build, else the debug one.
pub fn bench_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PKTBOX_BIN") {
        return p.into();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for p in ["target/release/pktbox", "target/debug/pktbox"] {
        if root.join(p).exists() {
            return root.join(p);
        }
    }
    panic!("build pktbox first (cargo build --release)");
}

/// A deterministic byte stream (xorshift), so both ends can check what crossed.
pub struct Pattern(pub u64);

impl Pattern {
    pub fn fill(&mut self, b: &mut [u8]) {
        for c in b.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let v = self.0.to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Writes `total` bytes of the pattern, returning their SHA-256.
pub fn send_pattern(s: &mut impl Write, total: usize, seed: u64) -> String {
    let mut p = Pattern(seed);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 65536];
    let mut left = total;
    while left > 0 {
        let n = left.min(buf.len());
        p.fill(&mut buf[..n]);
        s.write_all(&buf[..n]).expect("write");
        h.update(&buf[..n]);
        left -= n;
    }
    hex(&h.finalize())
}

/// Reads to end of file, returning the byte count and SHA-256.
pub fn recv_all(s: &mut impl Read) -> (usize, String) {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 65536];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).expect("read");
        if n == 0 {
            return (total, hex(&h.finalize()));
        }
        h.update(&buf[..n]);
        total += n;
    }
}
