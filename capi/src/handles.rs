//! Live handles. Every object this library hands out is registered until
//! its free function runs, and every call checks its handle here before
//! touching it: a freed (stale) handle, a second free, or a pointer this
//! library never returned is refused with `ES_ERR_ARG` instead of reading
//! freed memory. (An address the allocator reuses for a new object of the
//! same kind is, by then, that live object: no registry can tell those
//! apart.)

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// What a handle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Steer,
    Hook,
    Host,
}

static LIVE: Mutex<BTreeMap<usize, Kind>> = Mutex::new(BTreeMap::new());

fn live() -> MutexGuard<'static, BTreeMap<usize, Kind>> {
    // A panic while holding the lock cannot leave the map half-updated
    // (each operation is one insert, lookup or remove).
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records a new handle.
pub(crate) fn register(addr: usize, kind: Kind) {
    live().insert(addr, kind);
}

/// Whether `addr` is a live handle of `kind`.
pub(crate) fn is_live(addr: usize, kind: Kind) -> bool {
    live().get(&addr) == Some(&kind)
}

/// Forgets a live handle of `kind`; false when it was not one (already
/// freed, another kind, never ours), in which case nothing may be freed.
pub(crate) fn unregister(addr: usize, kind: Kind) -> bool {
    let mut m = live();
    if m.get(&addr) == Some(&kind) {
        m.remove(&addr);
        true
    } else {
        false
    }
}
