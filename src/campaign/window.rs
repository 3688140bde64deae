//! Sliding windows on explicit time: rings of fixed-width buckets, and a bounded set of keys with
//! the time each was last seen.
//!
//! A window of `k` buckets of width `w` at time `t` covers the bucket holding `t` and the `k - 1`
//! before it, so a "10-minute" window of minute buckets spans between 9 and 10 minutes of the
//! past. Memory is fixed by the ring's length, whatever the traffic.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// A ring of `len` buckets, each `width` seconds wide, aligned to multiples of `width`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ring<T> {
    width: u64,
    /// Index (`at / width`) of the newest bucket written.
    head: u64,
    slots: Vec<T>,
}

impl<T: Default + Clone> Ring<T> {
    /// A ring of `len` empty buckets of `width` seconds.
    pub fn new(width: u64, len: usize) -> Self {
        Ring {
            width: width.max(1),
            head: 0,
            slots: vec![T::default(); len.max(1)],
        }
    }

    fn len(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Moves the ring forward to `at`, emptying the buckets it passes.
    fn advance(&mut self, at: u64) {
        let b = at / self.width;
        if b <= self.head {
            return;
        }
        let steps = (b - self.head).min(self.len());
        for i in 1..=steps {
            let idx = ((self.head + i) % self.len()) as usize;
            self.slots[idx] = T::default();
        }
        self.head = b;
    }

    /// The bucket holding `at`, or `None` when `at` is older than the ring reaches (late
    /// observations within the ring are still counted in their own bucket).
    pub fn slot_mut(&mut self, at: u64) -> Option<&mut T> {
        self.advance(at);
        let b = at / self.width;
        if self.head - b >= self.len() {
            return None;
        }
        let idx = (b % self.len()) as usize;
        Some(&mut self.slots[idx])
    }

    /// The buckets of the window of `k` buckets ending with the one holding `at`.
    pub fn window(&self, at: u64, k: usize) -> impl Iterator<Item = &T> {
        let end = at / self.width;
        let start = (end + 1).saturating_sub(k as u64);
        let (head, len) = (self.head, self.len());
        (start..=end)
            .filter(move |&b| b <= head && head - b < len)
            .map(move |b| &self.slots[(b % len) as usize])
    }

    /// Empties every bucket.
    pub fn clear(&mut self) {
        for s in &mut self.slots {
            *s = T::default();
        }
    }
}

impl<T: Default + Clone + Copy + AddAssign> Ring<T> {
    /// Adds `value` to the bucket holding `at` (dropped when older than the ring).
    pub fn add(&mut self, at: u64, value: T) {
        if let Some(s) = self.slot_mut(at) {
            *s += value;
        }
    }

    /// Sum over the window of `k` buckets ending at `at`.
    pub fn sum(&self, at: u64, k: usize) -> T {
        let mut total = T::default();
        for v in self.window(at, k) {
            total += *v;
        }
        total
    }
}

/// What one bucket counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Messages.
    pub messages: u32,
    /// Envelope recipients.
    pub recipients: u32,
    /// Recipients outside the sender's own and the local domains.
    pub external: u32,
    /// External recipients at free-mail providers.
    pub freemail: u32,
    /// Messages whose content verdict was hold or reject.
    pub hold_level: u32,
    /// Messages whose content verdict was tag or above (state saved before this field: 0).
    #[serde(default)]
    pub flagged: u32,
}

impl AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.messages = self.messages.saturating_add(o.messages);
        self.recipients = self.recipients.saturating_add(o.recipients);
        self.external = self.external.saturating_add(o.external);
        self.freemail = self.freemail.saturating_add(o.freemail);
        self.hold_level = self.hold_level.saturating_add(o.hold_level);
        self.flagged = self.flagged.saturating_add(o.flagged);
    }
}

/// A bounded set of 64-bit keys (hashed domains or addresses), each with the time it was last
/// seen. Distinct counts over a window are exact as long as nothing seen within that window
/// has been evicted; beyond `cap` keys the oldest quarter is dropped, and a count over a window
/// reaching back past the newest eviction is a lower bound ([`RecentSet::exact_within`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecentSet {
    cap: usize,
    seen: BTreeMap<u64, u64>,
    /// Latest last-seen time among evicted keys (0: none evicted).
    evicted_up_to: u64,
}

impl RecentSet {
    /// An empty set holding at most `cap` keys.
    pub fn new(cap: usize) -> Self {
        RecentSet {
            cap: cap.max(4),
            seen: BTreeMap::new(),
            evicted_up_to: 0,
        }
    }

    /// Records `key` as seen at `at`.
    pub fn insert(&mut self, key: u64, at: u64) {
        let t = self.seen.entry(key).or_insert(at);
        *t = (*t).max(at);
        if self.seen.len() > self.cap {
            self.shrink();
        }
    }

