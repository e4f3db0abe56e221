//! Handing freed memory back to the system after a collection.
//!
//! glibc's allocator keeps what a thread freed in that thread's arena for reuse and returns
//! pages to the kernel only from the top of a heap. A collection allocates and frees hundreds of
//! megabytes on several threads (series strings, Parquet row groups, parsed chunks), so without
//! this a server that once collected a 500-node session stays at that collection's peak RSS
//! while idle. `malloc_trim(0)` gives every arena's free pages back; live allocations are
//! untouched.
//!
//! [`fix_mmap_threshold`] keeps the largest buffers out of the arenas in the first place: glibc
//! raises its mmap threshold (up to 32 MiB) each time it frees an mmapped block, after which the
//! next collection's row-group buffers come from an arena and fragment it. Measured with
//! `TARGETS="100 100" examples/bench-session.sh`: RSS after two 62 k-series collections was
//! 38 → 83 MB with the dynamic threshold, 23 → 23 MB with a fixed 128 KiB one and 23 → 24 MB
//! with a fixed 4 MiB one. 4 MiB, because at 128 KiB every Parquet page buffer (a 128 Ki-row
//! page of values is 1 MiB) was mapped, faulted in page by page and unmapped again: 164 k page
//! faults and 0.7 s of system time to write 24 M samples, against 0.35 s with 4 MiB, where
//! those buffers are reused from the arena (`benchmon export --raw` of the 100 k × 241 data of
//! `examples/bench-scale.sh`, `/usr/bin/time`).

/// Asks the allocator to return the memory it holds free; whether anything came back.
/// Call it between bursts (after a collection), not inside one: glibc locks each arena in
/// turn while it walks it. Elsewhere than glibc it does nothing: other allocators (musl,
/// macOS, Windows) return large free blocks themselves or have no such call.
pub fn release_freed() -> bool {
    trim()
}

/// Fixes glibc's mmap threshold at 4 MiB (which also stops its dynamic raising): blocks that
/// large (row groups' column buffers) are mapped and unmapped on their own, never left in an
/// arena; smaller ones (pages) are reused. Call once at start-up; the setting is process-wide.
pub fn fix_mmap_threshold() -> bool {
    mmap_threshold(MMAP_THRESHOLD)
}

/// See the module's doc for the measurements.
const MMAP_THRESHOLD: i32 = 4 * 1024 * 1024;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn mmap_threshold(bytes: libc::c_int) -> bool {
    // SAFETY: mallopt takes two integers and no pointer; M_MMAP_THRESHOLD with a value below
    // HEAP_MAX/2 only changes which allocations glibc maps directly.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, bytes) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn mmap_threshold(_bytes: i32) -> bool {
    false
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() -> bool {
    // SAFETY: malloc_trim takes no pointer and has no precondition; glibc serialises it with
    // every other allocator call on the arena it works on.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn glibc_takes_the_fixed_threshold_and_the_trim() {
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(super::fix_mmap_threshold());
        }
        let _ = super::release_freed();
    }
}
