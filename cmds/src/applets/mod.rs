//! The applets, one module each: a clap `Command` and `run(args) -> ExitCode`.

use std::ffi::OsString;
use std::process::ExitCode;

pub mod arp;
pub mod brconfig;
pub mod ifconfig;
pub mod io_pkt;
pub mod nc;
pub mod ndp;
pub mod netstat;
pub mod ping;
pub mod ping6;
pub mod route;
pub mod run;
pub mod sockstat;
pub mod sysctl;
pub mod tcpdump;

/// One applet of the multi-call binary.
pub struct Applet {
    pub name: &'static str,
    /// The clap definition (also the source of man pages and completions).
    // Only the tests read it (gen.rs renders completions and man pages from it); `run`
    // builds its own Command, so a non-test build never calls this.
    #[cfg_attr(not(test), allow(dead_code))]
    pub command: fn() -> clap::Command,
    pub run: fn(Vec<OsString>) -> ExitCode,
}

/// Every applet that works, in the order `pktbox --list` prints them.
pub const APPLETS: &[Applet] = &[
    Applet {
        name: "io-pkt",
        command: io_pkt::command_full,
        run: io_pkt::run,
    },
    Applet {
        name: "io-pkt-v4",
        command: io_pkt::command_v4,
        run: io_pkt::run,
    },
    Applet {
        name: "io-pkt-v4-hc",
        command: io_pkt::command_v4_hc,
        run: io_pkt::run,
    },
    Applet {
        name: "io-pkt-v6-hc",
        command: io_pkt::command_v6_hc,
        run: io_pkt::run,
    },
    Applet {
        name: "ifconfig",
        command: ifconfig::command,
        run: ifconfig::run,
    },
    Applet {
        name: "sysctl",
        command: sysctl::command,
        run: sysctl::run,
    },
    Applet {
        name: "route",
        command: route::command,
        run: route::run,
    },
    Applet {
        name: "arp",
        command: arp::command,
        run: arp::run,
    },
    Applet {
        name: "brconfig",
        command: brconfig::command,
        run: brconfig::run,
    },
    Applet {
        name: "netstat",
        command: netstat::command,
        run: netstat::run,
    },
    Applet {
        name: "ping",
        command: ping::command,
        run: ping::run,
    },
    Applet {
        name: "ping6",
        command: ping6::command,
        run: ping6::run,
    },
    Applet {
        name: "ndp",
        command: ndp::command,
        run: ndp::run,
    },
    Applet {
        name: "nc",
        command: nc::command,
        run: nc::run,
    },
    Applet {
        name: "tcpdump",
        command: tcpdump::command,
        run: tcpdump::run,
    },
    Applet {
        name: "sockstat",
        command: sockstat::command,
        run: sockstat::run,
    },
    Applet {
        name: "run",
        command: run::command,
        run: run::run,
    },
];

pub fn find(name: &str) -> Option<&'static Applet> {
    APPLETS.iter().find(|a| a.name == name)
}
