//! brconfig: configure a bridge, NetBSD's brconfig(8): `brconfig -a`, `brconfig bridge0`,
//! `brconfig bridge0 add en0 add en1 stp en0 up`, commands run left to right, with
//! NetBSD's status layout and error words.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use pktbox_stack::msg::{bstp_state, ifbaf, ifbif, iff, BrOp, BrStatus, IfSetReq};
use pktbox_stack::socket::{Error, Stack};

use crate::common::{fail, open_stack, parse, usage, EXIT_FAILURE};

const PROG: &str = "brconfig";

pub fn command() -> Command {
    Command::new(PROG)
        .about("Configure network bridge parameters")
        .long_about(
            "brconfig shows and changes the bridges (bridge(4)) of the stack named by SOCK. \
             A bridge is made with `ifconfig bridge0 create`; its members are Ethernet \
             interfaces. With only a bridge name it shows that bridge; -a shows them all. \
             Commands run left to right and stop at the first that fails.",
        )
        .override_usage("brconfig -a\n       brconfig <bridge>\n       brconfig <bridge> command [args...]")
        .after_help(
            "Commands:\n  \
             add IF / delete IF        add or remove a member (Ethernet, same MTU as the bridge)\n  \
             up / down                 mark the bridge up (it forwards and runs STP) or down\n  \
             discover IF / -discover IF  flood frames to unknown destinations to IF, or not\n  \
             learn IF / -learn IF      learn source addresses on IF, or not\n  \
             stp IF / -stp IF          802.1D spanning tree on IF, or not\n  \
             ipf / -ipf                pass bridged IPv4/IPv6 through the packet filter hooks\n  \
             addr                      show the address cache\n  \
             static IF ADDR            add a static cache entry\n  \
             deladdr ADDR              delete a cache entry\n  \
             flush / flushall          delete the dynamic / all cache entries\n  \
             maxaddr N                 size of the address cache (default 100)\n  \
             timeout SECS              lifetime of learned addresses (default 1200)\n  \
             priority N                bridge priority, 0-65535 (default 32768)\n  \
             hellotime / fwddelay / maxage SECS   STP timers (default 2, 15, 20)\n  \
             ifpriority IF N           port priority, 0-255 (default 128)\n  \
             ifpathcost IF N           port path cost (default 55)",
        )
        .arg(
            Arg::new("all")
                .short('a')
                .action(ArgAction::SetTrue)
                .help("Show the status of every bridge"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the status as JSON"),
        )
        .arg(
            Arg::new("bridge")
                .value_name("bridge")
                .help("The bridge (bridge0, ...)"),
        )
        .arg(
            Arg::new("commands")
                .value_name("command")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .help("Commands and their arguments"),
        )
}

fn bits(word: &str, v: u32, names: &[(u32, &str)]) -> String {
    let n: Vec<&str> = names.iter().filter(|(b, _)| v & b != 0).map(|(_, n)| *n).collect();
    format!("{word}={v:x}<{}>", n.join(","))
}

fn mac_str(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// ether_aton(3): six groups of one or two hex digits separated by colons.
fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    for (o, p) in out.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

fn cache_lines(st: &BrStatus, prefix: &str) -> String {
    let mut s = String::new();
    for a in &st.cache {
        s.push_str(&format!(
            "{prefix}{} {} {} {}\n",
            mac_str(&a.mac),
            a.ifname,
            a.expire,
            bits("flags", a.flags, ifbaf::NAMES)
        ));
    }
    s
}

/// `brconfig bridge0`, as NetBSD's show_config prints it.
fn status_text(st: &BrStatus) -> String {
    let mut s = format!("{}: {}\n", st.name, bits("flags", st.flags, iff::NAMES));
    s.push_str("\tConfiguration:\n");
    s.push_str(&format!(
        "\t\tpriority {} hellotime {} fwddelay {} maxage {}\n",
        st.priority, st.hellotime, st.fwddelay, st.maxage
    ));
    s.push_str(&format!(
        "\t\tipfilter {} flags 0x{:x}\n",
        if st.ipf { "enabled" } else { "disabled" },
        u32::from(st.ipf)
    ));
    s.push_str("\tInterfaces:\n");
    for m in &st.members {
        s.push_str(&format!("\t\t{} {}\n", m.ifname, bits("flags", m.flags, ifbif::NAMES)));
        s.push_str(&format!("\t\t\tport {} priority {}", m.port, m.priority));
        if m.flags & ifbif::STP != 0 {
            s.push_str(&format!(" path cost {} {}", m.path_cost, bstp_state::name(m.state)));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "\tAddress cache (max cache: {}, timeout: {}):\n",
        st.maxaddr, st.timeout
    ));
    s.push_str(&cache_lines(st, "\t\t"));
    s
}

fn bridge_id_str(id: u64) -> String {
    let b = id.to_be_bytes();
    format!(
        "{}.{}",
        u16::from_be_bytes([b[0], b[1]]),
        mac_str(&[b[2], b[3], b[4], b[5], b[6], b[7]])
    )
}

fn status_json(list: &[BrStatus]) -> serde_json::Value {
    serde_json::Value::Array(
        list.iter()
            .map(|st| {
                serde_json::json!({
                    "name": st.name,
                    "flags": st.flags,
                    "up": st.flags & iff::UP != 0,
                    "priority": st.priority,
                    "hellotime": st.hellotime,
                    "fwddelay": st.fwddelay,
                    "maxage": st.maxage,
                    "ipfilter": st.ipf,
                    "maxaddr": st.maxaddr,
                    "timeout": st.timeout,
                    "stp": {
                        "bridge_id": bridge_id_str(st.bridge_id),
                        "root_id": bridge_id_str(st.designated_root),
                        "root_path_cost": st.root_path_cost,
                        "root_port": st.root_port,
                        "topology_change": st.topology_change,
                    },
                    "interfaces": st.members.iter().map(|m| serde_json::json!({
                        "name": m.ifname,
                        "flags": m.flags,
                        "learn": m.flags & ifbif::LEARNING != 0,
                        "discover": m.flags & ifbif::DISCOVER != 0,
                        "stp": m.flags & ifbif::STP != 0,
                        "port": m.port,
                        "priority": m.priority,
                        "path_cost": m.path_cost,
                        "state": bstp_state::name(m.state),
                        "designated_root": bridge_id_str(m.designated_root),
                        "designated_bridge": bridge_id_str(m.designated_bridge),
                        "designated_cost": m.designated_cost,
                        "designated_port": m.designated_port,
                        "root_port": m.root_port,
                    })).collect::<Vec<_>>(),
                    "addresses": st.cache.iter().map(|a| serde_json::json!({
                        "address": mac_str(&a.mac),
                        "interface": a.ifname,
                        "expire": a.expire,
                        "static": a.flags & ifbaf::STATIC != 0,
                    })).collect::<Vec<_>>(),
                    "stats": st.stats,
                })
            })
            .collect(),
    )
}

fn show(list: &[BrStatus], json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status_json(list)).unwrap_or_default()
        );
    } else {
        for st in list {
            print!("{}", status_text(st));
        }
    }
}

