//! The penalty box in the kernel (`limits.penalty_filter = "kernel"`): a socket filter on the
//! edge's listening TCP sockets drops the SYNs of boxed clients. Where the edge may use
//! `bpf(2)` (root, or `CAP_BPF` + `CAP_NET_ADMIN`) it is one eBPF program reading two kernel
//! hash maps that hold every boxed client ([`maps`]); otherwise a classic program, described
//! here, holding the most recently boxed.
//!
//! * **Why it is cheap.** For a segment to a listening socket, `tcp_v4_rcv`/`tcp_v6_rcv` run
//!   the socket's filter (`tcp_filter`) before `tcp_v4_do_rcv` answers a SYN, so a dropped SYN
//!   leaves no request socket, sends no SYN-ACK, and costs the edge no `accept`, no `close`, no
//!   epoll wake-up: the client stays in SYN-SENT, retransmits, and gives up. Attaching a
//!   classic filter (`SO_ATTACH_FILTER`) needs no privilege, and replacing it is atomic.
//! * **The program.** The source address is loaded relative to the network header
//!   (`SKF_NET_OFF`: the filter runs with the data pointer on the TCP header); IPv4 addresses
//!   and IPv6 /64s (the box's keys, see [`ClientKey`]) are looked up in a balanced comparison
//!   tree — `jgt` on a pivot, a few `jeq` at the leaves — in a few dozen instructions.
//!   Conditional jumps reach only 255 instructions ahead, so a far branch goes through a `ja`.
//! * **The bound.** A program has at most 4,096 instructions (`BPF_MAXINSNS`) and is charged
//!   to the socket's option memory (`net.core.optmem_max`), so the filter holds the
//!   [`MAX_KEYS`] most recently boxed clients (fewer when IPv6 prefixes or the kernel's limit
//!   require); the others are still closed at accept ([`crate::penalty`]).
//! * **Updates.** Rebuilt and re-attached (classic) or the maps brought in step (eBPF) at most
//!   every [`EVERY_MS`], and only when the box changed (a client boxed, forgiven or dropped, or
//!   one in the filter left): a client boxed since is closed at accept meanwhile.
//! * **The listening sockets** are found in Pingora's own table of listening descriptors (the
//!   one a graceful upgrade hands over), which every service receives at start: this one looks
//!   up the configured `listen.http` and `listen.https` addresses in it, as the listening
//!   services do when they bind. No descriptor guessing, and it works after an upgrade.
//! * **Accepted connections** are cloned from the listener with its filter; each one's copy is
//!   detached at accept (one `setsockopt`) so that no connection keeps an old program alive.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::{ListenFds, ShutdownWatch};
use prometheus::{IntCounter, IntGauge};

mod maps;

use crate::config::PenaltyFilter;
use crate::conn::ClientKey;
use crate::penalty::now_ms;
use crate::state::EdgeState;
use maps::Maps;

/// Most clients in the filter: the most recently boxed.
pub const MAX_KEYS: usize = 1000;
/// The filter is rebuilt at most this often (milliseconds).
pub const EVERY_MS: u64 = 100;
/// `BPF_MAXINSNS`.
const MAX_INSNS: usize = 4096;
/// Keys compared one after the other at a leaf of the tree.
const LEAF: usize = 4;

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h): a stable ABI. BPF_LD and BPF_W
// are 0, so a word load is just BPF_ABS.
const LD_W_ABS: u16 = 0x20;
const LD_B_ABS: u16 = 0x10 | 0x20;
const ALU_RSH_K: u16 = 0x04 | 0x70;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x05 | 0x10;
const JMP_JGT_K: u16 = 0x05 | 0x20;
const RET_K: u16 = 0x06;
/// `SKF_NET_OFF`: loads relative to the network header.
const NET: u32 = (-0x10_0000i32) as u32;
const ACCEPT: u32 = u32::MAX;
const DROP: u32 = 0;

/// One classic BPF instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

