//! sockstat: list the stack's open sockets with the process that holds each, NetBSD's
//! sockstat(1): `USER COMMAND PID FD PROTO LOCAL ADDRESS FOREIGN ADDRESS`, `-46clnu`,
//! `-f family`, `-p ports`. The stack knows each socket's holder from its channel
//! connection (SO_PEERCRED: pid and uid); the descriptor number is the one the client
//! reported (the preloadable socket library does; `?` otherwise).

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use pktbox_stack::msg::SockInfo;
use serde_json::json;

use crate::common::{open_stack, parse, usage_fail, EXIT_FAILURE};
use crate::rtutil::Names;

const PROG: &str = "sockstat";

pub fn command() -> Command {
    Command::new(PROG)
        .about("List open sockets")
        .long_about(
            "sockstat lists the open Internet sockets of the stack named by SOCK, with the \
             user, command, process ID and file descriptor that hold each.",
        )
        .override_usage("sockstat [-46clnu] [-f address_family] [-p ports]")
        .after_help(
            "If neither -4, -6 nor -u is given, sockets of every domain are listed; if \
             neither -c nor -l, listening and connected sockets and those in neither state. \
             Addresses print as host.port, `*` for the wildcard. The stack has no AF_LOCAL \
             sockets, so -u alone lists none. FD is `?` for a socket whose client did not \
             report its descriptor number (pktbox's own applets); sockets no process holds \
             (TIME_WAIT, connections not yet accepted) are not listed, as on NetBSD.",
        )
        .arg(
            Arg::new("inet")
                .short('4')
                .action(ArgAction::SetTrue)
                .help("Show AF_INET (IPv4) sockets"),
        )
        .arg(
            Arg::new("inet6")
                .short('6')
                .action(ArgAction::SetTrue)
                .help("Show AF_INET6 (IPv6) sockets"),
        )
        .arg(
            Arg::new("connected")
                .short('c')
                .action(ArgAction::SetTrue)
                .help("Show connected sockets"),
        )
        .arg(
            Arg::new("listening")
                .short('l')
                .action(ArgAction::SetTrue)
                .help("Show listening sockets"),
        )
        .arg(
            Arg::new("numeric")
                .short('n')
                .action(ArgAction::SetTrue)
                .help("Numeric output only: no names for addresses and ports"),
        )
        .arg(
            Arg::new("local")
                .short('u')
                .action(ArgAction::SetTrue)
                .help("Show AF_LOCAL (UNIX) sockets"),
        )
        .arg(
            Arg::new("family")
                .short('f')
                .value_name("address_family")
                .value_parser(["inet", "inet6", "local", "unix"])
                .help("Limit listed sockets to this address family"),
        )
        .arg(
            Arg::new("ports")
                .short('p')
                .value_name("ports")
                .help("Only sockets whose local or foreign port is on this list (22,80,8000-8100)"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the sockets as JSON"),
        )
}

/// A -p list: ports and first-last ranges, comma-separated.
pub fn parse_ports(s: &str) -> Result<Vec<(u16, u16)>, String> {
    let mut v = Vec::new();
    for part in s.split(',') {
        let num = |x: &str| x.trim().parse::<u16>().map_err(|_| format!("{x}: bad port number"));
        let r = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let p = num(part)?;
                (p, p)
            }
        };
        if r.0 > r.1 {
            return Err(format!("{part}: bad port range"));
        }
        v.push(r);
    }
    Ok(v)
}

/// Port names from /etc/services, by (port, protocol).
struct Services {
    numeric: bool,
    map: Option<HashMap<(u16, String), String>>,
}

impl Services {
    fn name(&mut self, port: u16, proto: &str) -> String {
        if !self.numeric {
            let m = self.map.get_or_insert_with(|| {
                let mut m = HashMap::new();
                if let Ok(t) = std::fs::read_to_string("/etc/services") {
                    for line in t.lines() {
                        let mut w = line.split('#').next().unwrap_or("").split_whitespace();
                        if let (Some(name), Some(pp)) = (w.next(), w.next()) {
                            if let Some((p, pr)) = pp.split_once('/') {
                                if let Ok(p) = p.parse::<u16>() {
                                    m.entry((p, pr.to_string())).or_insert_with(|| name.to_string());
                                }
                            }
                        }
                    }
                }
                m
            });
            if let Some(n) = m.get(&(port, proto.to_string())) {
                return n.clone();
            }
        }
        port.to_string()
    }
}

