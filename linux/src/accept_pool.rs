//! The host bridge's acceptors: a pool of threads that each take a
//! connection and set it up themselves (steps that may wait on the
//! upstream), so one slow upstream connect does not hold up the next child.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::bridge::MAX_CONNECTIONS;

/// Each acceptor thread's stack (they only copy heads and wait).
const STACK_SIZE: usize = 256 * 1024;

/// Set connections up on a pool of pre-spawned threads that each block in
/// `accept` and then set up the connection they got themselves (connect
/// the upstream, put credentials on: steps that may wait) before `handle`
/// gives it to the relay. The pool grows when no thread is left
/// accepting; with [`MAX_CONNECTIONS`] in set-up or `relayed`, accepted
/// connections are closed at once (the client sees EOF). Idle threads
/// above [`KEEP_IDLE`] exit. Never returns: the calling thread is one of
/// the acceptors.
pub(crate) fn serve<C: Send + 'static>(
    accept: impl Fn() -> io::Result<C> + Send + Sync + 'static,
    relayed: impl Fn() -> usize + Send + Sync + 'static,
    handle: impl Fn(C) + Send + Sync + 'static,
) -> ! {
    let pool = Arc::new(Pool {
        idle: AtomicUsize::new(0),
        busy: AtomicUsize::new(0),
        accept: Box::new(accept),
        relayed: Box::new(relayed),
        handle: Box::new(handle),
    });
    for _ in 1..START_THREADS {
        spawn_acceptor(&pool);
    }
    acceptor(&pool, true);
    std::process::exit(0)
}

/// This many threads wait in `accept` from the start (the main one
/// included).
const START_THREADS: usize = 2;
/// At most this many idle threads stay when set-ups end (a parked thread
/// costs less than one that exits and one spawned for the next burst).
const KEEP_IDLE: usize = 8;

type AcceptFn<C> = Box<dyn Fn() -> io::Result<C> + Send + Sync>;
type CountFn = Box<dyn Fn() -> usize + Send + Sync>;
type HandleFn<C> = Box<dyn Fn(C) + Send + Sync>;

struct Pool<C> {
    idle: AtomicUsize,
    /// Connections being set up.
    busy: AtomicUsize,
    accept: AcceptFn<C>,
    relayed: CountFn,
    handle: HandleFn<C>,
}

fn spawn_acceptor<C: Send + 'static>(pool: &Arc<Pool<C>>) {
    let pool = Arc::clone(pool);
    // A failed spawn only means fewer acceptors: the main one remains.
    let _ = std::thread::Builder::new()
        .stack_size(STACK_SIZE)
        .spawn(move || acceptor(&pool, false));
}

fn acceptor<C: Send + 'static>(pool: &Arc<Pool<C>>, main: bool) {
    loop {
        pool.idle.fetch_add(1, Ordering::AcqRel);
        let conn = (pool.accept)();
        let idle_left = pool.idle.fetch_sub(1, Ordering::AcqRel) - 1;
        let Ok(conn) = conn else { continue };
        if pool.busy.fetch_add(1, Ordering::AcqRel) + (pool.relayed)() >= MAX_CONNECTIONS {
            pool.busy.fetch_sub(1, Ordering::AcqRel);
            drop(conn);
            continue;
        }
        if idle_left == 0 {
            spawn_acceptor(pool);
        }
        (pool.handle)(conn);
        pool.busy.fetch_sub(1, Ordering::AcqRel);
        if !main && pool.idle.load(Ordering::Acquire) >= KEEP_IDLE {
            return;
        }
    }
}
