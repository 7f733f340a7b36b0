use proptest::prelude::*;

use super::*;

const S: fn(u16, u32) -> BpfInsn = BpfInsn::stmt;
const J: fn(u16, u32, u8, u8) -> BpfInsn = BpfInsn::jump;

/// An Ethernet/IPv4/TCP frame from 10.0.0.1:1234 to 10.0.0.2:80 with the SYN flag.
fn tcp_syn() -> Vec<u8> {
    let mut f = vec![0u8; 54];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&40u16.to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&1234u16.to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f[46] = 0x50;
    f[47] = 0x02;
    f
}

/// `tcp dst port 80` for IPv4, as libpcap compiles it.
fn tcp_dst_80() -> Vec<BpfInsn> {
    vec![
        S(BPF_LD | BPF_H | BPF_ABS, 12),
        J(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 8),
        S(BPF_LD | BPF_B | BPF_ABS, 23),
        J(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 6),
        S(BPF_LD | BPF_H | BPF_ABS, 20),
        J(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 4, 0),
        S(BPF_LDX | BPF_B | BPF_MSH, 14),
        S(BPF_LD | BPF_H | BPF_IND, 16),
        J(BPF_JMP | BPF_JEQ | BPF_K, 80, 0, 1),
        S(BPF_RET | BPF_K, 262144),
        S(BPF_RET | BPF_K, 0),
    ]
}

#[test]
fn accepts_and_rejects() {
    let p = tcp_dst_80();
    bpf_validate(&p).unwrap();
    let f = tcp_syn();
    assert_eq!(bpf_filter(&p, &f, 54), 262144);
    let mut g = f.clone();
    g[37] = 81;
    assert_eq!(bpf_filter(&p, &g, 54), 0);
    // A later fragment has no ports.
    let mut g = f.clone();
    g[21] = 1;
    assert_eq!(bpf_filter(&p, &g, 54), 0);
}

#[test]
fn loads_outside_the_packet_drop_it() {
    let p = tcp_dst_80();
    let f = tcp_syn();
    // Cut in the middle of the destination port.
    assert_eq!(bpf_filter(&p, &f[..37], 54), 0);
    assert_eq!(bpf_filter(&p, &f[..36], 54), 0);
    assert_eq!(bpf_filter(&p, &f[..38], 54), 262144);
    assert_eq!(bpf_filter(&p, &[], 0), 0);
    // Offsets that overflow.
    for k in [u32::MAX, u32::MAX - 1, u32::MAX - 3] {
        for size in [BPF_W, BPF_H, BPF_B] {
            let p = [S(BPF_LD | size | BPF_ABS, k), S(BPF_RET | BPF_K, 1)];
            assert_eq!(bpf_filter(&p, &f, 54), 0);
            let p = [
                S(BPF_LDX | BPF_W | BPF_IMM, u32::MAX),
                S(BPF_LD | size | BPF_IND, k),
                S(BPF_RET | BPF_K, 1),
            ];
            assert_eq!(bpf_filter(&p, &f, 54), 0);
        }
        let p = [S(BPF_LDX | BPF_B | BPF_MSH, k), S(BPF_RET | BPF_K, 1)];
        assert_eq!(bpf_filter(&p, &f, 54), 0);
    }
}

