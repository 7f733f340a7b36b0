//! `tcpdump -r` and `-w` on pcap files: what pktbox writes, Linux tcpdump and tshark read
//! back alike; broken files fail with a clear message and exit 1, never a panic.

use std::path::Path;
use std::process::{Command, Stdio};

use pktbox_tests::{pktbox, skip, tool, TempDir};

fn ether(dst: [u8; 6], src: [u8; 6], t: u16, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(dst);
    f.extend(src);
    f.extend(t.to_be_bytes());
    f.extend(body);
    f
}

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0];
    h.extend(((20 + payload.len()) as u16).to_be_bytes());
    h.extend([0, 1, 0x40, 0, 64, proto, 0, 0]);
    h.extend(src);
    h.extend(dst);
    let mut s: u32 = h.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    h[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
    h.extend(payload);
    h
}

/// A small savefile: ARP, UDP, a TCP SYN, ICMP echo, in the writer's little-endian form.
fn sample() -> Vec<u8> {
    let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend(a);
    arp.extend([10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    let udp = [0x9c, 0x40, 0x13, 0x89, 0, 12, 0, 0, 1, 2, 3, 4];
    let mut tcp = vec![
        0x9c, 0x41, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ];
    tcp.extend([2, 4, 5, 0xb4]);
    let icmp = [8, 0, 0xf7, 0xfe, 0, 1, 0, 0];
    let frames = [
        ether([0xff; 6], a, 0x0806, &arp),
        ether(b, a, 0x0800, &ipv4(17, [10, 0, 0, 1], [10, 0, 0, 2], &udp)),
        ether(b, a, 0x0800, &ipv4(6, [10, 0, 0, 1], [10, 0, 0, 2], &tcp)),
        ether(b, a, 0x0800, &ipv4(1, [10, 0, 0, 1], [10, 0, 0, 2], &icmp)),
    ];
    let mut f = Vec::new();
    f.extend(0xa1b2_c3d4u32.to_le_bytes());
    f.extend(2u16.to_le_bytes());
    f.extend(4u16.to_le_bytes());
    f.extend([0; 8]);
    f.extend(65535u32.to_le_bytes());
    f.extend(1u32.to_le_bytes());
    for (i, fr) in frames.iter().enumerate() {
        f.extend((1_700_000_000 + i as u32).to_le_bytes());
        f.extend((i as u32 * 1000).to_le_bytes());
        f.extend((fr.len() as u32).to_le_bytes());
        f.extend((fr.len() as u32).to_le_bytes());
        f.extend(fr);
    }
    f
}

fn lines(prog: &Path, args: &[&str]) -> Vec<String> {
    let o = Command::new(prog)
        .args(args)
        .env("TZ", "UTC")
        .stderr(Stdio::null())
        .output()
        .expect("run");
    String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect()
}

#[test]
fn read_prints_like_tcpdump_and_says_what_it_reads() {
    let d = TempDir::new();
    let f = d.join("in.pcap");
    std::fs::write(&f, sample()).expect("write");
    let path = f.to_string_lossy().into_owned();
    let o = pktbox(["tcpdump", "-nn", "-r", &path], &[("TZ", "UTC".as_ref())]).ok();
    assert_eq!(
        o.stderr.trim(),
        format!("reading from file {path}, link-type EN10MB (Ethernet), snapshot length 65535")
    );
    assert_eq!(o.stdout.lines().count(), 4, "{o:?}");
    assert!(o
        .stdout
        .contains("IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 1, seq 0, length 8"));
    let test = "read_prints_like_tcpdump_and_says_what_it_reads";
    let Some(tcpdump) = tool("tcpdump") else {
        return skip(test, "no tcpdump installed: the comparison with Linux's tcpdump");
    };
    assert_eq!(
        o.stdout.lines().map(String::from).collect::<Vec<_>>(),
        lines(&tcpdump, &["-nn", "-r", &path])
    );
    // A filter and -c.
    let o = pktbox(
        ["tcpdump", "-nn", "-r", &path, "-c", "1", "ip"],
        &[("TZ", "UTC".as_ref())],
    )
    .ok();
    assert_eq!(o.stdout.lines().count(), 1);
    assert!(o.stdout.contains("UDP, length 4"), "{o:?}");
}

#[test]
fn written_files_read_back_in_tcpdump_and_tshark() {
    let d = TempDir::new();
    let f = d.join("in.pcap");
    std::fs::write(&f, sample()).expect("write");
    let (inp, all, udp) = (
        f.to_string_lossy().into_owned(),
        d.join("all.pcap").to_string_lossy().into_owned(),
        d.join("udp.pcap").to_string_lossy().into_owned(),
    );
    let o = pktbox(["tcpdump", "-r", &inp, "-w", &all], &[]).ok();
    assert!(o.stdout.is_empty(), "-w prints nothing: {o:?}");
    pktbox(["tcpdump", "-U", "-r", &inp, "-w", &udp, "udp"], &[]).ok();
    // Our own reader, and tcpdump's and tshark's.
    let ours = |p: &str| {
        pktbox(["tcpdump", "-nn", "-r", p], &[("TZ", "UTC".as_ref())])
            .ok()
            .stdout
    };
    assert_eq!(ours(&all), ours(&inp));
    assert_eq!(ours(&udp).lines().count(), 1);
    let test = "written_files_read_back_in_tcpdump_and_tshark";
    if let Some(tcpdump) = tool("tcpdump") {
        assert_eq!(
            lines(&tcpdump, &["-nn", "-r", &all]),
            lines(&tcpdump, &["-nn", "-r", &inp])
        );
        assert_eq!(lines(&tcpdump, &["-nn", "-r", &udp]).len(), 1);
    } else {
        skip(test, "no tcpdump installed: Linux's tcpdump reading the files back");
    }
    let Some(tshark) = tool("tshark") else {
        return skip(test, "no tshark installed: tshark reading the files back");
    };
    let fields = |p: &str| {
        lines(
            &tshark,
            &[
                "-r",
                p,
                "-T",
                "fields",
                "-e",
                "frame.len",
                "-e",
                "frame.cap_len",
                "-e",
                "eth.type",
                "-e",
                "ip.src",
                "-e",
                "frame.time_epoch",
            ],
        )
    };
    let (a, i) = (fields(&all), fields(&inp));
    assert_eq!(a.len(), 4, "{a:?}");
    assert_eq!(a, i);
    let u = fields(&udp);
    assert_eq!(u.len(), 1);
    assert!(u[0].starts_with("46\t46\t0x0800\t10.0.0.1\t1700000001.001"), "{u:?}");
}

#[test]
fn stdin_and_stdout_are_dash() {
    let d = TempDir::new();
    let f = d.join("in.pcap");
    std::fs::write(&f, sample()).expect("write");
    let out = Command::new(pktbox_tests::bin())
        .args(["tcpdump", "-r", "-", "-w", "-", "tcp"])
        .stdin(std::fs::File::open(&f).expect("open"))
        .output()
        .expect("run");
    assert!(out.status.success());
    // A header and one record.
    assert_eq!(out.stdout.len(), 24 + 16 + 58);
    assert_eq!(&out.stdout[..4], &0xa1b2_c3d4u32.to_ne_bytes());
}

#[test]
fn broken_files_fail_clearly() {
    let d = TempDir::new();
    let good = sample();
    let path = d.join("bad.pcap");
    let p = path.to_string_lossy().into_owned();
    let run = |bytes: &[u8]| {
        std::fs::write(&path, bytes).expect("write");
        pktbox(["tcpdump", "-n", "-r", &p], &[])
    };
    let o = run(&good[..20]).code(1);
    assert_eq!(
        o.stderr.trim(),
        "tcpdump: truncated dump file; tried to read 24 file header bytes, only got 20"
    );
    let o = run(&good[..24 + 7]).code(1);
    assert!(
        o.stderr
            .contains("tcpdump: pcap_loop: truncated dump file; tried to read 16 header bytes, only got 7"),
        "{o:?}"
    );
    let o = run(b"not a pcap file at all").code(1);
    assert_eq!(o.stderr.trim(), "tcpdump: unknown file format");
    let o = pktbox(["tcpdump", "-r", "/nonexistent/x.pcap"], &[]).code(1);
    assert_eq!(
        o.stderr.trim(),
        "tcpdump: /nonexistent/x.pcap: No such file or directory"
    );
    // Random damage: a clean exit (0 when what is left still parses), never a panic.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..60 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut b = good.clone();
        for k in 0..6 {
            let at = 24 + ((x >> (k * 9)) as usize) % (b.len() - 24);
            b[at] = (x >> (k * 5)) as u8;
        }
        b.truncate(24 + (x >> 40) as usize % (b.len() - 23));
        let o = run(&b);
        assert!(matches!(o.code, Some(0) | Some(1)), "{o:?}");
        assert!(!o.stderr.contains("panicked"), "{o:?}");
        if o.code == Some(1) {
            assert!(
                o.stderr.lines().last().is_some_and(|l| l.starts_with("tcpdump: ")),
                "{o:?}"
            );
        }
    }
}

/// A pflog header (OpenBSD 4.x / NetBSD 5 layout, 64 bytes) laid out field by field.
fn pflog_hdr(action: u8, reason: u8, dir: u8, ifname: &str, rule: u32) -> Vec<u8> {
    let mut h = vec![61, 2, action, reason];
    let mut name = [0u8; 16];
    name[..ifname.len()].copy_from_slice(ifname.as_bytes());
    h.extend(name);
    h.extend([0; 16]);
    h.extend(rule.to_be_bytes());
    h.extend([0xff; 12]); // subrulenr none, uid and pid none
    h.extend([0; 8]);
    h.extend([dir, 0, 0, 0]);
    h
}

/// Three logged packets: a blocked ICMP echo in on en0 (rule 3), a passed UDP datagram out
/// on en1 (rule 1), a blocked TCP SYN in on en0 (rule 4), as a link type 117 savefile.
fn pflog_sample() -> Vec<u8> {
    let icmp = [8, 0, 0xf7, 0xfe, 0, 1, 0, 0];
    let udp = [0x9c, 0x40, 0x13, 0x89, 0, 12, 0, 0, 1, 2, 3, 4];
    let tcp = [
        0x9c, 0x41, 0, 22, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ];
    let recs = [
        [
            pflog_hdr(1, 0, 1, "en0", 3),
            ipv4(1, [10, 0, 0, 1], [10, 0, 0, 2], &icmp),
        ]
        .concat(),
        [
            pflog_hdr(0, 0, 2, "en1", 1),
            ipv4(17, [10, 0, 1, 1], [10, 0, 1, 2], &udp),
        ]
        .concat(),
        [
            pflog_hdr(1, 0, 1, "en0", 4),
            ipv4(6, [10, 0, 0, 9], [10, 0, 0, 2], &tcp),
        ]
        .concat(),
    ];
    let mut f = Vec::new();
    f.extend(0xa1b2_c3d4u32.to_le_bytes());
    f.extend(2u16.to_le_bytes());
    f.extend(4u16.to_le_bytes());
    f.extend([0; 8]);
    f.extend(65535u32.to_le_bytes());
    f.extend(117u32.to_le_bytes());
    for (i, r) in recs.iter().enumerate() {
        f.extend((1_700_000_000u32 + i as u32).to_le_bytes());
        f.extend(0u32.to_le_bytes());
        f.extend((r.len() as u32).to_le_bytes());
        f.extend((r.len() as u32).to_le_bytes());
        f.extend(r);
    }
    f
}

#[test]
fn pflog_files_print_filter_and_read_back_in_tcpdump_and_tshark() {
    let d = TempDir::new();
    let f = d.join("pflog.pcap");
    std::fs::write(&f, pflog_sample()).expect("write");
    let (inp, blocked) = (
        f.to_string_lossy().into_owned(),
        d.join("blocked.pcap").to_string_lossy().into_owned(),
    );
    let tz = [("TZ", "UTC".as_ref())];
    let o = pktbox(["tcpdump", "-e", "-nn", "-r", &inp], &tz).ok();
    assert_eq!(
        o.stderr.trim(),
        format!("reading from file {inp}, link-type PFLOG (OpenBSD pflog file), snapshot length 65535")
    );
    let ours: Vec<String> = o.stdout.lines().map(String::from).collect();
    assert_eq!(ours.len(), 3, "{o:?}");
    assert_eq!(
        ours[0],
        "22:13:20.000000 rule 3/0(match): block in on en0: 10.0.0.1 > 10.0.0.2: ICMP echo request, id 1, seq 0, length 8"
    );
    assert!(ours[1].contains(" rule 1/0(match): pass out on en1: 10.0.1.1.40000 > 10.0.1.2.5001: UDP, length 4"));
    // Without -e, the packet only.
    let plain = pktbox(["tcpdump", "-nn", "-r", &inp], &tz).ok().stdout;
    assert!(plain
        .lines()
        .next()
        .unwrap_or("")
        .contains(" IP 10.0.0.1 > 10.0.0.2: ICMP echo request"));
    // Filter on the pflog fields and write what passes.
    pktbox(
        [
            "tcpdump",
            "-r",
            &inp,
            "-w",
            &blocked,
            "on en0 and action block and inbound",
        ],
        &[],
    )
    .ok();
    let kept = pktbox(["tcpdump", "-e", "-nn", "-r", &blocked], &tz).ok().stdout;
    assert_eq!(kept.lines().collect::<Vec<_>>(), [ours[0].as_str(), ours[2].as_str()]);
    let rule4 = pktbox(["tcpdump", "-nn", "-r", &inp, "rnr 4 and tcp dst port 22"], &tz)
        .ok()
        .stdout;
    assert_eq!(rule4.lines().count(), 1, "{rule4}");
    let test = "pflog_files_print_filter_and_read_back_in_tcpdump_and_tshark";
    if let Some(tcpdump) = tool("tcpdump") {
        assert_eq!(lines(&tcpdump, &["-e", "-nn", "-r", &inp]), ours);
        assert_eq!(
            lines(&tcpdump, &["-e", "-nn", "-r", &blocked]),
            [ours[0].clone(), ours[2].clone()]
        );
    } else {
        skip(test, "no tcpdump installed: Linux's tcpdump reading the pflog files");
    }
    let Some(tshark) = tool("tshark") else {
        return skip(test, "no tshark installed: tshark reading the pflog files");
    };
    let fields = lines(
        &tshark,
        &[
            "-r",
            &blocked,
            "-T",
            "fields",
            "-e",
            "pflog.ifname",
            "-e",
            "pflog.rulenr",
            "-e",
            "pflog.action",
            "-e",
            "pflog.dir",
            "-e",
            "ip.src",
        ],
    );
    assert_eq!(fields, ["en0\t3\t1\t1\t10.0.0.1", "en0\t4\t1\t1\t10.0.0.9"]);
}