const fn op(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// `A == k`: into `block` (which ends in a return); otherwise past it.
fn enter_if_eq(out: &mut Vec<Insn>, k: u32, block: &[Insn]) {
    match u8::try_from(block.len()) {
        Ok(skip) => out.push(Insn {
            code: JMP_JEQ_K,
            jt: 0,
            jf: skip,
            k,
        }),
        Err(_) => {
            out.push(Insn {
                code: JMP_JEQ_K,
                jt: 1,
                jf: 0,
                k,
            });
            out.push(op(JMP_JA, block.len() as u32));
        }
    }
    out.extend_from_slice(block);
}

/// A comparison tree over the accumulator: `items` sorted by key, distinct; each key's block
/// runs when it matches (and ends in a return); no match returns ACCEPT.
fn tree(items: &[(u32, Vec<Insn>)]) -> Vec<Insn> {
    let mut out = Vec::new();
    if items.len() <= LEAF {
        for (k, block) in items {
            enter_if_eq(&mut out, *k, block);
        }
        out.push(op(RET_K, ACCEPT));
        return out;
    }
    let mid = items.len() / 2;
    let left = tree(&items[..mid]);
    let right = tree(&items[mid..]);
    let pivot = items[mid - 1].0;
    // Above the pivot: over the left subtree, to the right one.
    match u8::try_from(left.len()) {
        Ok(skip) => out.push(Insn {
            code: JMP_JGT_K,
            jt: skip,
            jf: 0,
            k: pivot,
        }),
        Err(_) => {
            out.push(Insn {
                code: JMP_JGT_K,
                jt: 0,
                jf: 1,
                k: pivot,
            });
            out.push(op(JMP_JA, left.len() as u32));
        }
    }
    out.extend(left);
    out.extend(right);
    out
}

/// The filter program dropping every segment from `keys` and accepting the rest.
pub fn program(keys: &[ClientKey]) -> Vec<Insn> {
    let mut v4: Vec<u32> = Vec::new();
    let mut v6: Vec<u64> = Vec::new();
    for k in keys {
        match k {
            ClientKey::V4(a) => v4.push(*a),
            ClientKey::V6(p) => v6.push(*p),
        }
    }
    v4.sort_unstable();
    v4.dedup();
    v6.sort_unstable();
    v6.dedup();
    let drop = vec![op(RET_K, DROP)];
    let mut out = vec![op(LD_B_ABS, NET), op(ALU_RSH_K, 4)];
    if !v4.is_empty() {
        // IPv4: the source address at offset 12.
        let mut block = vec![op(LD_W_ABS, NET.wrapping_add(12))];
        let items: Vec<(u32, Vec<Insn>)> = v4.iter().map(|a| (*a, drop.clone())).collect();
        block.extend(tree(&items));
        enter_if_eq(&mut out, 4, &block);
    }
    if !v6.is_empty() {
        // IPv6: the /64 is the source address's first two words (offsets 8 and 12); a tree
        // over the first word whose matches hold a tree over the second.
        let mut items: Vec<(u32, Vec<Insn>)> = Vec::new();
        let mut i = 0;
        while i < v6.len() {
            let hi = (v6[i] >> 32) as u32;
            let mut los = Vec::new();
            while i < v6.len() && (v6[i] >> 32) as u32 == hi {
                los.push((v6[i] as u32, drop.clone()));
                i += 1;
            }
            let mut inner = vec![op(LD_W_ABS, NET.wrapping_add(12))];
            inner.extend(tree(&los));
            items.push((hi, inner));
        }
        let mut block = vec![op(LD_W_ABS, NET.wrapping_add(8))];
        block.extend(tree(&items));
        enter_if_eq(&mut out, 6, &block);
    }
    out.push(op(RET_K, ACCEPT));
    out
}

/// The program for as many of `keys` (most important first) as fit in `max_keys` and in
/// `BPF_MAXINSNS`; with the number of keys it holds.
pub fn fitting(keys: &[ClientKey], max_keys: usize) -> (Vec<Insn>, usize) {
    let mut n = keys.len().min(max_keys);
    loop {
        let p = program(&keys[..n]);
        if p.len() <= MAX_INSNS || n == 0 {
            return (p, n);
        }
        n = n * 9 / 10;
    }
}

/// Attaches `prog` to the socket `fd`, atomically replacing any filter it had.
fn attach(fd: RawFd, prog: &[Insn]) -> io::Result<()> {
    let mut filters: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let len = u16::try_from(filters.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "program too long"))?;
    let fprog = libc::sock_fprog {
        len,
        filter: filters.as_mut_ptr(),
    };
    // SAFETY: `fprog` points at `filters`, alive for the call; the kernel copies the program.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Removes the filter of socket `fd`, if it has one.
fn detach(fd: RawFd) -> io::Result<()> {
    let zero: libc::c_int = 0;
    // SAFETY: a plain integer option.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DETACH_FILTER,
            (&zero as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    // ENOENT: there was none.
    if e.raw_os_error() == Some(libc::ENOENT) {
        Ok(())
    } else {
        Err(e)
    }
}

/// Set once a filter has been attached to a listener: from then on, accepted connections
/// drop the copy they inherited.
static LISTENERS_FILTERED: AtomicBool = AtomicBool::new(false);

/// Called for each accepted connection: drops the filter it inherited from its listener
/// (nothing to do, no system call, unless the kernel filter has been used).
pub fn on_accepted(fd: RawFd) {
    if LISTENERS_FILTERED.load(Ordering::Relaxed) {
        let _ = detach(fd);
    }
}

/// Attaches `prog` to a listener, or as much of it as the socket's option memory takes.
/// Returns the keys attached (0: the filter was removed).
fn attach_fitting(fd: RawFd, keys: &[ClientKey], max_keys: usize) -> io::Result<usize> {
    let mut max = max_keys;
    loop {
        let (prog, n) = fitting(keys, max);
        if n == 0 {
            detach(fd)?;
            return Ok(0);
        }
        match attach(fd, &prog) {
            Ok(()) => return Ok(n),
            // Over `net.core.optmem_max` (old and new are both charged while replacing).
            Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => max = n / 2,
            Err(e) => return Err(e),
        }
    }
}

/// What is attached now.
#[derive(Debug, Default, PartialEq)]
struct Installed {
    mode: Option<PenaltyFilter>,
    listeners: Vec<RawFd>,
    generation: u64,
    /// The earliest time (ms) a client in the filter leaves the box; 0: nobody in it.
    earliest_exit: u64,
}

/// The background service keeping the listeners' filter in step with the penalty box.
pub struct SynFilter {
    state: Arc<EdgeState>,
    addresses: Vec<String>,
    keys: IntGauge,
    attached: IntCounter,
    errors: IntCounter,
    dropped: IntCounter,
}

impl SynFilter {
    /// The service for the listeners bound to `addresses` (as given to Pingora).
    pub fn new(state: Arc<EdgeState>, addresses: Vec<String>) -> Result<Self, prometheus::Error> {
        let keys = IntGauge::new(
            "penalty_filter_clients",
            "Boxed clients whose SYNs the kernel filter on the listening sockets drops",
        )?;
        let attached = IntCounter::new(
            "penalty_filter_attached_total",
            "Kernel filter programs attached to the listening sockets (one per socket and change)",
        )?;
        let errors = IntCounter::new(
            "penalty_filter_errors_total",
            "Kernel filter programs the kernel refused (those clients are closed at accept)",
        )?;
        let dropped = IntCounter::new(
            "penalty_filter_dropped_total",
            "SYNs of boxed clients dropped in the kernel (counted by the eBPF filter only)",
        )?;
        state.metrics.register(Box::new(dropped.clone()))?;
        state.metrics.register(Box::new(keys.clone()))?;
        state.metrics.register(Box::new(attached.clone()))?;
        state.metrics.register(Box::new(errors.clone()))?;
        Ok(SynFilter {
            state,
            addresses,
            keys,
            attached,
            errors,
            dropped,
        })
    }

    fn step(&self, fds: &ListenFds, at: &mut Installed, kernel: &mut Kernel) {
        let (mode, capacity) = {
            let config = self.state.config.load();
            let l = &config.limits;
            (
                *l.penalty_filter.get_ref(),
                *l.penalty_max_tracked.get_ref(),
            )
        };
        let listeners: Vec<RawFd> = {
            let table = fds.lock();
            self.addresses
                .iter()
                .filter_map(|a| table.get(a).copied())
                .collect()
        };
        if let Kernel::Maps(maps) = kernel {
            if let Ok(n) = maps.dropped() {
                self.dropped.inc_by(n.saturating_sub(self.dropped.get()));
            }
        }
        let now = now_ms();
        let generation = self.state.penalty.generation();
        let same_sockets = at.mode == Some(mode) && at.listeners == listeners;
        let unchanged = same_sockets
            && at.generation == generation
            && (at.earliest_exit == 0 || now < at.earliest_exit);
        if unchanged {
            return;
        }
        if mode == PenaltyFilter::Kernel && matches!(kernel, Kernel::Untried) {
            *kernel = match Maps::new(usize::try_from(capacity).unwrap_or(usize::MAX)) {
                Ok(m) => {
                    tracing::info!(
                        "penalty box: boxed clients' SYNs are dropped in the kernel \
                         (eBPF hash maps, up to {capacity} clients)"
                    );
                    Kernel::Maps(m)
                }
                Err(e) => {
                    tracing::info!(
                        "penalty box: no eBPF here ({e}); the kernel filter is a classic \
                         program holding the {MAX_KEYS} most recently boxed clients"
                    );
                    Kernel::Classic
                }
            };
        }
        let (boxed, held) = match (mode, &mut *kernel) {
            (PenaltyFilter::Kernel, Kernel::Maps(maps)) => {
                if !same_sockets {
                    LISTENERS_FILTERED.store(true, Ordering::Relaxed);
                    for fd in &listeners {
                        match maps.attach(*fd) {
                            Ok(()) => self.attached.inc(),
                            Err(e) => self.refused(&e),
                        }
                    }
                }
                let boxed = self.state.penalty.boxed(now, usize::MAX);
                let keys: Vec<ClientKey> = boxed.iter().map(|(k, _)| *k).collect();
                let (held, errors) = maps.sync(&keys);
                self.errors.inc_by(errors);
                (boxed, held)
            }
            _ => {
                if let Kernel::Maps(maps) = kernel {
                    // Back to accept: the listeners lose the program below; empty the maps.
                    maps.sync(&[]);
                }
                let boxed = match mode {
                    PenaltyFilter::Accept => Vec::new(),
                    PenaltyFilter::Kernel => self.state.penalty.boxed(now, MAX_KEYS),
                };
                let held = self.classic(&listeners, &boxed);
                let n = held.min(boxed.len());
                (boxed[..n].to_vec(), held)
            }
        };
        let held = if listeners.is_empty() { 0 } else { held };
        self.keys.set(held as i64);
        *at = Installed {
            mode: Some(mode),
            listeners,
            generation,
            earliest_exit: boxed.iter().map(|(_, until)| *until).min().unwrap_or(0),
        };
    }

    /// The classic program on every listener; the clients it holds.
    fn classic(&self, listeners: &[RawFd], boxed: &[(ClientKey, u64)]) -> usize {
        let keys: Vec<ClientKey> = boxed.iter().map(|(k, _)| *k).collect();
        let mut held = usize::MAX;
        for fd in listeners {
            let r = if keys.is_empty() {
                detach(*fd).map(|()| 0)
            } else {
                LISTENERS_FILTERED.store(true, Ordering::Relaxed);
                attach_fitting(*fd, &keys, MAX_KEYS)
            };
            match r {
                Ok(n) => {
                    held = held.min(n);
                    if n > 0 {
                        self.attached.inc();
                    }
                }
                Err(e) => {
                    held = 0;
                    self.refused(&e);
                }
            }
        }
        held
    }

    fn refused(&self, e: &io::Error) {
        self.errors.inc();
        tracing::warn!(
            "penalty box: the kernel refused the listening socket's filter ({e}); \
             boxed clients are closed at accept"
        );
    }
}

/// Which kernel filter the edge uses.
enum Kernel {
    /// Not needed yet.
    Untried,
    /// Hash maps read by one program ([`maps`]).
    Maps(Maps),
    /// The classic program holding the most recently boxed ([`program`]).
    Classic,
}

#[async_trait]
impl pingora::services::Service for SynFilter {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        mut shutdown: ShutdownWatch,
        _listeners_per_fd: usize,
    ) {
        let Some(fds) = fds else { return };
        let mut at = Installed::default();
        let mut kernel = Kernel::Untried;
        let mut tick = tokio::time::interval(Duration::from_millis(EVERY_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => self.step(&fds, &mut at, &mut kernel),
            }
        }
    }

    fn name(&self) -> &str {
        "rempart synfilter"
    }

    fn threads(&self) -> Option<usize> {
        Some(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    /// A classic BPF interpreter for the instructions the builder emits, over a packet whose
    /// network header starts at 0.
    fn run(prog: &[Insn], pkt: &[u8]) -> u32 {
        let (mut a, mut pc) = (0u32, 0usize);
        let at = |k: u32, n: usize| -> u32 {
            let off = k.wrapping_sub(NET) as usize;
            pkt[off..off + n]
                .iter()
                .fold(0u32, |v, b| (v << 8) | u32::from(*b))
        };
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps <= prog.len(), "a loop?");
            let i = prog[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => a = at(i.k, 4),
                LD_B_ABS => a = at(i.k, 1),
                ALU_RSH_K => a >>= i.k,
                JMP_JA => pc += i.k as usize,
                JMP_JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                JMP_JGT_K => pc += usize::from(if a > i.k { i.jt } else { i.jf }),
                RET_K => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
            assert!(pc < prog.len(), "ran off the end");
        }
    }

    fn packet(ip: IpAddr) -> Vec<u8> {
        match ip {
            IpAddr::V4(a) => {
                let mut p = vec![0x45; 20];
                p[12..16].copy_from_slice(&a.octets());
                p
            }
            IpAddr::V6(a) => {
                let mut p = vec![0x60; 40];
                p[8..24].copy_from_slice(&a.octets());
                p
            }
        }
    }

    /// A small deterministic generator (no dependency for a test).
    fn next(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    fn v6(hi: u32, lo: u32, rest: u64) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(
            (u128::from((u64::from(hi) << 32) | u64::from(lo)) << 64) | u128::from(rest),
        ))
    }

    #[test]
    fn the_program_drops_exactly_the_boxed_clients() {
        let mut seed = 0x1234_5678_9abc_def1;
        for n in [0usize, 1, 2, 5, 17, 300, 1000] {
            let mut boxed = Vec::new();
            for i in 0..n {
                let r = next(&mut seed);
                boxed.push(if i % 3 == 0 {
                    // Several /64s sharing their first word, and neighbours.
                    v6((r % 7) as u32, (r >> 32) as u32, r)
                } else {
                    IpAddr::V4(Ipv4Addr::from(r as u32))
                });
            }
            let keys: Vec<ClientKey> = boxed.iter().map(|ip| ClientKey::of(*ip)).collect();
            let (prog, held) = fitting(&keys, MAX_KEYS);
            assert_eq!(held, n);
            assert!(prog.len() <= MAX_INSNS, "{n}: {}", prog.len());
            let set: HashSet<ClientKey> = keys.iter().copied().collect();
            for ip in &boxed {
                assert_eq!(run(&prog, &packet(*ip)), DROP, "{ip} of {n}");
            }
            // The same /64 is the same client.
            for ip in boxed.iter().filter(|ip| ip.is_ipv6()) {
                let IpAddr::V6(a) = ip else { continue };
                let other = IpAddr::V6(Ipv6Addr::from(u128::from(*a) ^ 0xffff));
                assert_eq!(run(&prog, &packet(other)), DROP);
            }
            // Others, near or far, are accepted.
            for _ in 0..2000 {
                let r = next(&mut seed);
                let ip = match r % 4 {
                    0 => v6((r % 7) as u32, (r >> 32) as u32, r),
                    1 => match boxed.get((r >> 8) as usize % n.max(1)) {
                        Some(IpAddr::V4(a)) => IpAddr::V4(Ipv4Addr::from(u32::from(*a) ^ 1)),
                        _ => IpAddr::V4(Ipv4Addr::from(r as u32)),
                    },
                    _ => IpAddr::V4(Ipv4Addr::from(r as u32)),
                };
                let want = if set.contains(&ClientKey::of(ip)) {
                    DROP
                } else {
                    ACCEPT
                };
                assert_eq!(run(&prog, &packet(ip)), want, "{ip} of {n}");
            }
            // Neither IPv4 nor IPv6: accepted.
            assert_eq!(run(&prog, &[0x00; 40]), ACCEPT);
        }
    }

    #[test]
    fn the_program_fits_the_kernel_limit_by_holding_the_first_keys() {
        // All IPv6 with distinct first words: the costliest keys.
        let keys: Vec<ClientKey> = (0..MAX_KEYS as u64)
            .map(|i| ClientKey::V6((i * 0x1_0000_0001) << 16))
            .collect();
        let (prog, held) = fitting(&keys, MAX_KEYS);
        assert!(prog.len() <= MAX_INSNS);
        assert!(held > 100 && held <= MAX_KEYS, "{held}");
        for k in &keys[..held] {
            let ClientKey::V6(p) = k else { unreachable!() };
            let ip = IpAddr::V6(Ipv6Addr::from(u128::from(*p) << 64));
            assert_eq!(run(&prog, &packet(ip)), DROP);
        }
        let ClientKey::V6(p) = keys[held] else {
            unreachable!()
        };
        let ip = IpAddr::V6(Ipv6Addr::from(u128::from(p) << 64));
        assert_eq!(run(&prog, &packet(ip)), ACCEPT, "left to the accept check");
    }

    /// `TCP_ESTABLISHED` and `TCP_SYN_SENT` (linux/tcp_states.h).
    const ESTABLISHED: u8 = 1;
    const SYN_SENT: u8 = 2;

    /// The TCP state of a socket (`TCP_INFO`).
    fn tcp_state(fd: RawFd) -> u8 {
        // SAFETY: `info` is a plain struct the kernel fills up to `len`.
        unsafe {
            let mut info: libc::tcp_info = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
            let r = libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            );
            assert_eq!(r, 0, "{}", io::Error::last_os_error());
            info.tcpi_state
        }
    }

    #[test]
    fn the_kernel_drops_a_boxed_clients_syn_on_a_listening_socket() {
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let boxed = ClientKey::of("127.0.6.1".parse().unwrap());
        assert_eq!(
            attach_fitting(listener.as_raw_fd(), &[boxed], MAX_KEYS).unwrap(),
            1
        );
        let connect = |from: [u8; 4]| {
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            s.bind((from, 0).into()).unwrap();
            let fd = s.as_raw_fd();
            let addr = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: port.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(Ipv4Addr::new(127, 0, 0, 1)).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: a valid sockaddr_in for a non-blocking socket.
            let r = unsafe {
                libc::connect(
                    fd,
                    (&addr as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            };
            assert!(r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EINPROGRESS));
            s
        };
        let a = connect([127, 0, 6, 1]);
        let b = connect([127, 0, 6, 2]);
        // The one connecting after it is accepted (polled, bounded) …
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let (accepted, peer) = loop {
            match listener.accept() {
                Ok(c) => break c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "never accepted");
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(peer.ip(), IpAddr::from([127, 0, 6, 2]));
        assert_eq!(tcp_state(b.as_raw_fd()), ESTABLISHED);
        // … the boxed one, whose SYN went first, is still waiting for an answer.
        assert_eq!(tcp_state(a.as_raw_fd()), SYN_SENT);
        assert!(listener.accept().is_err(), "nothing else was accepted");
        // The accepted connection drops the copy of the filter it was cloned with.
        LISTENERS_FILTERED.store(true, Ordering::Relaxed);
        on_accepted(accepted.as_raw_fd());
        // Removed: the boxed client's next SYN is answered.
        detach(listener.as_raw_fd()).unwrap();
        let c = connect([127, 0, 6, 1]);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tcp_state(c.as_raw_fd()) != ESTABLISHED {
            assert!(std::time::Instant::now() < deadline, "never connected");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A non-blocking connect from `from` to `to`, left to complete (or not) on its own.
    fn start_connect(from: IpAddr, to: std::net::SocketAddr) -> socket2::Socket {
        let s = socket2::Socket::new(
            socket2::Domain::for_address(to),
            socket2::Type::STREAM,
            None,
        )
        .unwrap();
        s.set_nonblocking(true).unwrap();
        s.bind(&std::net::SocketAddr::new(from, 0).into()).unwrap();
        match s.connect(&to.into()) {
            Ok(()) => {}
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINPROGRESS), "{e}"),
        }
        s
    }

    /// Waits (polled, bounded) until `s` is connected.
    fn until_established(s: &socket2::Socket) {
        use std::os::fd::AsRawFd;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tcp_state(s.as_raw_fd()) != ESTABLISHED {
            assert!(std::time::Instant::now() < deadline, "never connected");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A listener on `[::]` taking both families on one socket, as `listen.http = "[::]:80"`
    /// does: IPv4 segments reach the filter with an IPv4 network header, IPv6 ones with an
    /// IPv6 header.
    fn dual_stack_listener() -> (socket2::Socket, u16) {
        let listener =
            socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
        listener.set_only_v6(false).unwrap();
        listener
            .bind(&"[::]:0".parse::<std::net::SocketAddr>().unwrap().into())
            .unwrap();
        listener.listen(64).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().as_socket().unwrap().port();
        (listener, port)
    }

    /// With the listener filtering `boxed` (::1 and 127.0.6.`n`), SYNs from both are dropped
    /// while 127.0.6.`n+1` is accepted; after `clear`, ::1 connects again.
    fn drops_both_families(
        n: u8,
        filter: impl FnOnce(RawFd, &[ClientKey]),
        clear: impl FnOnce(RawFd),
    ) {
        use std::os::fd::AsRawFd;
        let (listener, port) = dual_stack_listener();
        let loop6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let boxed4 = IpAddr::from([127, 0, 6, n]);
        let free4 = IpAddr::from([127, 0, 6, n + 1]);
        filter(
            listener.as_raw_fd(),
            &[ClientKey::of(loop6), ClientKey::of(boxed4)],
        );
        let to6 = std::net::SocketAddr::new(loop6, port);
        let to4 = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let a6 = start_connect(loop6, to6);
        let a4 = start_connect(boxed4, to4);
        let b4 = start_connect(free4, to4);
        until_established(&b4);
        // The one accepted is the IPv4 client that is not boxed (seen as IPv4-mapped) …
        let (accepted, peer) = listener.accept().unwrap();
        let peer = peer.as_socket().unwrap().ip();
        assert_eq!(ClientKey::of(peer), ClientKey::of(free4), "{peer}");
        // … both boxed clients, whose SYNs went first, are still waiting for an answer.
        assert_eq!(tcp_state(a6.as_raw_fd()), SYN_SENT, "IPv6 /64 answered");
        assert_eq!(tcp_state(a4.as_raw_fd()), SYN_SENT, "IPv4 answered");
        assert!(listener.accept().is_err(), "nothing else was accepted");
        LISTENERS_FILTERED.store(true, Ordering::Relaxed);
        on_accepted(accepted.as_raw_fd());
        // Removed: the boxed IPv6 client's next SYN is answered.
        clear(listener.as_raw_fd());
        until_established(&start_connect(loop6, to6));
    }

    #[test]
    fn on_a_dual_stack_listener_the_kernel_drops_boxed_ipv6_prefixes_and_ipv4_addresses() {
        drops_both_families(
            11,
            |fd, keys| assert_eq!(attach_fitting(fd, keys, MAX_KEYS).unwrap(), 2),
            |fd| detach(fd).unwrap(),
        );
    }

    #[test]
    fn with_ebpf_maps_the_kernel_drops_boxed_clients_of_both_families() {
        let Some(mut maps) = maps::tests::maps_unless_unprivileged(1000) else {
            return;
        };
        let maps = std::cell::RefCell::new(&mut maps);
        drops_both_families(
            21,
            |fd, keys| {
                let mut m = maps.borrow_mut();
                m.attach(fd).unwrap();
                assert_eq!(m.sync(keys), (2, 0));
            },
            |_| assert_eq!(maps.borrow_mut().sync(&[]), (0, 0)),
        );
    }
}
