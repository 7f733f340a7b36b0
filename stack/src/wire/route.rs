//! Routing-socket constants (`net/route.h`): the route flags (`RTF_*`, here `rtf::*`) and
//! the address bits of a routing message (`RTA_*`, here `rta::*`), with the names and
//! letters route(8) and netstat(1) print for them. The stack's table, the channel's
//! `RtMsg` and the tools all use these.

/// NetBSD's route flags (`<net/route.h>`).
pub mod rtf {
    pub const UP: u32 = 0x1;
    pub const GATEWAY: u32 = 0x2;
    pub const HOST: u32 = 0x4;
    pub const REJECT: u32 = 0x8;
    pub const DYNAMIC: u32 = 0x10;
    pub const MODIFIED: u32 = 0x20;
    pub const DONE: u32 = 0x40;
    /// The route has a netmask (old BSDs' RTF_MASK, printed as MASK_PRESENT).
    pub const MASK_PRESENT: u32 = 0x80;
    /// Hosts on this route are neighbours (NetBSD 8's name for the old RTF_CLONING bit).
    pub const CONNECTED: u32 = 0x100;
    /// External daemon resolves name (RTM_MISS on use).
    pub const XRESOLVE: u32 = 0x200;
    pub const LLDATA: u32 = 0x400;
    pub const STATIC: u32 = 0x800;
    pub const BLACKHOLE: u32 = 0x1000;
    /// Cloned from a connected route (old BSDs' RTF_CLONED).
    pub const CLONED: u32 = 0x2000;
    pub const PROTO2: u32 = 0x4000;
    pub const PROTO1: u32 = 0x8000;
    pub const LOCAL: u32 = 0x40000;
    pub const BROADCAST: u32 = 0x80000;

    /// Flag letters in the order netstat prints them.
    pub const LETTERS: &[(u32, char)] = &[
        (UP, 'U'),
        (GATEWAY, 'G'),
        (HOST, 'H'),
        (REJECT, 'R'),
        (DYNAMIC, 'D'),
        (MODIFIED, 'M'),
        (DONE, 'd'),
        (CONNECTED, 'C'),
        (XRESOLVE, 'X'),
        (LLDATA, 'L'),
        (STATIC, 'S'),
        (PROTO1, '1'),
        (PROTO2, '2'),
        (BLACKHOLE, 'B'),
        (LOCAL, 'l'),
        (BROADCAST, 'b'),
    ];

    /// The letters of a flag word.
    pub fn letters(f: u32) -> String {
        LETTERS.iter().filter(|(b, _)| f & b != 0).map(|(_, c)| *c).collect()
    }

    /// Flag names in bit order, as route(8) prints them between angle brackets.
    pub const NAMES: &[(u32, &str)] = &[
        (UP, "UP"),
        (GATEWAY, "GATEWAY"),
        (HOST, "HOST"),
        (REJECT, "REJECT"),
        (DYNAMIC, "DYNAMIC"),
        (MODIFIED, "MODIFIED"),
        (DONE, "DONE"),
        (MASK_PRESENT, "MASK_PRESENT"),
        (CONNECTED, "CONNECTED"),
        (XRESOLVE, "XRESOLVE"),
        (LLDATA, "LLINFO"),
        (STATIC, "STATIC"),
        (BLACKHOLE, "BLACKHOLE"),
        (CLONED, "CLONED"),
        (PROTO2, "PROTO2"),
        (PROTO1, "PROTO1"),
        (LOCAL, "LOCAL"),
        (BROADCAST, "BROADCAST"),
    ];
}

/// Which addresses a routing message carries (`rtm_addrs`), in the order they follow the
/// header.
pub mod rta {
    pub const DST: u32 = 0x1;
    pub const GATEWAY: u32 = 0x2;
    pub const NETMASK: u32 = 0x4;
    pub const GENMASK: u32 = 0x8;
    pub const IFP: u32 = 0x10;
    pub const IFA: u32 = 0x20;
    pub const AUTHOR: u32 = 0x40;
    pub const BRD: u32 = 0x80;
    /// How many there are (`RTAX_MAX`).
    pub const MAX: usize = 8;

    /// The names route(8) prints in a message's `sockaddrs: <...>` line.
    pub const NAMES: &[(u32, &str)] = &[
        (DST, "DST"),
        (GATEWAY, "GATEWAY"),
        (NETMASK, "NETMASK"),
        (GENMASK, "GENMASK"),
        (IFP, "IFP"),
        (IFA, "IFA"),
        (AUTHOR, "AUTHOR"),
        (BRD, "BRD"),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_names_follow_netbsd() {
        // netstat -r's column for a static gateway route and a connected one.
        assert_eq!(rtf::letters(rtf::UP | rtf::GATEWAY | rtf::STATIC), "UGS");
        assert_eq!(rtf::letters(rtf::UP | rtf::CONNECTED | rtf::LOCAL), "UCl");
        assert_eq!(rtf::letters(0), "");
        // Each flag and address bit is a single bit, named once, in increasing order.
        for names in [rtf::NAMES, rta::NAMES] {
            for w in names.windows(2) {
                assert!(w[0].0 < w[1].0, "{:?}", w);
            }
            assert!(names.iter().all(|(b, _)| b.count_ones() == 1));
        }
        assert_eq!(rta::NAMES.len(), rta::MAX);
        assert_eq!(rtf::LETTERS.len(), rtf::NAMES.len() - 2);
    }
}
