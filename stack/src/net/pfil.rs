//! Packet filter hooks (NetBSD's `pfil(9)`): the points on the one input path and the one
//! output path of each family where a filter may look at every packet, and the lists of
//! functions registered there.
//!
//! - Input: `ip_input` / `ip6_input` call `pfil_run_hooks(.., In, ..)` once a packet is
//!   validated and before it is reassembled or dispatched (NetBSD's place).
//! - Output: `ip_output_m` / `ip6_output_m` call it with `Out` at their marked point, for
//!   locally made and forwarded packets alike, so a forwarded packet passes both.
//!
//! A hook may pass the packet on (possibly rewritten: it owns the mbuf while it runs),
//! drop it, or consume it (it sent the packet on itself, or keeps it). The stack knows no
//! filter by name: PF registers its functions here when it is attached, and nothing else
//! in the stack refers to it. With no hook registered a call is one load and a branch.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::conf::Ctx;
use crate::net::ifnet::Ifnet;
use crate::sys::mbuf::Mbuf;

/// Which way a packet is going through the hook point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    In,
    Out,
}

/// A family's hook point (`pfil_head`): `INET` or `INET6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Inet,
    Inet6,
}

/// What a hook did with a packet.
#[derive(Debug)]
pub enum Verdict {
    /// Go on with this packet (the same mbuf or a rewritten one).
    Pass(Mbuf),
    /// The packet is dropped; output paths return this errno to the sender
    /// (NetBSD's pfil wrapper answers EHOSTUNREACH for a blocked packet).
    Drop(i32),
    /// The hook took the packet (sent it itself, or keeps it): the caller does nothing
    /// more and reports success.
    Consumed,
}

impl Verdict {
    /// What an output routine returns for a packet that did not pass.
    pub fn out_result(self) -> Result<(), i32> {
        match self {
            Verdict::Pass(_) | Verdict::Consumed => Ok(()),
            Verdict::Drop(e) => Err(e),
        }
    }
}

/// A hook: the stack context, the packet (from its network header on), the interface it
/// came in on (`In`) or leaves by (`Out`), and the direction.
pub type Hook = fn(&mut Ctx, Mbuf, &Ifnet, Dir) -> Verdict;

/// The most hooks one point holds (NetBSD has a list; PF, and later a second filter, are
/// all this stack has).
pub const MAX_HOOKS: usize = 4;

/// One family's registered hooks, in the order they run, and what they did.
#[derive(Debug, Clone, Copy, Default)]
pub struct PfilHead {
    hooks: [Option<(&'static str, Hook)>; MAX_HOOKS],
    n: usize,
}

impl PfilHead {
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.hooks[..self.n].iter().flatten().map(|(n, _)| *n)
    }
}

/// The hook points of the stack: one per family, each with its in and out hooks (a hook
/// is called for both directions and told which, as `pfil_add_hook(.., PFIL_IN|PFIL_OUT)`).
#[derive(Debug, Clone, Default)]
pub struct Pfil {
    pub inet: PfilHead,
    pub inet6: PfilHead,
    /// Packets the hooks dropped, per direction (input, output).
    pub dropped: [u64; 2],
    /// Which families have a hook (bit per `Family`), readable without the context: the
    /// bridge's receive threads look here before they take the context for `ipf`.
    pub armed: Arc<AtomicU8>,
}

impl Family {
    fn bit(self) -> u8 {
        match self {
            Family::Inet => 1,
            Family::Inet6 => 2,
        }
    }
}

/// Whether `fam` has a hook, from the flags `Pfil::armed` shares (no context needed).
pub fn armed(flags: &AtomicU8, fam: Family) -> bool {
    flags.load(Ordering::Acquire) & fam.bit() != 0
}

impl Pfil {
    fn rearm(&self) {
        let mut b = 0;
        if !self.inet.is_empty() {
            b |= Family::Inet.bit();
        }
        if !self.inet6.is_empty() {
            b |= Family::Inet6.bit();
        }
        self.armed.store(b, Ordering::Release);
    }