#[test]
fn arithmetic() {
    let run = |ops: &[BpfInsn], a: u32, x: u32| {
        let mut p = vec![S(BPF_LD | BPF_IMM, a), S(BPF_LDX | BPF_W | BPF_IMM, x)];
        p.extend_from_slice(ops);
        p.push(S(BPF_RET | BPF_A, 0));
        bpf_validate(&p).unwrap();
        bpf_filter(&p, &[], 0)
    };
    let alu = |op: u16, k: u32| S(BPF_ALU | op | BPF_K, k);
    let alux = |op: u16| S(BPF_ALU | op | BPF_X, 0);
    assert_eq!(run(&[alu(BPF_ADD, 5)], u32::MAX, 0), 4);
    assert_eq!(run(&[alu(BPF_SUB, 5)], 3, 0), u32::MAX - 1);
    assert_eq!(run(&[alu(BPF_MUL, 3)], 7, 0), 21);
    assert_eq!(run(&[alu(BPF_DIV, 3)], 7, 0), 2);
    assert_eq!(run(&[alu(BPF_MOD, 3)], 7, 0), 1);
    assert_eq!(run(&[alu(BPF_AND, 6)], 7, 0), 6);
    assert_eq!(run(&[alu(BPF_OR, 8)], 7, 0), 15);
    assert_eq!(run(&[alu(BPF_XOR, 5)], 7, 0), 2);
    assert_eq!(run(&[alu(BPF_LSH, 4)], 7, 0), 112);
    assert_eq!(run(&[alu(BPF_RSH, 1)], 7, 0), 3);
    assert_eq!(run(&[alu(BPF_LSH, 32)], 7, 0), 0);
    assert_eq!(run(&[alu(BPF_RSH, 40)], 7, 0), 0);
    assert_eq!(run(&[S(BPF_ALU | BPF_NEG, 0)], 1, 0), u32::MAX);
    assert_eq!(run(&[alux(BPF_SUB)], 10, 4), 6);
    assert_eq!(run(&[alux(BPF_DIV)], 10, 4), 2);
    assert_eq!(run(&[alux(BPF_MOD)], 10, 4), 2);
    assert_eq!(run(&[S(BPF_MISC | BPF_TXA, 0)], 10, 4), 4);
    assert_eq!(run(&[S(BPF_MISC | BPF_TAX, 0), alux(BPF_ADD)], 10, 4), 20);
    // Division by an X of zero ends the program with 0, whatever it would have returned.
    assert_eq!(run(&[alux(BPF_DIV)], 10, 0), 0);
    assert_eq!(run(&[alux(BPF_MOD)], 10, 0), 0);
}

#[test]
fn jumps_and_scratch_memory() {
    let p = [
        S(BPF_LD | BPF_W | BPF_LEN, 0),
        S(BPF_ST, 3),
        S(BPF_LDX | BPF_W | BPF_MEM, 3),
        S(BPF_STX, 15),
        S(BPF_LD | BPF_MEM, 15),
        J(BPF_JMP | BPF_JGT | BPF_K, 100, 1, 0),
        S(BPF_RET | BPF_K, 1),
        J(BPF_JMP | BPF_JGE | BPF_X, 0, 0, 1),
        S(BPF_JMP | BPF_JA, 1),
        S(BPF_RET | BPF_K, 2),
        S(BPF_RET | BPF_A, 0),
    ];
    bpf_validate(&p).unwrap();
    assert_eq!(bpf_filter(&p, &[], 50), 1);
    assert_eq!(bpf_filter(&p, &[], 500), 500);
    assert_eq!(bpf_filter(&p, &[], u32::MAX), u32::MAX);
}

