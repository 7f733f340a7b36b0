//! The C library's own functions, found with `dlsym(RTLD_NEXT)`, for every descriptor that
//! is not a stack socket and for the library's own work on the descriptors it made.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Looks `name` (NUL-terminated) up once in the objects after this one.
pub fn lookup(cache: &AtomicUsize, name: &'static [u8]) -> usize {
    let p = cache.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: name is NUL-terminated; RTLD_NEXT is valid in a shared object.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr() as *const libc::c_char) } as usize;
    if p == 0 {
        let msg = b"libpktbox_socket: the C library lacks a function this library forwards to\n";
        // SAFETY: a plain write of a static buffer, then abort: nothing sane is left to call.
        unsafe {
            libc::write(2, msg.as_ptr() as *const libc::c_void, msg.len());
            libc::abort();
        }
    }
    cache.store(p, Ordering::Relaxed);
    p
}

/// `real!(name: fn(args) -> ret)` is the C library's `name`, typed.
#[macro_export]
macro_rules! real {
    ($name:ident : $ty:ty) => {{
        static P: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let p = $crate::real::lookup(&P, concat!(stringify!($name), "\0").as_bytes());
        // SAFETY: dlsym found the C library's function of this name; its type is the C one.
        #[allow(unused_unsafe)]
        let f = unsafe { std::mem::transmute::<usize, $ty>(p) };
        f
    }};
}

type Int = libc::c_int;
type Ssize = libc::ssize_t;
type Void = libc::c_void;

pub fn close(fd: Int) -> Int {
    // SAFETY: the caller passes what the C function expects.
    unsafe { real!(close: unsafe extern "C" fn(Int) -> Int)(fd) }
}

pub fn recv(fd: Int, buf: *mut Void, n: usize, flags: Int) -> Ssize {
    // SAFETY: the caller passes what the C function expects.
    unsafe { real!(recv: unsafe extern "C" fn(Int, *mut Void, usize, Int) -> Ssize)(fd, buf, n, flags) }
}

pub fn send(fd: Int, buf: *const Void, n: usize, flags: Int) -> Ssize {
    // SAFETY: the caller passes what the C function expects.
    unsafe { real!(send: unsafe extern "C" fn(Int, *const Void, usize, Int) -> Ssize)(fd, buf, n, flags) }
}

pub fn recvmsg(fd: Int, m: *mut libc::msghdr, flags: Int) -> Ssize {
    // SAFETY: the caller passes what the C function expects.
    unsafe { real!(recvmsg: unsafe extern "C" fn(Int, *mut libc::msghdr, Int) -> Ssize)(fd, m, flags) }
}

pub fn shutdown(fd: Int, how: Int) -> Int {
    // SAFETY: the caller passes what the C function expects.
    unsafe { real!(shutdown: unsafe extern "C" fn(Int, Int) -> Int)(fd, how) }
}

pub fn socketpair(d: Int, t: Int, p: Int, sv: *mut Int) -> Int {
    // SAFETY: the caller passes what the C function expects.
    unsafe { real!(socketpair: unsafe extern "C" fn(Int, Int, Int, *mut Int) -> Int)(d, t, p, sv) }
}

pub fn setsockopt(fd: Int, level: Int, name: Int, v: *const Void, len: libc::socklen_t) -> Int {
    // SAFETY: the caller passes what the C function expects.
    unsafe {
        real!(setsockopt: unsafe extern "C" fn(Int, Int, Int, *const Void, libc::socklen_t) -> Int)(
            fd, level, name, v, len,
        )
    }
}

pub fn getsockopt(fd: Int, level: Int, name: Int, v: *mut Void, len: *mut libc::socklen_t) -> Int {
    // SAFETY: the caller passes what the C function expects.
    unsafe {
        real!(getsockopt: unsafe extern "C" fn(Int, Int, Int, *mut Void, *mut libc::socklen_t) -> Int)(
            fd, level, name, v, len,
        )
    }
}

pub fn fcntl(fd: Int, cmd: Int, arg: libc::c_long) -> Int {
    // SAFETY: the caller passes what the C function expects.
    unsafe { real!(fcntl: unsafe extern "C" fn(Int, Int, libc::c_long) -> Int)(fd, cmd, arg) }
}

pub fn poll(fds: *mut libc::pollfd, n: libc::nfds_t, ms: Int) -> Int {
    // SAFETY: the caller passes what the C function expects.
    unsafe { real!(poll: unsafe extern "C" fn(*mut libc::pollfd, libc::nfds_t, Int) -> Int)(fds, n, ms) }
}
