//! The kernel filter with hash maps (eBPF), when the edge may use `bpf(2)` (root, or
//! `CAP_BPF` + `CAP_NET_ADMIN`): one small program attached once to each listener looks the
//! SYN's source up in two kernel hash maps (IPv4 addresses, IPv6 /64s) that the edge updates
//! one client at a time. Unlike the classic program ([`super::program`]), its size does not
//! grow with the box: every boxed client can be in the kernel (up to the map's capacity, the
//! box's own bound `penalty_max_tracked`), a box change costs one system call per client that
//! entered or left, and the program is never rebuilt. Without the privilege, `Maps::new`
//! fails and the classic program is used.
//!
//! The program (a few dozen instructions, checked by the kernel's verifier at load) reads the
//! source address with the legacy packet loads, which for a socket filter take offsets
//! relative to the network header (`SKF_NET_OFF`) and return words in host order — the same
//! numbers as [`ClientKey`] — and stores them as map keys in native byte order.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::conn::ClientKey;

/// `bpf(2)` commands and constants (linux/bpf.h: a stable ABI).
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
/// Entries are allocated as they are inserted: an empty box costs no kernel memory.
const BPF_F_NO_PREALLOC: u32 = 1;
const BPF_FUNC_MAP_LOOKUP_ELEM: i32 = 1;
/// `SO_ATTACH_BPF` (asm-generic/socket.h).
const SO_ATTACH_BPF: libc::c_int = 50;