#[test]
fn validation_refuses_hostile_programs() {
    let ret = S(BPF_RET | BPF_K, 1);
    let bad = |p: &[BpfInsn], why: &str| {
        let e = bpf_validate(p).expect_err(why);
        assert!(e.contains(why), "{e:?} does not say {why:?}");
        // Whatever it is, the interpreter survives it.
        bpf_filter(p, &tcp_syn(), 54);
    };
    bad(&[], "empty");
    bad(&vec![ret; BPF_MAXINSNS + 1], "more than 4096");
    bpf_validate(&vec![ret; BPF_MAXINSNS]).unwrap();
    bad(&[S(BPF_LD | BPF_IMM, 1)], "does not end in a return");
    bad(&[S(BPF_LD | BPF_IMM, 1), J(BPF_JMP | BPF_JEQ, 1, 0, 0)], "jump out");
    bad(&[J(BPF_JMP | BPF_JEQ, 1, 0, 1), ret], "jump out");
    bad(&[J(BPF_JMP | BPF_JEQ, 1, 5, 0), ret], "jump out");
    bad(&[S(BPF_JMP | BPF_JA, u32::MAX), ret], "jump out");
    // A "backward" jump does not exist in the encoding; the nearest thing wraps around.
    bad(&[ret, S(BPF_JMP | BPF_JA, u32::MAX - 1), ret], "jump out");
    bad(&[S(BPF_ALU | BPF_DIV | BPF_K, 0), ret], "division by zero");
    bad(&[S(BPF_ALU | BPF_MOD | BPF_K, 0), ret], "division by zero");
    bad(&[S(BPF_ST, 16), ret], "out of range");
    bad(&[S(BPF_STX, 1000), ret], "out of range");
    bad(&[S(BPF_LD | BPF_MEM, 16), ret], "out of range");
    bad(&[S(BPF_LDX | BPF_W | BPF_MEM, u32::MAX), ret], "out of range");
    bad(&[S(BPF_LD | BPF_MEM, 0), ret], "before it is written");
    for code in [
        0x0d,
        0x8c,
        0xb4,
        0x0e,
        0x1e,
        0x08,
        0xa0,
        0x27,
        0x100,
        0xffff,
        BPF_MISC | 0x40,
    ] {
        bad(&[S(code, 0), ret], "unknown opcode");
    }
    // Written on one path only.
    bad(
        &[
            S(BPF_LD | BPF_W | BPF_LEN, 0),
            J(BPF_JMP | BPF_JGT | BPF_K, 10, 0, 1),
            S(BPF_ST, 2),
            S(BPF_LDX | BPF_W | BPF_MEM, 2),
            ret,
        ],
        "M[2] may be read",
    );
    // Written on both.
    bpf_validate(&[
        S(BPF_LD | BPF_W | BPF_LEN, 0),
        J(BPF_JMP | BPF_JGT | BPF_K, 10, 0, 2),
        S(BPF_ST, 2),
        S(BPF_JMP | BPF_JA, 1),
        S(BPF_STX, 2),
        S(BPF_LDX | BPF_W | BPF_MEM, 2),
        ret,
    ])
    .unwrap();
    // Code nothing reaches may do what it likes with memory, but not jump out.
    bpf_validate(&[ret, S(BPF_LD | BPF_MEM, 4), ret]).unwrap();
    bad(&[ret, S(BPF_JMP | BPF_JA, 5), ret], "jump out");
}

#[test]
fn interpreter_survives_what_validation_refuses() {
    let f = tcp_syn();
    // Falling off the end, a jump past the end, bad scratch indices: all drop the packet.
    assert_eq!(bpf_filter(&[S(BPF_LD | BPF_IMM, 1)], &f, 54), 0);
    assert_eq!(bpf_filter(&[S(BPF_JMP | BPF_JA, u32::MAX)], &f, 54), 0);
    assert_eq!(bpf_filter(&[J(BPF_JMP | BPF_JEQ, 0, 200, 200)], &f, 54), 0);
    assert_eq!(bpf_filter(&[S(BPF_ST, 16), S(BPF_RET | BPF_K, 1)], &f, 54), 0);
    assert_eq!(bpf_filter(&[S(BPF_LD | BPF_MEM, 99), S(BPF_RET | BPF_K, 1)], &f, 54), 0);
    assert_eq!(bpf_filter(&[S(0xffff, 0), S(BPF_RET | BPF_K, 1)], &f, 54), 0);
    assert_eq!(bpf_filter(&[S(BPF_ALU | BPF_DIV, 0), S(BPF_RET | BPF_K, 1)], &f, 54), 0);
}

#[test]
fn program_type_checks_on_the_way_in() {
    assert!(BpfProgram::new(vec![]).is_err());
    let p = BpfProgram::new(tcp_dst_80()).unwrap();
    assert_eq!(p.filter(&tcp_syn(), 54), 262144);
    assert_eq!(BpfProgram::accept_all().filter(&[1, 2, 3], 3), u32::MAX);
    let bytes = postcard::to_allocvec(&p).unwrap();
    let back: BpfProgram = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, p);
    // A program that fails the checks does not decode.
    let bytes = postcard::to_allocvec(&vec![S(BPF_LD | BPF_IMM, 0)]).unwrap();
    assert!(postcard::from_bytes::<BpfProgram>(&bytes).is_err());
}