/// A number within `max`, in C's strtoul base 0 (decimal, 0x hex, 0 octal).
fn number(s: &str, max: u64) -> Option<u64> {
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse().ok()?
    };
    (v <= max).then_some(v)
}

/// One command word: how many arguments it takes.
fn nargs(cmd: &str) -> Option<usize> {
    Some(match cmd {
        "up" | "down" | "ipf" | "-ipf" | "flush" | "flushall" | "addr" => 0,
        "add" | "delete" | "discover" | "-discover" | "learn" | "-learn" | "stp" | "-stp" | "deladdr" | "maxaddr"
        | "timeout" | "priority" | "hellotime" | "fwddelay" | "maxage" => 1,
        "static" | "ifpriority" | "ifpathcost" => 2,
        _ => return None,
    })
}

enum Step {
    Op(BrOp),
    Flags(u32, u32),
    Addr,
}

/// Reads one command and its arguments into what to ask the stack, with NetBSD's
/// messages for bad values.
fn step(cmd: &str, a: &[String]) -> Result<Step, String> {
    let invalid = |v: &str| format!("{cmd}: invalid value: {v}");
    let member_flag = |flag: u32, on: bool| {
        Step::Op(BrOp::MemberFlags {
            ifname: a[0].clone(),
            set: if on { flag } else { 0 },
            clear: if on { 0 } else { flag },
        })
    };
    Ok(match cmd {
        "up" => Step::Flags(iff::UP, 0),
        "down" => Step::Flags(0, iff::UP),
        "addr" => Step::Addr,
        "ipf" => Step::Op(BrOp::Ipf(true)),
        "-ipf" => Step::Op(BrOp::Ipf(false)),
        "flush" => Step::Op(BrOp::Flush { all: false }),
        "flushall" => Step::Op(BrOp::Flush { all: true }),
        "add" => Step::Op(BrOp::Add(a[0].clone())),
        "delete" => Step::Op(BrOp::Delete(a[0].clone())),
        "discover" => member_flag(ifbif::DISCOVER, true),
        "-discover" => member_flag(ifbif::DISCOVER, false),
        "learn" => member_flag(ifbif::LEARNING, true),
        "-learn" => member_flag(ifbif::LEARNING, false),
        "stp" => member_flag(ifbif::STP, true),
        "-stp" => member_flag(ifbif::STP, false),
        "deladdr" => Step::Op(BrOp::DelAddr(
            parse_mac(&a[0]).ok_or_else(|| format!("{cmd}: invalid address: {}", a[0]))?,
        )),
        "static" => Step::Op(BrOp::Static {
            ifname: a[0].clone(),
            mac: parse_mac(&a[1]).ok_or_else(|| format!("{cmd}: invalid address: {}", a[1]))?,
        }),
        "maxaddr" => Step::Op(BrOp::MaxAddr(
            number(&a[0], u64::from(u32::MAX)).ok_or_else(|| invalid(&a[0]))? as u32,
        )),
        "timeout" => Step::Op(BrOp::Timeout(
            number(&a[0], u64::from(u32::MAX)).ok_or_else(|| invalid(&a[0]))? as u32,
        )),
        "priority" => Step::Op(BrOp::Priority(
            number(&a[0], 0xffff).ok_or_else(|| invalid(&a[0]))? as u16
        )),
        "hellotime" | "fwddelay" | "maxage" => {
            let v = number(&a[0], 0xff).ok_or_else(|| invalid(&a[0]))? as u8;
            Step::Op(match cmd {
                "hellotime" => BrOp::HelloTime(v),
                "fwddelay" => BrOp::FwdDelay(v),
                _ => BrOp::MaxAge(v),
            })
        }
        "ifpriority" => Step::Op(BrOp::IfPriority {
            ifname: a[0].clone(),
            prio: number(&a[1], 0xff).ok_or_else(|| invalid(&a[1]))? as u8,
        }),
        "ifpathcost" => Step::Op(BrOp::IfPathCost {
            ifname: a[0].clone(),
            cost: number(&a[1], 0xffff).ok_or_else(|| invalid(&a[1]))? as u32,
        }),
        _ => return Err(format!("unknown command: {cmd}")),
    })
}