// eBPF opcodes.
const LD_ABS_B: u8 = 0x30;
const LD_ABS_W: u8 = 0x20;
const LD_IMM64: u8 = 0x18;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_LSH_K: u8 = 0x67;
const ALU64_OR_X: u8 = 0x4f;
const ALU64_ADD_K: u8 = 0x07;
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const STX_W: u8 = 0x63;
const STX_DW: u8 = 0x7b;
const ST_W: u8 = 0x62;
/// `BPF_STX | BPF_ATOMIC | BPF_DW` with `imm = BPF_ADD`: `lock *(u64 *)(dst + off) += src`.
const ATOMIC_ADD_DW: u8 = 0xdb;
const JEQ_K: u8 = 0x15;
const JNE_K: u8 = 0x55;
const JA: u8 = 0x05;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
/// `BPF_PSEUDO_MAP_FD`: the immediate of a 64-bit load is a map's descriptor.
const PSEUDO_MAP_FD: u8 = 1;
/// `SKF_NET_OFF`.
const NET: i32 = -0x10_0000;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// The program: drop (return 0) a segment whose source is in `v4` (IPv4 address) or `v6`
/// (IPv6 /64), counting it in `dropped` (an array of one `u64`); keep anything else whole.
fn program(v4: RawFd, v6: RawFd, dropped: RawFd) -> Vec<Insn> {
    let mut p = Vec::with_capacity(40);
    p.extend([
        // 0: r6 = skb (the packet loads read through r6).
        insn(MOV64_X, 6, 1, 0, 0),
        // 1–2: r0 = IP version.
        insn(LD_ABS_B, 0, 0, 0, NET),
        insn(ALU64_RSH_K, 0, 0, 0, 4),
        // 3: IPv4 → 6; 4: IPv6 → 15; 5: anything else → accept (27).
        insn(JEQ_K, 0, 0, 2, 4),
        insn(JEQ_K, 0, 0, 10, 6),
        insn(JA, 0, 0, 21, 0),
        // 6: the IPv4 source address, as the key at fp-4.
        insn(LD_ABS_W, 0, 0, 0, NET + 12),
        insn(STX_W, 10, 0, -4, 0),
    ]);
    p.extend(lookup(v4, -4));
    p.extend([
        // 13: found → drop (29); else accept (27).
        insn(JNE_K, 0, 0, 15, 0),
        insn(JA, 0, 0, 12, 0),
        // 15: the IPv6 /64 (the source address's first two words), as the key at fp-8; r7
        // survives the packet loads, which clobber r0–r5.
        insn(LD_ABS_W, 0, 0, 0, NET + 8),
        insn(MOV64_X, 7, 0, 0, 0),
        insn(ALU64_LSH_K, 7, 0, 0, 32),
        insn(LD_ABS_W, 0, 0, 0, NET + 12),
        insn(ALU64_OR_X, 7, 0, 0, 0),
        insn(STX_DW, 10, 7, -8, 0),
    ]);
    p.extend(lookup(v6, -8));
    p.extend([
        // 26: found → drop (29).
        insn(JNE_K, 0, 0, 2, 0),
        // 27: accept: keep the whole segment.
        insn(MOV64_K, 0, 0, 0, -1),
        insn(EXIT, 0, 0, 0, 0),
        // 29: drop: count it (key 0 at fp-12) …
        insn(ST_W, 10, 0, -12, 0),
    ]);
    p.extend(lookup(dropped, -12));
    p.extend([
        insn(JEQ_K, 0, 0, 2, 0),
        insn(MOV64_K, 1, 0, 0, 1),
        insn(ATOMIC_ADD_DW, 0, 1, 0, 0),
        // 38: … and return 0.
        insn(MOV64_K, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ]);
    p
}

/// `r0 = bpf_map_lookup_elem(map, fp + key_at)` (five instructions: the map's descriptor is a
/// two-slot 64-bit load).
fn lookup(map: RawFd, key_at: i32) -> [Insn; 5] {
    [
        insn(LD_IMM64, 1, PSEUDO_MAP_FD, 0, map),
        insn(0, 0, 0, 0, 0),
        insn(MOV64_X, 2, 10, 0, 0),
        insn(ALU64_ADD_K, 2, 0, 0, key_at),
        insn(CALL, 0, 0, 0, BPF_FUNC_MAP_LOOKUP_ELEM),
    ]
}

/// `bpf(cmd, attr)`; `attr` is the command's part of `union bpf_attr`, zero-padded.
fn bpf(cmd: libc::c_long, attr: &mut [u64; 16]) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a zero-initialised buffer of 128 bytes laid out as the command's
    // `union bpf_attr` member; pointers inside it stay valid for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr) as libc::c_ulong,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: a descriptor `bpf(2)` just returned, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

fn create_map(
    kind: u32,
    key_size: u32,
    value_size: u32,
    capacity: u32,
    flags: u32,
) -> io::Result<OwnedFd> {
    let mut attr = [0u64; 16];
    attr[0] = u64::from(kind) | (u64::from(key_size) << 32);
    attr[1] = u64::from(value_size) | (u64::from(capacity) << 32);
    attr[2] = u64::from(flags);
    bpf(BPF_MAP_CREATE, &mut attr).map(owned)
}

/// Loads a socket filter program; with `log`, the verifier's account of it.
fn load(insns: &[Insn], log: Option<&mut Vec<u8>>) -> io::Result<OwnedFd> {
    let license = c"Dual MIT/GPL";
    let mut attr = [0u64; 16];
    attr[0] = u64::from(BPF_PROG_TYPE_SOCKET_FILTER) | ((insns.len() as u64) << 32);
    attr[1] = insns.as_ptr() as u64;
    attr[2] = license.as_ptr() as u64;
    if let Some(log) = log {
        // log_level 1, log_size, log_buf.
        attr[3] = 1 | ((log.len() as u64) << 32);
        attr[4] = log.as_mut_ptr() as u64;
    }
    bpf(BPF_PROG_LOAD, &mut attr).map(owned)
}

/// The boxed clients' maps and the program that reads them.
pub struct Maps {
    v4: OwnedFd,
    v6: OwnedFd,
    /// SYNs dropped so far (one `u64`).
    dropped: OwnedFd,
    prog: OwnedFd,
    /// What the maps hold.
    held: HashSet<ClientKey>,
}

impl Maps {
    /// Creates the maps (room for `capacity` clients of each family: the box's own bound, so
    /// they cannot fill up) and loads the program; fails without the privilege to.
    pub fn new(capacity: usize) -> io::Result<Maps> {
        let cap = u32::try_from(capacity.max(1)).unwrap_or(u32::MAX);
        let v4 = create_map(BPF_MAP_TYPE_HASH, 4, 1, cap, BPF_F_NO_PREALLOC)?;
        let v6 = create_map(BPF_MAP_TYPE_HASH, 8, 1, cap, BPF_F_NO_PREALLOC)?;
        let dropped = create_map(BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0)?;
        let insns = program(v4.as_raw_fd(), v6.as_raw_fd(), dropped.as_raw_fd());
        let prog = load(&insns, None).map_err(|e| {
            // Load it again with the verifier's log, to say why.
            let mut log = vec![0u8; 1 << 16];
            match load(&insns, Some(&mut log)) {
                Ok(_) => e,
                Err(_) => {
                    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                    let why = String::from_utf8_lossy(&log[..end]);
                    let last = why.trim().lines().last().unwrap_or("").to_owned();
                    io::Error::new(e.kind(), format!("{e}: {last}"))
                }
            }
        })?;
        Ok(Maps {
            v4,
            v6,
            dropped,
            prog,
            held: HashSet::new(),
        })
    }

    /// Attaches the program to the listening socket `fd` (replacing any filter it had).
    pub fn attach(&self, fd: RawFd) -> io::Result<()> {
        let prog = self.prog.as_raw_fd();
        // SAFETY: a plain integer option.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                SO_ATTACH_BPF,
                (&prog as *const RawFd).cast(),
                std::mem::size_of::<RawFd>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn elem(&self, key: &ClientKey, cmd: libc::c_long) -> io::Result<()> {
        let (v4, v6);
        let (map, key_ptr) = match key {
            ClientKey::V4(a) => {
                v4 = *a;
                (&self.v4, (&v4 as *const u32) as u64)
            }
            ClientKey::V6(p) => {
                v6 = *p;
                (&self.v6, (&v6 as *const u64) as u64)
            }
        };
        let value = 1u8;
        let mut attr = [0u64; 16];
        attr[0] = map.as_raw_fd() as u32 as u64;
        attr[1] = key_ptr;
        if cmd == BPF_MAP_UPDATE_ELEM {
            // (A delete takes no value: the kernel refuses non-zero bytes past the key.)
            attr[2] = (&value as *const u8) as u64;
        }
        // flags (attr[3]): BPF_ANY.
        bpf(cmd, &mut attr).map(|_| ())
    }

    /// The SYNs the program has dropped since it was loaded.
    pub fn dropped(&self) -> io::Result<u64> {
        let key = 0u32;
        let mut value = 0u64;
        let mut attr = [0u64; 16];
        attr[0] = self.dropped.as_raw_fd() as u32 as u64;
        attr[1] = (&key as *const u32) as u64;
        attr[2] = (&mut value as *mut u64) as u64;
        bpf(BPF_MAP_LOOKUP_ELEM, &mut attr)?;
        Ok(value)
    }

    /// Brings the maps in step with `boxed`: removes who left, inserts who entered. Returns
    /// the clients the maps now hold and the errors met (clients not inserted are still
    /// closed at accept).
    pub fn sync(&mut self, boxed: &[ClientKey]) -> (usize, u64) {
        let want: HashSet<ClientKey> = boxed.iter().copied().collect();
        let mut errors = 0;
        let gone: Vec<ClientKey> = self.held.difference(&want).copied().collect();
        for k in gone {
            match self.elem(&k, BPF_MAP_DELETE_ELEM) {
                Ok(()) => {
                    self.held.remove(&k);
                }
                // Not there: nothing to remove.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    self.held.remove(&k);
                }
                Err(_) => errors += 1,
            }
        }
        for k in want {
            if self.held.contains(&k) {
                continue;
            }
            match self.elem(&k, BPF_MAP_UPDATE_ELEM) {
                Ok(()) => {
                    self.held.insert(k);
                }
                Err(_) => errors += 1,
            }
        }
        (self.held.len(), errors)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv6Addr};

    const BPF_PROG_TEST_RUN: libc::c_long = 10;

    /// Runs the loaded program in the kernel on one IP packet (an Ethernet header is put in
    /// front, as the test runner wants); its return value.
    fn run(maps: &Maps, ip: IpAddr) -> u32 {
        let mut frame = vec![0u8; 14];
        match ip {
            IpAddr::V4(a) => {
                frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
                let mut h = [0u8; 20];
                h[0] = 0x45;
                h[12..16].copy_from_slice(&a.octets());
                frame.extend_from_slice(&h);
            }
            IpAddr::V6(a) => {
                frame[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
                let mut h = [0u8; 40];
                h[0] = 0x60;
                h[8..24].copy_from_slice(&a.octets());
                frame.extend_from_slice(&h);
            }
        }
        frame.extend_from_slice(&[0u8; 20]);
        let mut attr = [0u64; 16];
        attr[0] = maps.prog.as_raw_fd() as u32 as u64;
        attr[1] = frame.len() as u64;
        attr[2] = frame.as_ptr() as u64;
        attr[4] = 1;
        bpf(BPF_PROG_TEST_RUN, &mut attr).expect("test run");
        (attr[0] >> 32) as u32
    }

    fn next(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// Maps for a test; `None` (the test is skipped) only when not root: root must get them.
    pub(in crate::synfilter) fn maps_unless_unprivileged(capacity: usize) -> Option<Maps> {
        // SAFETY: no arguments, no side effect.
        let root = unsafe { libc::geteuid() } == 0;
        match Maps::new(capacity) {
            Ok(m) => Some(m),
            Err(e) if !root => {
                eprintln!("skipped: no eBPF for this user ({e})");
                None
            }
            Err(e) => panic!("root, but no eBPF maps: {e}"),
        }
    }

    #[test]
    fn the_program_drops_exactly_the_clients_in_the_maps() {
        let Some(mut maps) = maps_unless_unprivileged(10_000) else {
            return;
        };
        let mut seed = 0x5eed_u64;
        let mut boxed = Vec::new();
        for i in 0..2000 {
            let r = next(&mut seed);
            boxed.push(if i % 2 == 0 {
                IpAddr::from((r as u32).to_be_bytes())
            } else {
                IpAddr::V6(Ipv6Addr::from(u128::from(r) << 64 | u128::from(i as u16)))
            });
        }
        let keys: Vec<ClientKey> = boxed.iter().map(|ip| ClientKey::of(*ip)).collect();
        assert_eq!(maps.sync(&keys), (2000, 0));
        for ip in &boxed {
            assert_eq!(run(&maps, *ip), 0, "{ip} not dropped");
            // Another address of the same /64 is the same client; a neighbour is not.
            if let IpAddr::V6(a) = ip {
                let same = IpAddr::V6(Ipv6Addr::from(u128::from(*a) ^ 0xffff_0000));
                assert_eq!(run(&maps, same), 0, "{same} not dropped");
                let other = IpAddr::V6(Ipv6Addr::from(u128::from(*a) ^ (1 << 64)));
                assert_ne!(run(&maps, other), 0, "{other} dropped");
                let other = IpAddr::V6(Ipv6Addr::from(u128::from(*a) ^ (1 << 127)));
                assert_ne!(run(&maps, other), 0, "{other} dropped");
            } else if let IpAddr::V4(a) = ip {
                let other = IpAddr::from((u32::from(*a) ^ 1).to_be_bytes());
                assert_ne!(run(&maps, other), 0, "{other} dropped");
            }
        }
        // Half of them leave the box: they are let through, the others still dropped.
        let (stay, leave) = boxed.split_at(1000);
        let stay_keys: Vec<ClientKey> = stay.iter().map(|ip| ClientKey::of(*ip)).collect();
        assert_eq!(maps.sync(&stay_keys), (1000, 0));
        for ip in stay {
            assert_eq!(run(&maps, *ip), 0, "{ip} not dropped");
        }
        for ip in leave {
            assert_ne!(run(&maps, *ip), 0, "{ip} still dropped");
        }
        // Every drop was counted: 2,000 boxed + 1,000 others of the same /64s, then 1,000.
        assert_eq!(maps.dropped().unwrap(), 4000);
    }
}