/// `host.port`, `*` for the wildcard address or port, `*.*` for no address.
fn endpoint(a: Option<SocketAddr>, proto: &str, names: &mut Names, svc: &mut Services) -> String {
    let Some(a) = a else { return "*.*".into() };
    let host = match a.ip() {
        ip if ip.is_unspecified() => "*".to_string(),
        std::net::IpAddr::V4(ip) => names.host(ip),
        std::net::IpAddr::V6(ip) => ip.to_string(),
    };
    let port = if a.port() == 0 {
        "*".to_string()
    } else {
        svc.name(a.port(), proto)
    };
    format!("{host}.{port}")
}

/// The user name of `uid`, else the number.
fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

/// The command name of `pid` (as ps shows it), else `?`.
fn command_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Appends `s` and pads the line to column `col` (at least one blank), as sockstat lays
/// out its columns.
fn col(line: &mut String, s: &str, col: usize) {
    line.push_str(s);
    line.push(' ');
    while line.chars().count() < col {
        line.push(' ');
    }
}

pub const HEADER: &str = "USER     COMMAND    PID   FD PROTO  LOCAL ADDRESS         FOREIGN ADDRESS";

/// One row; the command is cut to 10 characters.
pub fn row(user: &str, command: &str, pid: u32, fd: Option<i32>, proto: &str, local: &str, foreign: &str) -> String {
    let mut l = String::new();
    col(&mut l, user, 9);
    col(&mut l, &command.chars().take(10).collect::<String>(), 20);
    col(&mut l, &pid.to_string(), 26);
    col(&mut l, &fd.map_or("?".to_string(), |f| f.to_string()), 29);
    col(&mut l, proto, 36);
    col(&mut l, local, 58);
    l.push_str(foreign);
    l
}

/// Which sockets the options select.
pub struct Filter {
    pub v4: bool,
    pub v6: bool,
    pub connected: bool,
    pub listening: bool,
    pub ports: Option<Vec<(u16, u16)>>,
}

