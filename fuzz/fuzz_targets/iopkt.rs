//! io-pkt's option words: `-d DRIVER OPTIONS` (the common options and the link
//! impairments, checked before a driver opens), `-p tcpip OPTIONS`, and the virtio-net
//! header a TAP hands over with each frame.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pktbox_drivers::tap::{parse_vnet_hdr, VNET_HDR_LEN};
use pktbox_drivers::{parse_options, DRIVERS};
use pktbox_stack::sys::{Config, Variant};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    if rest.len() >= VNET_HDR_LEN {
        let mut h = [0u8; VNET_HDR_LEN];
        h.copy_from_slice(&rest[..VNET_HDR_LEN]);
        let _ = parse_vnet_hdr(&h, usize::from(sel) * 8);
    }
    let mut parts = rest.split(|b| *b == 0);
    let dword = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let pword = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let kind = DRIVERS.get(usize::from(sel & 7)).copied().unwrap_or("bogus");
    if let Ok(p) = parse_options(kind, &dword) {
        if let Some(m) = p.common.mtu {
            assert!((68..=pktbox_drivers::ETHERMTU_JUMBO).contains(&m));
        }
        if let Some(s) = p.impair {
            // What ifconfig -v shows reads back as the same settings.
            let word = s.word();
            if word != "none" {
                let again = parse_options(kind, &word).expect("the shown word parses");
                let mut s2 = again.impair.expect("impairments");
                s2.seed = s.seed;
                assert_eq!(s, s2, "{word}");
            }
        }
    }
    let variant = [Variant::V4, Variant::V4Hc, Variant::V6Hc][usize::from(sel >> 6) % 3];
    let mut cfg = Config {
        variant,
        prefix: "/run/io-pkt".into(),
        forward: false,
        rx_threads: 1,
        rx_prio: None,
        threads_min: 15,
        threads_max: 200,
        verbose: 0,
        modules: Vec::new(),
    };
    if cfg.tcpip_options(&pword).is_ok() {
        assert!(cfg.threads_min <= cfg.threads_max && cfg.threads_min >= 1);
        assert!(cfg.prefix.is_absolute());
    }
});