    fn head(&mut self, fam: Family) -> &mut PfilHead {
        match fam {
            Family::Inet => &mut self.inet,
            Family::Inet6 => &mut self.inet6,
        }
    }
}

/// Registers `hook` under `name` on a family's point (`pfil_add_hook`). EEXIST when the
/// name is registered already, ENOSPC when the point is full.
pub fn pfil_add_hook(ctx: &mut Ctx, fam: Family, name: &'static str, hook: Hook) -> Result<(), i32> {
    let h = ctx.pfil.head(fam);
    if h.names().any(|n| n == name) {
        return Err(libc::EEXIST);
    }
    if h.n == MAX_HOOKS {
        return Err(libc::ENOSPC);
    }
    h.hooks[h.n] = Some((name, hook));
    h.n += 1;
    ctx.pfil.rearm();
    Ok(())
}

/// Removes the hook registered under `name` (`pfil_remove_hook`); ENOENT when none is.
pub fn pfil_remove_hook(ctx: &mut Ctx, fam: Family, name: &'static str) -> Result<(), i32> {
    let h = ctx.pfil.head(fam);
    let at = h.hooks[..h.n]
        .iter()
        .position(|e| e.is_some_and(|(n, _)| n == name))
        .ok_or(libc::ENOENT)?;
    h.hooks.copy_within(at + 1..h.n, at);
    h.n -= 1;
    h.hooks[h.n] = None;
    ctx.pfil.rearm();
    Ok(())
}

/// Runs a family's hooks on a packet, in order, until one does not pass it
/// (`pfil_run_hooks`). A dropped packet is counted here.
#[inline]
pub fn pfil_run_hooks(ctx: &mut Ctx, fam: Family, dir: Dir, ifp: &Ifnet, m: Mbuf) -> Verdict {
    let head = match fam {
        Family::Inet => ctx.pfil.inet,
        Family::Inet6 => ctx.pfil.inet6,
    };
    if head.n == 0 {
        return Verdict::Pass(m);
    }
    run_slow(ctx, &head, dir, ifp, m)
}

fn run_slow(ctx: &mut Ctx, head: &PfilHead, dir: Dir, ifp: &Ifnet, mut m: Mbuf) -> Verdict {
    for (_, hook) in head.hooks[..head.n].iter().flatten() {
        match hook(ctx, m, ifp, dir) {
            Verdict::Pass(next) => m = next,
            Verdict::Drop(e) => {
                ctx.pfil.dropped[usize::from(dir == Dir::Out)] += 1;
                return Verdict::Drop(e);
            }
            Verdict::Consumed => return Verdict::Consumed,
        }
    }
    Verdict::Pass(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::ifnet::Ifnet;

    fn lo() -> Ifnet {
        Ifnet::loopback(1, "lo0".into(), false)
    }

    fn drop_odd(_: &mut Ctx, m: Mbuf, _: &Ifnet, _: Dir) -> Verdict {
        if m.as_slice()[0] % 2 == 1 {
            Verdict::Drop(libc::EHOSTUNREACH)
        } else {
            Verdict::Pass(m)
        }
    }

    fn mark(_: &mut Ctx, mut m: Mbuf, _: &Ifnet, dir: Dir) -> Verdict {
        m.as_mut_slice()[1] = if dir == Dir::In { 0xaa } else { 0xbb };
        Verdict::Pass(m)
    }

    fn eat(ctx: &mut Ctx, _: Mbuf, _: &Ifnet, _: Dir) -> Verdict {
        ctx.hostname.push('x');
        Verdict::Consumed
    }

    #[test]
    fn hooks_run_in_order_and_may_rewrite_drop_or_consume() {
        let mut ctx = Ctx::new();
        let ifp = lo();
        // Nothing registered: the packet passes untouched.
        let Verdict::Pass(m) = pfil_run_hooks(&mut ctx, Family::Inet, Dir::In, &ifp, Mbuf::from_slice(&[2, 0])) else {
            panic!("no hook passes");
        };
        assert_eq!(m.as_slice(), &[2, 0]);
        assert!(!armed(&ctx.pfil.armed, Family::Inet));
        pfil_add_hook(&mut ctx, Family::Inet, "odd", drop_odd).unwrap();
        assert!(armed(&ctx.pfil.armed, Family::Inet) && !armed(&ctx.pfil.armed, Family::Inet6));
        pfil_add_hook(&mut ctx, Family::Inet, "mark", mark).unwrap();
        assert_eq!(pfil_add_hook(&mut ctx, Family::Inet, "mark", mark), Err(libc::EEXIST));
        let Verdict::Pass(m) = pfil_run_hooks(&mut ctx, Family::Inet, Dir::Out, &ifp, Mbuf::from_slice(&[2, 0])) else {
            panic!("even passes");
        };
        assert_eq!(m.as_slice(), &[2, 0xbb]);
        let v = pfil_run_hooks(&mut ctx, Family::Inet, Dir::In, &ifp, Mbuf::from_slice(&[3, 0]));
        assert!(matches!(v, Verdict::Drop(libc::EHOSTUNREACH)));
        assert_eq!(ctx.pfil.dropped, [1, 0]);
        // The other family is untouched.
        let Verdict::Pass(m) = pfil_run_hooks(&mut ctx, Family::Inet6, Dir::In, &ifp, Mbuf::from_slice(&[3, 0])) else {
            panic!("inet6 has no hook");
        };
        assert_eq!(m.as_slice(), &[3, 0]);
        pfil_remove_hook(&mut ctx, Family::Inet, "odd").unwrap();
        assert_eq!(pfil_remove_hook(&mut ctx, Family::Inet, "odd"), Err(libc::ENOENT));
        assert_eq!(ctx.pfil.inet.names().collect::<Vec<_>>(), ["mark"]);
        pfil_add_hook(&mut ctx, Family::Inet, "eat", eat).unwrap();
        let v = pfil_run_hooks(&mut ctx, Family::Inet, Dir::In, &ifp, Mbuf::from_slice(&[3, 0]));
        assert!(matches!(v, Verdict::Consumed));
        assert_eq!(ctx.hostname, "x");
        assert_eq!(v.out_result(), Ok(()));
    }
}