/// Splits the words into commands with their arguments, checking every one before any
/// runs, as NetBSD's brconfig does with its command table.
fn plan(words: &[String]) -> Result<Vec<(String, Vec<String>, Step)>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let cmd = &words[i];
        let n = nargs(cmd).ok_or_else(|| format!("unknown command: {cmd}"))?;
        if n > 0 && i + n >= words.len() {
            return Err(format!(
                "command {cmd} requires {n} argument{}",
                if n == 1 { "" } else { "s" }
            ));
        }
        let args: Vec<String> = words[i + 1..i + 1 + n].to_vec();
        let s = step(cmd, &args)?;
        out.push((cmd.clone(), args, s));
        i += 1 + n;
    }
    Ok(out)
}

fn status(s: &mut Stack, name: &str) -> Result<BrStatus, ExitCode> {
    match s.bridge_status(Some(name)) {
        Ok(mut v) if !v.is_empty() => Ok(v.remove(0)),
        Ok(_) => Err(fail(PROG, "unable to get interface flags: Device not configured")),
        Err(e) => Err(fail(PROG, format!("unable to get interface flags: {e}"))),
    }
}

pub fn run(args: Vec<OsString>) -> ExitCode {
    let (args, words) = crate::common::split_at_first_word(args);
    let m = match parse(command(), args) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let json = m.get_flag("json");
    let bridge = m.get_one::<String>("bridge").cloned();
    if m.get_flag("all") {
        if bridge.is_some() {
            return usage(&command());
        }
        let mut s = match open_stack(PROG) {
            Ok(s) => s,
            Err(c) => return c,
        };
        return match s.bridge_status(None) {
            Ok(l) => {
                show(&l, json);
                ExitCode::SUCCESS
            }
            Err(e) => fail(PROG, format!("unable to get bridges: {e}")),
        };
    }
    let Some(name) = bridge else {
        return usage(&command());
    };
    if !name.starts_with("bridge") {
        return fail(PROG, format!("{name} is not a bridge"));
    }
    let steps = match plan(&words) {
        Ok(p) => p,
        Err(e) => return fail(PROG, e),
    };
    let mut s = match open_stack(PROG) {
        Ok(s) => s,
        Err(c) => return c,
    };
    // The bridge must exist before anything is done to it.
    let st = match status(&mut s, &name) {
        Ok(st) => st,
        Err(c) => return c,
    };
    if steps.is_empty() {
        show(&[st], json);
        return ExitCode::SUCCESS;
    }
    for (cmd, a, step) in steps {
        let what = match a.first() {
            Some(x) => format!("{cmd} {x}"),
            None => cmd.clone(),
        };
        let r: Result<(), Error> = match step {
            Step::Op(op) => s.bridge_set(&name, op),
            Step::Flags(set, clear) => s.if_set(IfSetReq {
                name: name.clone(),
                set_flags: set,
                clear_flags: clear,
                mtu: None,
                set_caps: 0,
                clear_caps: 0,
            }),
            Step::Addr => match status(&mut s, &name) {
                Ok(st) => {
                    if json {
                        show(&[st], true);
                    } else {
                        print!("{}", cache_lines(&st, "\t"));
                    }
                    Ok(())
                }
                Err(c) => return c,
            },
        };
        if let Err(e) = r {
            // err(1, "%s %s", keyword, argv[0]): the errno's words, not the stack's
            // longer explanation.
            let msg = match e.errno() {
                Some(n) => pktbox_stack::msg::errno::strerror(n),
                None => e.to_string(),
            };
            eprintln!("{PROG}: {what}: {msg}");
            return ExitCode::from(EXIT_FAILURE);
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use pktbox_stack::msg::{BrAddrInfo, BrMemberInfo, BrStats};

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn commands_parse_as_netbsd_reads_them() {
        let p = plan(&w("add en0 add en1 stp en0 up")).unwrap();
        assert_eq!(p.len(), 4);
        assert!(
            matches!(&p[2].2, Step::Op(BrOp::MemberFlags { ifname, set: ifbif::STP, clear: 0 }) if ifname == "en0")
        );
        assert_eq!(plan(&w("frob")).err().unwrap(), "unknown command: frob");
        assert_eq!(plan(&w("add")).err().unwrap(), "command add requires 1 argument");
        assert_eq!(
            plan(&w("static en0")).err().unwrap(),
            "command static requires 2 arguments"
        );
        assert_eq!(
            plan(&w("priority 70000")).err().unwrap(),
            "priority: invalid value: 70000"
        );
        assert_eq!(plan(&w("hellotime x")).err().unwrap(), "hellotime: invalid value: x");
        assert_eq!(
            plan(&w("deladdr 00:11:22")).err().unwrap(),
            "deladdr: invalid address: 00:11:22"
        );
        assert!(matches!(
            plan(&w("static en1 0:aa:b:cc:dd:ee")).unwrap()[0].2,
            Step::Op(BrOp::Static {
                mac: [0, 0xaa, 0xb, 0xcc, 0xdd, 0xee],
                ..
            })
        ));
        assert!(matches!(
            plan(&w("maxaddr 0x10")).unwrap()[0].2,
            Step::Op(BrOp::MaxAddr(16))
        ));
    }

    #[test]
    fn status_prints_as_netbsd_shows_it() {
        let mut m = BrMemberInfo {
            ifname: "en0".into(),
            flags: 7,
            port: 2,
            priority: 128,
            path_cost: 55,
            state: bstp_state::FORWARDING,
            designated_root: 0,
            designated_bridge: 0,
            designated_cost: 0,
            designated_port: 0,
            root_port: false,
        };
        let mut m1 = m.clone();
        m1.ifname = "en1".into();
        m1.flags = 3;
        m1.port = 3;
        m.state = bstp_state::FORWARDING;
        let st = BrStatus {
            name: "bridge0".into(),
            flags: 0x41,
            priority: 32768,
            hellotime: 2,
            fwddelay: 15,
            maxage: 20,
            ipf: false,
            maxaddr: 100,
            timeout: 1200,
            members: vec![m1, m],
            cache: vec![
                BrAddrInfo {
                    mac: [0, 0x11, 0x22, 0x33, 0x44, 0x55],
                    ifname: "en0".into(),
                    expire: 1187,
                    flags: 0,
                },
                BrAddrInfo {
                    mac: [0, 0xaa, 0xbb, 0xcc, 0xdd, 0xee],
                    ifname: "en1".into(),
                    expire: 0,
                    flags: 1,
                },
            ],
            bridge_id: 0,
            designated_root: 0,
            root_path_cost: 0,
            root_port: None,
            topology_change: false,
            stats: BrStats::default(),
        };
        assert_eq!(
            status_text(&st),
            "bridge0: flags=41<UP,RUNNING>\n\
             \tConfiguration:\n\
             \t\tpriority 32768 hellotime 2 fwddelay 15 maxage 20\n\
             \t\tipfilter disabled flags 0x0\n\
             \tInterfaces:\n\
             \t\ten1 flags=3<LEARNING,DISCOVER>\n\
             \t\t\tport 3 priority 128\n\
             \t\ten0 flags=7<LEARNING,DISCOVER,STP>\n\
             \t\t\tport 2 priority 128 path cost 55 forwarding\n\
             \tAddress cache (max cache: 100, timeout: 1200):\n\
             \t\t00:11:22:33:44:55 en0 1187 flags=0<>\n\
             \t\t00:aa:bb:cc:dd:ee en1 0 flags=1<STATIC>\n"
        );
    }
}