/// Opcodes to draw from: every known one, and some arbitrary values.
fn any_code() -> impl Strategy<Value = u16> {
    let known: Vec<u16> = (0u16..=0xff).filter(|&c| validate::bpf_opcode_known(c)).collect();
    prop_oneof![
        8 => proptest::sample::select(known),
        1 => any::<u16>(),
    ]
}

fn any_insn() -> impl Strategy<Value = BpfInsn> {
    let k = prop_oneof![0u32..80, 0u32..20, any::<u32>(), Just(u32::MAX)];
    (any_code(), 0u8..8, 0u8..8, k).prop_map(|(code, jt, jf, k)| BpfInsn { code, jt, jf, k })
}

/// Random programs, half of them nudged towards validity (jumps shortened to fit, scratch
/// indices in range, a return at the end) so that many pass validation and run deep.
fn any_program() -> impl Strategy<Value = Vec<BpfInsn>> {
    (proptest::collection::vec(any_insn(), 0..40), any::<bool>()).prop_map(|(mut p, nudge)| {
        if nudge {
            p.push(S(BPF_RET | BPF_A, 0));
            let len = p.len();
            for (pc, i) in p.iter_mut().enumerate() {
                let room = (len - pc - 1) as u32;
                if room > 0 {
                    i.jt = (u32::from(i.jt) % room) as u8;
                    i.jf = (u32::from(i.jf) % room) as u8;
                    if i.code == BPF_JMP | BPF_JA {
                        i.k %= room;
                    }
                }
                if matches!(bpf_class(i.code), BPF_ST | BPF_STX) || bpf_mode(i.code) == BPF_MEM {
                    i.k %= BPF_MEMWORDS as u32;
                }
                if !validate::bpf_opcode_known(i.code) {
                    i.code = BPF_LD | BPF_IMM;
                }
                if bpf_class(i.code) == BPF_ALU && i.k == 0 {
                    i.k = 1;
                }
            }
            // Scratch memory written first, on every path.
            let init = (0..BPF_MEMWORDS as u32).map(|k| S(BPF_ST, k));
            p.splice(0..0, init);
        }
        p
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random programs either fail validation or run; none panics the interpreter, valid or
    /// not, on any packet.
    #[test]
    fn random_programs_never_panic(
        prog in any_program(),
        pkt in proptest::collection::vec(any::<u8>(), 0..80),
        wirelen in any::<u32>(),
    ) {
        let _ = bpf_validate(&prog);
        let _ = bpf_filter(&prog, &pkt, wirelen);
    }

    /// A validated program gives the same answer through `BpfProgram` (decoded once) as
    /// through the plain interpreter.
    #[test]
    fn decoded_programs_agree_with_the_interpreter(
        prog in any_program(),
        pkts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..8),
        wirelen in any::<u32>(),
    ) {
        if let Ok(p) = BpfProgram::new(prog.clone()) {
            for pkt in &pkts {
                prop_assert_eq!(p.filter(pkt, wirelen), bpf_filter(&prog, pkt, wirelen));
            }
        }
    }

    /// Programs that pass validation are accepted by `BpfProgram` and survive the channel.
    #[test]
    fn valid_programs_round_trip(prog in any_program()) {
        if let Ok(p) = BpfProgram::new(prog.clone()) {
            let bytes = postcard::to_allocvec(&p).unwrap();
            let back: BpfProgram = postcard::from_bytes(&bytes).unwrap();
            prop_assert_eq!(back.insns(), &prog[..]);
        }
    }
}
/// The property above is only worth something if many random programs pass validation.
#[test]
fn random_programs_are_often_valid() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let s = any_program();
    let n = (0..1000)
        .filter(|_| {
            s.new_tree(&mut runner)
                .is_ok_and(|t| bpf_validate(&t.current()).is_ok())
        })
        .count();
    assert!(n > 250, "only {n} of 1000 random programs are valid");
}
