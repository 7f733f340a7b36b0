//! libpcap's three ways of printing a program (`bpf_dump`): `-d` as assembly, `-dd` as a C
//! array, `-ddd` as decimal numbers, line for line as tcpdump prints them.

use std::fmt::Write;

use pktbox_stack::wire::bpf::*;

/// One instruction as `-d` shows it (`bpf_image`): `(000) ldh      [12]`. Jump targets are
/// absolute instruction numbers.
pub fn image(ins: &BpfInsn, n: usize) -> String {
    let k = ins.k;
    let signed = k as i32;
    let (op, operand): (&str, String) = match ins.code {
        c if c == BPF_RET | BPF_K => ("ret", format!("#{signed}")),
        c if c == BPF_RET | BPF_A => ("ret", String::new()),
        c if c == BPF_LD | BPF_W | BPF_ABS => ("ld", format!("[{signed}]")),
        c if c == BPF_LD | BPF_H | BPF_ABS => ("ldh", format!("[{signed}]")),
        c if c == BPF_LD | BPF_B | BPF_ABS => ("ldb", format!("[{signed}]")),
        c if c == BPF_LD | BPF_W | BPF_LEN => ("ld", "#pktlen".into()),
        c if c == BPF_LD | BPF_W | BPF_IND => ("ld", format!("[x + {signed}]")),
        c if c == BPF_LD | BPF_H | BPF_IND => ("ldh", format!("[x + {signed}]")),
        c if c == BPF_LD | BPF_B | BPF_IND => ("ldb", format!("[x + {signed}]")),
        c if c == BPF_LD | BPF_IMM => ("ld", format!("#0x{k:x}")),
        c if c == BPF_LDX | BPF_W | BPF_IMM => ("ldx", format!("#0x{k:x}")),
        c if c == BPF_LDX | BPF_W | BPF_LEN => ("ldx", "#pktlen".into()),
        c if c == BPF_LDX | BPF_B | BPF_MSH => ("ldxb", format!("4*([{signed}]&0xf)")),
        c if c == BPF_LD | BPF_MEM => ("ld", format!("M[{signed}]")),
        c if c == BPF_LDX | BPF_W | BPF_MEM => ("ldx", format!("M[{signed}]")),
        BPF_ST => ("st", format!("M[{signed}]")),
        BPF_STX => ("stx", format!("M[{signed}]")),
        c if c == BPF_JMP | BPF_JA => ("ja", format!("{}", (n as u64) + 1 + u64::from(k))),
        c if bpf_class(c) == BPF_JMP && c <= 0xff => {
            let op = match bpf_op(c) {
                BPF_JEQ => "jeq",
                BPF_JGT => "jgt",
                BPF_JGE => "jge",
                BPF_JSET => "jset",
                _ => return unimp(ins, n),
            };
            let operand = if bpf_src(c) == BPF_X {
                "x".to_string()
            } else {
                format!("#0x{k:x}")
            };
            return format!(
                "({n:03}) {op:<8} {operand:<16} jt {}\tjf {}",
                n + 1 + usize::from(ins.jt),
                n + 1 + usize::from(ins.jf)
            );
        }
        c if c == BPF_ALU | BPF_NEG => ("neg", String::new()),
        c if bpf_class(c) == BPF_ALU && c <= 0xff => {
            let (op, hex) = match bpf_op(c) {
                BPF_ADD => ("add", false),
                BPF_SUB => ("sub", false),
                BPF_MUL => ("mul", false),
                BPF_DIV => ("div", false),
                BPF_MOD => ("mod", false),
                BPF_LSH => ("lsh", false),
                BPF_RSH => ("rsh", false),
                BPF_AND => ("and", true),
                BPF_OR => ("or", true),
                BPF_XOR => ("xor", true),
                _ => return unimp(ins, n),
            };
            let operand = match (bpf_src(c) == BPF_X, hex) {
                (true, _) => "x".to_string(),
                (false, true) => format!("#0x{k:x}"),
                (false, false) => format!("#{signed}"),
            };
            (op, operand)
        }
        c if c == BPF_MISC | BPF_TAX => ("tax", String::new()),
        c if c == BPF_MISC | BPF_TXA => ("txa", String::new()),
        _ => return unimp(ins, n),
    };
    format!("({n:03}) {op:<8} {operand}")
}

