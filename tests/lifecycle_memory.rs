//! The memory a session costs in the embedded refresh store, measured with a counting allocator:
//! the same however often the session is refreshed. One test only: the allocator counts the whole
//! process. `cargo test --release --all-features --test lifecycle_memory -- --nocapture` prints
//! the figures.
// A `GlobalAlloc` impl needs `unsafe`; the library itself stays `#![forbid(unsafe_code)]`.
#![allow(unsafe_code)]
#![cfg(all(
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth::issuer::Login;
use tower_api_auth_tests as common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use tower_api_auth::clock::ManualClock;
use tower_api_auth::issuer::{MemoryRefreshStore, TokenService};

use common::lifecycle::{ALICE, ALICE_PASSWORD, Users, hs256_issuer};

/// Bytes allocated and not yet freed.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// `System`, counting live bytes.
struct Counting;

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).expect("an allocation fits in isize")
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(size(layout.size()), Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(size(layout.size()), Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(size(new_size) - size(layout.size()), Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(size(layout.size()), Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SESSIONS: usize = 10_000;
const REFRESHES: usize = 100_000;

#[test]
fn a_session_costs_the_same_memory_however_often_it_is_refreshed() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = Arc::new(MemoryRefreshStore::new());
    // One user's logins, all kept: the bound on a subject's sessions is lifted to measure what
    // each one costs (the bound itself is tested in `core`, lifecycle_sessions).
    let tokens = TokenService::new(hs256_issuer(), store.clone())
        .passwords(Users::new())
        .max_sessions_per_subject(usize::MAX)
        .clock(ManualClock::at(1_800_000_000));
    let login = || {
        runtime
            .block_on(tokens.login(Login::password(ALICE, ALICE_PASSWORD)))
            .unwrap()
    };
    // Warm up: the first calls allocate what stays for the process (the purge schedule, caches).
    let mut token = login().refresh_token.unwrap();
    for _ in 0..100 {
        token = runtime
            .block_on(tokens.refresh(&token, None))
            .unwrap()
            .refresh_token
            .unwrap();
    }

    let before = LIVE.load(Relaxed);
    for _ in 0..SESSIONS {
        let _ = login();
    }
    let per_session = (LIVE.load(Relaxed) - before) as f64 / SESSIONS as f64;
    println!("{SESSIONS} sessions: {per_session:.0} heap bytes per session");
    assert_eq!(store.len(), SESSIONS + 1);

    let before = LIVE.load(Relaxed);
    for _ in 0..REFRESHES {
        token = runtime
            .block_on(tokens.refresh(&token, None))
            .unwrap()
            .refresh_token
            .unwrap();
    }
    let growth = LIVE.load(Relaxed) - before;
    println!("{REFRESHES} refreshes of one session: {growth} heap bytes of growth in all");
    assert!(
        growth <= 1_024,
        "refreshing must not grow the store: {growth} bytes after {REFRESHES} refreshes"
    );
    assert_eq!(store.len(), SESSIONS + 1);
}
