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