fn unimp(ins: &BpfInsn, n: usize) -> String {
    format!("({n:03}) {:<8} 0x{:x}", "unimp", ins.code)
}

/// The program in the format of `-d` (1), `-dd` (2) or `-ddd` (3 or more), each line ending
/// in a newline.
pub fn dump(prog: &[BpfInsn], level: u8) -> String {
    let mut out = String::new();
    match level {
        0 | 1 => {
            for (n, ins) in prog.iter().enumerate() {
                let _ = writeln!(out, "{}", image(ins, n));
            }
        }
        2 => {
            for i in prog {
                let _ = writeln!(out, "{{ 0x{:x}, {}, {}, 0x{:08x} }},", i.code, i.jt, i.jf, i.k);
            }
        }
        _ => {
            let _ = writeln!(out, "{}", prog.len());
            for i in prog {
                let _ = writeln!(out, "{} {} {} {}", i.code, i.jt, i.jf, i.k);
            }
        }
    }
    out
}

/// Reads a program back from the `-ddd` format (the count line, then one instruction per
/// line), as the differential test reads libpcap's programs.
#[cfg(test)]
pub fn parse_ddd(text: &str) -> Result<Vec<BpfInsn>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let count: usize = lines
        .next()
        .ok_or("empty program text")?
        .trim()
        .parse()
        .map_err(|e| format!("bad count line: {e}"))?;
    let mut prog = Vec::with_capacity(count.min(BPF_MAXINSNS));
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [code, jt, jf, k] = f[..] else {
            return Err(format!("bad instruction line {l:?}"));
        };
        let bad = |e: std::num::ParseIntError| format!("bad instruction line {l:?}: {e}");
        prog.push(BpfInsn {
            code: code.parse().map_err(bad)?,
            jt: jt.parse().map_err(bad)?,
            jf: jf.parse().map_err(bad)?,
            k: k.parse().map_err(bad)?,
        });
    }
    if prog.len() != count {
        return Err(format!("count line says {count} instructions, {} follow", prog.len()));
    }
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_libpcap_does() {
        let p = [
            BpfInsn::stmt(BPF_LD | BPF_H | BPF_ABS, 12),
            BpfInsn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 8),
            BpfInsn::stmt(BPF_LDX | BPF_B | BPF_MSH, 14),
            BpfInsn::stmt(BPF_LD | BPF_B | BPF_IND, 27),
            BpfInsn::stmt(BPF_ALU | BPF_ADD | BPF_K, u32::MAX),
            BpfInsn::stmt(BPF_MISC | BPF_TAX, 0),
            BpfInsn::jump(BPF_JMP | BPF_JGT | BPF_X, 0, 0, 1),
            BpfInsn::stmt(BPF_JMP | BPF_JA, 1),
            BpfInsn::stmt(BPF_RET | BPF_K, 262144),
            BpfInsn::stmt(BPF_RET | BPF_K, 0),
        ];
        assert_eq!(
            dump(&p, 1),
            "(000) ldh      [12]\n\
             (001) jeq      #0x800           jt 2\tjf 10\n\
             (002) ldxb     4*([14]&0xf)\n\
             (003) ldb      [x + 27]\n\
             (004) add      #-1\n\
             (005) tax      \n\
             (006) jgt      x                jt 7\tjf 8\n\
             (007) ja       9\n\
             (008) ret      #262144\n\
             (009) ret      #0\n"
        );
        assert_eq!(
            dump(&p[..2], 2),
            "{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 8, 0x00000800 },\n"
        );
        assert_eq!(dump(&p[..2], 3), "2\n40 0 0 12\n21 0 8 2048\n");
        assert_eq!(parse_ddd(&dump(&p, 3)).unwrap(), p);
        assert!(parse_ddd("3\n40 0 0 12\n").is_err());
        assert!(parse_ddd("1\n40 0 x 12\n").is_err());
    }
}
