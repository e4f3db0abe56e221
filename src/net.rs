//! Local TCP ports for processes benchmon starts on its own host.

use std::hash::{BuildHasher, RandomState};

/// The lowest port the kernel hands out as the local end of outgoing connections.
pub fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A port nothing listens on right now, for a server about to be started on it.
///
/// It comes from below the kernel's ephemeral range: a port inside it can become the local end
/// of some outgoing connection between this check and the server's bind, and then the bind
/// fails although nobody listens. The same reasoning is in the job script's `pick_port`. (If the
/// ephemeral range starts at 11000 or lower there is no room below it; ports then come from
/// 20000–59999 and collisions are left to the caller's retry.)
/// The check and the bind are still not atomic, so callers retry on "address already in use".
pub fn free_local_port() -> Option<u16> {
    let low = ephemeral_low();
    let (base, span) = if low > 11_000 {
        (10_000u16, u64::from(low - 10_000))
    } else {
        (20_000u16, 40_000u64)
    };
    (0u64..1000).find_map(|attempt| {
        let port =
            base.checked_add(u16::try_from(RandomState::new().hash_one(attempt) % span).ok()?)?;
        std::net::TcpListener::bind(("0.0.0.0", port))
            .is_ok()
            .then_some(port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_is_below_the_ephemeral_range_and_bindable() {
        let low = ephemeral_low();
        for _ in 0..20 {
            let port = free_local_port().unwrap_or_default();
            assert!(port >= 10_000, "{port}");
            if low > 11_000 {
                assert!(port < low, "{port} is not below {low}");
            }
            assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        }
    }
}