impl Filter {
    pub fn wants(&self, s: &SockInfo) -> bool {
        let fam_ok = if s.family == libc::AF_INET6 { self.v6 } else { self.v4 };
        let listening = s.state == "LISTEN";
        let connected = s.foreign.is_some() && !listening;
        let state_ok = match (self.connected, self.listening) {
            (false, false) => true,
            (c, l) => c && connected || l && listening,
        };
        let port_ok = self.ports.as_ref().is_none_or(|r| {
            let ports = [Some(s.local.port()), s.foreign.map(|f| f.port())];
            ports
                .iter()
                .flatten()
                .any(|p| r.iter().any(|(a, b)| (*a..=*b).contains(p)))
        });
        fam_ok && state_ok && port_ok && s.owner.is_some()
    }
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let m = match parse(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let (mut v4, mut v6, mut local) = (m.get_flag("inet"), m.get_flag("inet6"), m.get_flag("local"));
    match m.get_one::<String>("family").map(String::as_str) {
        Some("inet") => v4 = true,
        Some("inet6") => v6 = true,
        Some(_) => local = true,
        None => {}
    }
    if !v4 && !v6 && !local {
        (v4, v6) = (true, true);
    }
    let ports = match m.get_one::<String>("ports").map(|p| parse_ports(p)) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => return usage_fail(PROG, e),
        None => None,
    };
    let f = Filter {
        v4,
        v6,
        connected: m.get_flag("connected"),
        listening: m.get_flag("listening"),
        ports,
    };
    let mut st = match open_stack(PROG) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let list = match st.sock_list() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let numeric = m.get_flag("numeric");
    let mut names = Names::new(numeric);
    let mut svc = Services { numeric, map: None };
    let mut rows = Vec::new();
    for s in list.iter().filter(|s| f.wants(s)) {
        let Some(o) = s.owner else { continue };
        let proto = if s.family == libc::AF_INET6 {
            format!("{}6", s.proto)
        } else {
            s.proto.clone()
        };
        rows.push((
            user_name(o.uid),
            command_name(o.pid),
            o,
            proto,
            endpoint(Some(s.local), &s.proto, &mut names, &mut svc),
            endpoint(s.foreign, &s.proto, &mut names, &mut svc),
        ));
    }
    // By process, then descriptor, as sockstat walks the file table.
    rows.sort_by_key(|r| (r.2.pid, r.2.fd));
    if m.get_flag("json") {
        let v: Vec<_> = rows
            .iter()
            .map(|(user, cmd, o, proto, l, fr)| {
                json!({"user": user, "command": cmd, "pid": o.pid, "uid": o.uid, "fd": o.fd,
                       "proto": proto, "local": l, "foreign": fr})
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return ExitCode::SUCCESS;
    }
    println!("{HEADER}");
    for (user, cmd, o, proto, l, fr) in &rows {
        println!("{}", row(user, cmd, o.pid, o.fd, proto, l, fr));
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use pktbox_stack::msg::SockOwner;

    #[test]
    fn rows_line_up_under_the_header() {
        let r = row("root", "python3", 4242, Some(3), "tcp6", "*.8080", "*.*");
        assert_eq!(r, "root     python3    4242  3  tcp6   *.8080                *.*");
        assert_eq!(r.find("tcp6"), HEADER.find("PROTO"));
        assert_eq!(r.find("*.8080"), HEADER.find("LOCAL"));
        assert_eq!(r.find("*.*"), HEADER.find("FOREIGN"));
        // Long names push the next column on by one blank, never into it.
        let r = row("averylongusername", "averylongcommand", 1, None, "udp", "a", "b");
        assert!(r.starts_with("averylongusername averylongc 1"), "{r}");
        assert!(r.contains(" 1 ? udp a "), "{r}");
    }

    #[test]
    fn port_lists_take_numbers_and_ranges() {
        assert_eq!(parse_ports("22,80-90").unwrap(), vec![(22, 22), (80, 90)]);
        assert!(parse_ports("90-80").is_err());
        assert!(parse_ports("http").is_err());
        assert!(parse_ports("70000").is_err());
    }

    fn sock(family: i32, state: &str, local: &str, foreign: Option<&str>, owned: bool) -> SockInfo {
        SockInfo {
            proto: "tcp".into(),
            family,
            recv_q: 0,
            send_q: 0,
            local: local.parse().unwrap(),
            foreign: foreign.map(|f| f.parse().unwrap()),
            state: state.into(),
            rcvbuf: 0,
            sndbuf: 0,
            owner: owned.then_some(SockOwner {
                pid: 1,
                uid: 0,
                fd: Some(3),
            }),
        }
    }

    #[test]
    fn the_filter_follows_46clp() {
        let l4 = sock(libc::AF_INET, "LISTEN", "0.0.0.0:22", None, true);
        let c6 = sock(libc::AF_INET6, "ESTABLISHED", "[::1]:5000", Some("[::1]:80"), true);
        let gone = sock(libc::AF_INET, "TIME_WAIT", "10.0.0.1:5001", Some("10.0.0.2:80"), false);
        let all = Filter {
            v4: true,
            v6: true,
            connected: false,
            listening: false,
            ports: None,
        };
        assert!(all.wants(&l4) && all.wants(&c6) && !all.wants(&gone));
        let only = |v4, v6, c, l, ports: Option<&str>| Filter {
            v4,
            v6,
            connected: c,
            listening: l,
            ports: ports.map(|p| parse_ports(p).unwrap()),
        };
        assert!(only(true, false, false, false, None).wants(&l4));
        assert!(!only(true, false, false, false, None).wants(&c6));
        assert!(only(true, true, true, false, None).wants(&c6));
        assert!(!only(true, true, true, false, None).wants(&l4));
        assert!(only(true, true, false, true, None).wants(&l4));
        assert!(only(true, true, false, false, Some("80")).wants(&c6));
        assert!(!only(true, true, false, false, Some("80")).wants(&l4));
        assert!(only(true, true, false, false, Some("20-25")).wants(&l4));
    }
}