    fn shrink(&mut self) {
        let keep = self.cap - self.cap / 4;
        let mut times: Vec<u64> = self.seen.values().copied().collect();
        let drop = times.len() - keep;
        let (_, cutoff, _) = times.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        // Ties at the cutoff go too, so the set may end a little below `keep`.
        self.seen.retain(|_, t| *t > cutoff);
        self.evicted_up_to = self.evicted_up_to.max(cutoff);
    }

    /// Keys seen within `window` seconds before `at` (`at - window < t`).
    pub fn count_within(&self, at: u64, window: u64) -> u32 {
        self.seen.values().filter(|&&t| t + window > at).count() as u32
    }

    /// Whether [`RecentSet::count_within`] for this window is exact.
    pub fn exact_within(&self, at: u64, window: u64) -> bool {
        self.evicted_up_to == 0 || self.evicted_up_to + window <= at
    }

    /// Whether `key` was seen within `window` seconds before `at`.
    pub fn contains_within(&self, key: u64, at: u64, window: u64) -> bool {
        self.seen.get(&key).is_some_and(|&t| t + window > at)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Forgets every key.
    pub fn clear(&mut self) {
        self.seen.clear();
        self.evicted_up_to = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one() -> Counts {
        Counts {
            messages: 1,
            recipients: 2,
            ..Counts::default()
        }
    }

    #[test]
    fn minute_ring_slides_over_ten_minutes_and_an_hour() {
        let mut r: Ring<Counts> = Ring::new(60, 60);
        let t0 = 1_700_000_000 / 60 * 60; // start of a minute
        for m in 0..30 {
            r.add(t0 + m * 60 + 5, one());
        }
        let now = t0 + 29 * 60 + 30;
        assert_eq!(r.sum(now, 10).messages, 10);
        assert_eq!(r.sum(now, 60).messages, 30);
        assert_eq!(r.sum(now, 60).recipients, 60);
        // 40 minutes later the ten-minute window is empty, the hour holds minutes 10..29.
        let later = now + 40 * 60;
        assert_eq!(r.sum(later, 10).messages, 0);
        assert_eq!(r.sum(later, 60).messages, 20);
        // Writing then moves the ring: the old buckets are cleared, not double-counted.
        r.add(later, one());
        assert_eq!(r.sum(later, 60).messages, 21);
        // Two hours on, everything has expired.
        assert_eq!(r.sum(later + 2 * 3600, 60).messages, 0);
        r.add(later + 2 * 3600, one());
        assert_eq!(r.sum(later + 2 * 3600, 60).messages, 1);
    }

    #[test]
    fn late_observations_count_inside_the_ring_and_drop_outside() {
        let mut r: Ring<u32> = Ring::new(60, 10);
        r.add(10_000, 1);
        r.add(10_000 - 120, 1); // two minutes late: still in
        r.add(10_000 - 3_600, 1); // an hour late: dropped
        assert_eq!(r.sum(10_000, 10), 2);
        assert_eq!(r.sum(10_000, 1), 1);
    }

    #[test]
    fn hour_ring_covers_a_day() {
        let mut r: Ring<u32> = Ring::new(3600, 24);
        for h in 0..48 {
            r.add(h * 3600, 1);
        }
        assert_eq!(r.sum(47 * 3600, 24), 24);
        assert_eq!(r.sum(47 * 3600 + 23 * 3600, 24), 1);
        assert_eq!(r.sum(47 * 3600 + 24 * 3600, 24), 0);
    }

    #[test]
    fn recent_set_counts_distinct_keys_per_window() {
        let mut s = RecentSet::new(100);
        s.insert(1, 100);
        s.insert(2, 200);
        s.insert(1, 650); // seen again: moves forward
        assert_eq!(s.count_within(700, 600), 2);
        assert_eq!(s.count_within(850, 600), 1);
        assert!(s.contains_within(1, 850, 600));
        assert!(!s.contains_within(2, 850, 600));
        assert!(s.exact_within(850, 600));
    }

    #[test]
    fn recent_set_stays_bounded_and_says_when_a_count_is_a_lower_bound() {
        let mut s = RecentSet::new(1000);
        for k in 0..100_000u64 {
            s.insert(k, k);
        }
        assert!(s.len() <= 1000);
        // The last 500 keys are all still there: a short window is exact.
        assert_eq!(s.count_within(99_999, 500), 500);
        assert!(s.exact_within(99_999, 500));
        // A long window is not.
        assert!(!s.exact_within(99_999, 50_000));
        assert!(s.count_within(99_999, 50_000) <= 1000);
    }
}
