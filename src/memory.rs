//! Handing freed memory back to the system after a collection.
//!
//! glibc's allocator keeps what a thread freed in that thread's arena for reuse and returns
//! pages to the kernel only from the top of a heap. A collection allocates and frees hundreds of
//! megabytes on several threads (series strings, Parquet row groups, parsed chunks), so without
//! this a server that once collected a 500-node session stays at that collection's peak RSS
//! while idle. `malloc_trim(0)` gives every arena's free pages back; live allocations are
//! untouched.

/// Asks the allocator to return the memory it holds free; whether anything came back.
/// Call it between bursts (after a collection), not inside one: glibc locks each arena in
/// turn while it walks it. Elsewhere than glibc it does nothing: other allocators (musl,
/// macOS, Windows) return large free blocks themselves or have no such call.
pub fn release_freed() -> bool {
    trim()
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
